"""Online payments: merchant accounts, starting a payment, notifications, the state
machine, settlement into billing, refunds and the sweep.

- **Create.** The payment row is committed (status ``created``) *before* the provider is
  called, so a notification that arrives before ``create`` returned finds it. The call
  carries the idempotency key ``<tenant>:<out_trade_no>``; timeouts and 5xx are retried
  (``payments_provider_attempts``); a call that still fails leaves the payment ``created``
  for the client's retry (same ``clientRequestId`` -> same payment, same key) or the sweep.
- **Notifications.** Verified with the credentials of the tenant named in the notify URL,
  matched by ``out_trade_no`` in that tenant's schema only, stored once by (provider, event
  id) and acknowledged; processing happens afterwards (an arq job, and the sweep for any
  that were never processed). The notification row is its own intent.
- **Processing** locks the notification and the payment; terminal states never move back;
  success settles the bills (``billing.settlement.settle_online``) or the top-up, and posts
  the provider's fee, in the same transaction as the state change.
- **Refunds** (``billing.refund``) post when the provider confirms them. A bill payment's
  refund is booked debit ``refunds`` / credit ``online_clearing`` and leaves the bills paid
  (a refund is a decision with a reason, not a silent reopening; to charge again, staff
  bill again); a top-up's refund takes the money out of the unit's prepaid balance.
- A success that cannot be settled (the bills were paid meanwhile, the payer moved out)
  keeps the money on ``unapplied_online`` (debit online_clearing) with ``error`` set, for
  staff to refund.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import decrypt_field, encrypt_field
from wuye.db import commit_then_hooks
from wuye.errors import AppError
from wuye.modules.billing import ledger, settlement
from wuye.modules.billing.ledger import Line
from wuye.modules.billing.models import Bill
from wuye.modules.billing.models import Payment as BillingPayment
from wuye.modules.estate.models import Unit
from wuye.modules.estate.residents import places_of_user
from wuye.modules.rows import next_id
from wuye.payments import realtime, registry
from wuye.payments.models import (
    OPEN_STATUSES,
    PAID_STATUSES,
    OnlinePayment,
    OnlineRefund,
    PaymentAccount,
    PaymentNotification,
)
from wuye.payments.providers.base import (
    PROVIDERS,
    BadNotification,
    Create,
    Credentials,
    Notification,
    Provider,
    ProviderError,
    RefundRequest,
    RefundResult,
    Remote,
)
from wuye.payments.providers.wechat import WechatPay, merge_certificates
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
UNAPPLIED = "unapplied_online"  # money received online that settled nothing (to refund)
FEES = "provider_fees"
CLEARING = "online_clearing"
SWEEP_BATCH = 200


def _now() -> datetime:
    return datetime.now(UTC)


async def checkpoint(stage: str) -> None:
    """A no-op the fault tests replace (a worker killed at ``stage``)."""


# --- merchant accounts -----------------------------------------------------------------------


def _purpose(provider: str) -> str:
    return f"payments.{provider}"


async def set_account(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    actor_id: int | None,
    provider: str,
    enabled: bool,
    methods: Sequence[str],
    credentials: Mapping[str, Any] | None,
) -> PaymentAccount:
    """Create or change the tenant's account at ``provider``; ``credentials`` (write-only)
    replace the stored ones, None keeps them."""
    if provider not in PROVIDERS:
        raise AppError("VALIDATION_FAILED", field="provider")
    clean = sorted({m.strip() for m in methods if m.strip()})
    if (enabled and not clean) or any(len(m) > 16 for m in clean):
        raise AppError("VALIDATION_FAILED", field="methods")
    if credentials is not None and (
        not isinstance(credentials, Mapping)
        or not credentials
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in credentials.items())
    ):
        raise AppError("VALIDATION_FAILED", field="credentials")
    account: PaymentAccount | None = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.provider == provider).with_for_update()
    )
    if account is None and credentials is None:
        raise AppError("VALIDATION_FAILED", field="credentials")
    blob = (
        encrypt_field(
            runtime.settings.secret_key,
            purpose=_purpose(provider),
            tenant=tenant.slug,
            plaintext=json.dumps(dict(credentials), sort_keys=True),
        )
        if credentials is not None
        else None
    )
    if account is None:
        assert blob is not None
        account = PaymentAccount(provider=provider, credentials_enc=blob)
        session.add(account)
    elif blob is not None:
        account.credentials_enc = blob
    account.enabled = enabled
    account.methods = clean
    account.updated_by = actor_id
    account.updated_at = _now()
    await session.flush()
    return account


def decrypt_credentials(
    runtime: Runtime, tenant: TenantInfo, account: PaymentAccount
) -> Credentials:
    """The tenant's own key opens only the tenant's own credentials."""
    plain = decrypt_field(
        runtime.settings.secret_key,
        purpose=_purpose(account.provider),
        tenant=tenant.slug,
        blob=account.credentials_enc,
    )
    return Credentials(account.provider, json.loads(plain))


async def account_of(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    provider: str,
    *,
    enabled: bool = True,
    field: str = "provider",
) -> tuple[PaymentAccount, Credentials]:
    account: PaymentAccount | None = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.provider == provider)
    )
    if account is None or (enabled and not account.enabled):
        raise AppError("NOT_FOUND", field=field)
    return account, decrypt_credentials(runtime, tenant, account)


async def offered_methods(session: AsyncSession) -> list[tuple[str, list[str]]]:
    rows = await session.scalars(
        select(PaymentAccount).where(PaymentAccount.enabled).order_by(PaymentAccount.provider)
    )
    return [(a.provider, list(a.methods)) for a in rows]


def notify_url(runtime: Runtime, tenant: TenantInfo, provider: str) -> str:
    s = runtime.settings
    base = s.payments_notify_base_url or s.public_base_url
    if not base:
        base = f"https://{tenant.slug}.{s.platform_domain}"
    return f"{base.rstrip('/')}/payments/notify/{provider}/{tenant.slug}"


async def refresh_wechat_certificates(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> int:
    """For a WeChat Pay account that trusts platform certificates (its credentials have
    ``platform_certificates``, empty at first): download the current ones and keep them
    with those still valid, so a rotated certificate is trusted before it signs. Returns
    how many certificates were new."""
    account: PaymentAccount | None = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.provider == "wechat").with_for_update()
    )
    if account is None:
        return 0
    creds = decrypt_credentials(runtime, tenant, account)
    if "platform_certificates" not in creds.values:
        return 0  # the platform public key mode: nothing to download
    adapter = registry.get("wechat", runtime.settings)
    if not isinstance(adapter, WechatPay):
        return 0
    bundle = await call_provider(runtime, lambda: adapter.download_certificates(creds))
    merged, new = merge_certificates(creds["platform_certificates"], bundle, now or _now())
    if merged != creds["platform_certificates"]:
        await set_account(
            session,
            runtime,
            tenant,
            actor_id=None,
            provider="wechat",
            enabled=account.enabled,
            methods=account.methods,
            credentials={**creds.values, "platform_certificates": merged},
        )
    return new


# --- outbound calls --------------------------------------------------------------------------


async def call_provider(runtime: Runtime, call: Callable[[], Awaitable[T]]) -> T:
    """One outbound call with a time limit, retried on timeouts and temporary errors (the
    calls that move money carry an idempotency key, so a retry never moves it twice)."""
    s = runtime.settings
    attempts = max(1, s.payments_provider_attempts)
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(call(), s.payments_provider_timeout_s)
        except ProviderError as exc:
            if not exc.temporary or attempt == attempts:
                raise
        except (TimeoutError, OSError) as exc:
            if attempt == attempts:
                raise ProviderError(f"timeout: {exc!r}", temporary=True, code="timeout") from exc
        await asyncio.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
    raise AssertionError("unreachable")


# --- starting a payment ----------------------------------------------------------------------


def _client_key(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 64:
        raise AppError("VALIDATION_FAILED", field="clientRequestId")
    return value


async def _by_key(session: AsyncSession, key: str, *, lock: bool = False) -> OnlinePayment | None:
    stmt = select(OnlinePayment).where(OnlinePayment.idempotency_key == key)
    if lock:
        stmt = stmt.with_for_update()
    found: OnlinePayment | None = await session.scalar(stmt)
    return found


async def _payable_bills(session: AsyncSession, payer_user_id: int, bill_ids: Sequence[int]) -> int:
    """The bills' outstanding total: every bill open and of a unit the payer lives in
    (NOT_FOUND otherwise, like billing). Checked again when the payment succeeds."""
    ids = sorted(set(bill_ids))
    if not ids or len(ids) > settlement.MAX_BILLS:
        raise AppError("VALIDATION_FAILED", field="billIds")
    bills = list(await session.scalars(select(Bill).where(Bill.id.in_(ids))))
    units = (await places_of_user(session, payer_user_id)).unit_ids
    if len(bills) != len(ids) or not all(b.unit_id in units for b in bills):
        raise AppError("NOT_FOUND", field="billIds")
    for b in bills:
        if b.status not in settlement.OPEN or settlement.outstanding(b) <= 0:
            raise AppError("INVALID_TRANSITION", status=b.status, field="billIds")
    return sum(settlement.outstanding(b) for b in bills)


async def start_payment(
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    payer_user_id: int,
    purpose: str,
    provider: str,
    method: str,
    client_request_id: str,
    bill_ids: Sequence[int] = (),
    unit_id: int | None = None,
    amount_fen: int | None = None,
    payer_openid: str = "",
    return_url: str = "",
) -> OnlinePayment:
    """Bills (``purpose='bills'``) or a top-up of ``unit_id``: commit the payment, call the
    provider, record what it answered. The same ``client_request_id`` gives the same
    payment (and resumes one whose create call never got through)."""
    key = _client_key(client_request_id)
    adapter = registry.get(provider, runtime.settings)
    db = runtime.db
    async with db.tenant_session(tenant.schema, tenant.cluster) as s:
        payment = await _by_key(s, key)
        if payment is None:
            payment = await _new_payment(
                s,
                runtime,
                tenant,
                key=key,
                payer_user_id=payer_user_id,
                purpose=purpose,
                provider=provider,
                method=method,
                bill_ids=bill_ids,
                unit_id=unit_id,
                amount_fen=amount_fen,
            )
        if payment.payer_user_id != payer_user_id:
            raise AppError("CONFLICT", field="clientRequestId")
        if payment.status != "created" or payment.provider_ref is not None:
            return payment  # answered before: the same payment again
        _, creds = await account_of(s, runtime, tenant, payment.provider)
        await s.commit()
    request = Create(
        out_trade_no=payment.out_trade_no,
        amount_fen=payment.amount_fen,
        description=_description(tenant, payment),
        method=payment.method,
        idempotency_key=f"{tenant.slug}:{payment.out_trade_no}",
        notify_url=notify_url(runtime, tenant, payment.provider),
        payer_openid=payer_openid,
        return_url=return_url,
    )
    error: ProviderError | None = None
    created = None
    try:
        created = await call_provider(runtime, lambda: adapter.create(creds, request))
    except ProviderError as exc:
        error = exc
    async with db.tenant_session(tenant.schema, tenant.cluster) as s:
        row = await s.get(OnlinePayment, payment.id, with_for_update=True)
        assert row is not None
        if created is not None:
            row.provider_ref = row.provider_ref or created.provider_ref or None
            row.client = dict(created.client)
            row.error = ""
            if row.status == "created":  # a notification may have moved it already
                row.status = "pending"
        elif error is not None and error.temporary:
            row.error = f"provider unavailable, retry: {error}"[:300]
        elif error is not None and row.status == "created":
            row.status = "failed"
            row.error = f"{error.code or 'refused'}: {error}"[:300]
        row.updated_at = _now()
        await s.commit()
        return row


async def _new_payment(
    s: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    key: str,
    payer_user_id: int,
    purpose: str,
    provider: str,
    method: str,
    bill_ids: Sequence[int],
    unit_id: int | None,
    amount_fen: int | None,
) -> OnlinePayment:
    account, _ = await account_of(s, runtime, tenant, provider)
    if method not in account.methods:
        raise AppError("VALIDATION_FAILED", field="method")
    if purpose == "bills":
        amount = await _payable_bills(s, payer_user_id, bill_ids)
        ids, unit = sorted(set(bill_ids)), None
    elif purpose == "topup":
        if unit_id is None or unit_id not in (await places_of_user(s, payer_user_id)).unit_ids:
            raise AppError("NOT_FOUND", field="unitId")
        if amount_fen is None or not 0 < amount_fen <= settlement.MAX_FEN:
            raise AppError("VALIDATION_FAILED", field="amountFen")
        amount, ids, unit = amount_fen, [], unit_id
    else:
        raise AppError("VALIDATION_FAILED", field="purpose")
    pk = await next_id(s, "online_payments")
    day = _now().astimezone(tenant.zone).strftime("%Y%m%d")
    payment = OnlinePayment(
        id=pk,
        out_trade_no=f"P{day}{pk:08d}",
        provider=provider,
        method=method,
        purpose=purpose,
        amount_fen=amount,
        payer_user_id=payer_user_id,
        bill_ids=ids,
        unit_id=unit,
        status="created",
        idempotency_key=key,
    )
    try:
        async with s.begin_nested():
            s.add(payment)
            await s.flush()
    except IntegrityError:
        found = await _by_key(s, key)  # a concurrent twin won
        if found is None:
            raise AppError("CONFLICT", field="clientRequestId") from None
        return found
    return payment


def _description(tenant: TenantInfo, payment: OnlinePayment) -> str:
    what = "物业缴费" if payment.purpose == "bills" else "预存款充值"
    return f"{what} {payment.out_trade_no}"


# --- notifications ---------------------------------------------------------------------------


def _remote_json(remote: Remote | None) -> dict[str, Any] | None:
    if remote is None:
        return None
    data = asdict(remote)
    data["paid_at"] = remote.paid_at.isoformat() if remote.paid_at else None
    return data


def _remote_of(data: Mapping[str, Any] | None) -> Remote | None:
    if not data:
        return None
    paid = data.get("paid_at")
    return Remote(
        out_trade_no=str(data["out_trade_no"]),
        provider_ref=str(data.get("provider_ref") or ""),
        state=str(data["state"]),
        amount_fen=int(data["amount_fen"]),
        fee_fen=None if data.get("fee_fen") is None else int(data["fee_fen"]),
        paid_at=datetime.fromisoformat(paid) if paid else None,
    )


async def receive_notification(
    runtime: Runtime,
    tenant: TenantInfo,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
) -> tuple[bool, int | None, Provider]:
    """Verify with *this* tenant's credentials, match in *this* tenant's schema, store once.
    Returns (acknowledge ok, the new notification's id or None, the adapter)."""
    adapter = registry.get(provider, runtime.settings)
    async with runtime.db.tenant_session(tenant.schema, tenant.cluster) as s:
        try:
            _, creds = await account_of(s, runtime, tenant, provider, enabled=False)
        except AppError:
            return False, None, adapter
        try:
            note: Notification = adapter.verify(creds, headers, body, now or _now())
        except BadNotification as exc:
            log.warning("payment notification refused (%s, %s): %s", provider, tenant.slug, exc)
            return False, None, adapter
        payment_id = await _match(s, provider, note)
        if payment_id is None:
            log.warning(
                "payment notification %s (%s) matches no payment of tenant %s",
                note.event_id,
                provider,
                tenant.slug,
            )
            return False, None, adapter
        stored = await s.scalar(
            pg_insert(PaymentNotification)
            .values(
                provider=provider,
                event_id=note.event_id[:128],
                payment_id=payment_id,
                kind=note.kind,
                payload={
                    "payment": _remote_json(note.payment),
                    "refund_ref": note.refund_ref,
                    "refund_state": note.refund_state,
                    "raw": dict(note.raw),
                },
            )
            .on_conflict_do_nothing(constraint="uq_payment_notifications_event")
            .returning(PaymentNotification.id)
        )
        await s.commit()
    return True, stored, adapter


async def _match(s: AsyncSession, provider: str, note: Notification) -> int | None:
    """The payment (of this schema, at this provider) a notification is about."""
    if note.kind == "refund" and note.refund_ref:
        found = await s.scalar(
            select(OnlineRefund.payment_id).where(OnlineRefund.refund_ref == note.refund_ref)
        )
        if found is not None:
            return int(found)
    if note.payment is None:
        return None
    pk = await s.scalar(
        select(OnlinePayment.id).where(
            OnlinePayment.out_trade_no == note.payment.out_trade_no,
            OnlinePayment.provider == provider,
        )
    )
    return None if pk is None else int(pk)


async def process_notification(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, notification_id: int
) -> str:
    """Apply one stored notification (idempotent: a processed one does nothing). Raises
    ``LookupError`` for a refund notification that came before its refund's id was
    recorded: it stays unprocessed for the next try."""
    n: PaymentNotification | None = await session.scalar(
        select(PaymentNotification)
        .where(PaymentNotification.id == notification_id)
        .with_for_update()
    )
    if n is None or n.processed_at is not None:
        return "done"
    payment: OnlinePayment | None = await session.scalar(
        select(OnlinePayment).where(OnlinePayment.id == n.payment_id).with_for_update()
    )
    if payment is None:
        n.processed_at, n.outcome = _now(), "no payment"
        return n.outcome
    if n.kind == "payment":
        remote = _remote_of(n.payload.get("payment"))
        if remote is None or remote.out_trade_no != payment.out_trade_no:
            outcome = "ignored: not this payment"
        else:
            outcome = await apply_remote(session, runtime, tenant, payment, remote, query=True)
    else:
        outcome = await _refund_notification(session, runtime, tenant, payment, n)
    n.processed_at, n.outcome = _now(), outcome[:100]
    return n.outcome


async def _refund_notification(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    payment: OnlinePayment,
    n: PaymentNotification,
) -> str:
    ref = str(n.payload.get("refund_ref") or "")
    state = str(n.payload.get("refund_state") or "")
    refund: OnlineRefund | None = None
    if ref:
        refund = await session.scalar(
            select(OnlineRefund).where(OnlineRefund.refund_ref == ref).with_for_update()
        )
    if refund is None:
        waiting = list(
            await session.scalars(
                select(OnlineRefund)
                .where(
                    OnlineRefund.payment_id == payment.id,
                    OnlineRefund.refund_ref.is_(None),
                    OnlineRefund.status.in_(("requested", "pending")),
                )
                .with_for_update()
            )
        )
        if len(waiting) != 1:
            raise LookupError(f"refund {ref!r} of payment {payment.id} is not known yet")
        refund = waiting[0]
    if refund.payment_id != payment.id:
        return "ignored: another payment's refund"
    return await apply_refund(session, runtime, tenant, payment, refund, RefundResult(ref, state))


# --- the state machine -----------------------------------------------------------------------


async def apply_remote(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    payment: OnlinePayment,
    remote: Remote,
    *,
    query: bool = False,
) -> str:
    """Move the (locked) payment to what the provider says. ``query``: when the news is
    doubtful (an amount that differs), ask the provider itself before believing it. The
    payer hears of a new status once it commits."""
    before = payment.status
    outcome = await _apply_remote(session, runtime, tenant, payment, remote, query=query)
    if payment.status != before:
        realtime.announce(session, runtime, tenant, payment)
    return outcome


async def _apply_remote(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    payment: OnlinePayment,
    remote: Remote,
    *,
    query: bool,
) -> str:
    now = _now()
    if remote.state == "succeeded" and remote.amount_fen != payment.amount_fen and query:
        try:
            _, creds = await account_of(session, runtime, tenant, payment.provider, enabled=False)
            adapter = registry.get(payment.provider, runtime.settings)
            remote = await call_provider(
                runtime,
                lambda: adapter.query(creds, payment.out_trade_no, payment.provider_ref or ""),
            )
            payment.last_queried_at = now
        except ProviderError as exc:
            raise LookupError(f"cannot confirm payment {payment.out_trade_no}: {exc}") from exc
    if remote.provider_ref and not payment.provider_ref:
        payment.provider_ref = remote.provider_ref[:100]
    if payment.status in PAID_STATUSES:
        return f"unchanged: {payment.status}"
    state = remote.state
    if state == "pending":
        if payment.status == "created":
            payment.status, payment.updated_at = "pending", now
            return "pending"
        return f"unchanged: {payment.status}"
    if state in ("failed", "closed"):
        if payment.status in OPEN_STATUSES:
            payment.status, payment.updated_at = state, now
            return state
        return f"unchanged: {payment.status}"
    if state != "succeeded":
        return f"ignored: state {state}"
    if remote.amount_fen != payment.amount_fen:
        payment.error = f"amount mismatch: provider {remote.amount_fen}, ours {payment.amount_fen}"
        payment.updated_at = now
        return "amount mismatch"
    payment.status = "succeeded"
    payment.succeeded_at = remote.paid_at or now
    payment.updated_at = now
    if remote.fee_fen is not None:
        payment.fee_fen = remote.fee_fen
    await session.flush()
    await checkpoint("after_state_change")
    await _settle(session, runtime, tenant, payment)
    await checkpoint("after_settlement")
    return "succeeded"


def _settle_ref(payment: OnlinePayment) -> str:
    ref = payment.provider_ref or ""
    return ref if 0 < len(ref) <= 64 else payment.out_trade_no


async def _settle(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, payment: OnlinePayment
) -> None:
    """Billing's settlement (idempotent on the provider's ref) and the fee, in the caller's
    transaction. What cannot be settled stays on ``unapplied_online``."""
    ref = _settle_ref(payment)
    try:
        async with session.begin_nested():
            if payment.payer_user_id is None:
                raise AppError("NOT_FOUND", field="payer")
            if payment.purpose == "bills":
                done = await settlement.settle_online(
                    session,
                    runtime,
                    tenant,
                    payer_user_id=payment.payer_user_id,
                    bill_ids=payment.bill_ids,
                    amount_fen=payment.amount_fen,
                    provider=payment.provider,
                    provider_ref=ref,
                )
            else:
                assert payment.unit_id is not None
                done = await settlement.top_up_online(
                    session,
                    runtime,
                    tenant,
                    payer_user_id=payment.payer_user_id,
                    unit_id=payment.unit_id,
                    amount_fen=payment.amount_fen,
                    provider=payment.provider,
                    provider_ref=ref,
                )
        payment.billing_payment_id = done.id
    except AppError as exc:
        payment.error = f"not settled ({exc.code}): the money is unapplied; refund it"[:300]
        await ledger.post(
            session,
            kind="online_unapplied",
            ref_type="online_payment",
            ref_id=payment.id,
            lines=[
                Line(CLEARING, debit=payment.amount_fen, unit_id=payment.unit_id),
                Line(UNAPPLIED, credit=payment.amount_fen, unit_id=payment.unit_id),
            ],
            memo=payment.out_trade_no,
        )
    if payment.fee_fen:
        await ledger.post(
            session,
            kind="provider_fee",
            ref_type="online_payment",
            ref_id=payment.id,
            lines=[Line(FEES, debit=payment.fee_fen), Line(CLEARING, credit=payment.fee_fen)],
            memo=f"{payment.provider} {payment.out_trade_no}",
        )


# --- refunds ---------------------------------------------------------------------------------


async def payment_communities(session: AsyncSession, payment: OnlinePayment) -> set[int]:
    if payment.purpose == "bills" and payment.bill_ids:
        rows = await session.scalars(
            select(Bill.community_id).where(Bill.id.in_(list(payment.bill_ids)))
        )
        return {int(r) for r in rows}
    if payment.unit_id is not None:
        c = await session.scalar(select(Unit.community_id).where(Unit.id == payment.unit_id))
        return {int(c)} if c is not None else set()
    return set()


async def refund_payment(
    runtime: Runtime,
    tenant: TenantInfo,
    actor: settlement.Actor,
    *,
    payment_id: int,
    amount_fen: int,
    reason: str,
    client_request_id: str,
) -> OnlineRefund:
    """Refund (part of) a paid online payment to where it came from (``billing.refund``, in
    the actor's data scope). Booked when the provider confirms (now or by notification)."""
    key = _client_key(client_request_id)
    reason = (reason or "").strip()
    if not reason or len(reason) > 300:
        raise AppError("VALIDATION_FAILED", field="reason")
    if not 0 < amount_fen <= settlement.MAX_FEN:
        raise AppError("VALIDATION_FAILED", field="amountFen")
    db = runtime.db
    async with db.tenant_session(tenant.schema, tenant.cluster) as s:
        refund: OnlineRefund | None = await s.scalar(
            select(OnlineRefund).where(OnlineRefund.idempotency_key == key)
        )
        payment: OnlinePayment | None = await s.scalar(
            select(OnlinePayment).where(OnlinePayment.id == payment_id).with_for_update()
        )
        if payment is None or not all(
            actor.scope.allows(c) for c in await payment_communities(s, payment)
        ):
            raise AppError("NOT_FOUND", field="paymentId")
        if refund is not None:
            if refund.payment_id != payment.id:
                raise AppError("CONFLICT", field="clientRequestId")
            if refund.status != "requested" or refund.refund_ref:
                return refund
        else:
            refund = await _new_refund(s, tenant, actor, payment, amount_fen, reason, key)
        _, creds = await account_of(s, runtime, tenant, payment.provider, enabled=False)
        await s.commit()
    adapter = registry.get(payment.provider, runtime.settings)
    return await _send_refund(runtime, tenant, adapter, creds, payment, refund)


async def _new_refund(
    s: AsyncSession,
    tenant: TenantInfo,
    actor: settlement.Actor,
    payment: OnlinePayment,
    amount_fen: int,
    reason: str,
    key: str,
) -> OnlineRefund:
    if payment.status not in ("succeeded", "partially_refunded"):
        raise AppError("INVALID_TRANSITION", status=payment.status, field="paymentId")
    reserved = int(
        await s.scalar(
            select(func.coalesce(func.sum(OnlineRefund.amount_fen), 0)).where(
                OnlineRefund.payment_id == payment.id, OnlineRefund.status != "failed"
            )
        )
        or 0
    )
    if reserved + amount_fen > payment.amount_fen:
        raise AppError(
            "VALIDATION_FAILED",
            "退款金额超过可退金额",
            "The refund is more than what is left to refund",
            field="amountFen",
        )
    if payment.purpose == "topup" and payment.billing_payment_id is not None:
        assert payment.unit_id is not None
        await settlement._lock_units(s, [payment.unit_id])
        balance = (await ledger.prepaid_balances(s, [payment.unit_id]))[payment.unit_id]
        pending = int(
            await s.scalar(
                select(func.coalesce(func.sum(OnlineRefund.amount_fen), 0))
                .join(OnlinePayment, OnlinePayment.id == OnlineRefund.payment_id)
                .where(
                    OnlinePayment.unit_id == payment.unit_id,
                    OnlinePayment.purpose == "topup",
                    OnlineRefund.status.in_(("requested", "pending")),
                )
            )
            or 0
        )
        if amount_fen > balance - pending:
            raise AppError(
                "VALIDATION_FAILED",
                "退款金额超过预存款余额",
                "The refund is more than the prepaid balance",
                field="amountFen",
            )
    pk = await next_id(s, "online_refunds")
    day = _now().astimezone(tenant.zone).strftime("%Y%m%d")
    refund = OnlineRefund(
        id=pk,
        payment_id=payment.id,
        out_refund_no=f"RF{day}{pk:08d}",
        amount_fen=amount_fen,
        reason=reason,
        status="requested",
        requested_by=actor.user_id,
        idempotency_key=key,
    )
    try:
        async with s.begin_nested():
            s.add(refund)
            await s.flush()
    except IntegrityError:
        raise AppError("CONFLICT", field="clientRequestId") from None
    return refund


async def _send_refund(
    runtime: Runtime,
    tenant: TenantInfo,
    adapter: Provider,
    creds: Credentials,
    payment: OnlinePayment,
    refund: OnlineRefund,
) -> OnlineRefund:
    request = _refund_request(tenant, payment, refund)
    result: RefundResult | None = None
    error: ProviderError | None = None
    try:
        result = await call_provider(runtime, lambda: adapter.refund(creds, request))
    except ProviderError as exc:
        error = exc
    async with runtime.db.tenant_session(tenant.schema, tenant.cluster) as s:
        row = await s.get(OnlinePayment, payment.id, with_for_update=True)
        found = await s.get(OnlineRefund, refund.id, with_for_update=True)
        assert row is not None and found is not None
        if result is not None:
            await apply_refund(s, runtime, tenant, row, found, result)
        elif error is not None and not error.temporary and found.status == "requested":
            found.status, found.error = "failed", f"{error.code or 'refused'}: {error}"[:300]
        elif error is not None:
            found.error = f"provider unavailable, will retry: {error}"[:300]
        found.updated_at = _now()
        await commit_then_hooks(s)
        return found


def _refund_request(
    tenant: TenantInfo, payment: OnlinePayment, refund: OnlineRefund
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=payment.out_trade_no,
        provider_ref=payment.provider_ref or "",
        out_refund_no=refund.out_refund_no,
        amount_fen=refund.amount_fen,
        total_fen=payment.amount_fen,
        reason=refund.reason,
        idempotency_key=f"{tenant.slug}:{refund.out_refund_no}",
    )


async def apply_refund(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    payment: OnlinePayment,
    refund: OnlineRefund,
    result: RefundResult,
) -> str:
    """The provider's word on a (locked) refund; a success is booked once (and the payer
    hears of the payment's new status once it commits)."""
    before = payment.status, payment.refunded_fen
    outcome = await _apply_refund(session, tenant, payment, refund, result)
    if (payment.status, payment.refunded_fen) != before:
        realtime.announce(session, runtime, tenant, payment)
    return outcome


async def _apply_refund(
    session: AsyncSession,
    tenant: TenantInfo,
    payment: OnlinePayment,
    refund: OnlineRefund,
    result: RefundResult,
) -> str:
    if result.refund_ref and not refund.refund_ref:
        refund.refund_ref = result.refund_ref[:100]
    if refund.status in ("succeeded", "failed"):
        return f"unchanged: refund {refund.status}"
    now = _now()
    refund.updated_at = now
    if result.state == "pending":
        refund.status = "pending"
        return "refund pending"
    if result.state == "failed":
        refund.status = "failed"
        return "refund failed"
    if result.state != "succeeded":
        return f"ignored: refund state {result.state}"
    refund.status, refund.succeeded_at = "succeeded", now
    payment.refunded_fen += refund.amount_fen
    payment.status = (
        "refunded" if payment.refunded_fen >= payment.amount_fen else "partially_refunded"
    )
    payment.updated_at = now
    await ledger.post(
        session,
        kind="online_refund",
        ref_type="online_refund",
        ref_id=refund.id,
        lines=await _refund_lines(session, payment, refund.amount_fen),
        memo=f"{refund.out_refund_no} ← {payment.out_trade_no}: {refund.reason}"[:300],
        actor_id=refund.requested_by,
    )
    return "refund succeeded"


async def _refund_lines(session: AsyncSession, payment: OnlinePayment, fen: int) -> list[Line]:
    settled = (
        await session.get(BillingPayment, payment.billing_payment_id)
        if payment.billing_payment_id
        else None
    )
    if settled is None:
        debit = Line(UNAPPLIED, debit=fen, unit_id=payment.unit_id)
        return [debit, Line(CLEARING, credit=fen, unit_id=payment.unit_id)]
    unit, community = settled.unit_id, settled.community_id
    account = "prepaid" if settled.kind == "topup" else "refunds"
    return [
        Line(account, debit=fen, unit_id=unit, community_id=community),
        Line(CLEARING, credit=fen, unit_id=unit, community_id=community),
    ]


# --- the sweep -------------------------------------------------------------------------------


async def sweep(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    older_than_s: float | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Resolve what never heard back: open payments older than ``older_than_s`` are
    queried (and closed once expired), refunds whose call never got through are sent again
    (same idempotency key) and pending ones are queried, and notifications never processed
    are processed."""
    s_ = runtime.settings
    now = now or _now()
    age = timedelta(seconds=s_.payments_sweep_after_s if older_than_s is None else older_than_s)
    expire = timedelta(seconds=s_.payments_expire_after_s)
    counts = {"queried": 0, "resolved": 0, "closed": 0, "refunds": 0, "notifications": 0}
    open_ids = list(
        await session.scalars(
            select(OnlinePayment.id)
            .where(
                OnlinePayment.status.in_(OPEN_STATUSES),
                OnlinePayment.created_at < now - age,
            )
            .order_by(OnlinePayment.created_at)
            .limit(SWEEP_BATCH)
        )
    )
    for pk in open_ids:
        payment = await session.get(OnlinePayment, pk)
        if payment is None:
            continue
        try:
            _, creds = await account_of(session, runtime, tenant, payment.provider, enabled=False)
            adapter = registry.get(payment.provider, runtime.settings)
            remote: Remote | None = await call_provider(
                runtime,
                lambda p=payment, a=adapter, c=creds: a.query(
                    c, p.out_trade_no, p.provider_ref or ""
                ),  # type: ignore[misc]
            )
        except ProviderError as exc:
            if exc.temporary:
                continue
            remote = None  # the provider never heard of it (create never got through)
        except AppError:
            continue
        counts["queried"] += 1
        locked = await session.get(OnlinePayment, pk, with_for_update=True, populate_existing=True)
        assert locked is not None
        locked.last_queried_at = now
        if remote is not None:
            outcome = await apply_remote(session, runtime, tenant, locked, remote)
            if locked.status not in OPEN_STATUSES:
                counts["resolved"] += 1
                continue
            del outcome
        if locked.status in OPEN_STATUSES and locked.created_at < now - expire:
            if remote is not None:
                try:
                    await call_provider(
                        runtime,
                        lambda p=locked, a=adapter, c=creds: a.close(
                            c, p.out_trade_no, p.provider_ref or ""
                        ),  # type: ignore[misc]
                    )
                except ProviderError:
                    continue  # paid in the meantime, or unreachable: ask again next time
            locked.status, locked.updated_at = "closed", now
            realtime.announce(session, runtime, tenant, locked)
            counts["closed"] += 1
    counts["refunds"] = await _resolve_refunds(session, runtime, tenant, now - age)
    counts["notifications"] = await _unprocessed(
        session, runtime, tenant, now - timedelta(seconds=60)
    )
    return counts


async def _resolve_refunds(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, before: datetime
) -> int:
    """Refunds that never heard back: one whose call never got through is sent again (same
    idempotency key, so it cannot refund twice); one the provider left pending is asked
    about. Returns how many were settled either way."""
    rows = list(
        await session.scalars(
            select(OnlineRefund)
            .where(
                or_(
                    (OnlineRefund.status == "requested") & OnlineRefund.refund_ref.is_(None),
                    (OnlineRefund.status == "pending") & OnlineRefund.refund_ref.is_not(None),
                ),
                OnlineRefund.updated_at < before,
            )
            .order_by(OnlineRefund.id)
            .limit(SWEEP_BATCH)
        )
    )
    done = 0
    for refund in rows:
        payment = await session.get(OnlinePayment, refund.payment_id, with_for_update=True)
        assert payment is not None
        _, creds = await account_of(session, runtime, tenant, payment.provider, enabled=False)
        adapter = registry.get(payment.provider, runtime.settings)
        request = _refund_request(tenant, payment, refund)
        ref = refund.refund_ref
        try:
            result = await call_provider(
                runtime,
                lambda r=request, a=adapter, c=creds, ref=ref: (  # type: ignore[misc]
                    a.refund(c, r) if ref is None else a.query_refund(c, r, ref)
                ),
            )
        except ProviderError as exc:
            if ref is None and not exc.temporary:
                refund.status, refund.error = "failed", str(exc)[:300]
            continue  # a query that fails changes nothing: ask again next time
        await apply_refund(session, runtime, tenant, payment, refund, result)
        refund.updated_at = _now()  # asked now: the next sweep waits its turn again
        done += refund.status in ("succeeded", "failed")
    return done


async def _unprocessed(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, before: datetime
) -> int:
    ids = list(
        await session.scalars(
            select(PaymentNotification.id)
            .where(
                PaymentNotification.processed_at.is_(None),
                PaymentNotification.received_at < before,
            )
            .order_by(PaymentNotification.id)
            .limit(SWEEP_BATCH)
        )
    )
    done = 0
    for pk in ids:
        try:
            async with session.begin_nested():
                await process_notification(session, runtime, tenant, pk)
            done += 1
        except LookupError:
            continue
    return done
