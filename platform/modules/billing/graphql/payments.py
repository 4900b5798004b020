"""Payments API: cashiers record offline payments, top-ups and reversals; payers and staff
read payments and receipts (and the printable PDF); residents pay from their prepaid
balance.

Every money-in mutation takes a ``clientRequestId``: the same request twice records once
and answers with the first payment.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import select

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.billing import receipts, settlement
from wuye.modules.billing.graphql.common import actor_of, places_by_unit
from wuye.modules.billing.models import Payment
from wuye.modules.billing.permissions import COLLECT, VIEW
from wuye.modules.estate.graphql.transfer import EstateFile


@strawberry.type(name="Payment")
class PaymentType:
    id: strawberry.ID
    receipt_no: str
    kind: str = strawberry.field(description="payment | topup | reversal")
    method: str = strawberry.field(description="cash | transfer | pos | cheque | online | balance")
    amount_fen: int = strawberry.field(description="Negative for a reversal")
    payer_name: str
    reference: str
    note: str
    created_at: datetime
    row: strawberry.Private[Payment]

    @classmethod
    def of(cls, p: Payment) -> PaymentType:
        return cls(
            id=gid("Payment", p.id),
            receipt_no=p.receipt_no,
            kind=p.kind,
            method=p.method,
            amount_fen=p.amount_fen,
            payer_name=p.payer_name,
            reference=p.reference,
            note=p.note,
            created_at=p.created_at,
            row=p,
        )

    @strawberry.field
    def unit_id(self) -> strawberry.ID | None:
        return None if self.row.unit_id is None else gid("Unit", self.row.unit_id)

    @strawberry.field
    def reversal_of_id(self) -> strawberry.ID | None:
        r = self.row.reversal_of_id
        return None if r is None else gid("Payment", r)

    @strawberry.field(description="小区 楼栋 房号 of the payer's unit")
    async def place(self, info: strawberry.Info) -> str:
        if self.row.unit_id is None:
            return ""
        return await batch(info.context, "billing.places", places_by_unit, "").load(
            self.row.unit_id
        )


@strawberry.type(name="ReceiptLine")
class ReceiptLineType:
    bill_id: strawberry.ID
    fee_item: str
    period: str
    amount_fen: int


@strawberry.type(name="Receipt")
class ReceiptType:
    payment_id: strawberry.ID
    receipt_no: str
    kind: str
    reversal: bool
    reverses_receipt_no: str | None
    issued_at: datetime = strawberry.field(description="In the company's time zone")
    method: str
    payer: str
    place: str
    cashier: str
    total_fen: int
    total_capital: str = strawberry.field(description="大写金额")
    lines: list[ReceiptLineType]

    @classmethod
    def of(cls, r: receipts.Receipt) -> ReceiptType:
        return cls(
            payment_id=gid("Payment", r.payment.id),
            receipt_no=r.receipt_no,
            kind=r.kind,
            reversal=r.is_reversal,
            reverses_receipt_no=r.reverses,
            issued_at=r.issued_at,
            method=r.method,
            payer=r.payer,
            place=r.place,
            cashier=r.cashier,
            total_fen=r.total_fen,
            total_capital=r.capital,
            lines=[
                ReceiptLineType(
                    bill_id=gid("Bill", x.bill_id),
                    fee_item=x.fee_item,
                    period=x.period,
                    amount_fen=x.amount_fen,
                )
                for x in r.lines
            ],
        )


def _payment_id(global_id: str, field: str = "paymentId") -> int:
    return decode_id(global_id, "Payment", field)


def _bill_ids(ids: list[strawberry.ID]) -> list[int]:
    return [decode_id(i, "Bill", "billIds") for i in ids]


@strawberry.input
class RecordPaymentInput:
    bill_ids: list[strawberry.ID]
    method: str = strawberry.field(description="cash | transfer | pos | cheque")
    amount_fen: int
    client_request_id: str
    payer_name: str = ""
    reference: str = strawberry.field(default="", description="Cheque or transfer number")
    note: str = ""


@strawberry.input
class ReversePaymentInput:
    payment_id: strawberry.ID
    reason: str
    client_request_id: str


@strawberry.input
class TopUpInput:
    unit_id: strawberry.ID
    amount_fen: int
    method: str = strawberry.field(description="cash | transfer | pos | cheque")
    client_request_id: str
    payer_name: str = ""
    reference: str = ""
    note: str = ""


@strawberry.input
class PayFromBalanceInput:
    bill_ids: list[strawberry.ID]
    client_request_id: str | None = None


@strawberry.type
class PaymentQuery:
    @query(VIEW, description="Staff: payments in my data scope, newest first")
    async def payments(
        self,
        info: strawberry.Info,
        unit_id: strawberry.ID | None = None,
        community_id: strawberry.ID | None = None,
        kind: str | None = None,
        cashier_id: strawberry.ID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[PaymentType]:
        ctx = info.context
        actor = await actor_of(ctx)
        stmt = select(Payment).where(actor.scope.filter(Payment.community_id))
        unit = optional_id(unit_id, "Unit", "unitId")
        if unit is not None:
            stmt = stmt.where(receipts.payments_of_units([unit]))  # type: ignore[arg-type]
        community = optional_id(community_id, "Community", "communityId")
        if community is not None:
            stmt = stmt.where(Payment.community_id == community)
        cashier = optional_id(cashier_id, "User", "cashierId")
        if cashier is not None:
            stmt = stmt.where(Payment.cashier_id == cashier)
        if kind is not None:
            stmt = stmt.where(Payment.kind == kind)
        if since is not None:
            stmt = stmt.where(Payment.created_at >= since)
        if until is not None:
            stmt = stmt.where(Payment.created_at < until)
        stmt = stmt.order_by(Payment.created_at.desc(), Payment.id.desc())
        return await paginate(ctx, stmt, first=first, after=after, to_node=PaymentType.of)

    @query(signed_in=True, description="One payment: its payer, or staff with billing.view")
    async def payment(self, info: strawberry.Info, id: strawberry.ID) -> PaymentType:
        ctx = info.context
        found = await receipts.visible_payment(
            ctx.session, await actor_of(ctx), _payment_id(id, "id"), "id"
        )
        return PaymentType.of(found)

    @query(signed_in=True, description="A payment's receipt: its payer, or staff")
    async def receipt(self, info: strawberry.Info, payment_id: strawberry.ID) -> ReceiptType:
        ctx = info.context
        found = await receipts.visible_payment(
            ctx.session, await actor_of(ctx), _payment_id(payment_id)
        )
        return ReceiptType.of(await receipts.receipt_of(ctx.session, ctx.tenant, found))

    @query(signed_in=True, description="The printable receipt (PDF, base64)")
    async def receipt_pdf(self, info: strawberry.Info, payment_id: strawberry.ID) -> EstateFile:
        ctx = info.context
        found = await receipts.visible_payment(
            ctx.session, await actor_of(ctx), _payment_id(payment_id)
        )
        receipt = await receipts.receipt_of(ctx.session, ctx.tenant, found)
        data = receipts.render_pdf(receipt, ctx.tenant)
        return EstateFile.of(f"receipt-{receipt.receipt_no}.pdf", "application/pdf", data)


@strawberry.type
class PaymentMutation:
    @mutation(COLLECT, description="Cashier: an offline payment against bills of one unit")
    async def record_payment(self, info: strawberry.Info, input: RecordPaymentInput) -> PaymentType:
        ctx = info.context
        payment = await settlement.record_payment(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            bill_ids=_bill_ids(input.bill_ids),
            method=input.method,
            amount_fen=input.amount_fen,
            client_request_id=input.client_request_id,
            payer_name=input.payer_name,
            reference=input.reference,
            note=input.note,
        )
        ctx.audit_target = ("Payment", str(payment.id))
        return PaymentType.of(payment)

    @mutation(COLLECT, description="Cashier: reverse (冲正) a payment or top-up, once")
    async def reverse_payment(
        self, info: strawberry.Info, input: ReversePaymentInput
    ) -> PaymentType:
        ctx = info.context
        payment = await settlement.reverse_payment(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            payment_id=_payment_id(input.payment_id),
            reason=input.reason,
            client_request_id=input.client_request_id,
        )
        ctx.audit_target = ("Payment", str(payment.id))
        return PaymentType.of(payment)

    @mutation(COLLECT, description="Cashier: money into a unit's prepaid balance (预存款)")
    async def top_up(self, info: strawberry.Info, input: TopUpInput) -> PaymentType:
        ctx = info.context
        payment = await settlement.top_up(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            unit_id=decode_id(input.unit_id, "Unit", "unitId"),
            amount_fen=input.amount_fen,
            method=input.method,
            client_request_id=input.client_request_id,
            payer_name=input.payer_name,
            reference=input.reference,
            note=input.note,
        )
        ctx.audit_target = ("Payment", str(payment.id))
        return PaymentType.of(payment)

    @mutation(
        signed_in=True,
        description="Settle bills of one unit from its prepaid balance: the resident for "
        "their own bills, or a cashier",
    )
    async def pay_from_balance(
        self, info: strawberry.Info, input: PayFromBalanceInput
    ) -> PaymentType:
        ctx = info.context
        payment = await settlement.pay_from_balance(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            bill_ids=_bill_ids(input.bill_ids),
            client_request_id=input.client_request_id,
        )
        ctx.audit_target = ("Payment", str(payment.id))
        return PaymentType.of(payment)
