"""Online payments API (the billing module's: it is gated by ``billing``).

Residents pay their bills or top up a unit online (``payBills``, ``topUpOnline``) and read
their own payments; staff list payments with their notifications and refunds
(``billing.view``), refund (``billing.refund``), manage the merchant accounts
(``billing.settings.manage``; credentials are write-only) and reconcile a day
(``billing.reports.view``). ``myOnlinePaymentChanged`` tells a payer (over the
subscription socket) when a payment of theirs changes status.

``payBills`` / ``topUpOnline`` / ``refundOnlinePayment`` call the provider, so the service
commits the payment (or refund) in its own transactions around that call rather than in
the request's: the same ``clientRequestId`` gives the same payment again.
"""

from __future__ import annotations

import typing
from collections import defaultdict
from collections.abc import AsyncGenerator
from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import BigInteger, Select, and_, cast, exists, func, not_, or_, select
from strawberry.scalars import JSON

from wuye.errors import AppError
from wuye.graphql.access import mutation, query, subscription
from wuye.graphql.ids import decode_id, gid, optional_gid
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.scope import DataScope
from wuye.modules.billing.graphql.common import actor_of
from wuye.modules.billing.models import Bill
from wuye.modules.billing.settlement import Actor
from wuye.modules.estate.models import Unit
from wuye.payments import realtime, reconcile, service
from wuye.payments.models import (
    OnlinePayment,
    OnlineRefund,
    PaymentAccount,
    PaymentNotification,
    PaymentReconciliation,
)
from wuye.payments.permissions import REFUND, REPORTS, SETTINGS, VIEW

# --- visibility ------------------------------------------------------------------------------


def _in_scope(scope: DataScope) -> Any:
    """Payments whose every community is in ``scope`` (as ``refund_payment`` checks)."""
    if scope.all_communities:
        return None
    bill_ids = (
        select(cast(func.jsonb_array_elements_text(OnlinePayment.bill_ids), BigInteger))
        .correlate(OnlinePayment)
        .scalar_subquery()
    )
    outside = exists().where(Bill.id.in_(bill_ids), not_(scope.filter(Bill.community_id)))
    unit_inside = exists().where(Unit.id == OnlinePayment.unit_id, scope.filter(Unit.community_id))
    return or_(
        and_(OnlinePayment.purpose == "bills", ~outside),
        and_(OnlinePayment.purpose == "topup", unit_inside),
    )


async def _visible(ctx: Any, actor: Actor, payment_id: int, field: str = "id") -> OnlinePayment:
    """The payer, or staff with ``billing.view`` whose scope holds all its communities;
    NOT_FOUND for everyone else."""
    found: OnlinePayment | None = await ctx.session.get(OnlinePayment, payment_id)
    if found is not None:
        if found.payer_user_id == actor.user_id:
            return found
        if actor.is_staff and actor.can(VIEW):
            communities = await service.payment_communities(ctx.session, found)
            if all(actor.scope.allows(c) for c in communities):
                return found
    raise AppError("NOT_FOUND", field=field)


async def _staff_viewer(ctx: Any) -> None:
    actor = await actor_of(ctx)
    if not (actor.is_staff and actor.can(VIEW)):
        raise AppError("FORBIDDEN")


# --- batched lookups -------------------------------------------------------------------------


async def _notifications_of(session: Any, ids: list[int]) -> dict[int, list[PaymentNotification]]:
    found: dict[int, list[PaymentNotification]] = defaultdict(list)
    rows = await session.scalars(
        select(PaymentNotification)
        .where(PaymentNotification.payment_id.in_(ids))
        .order_by(PaymentNotification.received_at, PaymentNotification.id)
    )
    for n in rows:
        found[n.payment_id].append(n)
    return found


async def _refunds_of(session: Any, ids: list[int]) -> dict[int, list[OnlineRefund]]:
    found: dict[int, list[OnlineRefund]] = defaultdict(list)
    rows = await session.scalars(
        select(OnlineRefund)
        .where(OnlineRefund.payment_id.in_(ids))
        .order_by(OnlineRefund.created_at, OnlineRefund.id)
    )
    for r in rows:
        found[r.payment_id].append(r)
    return found


# --- types -----------------------------------------------------------------------------------


@strawberry.type(name="OnlinePaymentNotification")
class NotificationType:
    event_id: str
    kind: str = strawberry.field(description="payment | refund")
    received_at: datetime
    processed_at: datetime | None
    outcome: str

    @classmethod
    def of(cls, n: PaymentNotification) -> NotificationType:
        return cls(
            event_id=n.event_id,
            kind=n.kind,
            received_at=n.received_at,
            processed_at=n.processed_at,
            outcome=n.outcome,
        )


@strawberry.type(name="OnlineRefund")
class RefundType:
    id: strawberry.ID
    out_refund_no: str
    amount_fen: int
    reason: str
    status: str = strawberry.field(description="requested | pending | succeeded | failed")
    error: str
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def of(cls, r: OnlineRefund) -> RefundType:
        return cls(
            id=gid("OnlineRefund", r.id),
            out_refund_no=r.out_refund_no,
            amount_fen=r.amount_fen,
            reason=r.reason,
            status=r.status,
            error=r.error,
            created_at=r.created_at,
            succeeded_at=r.succeeded_at,
        )


@strawberry.type(name="OnlinePayment")
class OnlinePaymentType:
    id: strawberry.ID
    out_trade_no: str
    provider: str
    method: str
    purpose: str = strawberry.field(description="bills | topup")
    amount_fen: int
    refunded_fen: int
    fee_fen: int | None
    status: str = strawberry.field(
        description="created | pending | succeeded | failed | closed | partially_refunded "
        "| refunded"
    )
    error: str
    created_at: datetime
    succeeded_at: datetime | None
    row: strawberry.Private[OnlinePayment]

    @classmethod
    def of(cls, p: OnlinePayment) -> OnlinePaymentType:
        return cls(
            id=gid("OnlinePayment", p.id),
            out_trade_no=p.out_trade_no,
            provider=p.provider,
            method=p.method,
            purpose=p.purpose,
            amount_fen=p.amount_fen,
            refunded_fen=p.refunded_fen,
            fee_fen=p.fee_fen,
            status=p.status,
            error=p.error,
            created_at=p.created_at,
            succeeded_at=p.succeeded_at,
            row=p,
        )

    @strawberry.field
    def bill_ids(self) -> list[strawberry.ID]:
        return [gid("Bill", b) for b in self.row.bill_ids]

    @strawberry.field(description="The unit topped up (top-ups)")
    def unit_id(self) -> strawberry.ID | None:
        return optional_gid("Unit", self.row.unit_id)

    @strawberry.field
    def payer_id(self) -> strawberry.ID | None:
        return optional_gid("User", self.row.payer_user_id)

    @strawberry.field(description="The billing payment (receipt) the success settled")
    def billing_payment_id(self) -> strawberry.ID | None:
        return optional_gid("Payment", self.row.billing_payment_id)

    @strawberry.field(description="Refunds of this payment, oldest first")
    async def refunds(self, info: strawberry.Info) -> list[RefundType]:
        loader = batch(info.context, "payments.refunds", _refunds_of, list[OnlineRefund]())
        found = await loader.load(self.row.id)
        return [RefundType.of(r) for r in found]

    @strawberry.field(description="Staff (billing.view): the provider's notifications")
    async def notifications(self, info: strawberry.Info) -> list[NotificationType]:
        await _staff_viewer(info.context)
        loader = batch(
            info.context, "payments.notifications", _notifications_of, list[PaymentNotification]()
        )
        found = await loader.load(self.row.id)
        return [NotificationType.of(n) for n in found]


@strawberry.type
class OnlinePaymentStart:
    payment: OnlinePaymentType
    client: JSON | None = strawberry.field(
        description="What the app hands to the wallet (prepay / redirect / client secret); "
        "null until the provider answered (retry with the same clientRequestId)"
    )


@strawberry.type
class PaymentMethodOffer:
    provider: str
    methods: list[str]


@strawberry.type(name="PaymentAccount")
class PaymentAccountType:
    provider: str
    enabled: bool
    methods: list[str]
    credentials_set: bool = strawberry.field(description="Credentials are write-only")
    updated_at: datetime

    @classmethod
    def of(cls, a: PaymentAccount) -> PaymentAccountType:
        return cls(
            provider=a.provider,
            enabled=a.enabled,
            methods=list(a.methods),
            credentials_set=bool(a.credentials_enc),
            updated_at=a.updated_at,
        )


@strawberry.type
class ReconciliationMismatch:
    kind: str = strawberry.field(
        description="missing_here | missing_there | amount_differs | not_in_ledger"
    )
    line: str = strawberry.field(description="payment | refund")
    ref: str
    out_trade_no: str | None
    ours: int | None = strawberry.field(description="Our amount (fen)")
    theirs: int | None = strawberry.field(description="The provider's amount (fen)")
    ledger: int | None = strawberry.field(description="What the ledger booked (fen)")

    @classmethod
    def of(cls, m: dict[str, Any]) -> ReconciliationMismatch:
        return cls(
            kind=str(m.get("kind", "")),
            line=str(m.get("line", "")),
            ref=str(m.get("ref", "")),
            out_trade_no=m.get("outTradeNo"),
            ours=m.get("ours"),
            theirs=m.get("theirs"),
            ledger=m.get("ledger"),
        )


@strawberry.type(name="PaymentReconciliation")
class ReconciliationType:
    day: date
    provider: str
    status: str = strawberry.field(description="ok | mismatches | unavailable")
    provider_lines: int
    our_lines: int
    mismatches: list[ReconciliationMismatch]
    created_at: datetime

    @classmethod
    def of(cls, r: PaymentReconciliation) -> ReconciliationType:
        return cls(
            day=r.day,
            provider=r.provider,
            status=r.status,
            provider_lines=r.provider_lines,
            our_lines=r.our_lines,
            mismatches=[ReconciliationMismatch.of(m) for m in r.mismatches],
            created_at=r.created_at,
        )


# --- inputs ----------------------------------------------------------------------------------


@strawberry.input
class PayBillsInput:
    bill_ids: list[strawberry.ID]
    provider: str = strawberry.field(description="wechat | alipay | stripe")
    method: str = strawberry.field(description="One the tenant offers (paymentMethods)")
    client_request_id: str
    openid: str = strawberry.field(default="", description="WeChat JSAPI: the payer's openid")
    return_url: str = strawberry.field(default="", description="Where a redirect flow returns")


@strawberry.input
class TopUpOnlineInput:
    unit_id: strawberry.ID
    amount_fen: int
    provider: str
    method: str
    client_request_id: str
    openid: str = ""
    return_url: str = ""


@strawberry.input
class RefundOnlinePaymentInput:
    payment_id: strawberry.ID
    amount_fen: int
    reason: str
    client_request_id: str


@strawberry.input
class SetPaymentAccountInput:
    provider: str
    enabled: bool
    methods: list[str]
    credentials: JSON | None = strawberry.field(
        default=None,
        description="Write-only; replaces the stored credentials (omit to keep them)",
    )


# --- root fields -----------------------------------------------------------------------------


def _start(payment: OnlinePayment) -> OnlinePaymentStart:
    return OnlinePaymentStart(
        payment=OnlinePaymentType.of(payment), client=typing.cast(JSON, payment.client or {})
    )


def _newest_first(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(OnlinePayment.created_at.desc(), OnlinePayment.id.desc())


@strawberry.type
class OnlinePaymentQuery:
    @query(signed_in=True, description="What the tenant offers online: providers and methods")
    async def payment_methods(self, info: strawberry.Info) -> list[PaymentMethodOffer]:
        offered = await service.offered_methods(info.context.session)
        return [PaymentMethodOffer(provider=p, methods=m) for p, m in offered]

    @query(signed_in=True, description="My online payments, newest first")
    async def my_online_payments(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[OnlinePaymentType]:
        ctx = info.context
        actor = await actor_of(ctx)
        stmt = _newest_first(
            select(OnlinePayment).where(OnlinePayment.payer_user_id == actor.user_id)
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=OnlinePaymentType.of)

    @query(signed_in=True, description="One online payment: its payer, or staff (billing.view)")
    async def online_payment(self, info: strawberry.Info, id: strawberry.ID) -> OnlinePaymentType:
        ctx = info.context
        pk = decode_id(id, "OnlinePayment", "id")
        return OnlinePaymentType.of(await _visible(ctx, await actor_of(ctx), pk))

    @query(VIEW, description="Staff: online payments in my data scope, newest first")
    async def online_payments(
        self,
        info: strawberry.Info,
        status: str | None = None,
        provider: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[OnlinePaymentType]:
        ctx = info.context
        actor = await actor_of(ctx)
        stmt = select(OnlinePayment)
        scoped = _in_scope(actor.scope)
        if scoped is not None:
            stmt = stmt.where(scoped)
        if status is not None:
            stmt = stmt.where(OnlinePayment.status == status)
        if provider is not None:
            stmt = stmt.where(OnlinePayment.provider == provider)
        return await paginate(
            ctx, _newest_first(stmt), first=first, after=after, to_node=OnlinePaymentType.of
        )

    @query(SETTINGS, description="The tenant's merchant accounts (never their credentials)")
    async def payment_accounts(self, info: strawberry.Info) -> list[PaymentAccountType]:
        rows = await info.context.session.scalars(
            select(PaymentAccount).order_by(PaymentAccount.provider)
        )
        return [PaymentAccountType.of(a) for a in rows]

    @query(REPORTS, description="The reconciliation reports of a day (one per provider)")
    async def payment_reconciliations(
        self, info: strawberry.Info, day: date
    ) -> list[ReconciliationType]:
        rows = await info.context.session.scalars(
            select(PaymentReconciliation)
            .where(PaymentReconciliation.day == day)
            .order_by(PaymentReconciliation.provider)
        )
        return [ReconciliationType.of(r) for r in rows]


@strawberry.type
class OnlinePaymentMutation:
    @mutation(signed_in=True, description="Resident: pay bills of my units online")
    async def pay_bills(self, info: strawberry.Info, input: PayBillsInput) -> OnlinePaymentStart:
        ctx = info.context
        actor = await actor_of(ctx)
        payment = await service.start_payment(
            ctx.runtime,
            ctx.tenant,
            payer_user_id=actor.user_id,
            purpose="bills",
            provider=input.provider,
            method=input.method,
            client_request_id=input.client_request_id,
            bill_ids=[decode_id(i, "Bill", "billIds") for i in input.bill_ids],
            payer_openid=input.openid,
            return_url=input.return_url,
        )
        ctx.audit_target = ("OnlinePayment", str(payment.id))
        return _start(payment)

    @mutation(signed_in=True, description="Resident: top up the prepaid balance of my unit")
    async def top_up_online(
        self, info: strawberry.Info, input: TopUpOnlineInput
    ) -> OnlinePaymentStart:
        ctx = info.context
        actor = await actor_of(ctx)
        payment = await service.start_payment(
            ctx.runtime,
            ctx.tenant,
            payer_user_id=actor.user_id,
            purpose="topup",
            provider=input.provider,
            method=input.method,
            client_request_id=input.client_request_id,
            unit_id=decode_id(input.unit_id, "Unit", "unitId"),
            amount_fen=input.amount_fen,
            payer_openid=input.openid,
            return_url=input.return_url,
        )
        ctx.audit_target = ("OnlinePayment", str(payment.id))
        return _start(payment)

    @mutation(REFUND, description="Staff: refund (part of) an online payment to its source")
    async def refund_online_payment(
        self, info: strawberry.Info, input: RefundOnlinePaymentInput
    ) -> RefundType:
        ctx = info.context
        refund = await service.refund_payment(
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            payment_id=decode_id(input.payment_id, "OnlinePayment", "paymentId"),
            amount_fen=input.amount_fen,
            reason=input.reason,
            client_request_id=input.client_request_id,
        )
        ctx.audit_target = ("OnlineRefund", str(refund.id))
        return RefundType.of(refund)

    @mutation(SETTINGS, description="Create or change the merchant account at a provider")
    async def set_payment_account(
        self, info: strawberry.Info, input: SetPaymentAccountInput
    ) -> PaymentAccountType:
        ctx = info.context
        actor = await actor_of(ctx)
        account = await service.set_account(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            actor_id=actor.user_id,
            provider=input.provider,
            enabled=input.enabled,
            methods=input.methods,
            credentials=typing.cast(dict[str, Any] | None, input.credentials),
        )
        if input.credentials is not None:
            # the audit row records the input: it must never hold the credentials
            input.credentials = "***"  # type: ignore[assignment]
        ctx.audit_target = ("PaymentAccount", account.provider)
        return PaymentAccountType.of(account)

    @mutation(REPORTS, description="Reconcile a day (each account, or one provider) again")
    async def reconcile_payments(
        self, info: strawberry.Info, day: date, provider: str | None = None
    ) -> list[ReconciliationType]:
        ctx = info.context
        actor = await actor_of(ctx)
        reports = await reconcile.reconcile_day(
            ctx.session, ctx.runtime, ctx.tenant, day, provider=provider, actor_id=actor.user_id
        )
        return [ReconciliationType.of(r) for r in reports]


@strawberry.type(name="OnlinePaymentChange")
class PaymentChangeType:
    payment_id: strawberry.ID
    status: str
    payment: OnlinePaymentType


@strawberry.type
class OnlinePaymentSubscription:
    @subscription(
        signed_in=True,
        description="Payer: my online payments as their status changes (the result of a "
        "payment once the provider's notification is processed; closed; refunded)",
    )
    async def my_online_payment_changed(
        self, info: strawberry.Info
    ) -> AsyncGenerator[PaymentChangeType, None]:
        ctx = info.context
        user = await ctx.user()
        async for payload in ctx.events(realtime.payer_topic(user.id)):
            payment = await ctx.session.scalar(
                select(OnlinePayment).where(
                    OnlinePayment.id == int(payload["payment_id"]),
                    OnlinePayment.payer_user_id == user.id,
                )
            )
            if payment is not None:
                yield PaymentChangeType(
                    payment_id=gid("OnlinePayment", payment.id),
                    status=payment.status,
                    payment=OnlinePaymentType.of(payment),
                )
