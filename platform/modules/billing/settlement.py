"""Settling bills: offline payments at the office, reversals, prepaid balance (top-ups,
paying from it, automatic settlement of new bills, refunds), waivers, and the settlement
service online payments call.

Rules (each one checked here, whoever calls):

- **Idempotent.** Every money-in call carries a key: ``client_request_id`` (cashier and
  resident calls) or the provider's ``provider_ref`` (online). The same key twice records
  once and returns the first payment; two concurrent calls with one key also record once
  (the bills are locked first, the key is looked up again under the lock, and the unique
  constraint is the last word).
- **Locks.** The bills a call settles are locked ``FOR UPDATE`` (in id order, so two calls
  never deadlock); anything that spends a unit's prepaid balance locks the unit row
  ``FOR NO KEY UPDATE`` first (foreign-key inserts are not blocked), then reads the balance.
- **Exact amounts.** A payment must equal the outstanding total of its bills, unless the
  tenant enables partial payments (module config ``allow_partial``): then a smaller amount
  goes to the oldest due bill first. Paying more than is due is refused
  (``VALIDATION_FAILED`` on ``amountFen``): money to keep goes through an explicit top-up.
- **One payer.** An offline payment covers bills of one unit (``Payment.unit_id``).
- **Never edited.** A correction is a reversal: a payment row with the negative amount
  (``reversal_of_id`` is unique, so a payment is reversed once), negative allocations,
  the bills reopened, and a ledger entry with the original lines swapped.
- Every movement posts one balanced ledger entry (see ``ledger``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.permissions import Permission, grants
from wuye.identity.scope import NO_SCOPE, DataScope
from wuye.modules.billing import ledger
from wuye.modules.billing.config import config_of
from wuye.modules.billing.ledger import METHOD_ACCOUNTS, Line
from wuye.modules.billing.models import (
    Adjustment,
    Allocation,
    Bill,
    LedgerEntry,
    LedgerLine,
    Payment,
)
from wuye.modules.billing.permissions import COLLECT
from wuye.modules.estate.models import Unit
from wuye.modules.estate.residents import places_of_user
from wuye.modules.rows import next_id
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo

OFFLINE_METHODS = ("cash", "transfer", "pos", "cheque")
REFUND_METHODS = ("cash", "transfer", "cheque")  # money back leaves as cash or to a bank
OPEN = ("unpaid", "partial")
MAX_BILLS = 200  # bills in one payment
MAX_FEN = 10**12  # 100 亿元: a sanity cap on one amount


@dataclass(frozen=True)
class Actor:
    """Who asks: staff (with permissions and data scope) or a resident."""

    user_id: int
    is_staff: bool
    permissions: frozenset[str] = frozenset()
    scope: DataScope = NO_SCOPE
    name: str = ""

    def can(self, permission: Permission) -> bool:
        return grants(self.permissions, permission.key)


def _now() -> datetime:
    return datetime.now(UTC)


def outstanding(bill: Bill) -> int:
    """What is still owed: amount + late fee - discount - paid - waived."""
    return bill.amount_fen + bill.late_fee_fen - bill.discount_fen - bill.paid_fen - bill.waived_fen


def outstanding_sql() -> Any:
    return Bill.amount_fen + Bill.late_fee_fen - Bill.discount_fen - Bill.paid_fen - Bill.waived_fen


def _restate(bill: Bill, now: datetime) -> None:
    """Status (and paid_at) from the amounts: settled bills are paid (waived when nothing
    was paid); open ones unpaid or partial."""
    if bill.status == "void":
        return
    if outstanding(bill) == 0:
        bill.status = "waived" if bill.paid_fen == 0 and bill.waived_fen > 0 else "paid"
        bill.paid_at = bill.paid_at or now
    else:
        bill.status = "partial" if bill.paid_fen + bill.waived_fen > 0 else "unpaid"
        bill.paid_at = None


def _ids(column: Any, ids: Sequence[int]) -> Any:
    """``column = ANY(:ids)``: one bound array however many ids (no parameter limit)."""
    return column == func.any(bindparam(None, list(ids), type_=ARRAY(BigInteger), unique=True))


def _check_amount(amount_fen: int, field: str = "amountFen") -> None:
    if amount_fen <= 0 or amount_fen > MAX_FEN:
        raise AppError(
            "VALIDATION_FAILED", "金额须大于零", "The amount must be positive", field=field
        )


def _required(value: str, field: str, limit: int = 300) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise AppError("VALIDATION_FAILED", field=field)
    return value


def _key(value: str | None, field: str = "clientRequestId") -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 64:
        raise AppError("VALIDATION_FAILED", field=field)
    return value


async def receipt_number(
    session: AsyncSession, tenant: TenantInfo, now: datetime
) -> tuple[int, str]:
    """The payment's id (taken first) and its receipt number: R + the local date + the id."""
    payment_id = await next_id(session, "payments")
    return payment_id, _receipt_no(tenant, now, payment_id)


def _receipt_no(tenant: TenantInfo, now: datetime, payment_id: int) -> str:
    day = now.astimezone(tenant.zone).strftime("%Y%m%d")
    return f"R{day}{payment_id:08d}"


# --- lookups and locks ---------------------------------------------------------------------


async def _by_key(
    session: AsyncSession, *, client_request_id: str | None = None, provider_ref: str | None = None
) -> Payment | None:
    if client_request_id is not None:
        where = Payment.client_request_id == client_request_id
    elif provider_ref is not None:
        where = Payment.provider_ref == provider_ref
    else:
        return None
    found: Payment | None = await session.scalar(select(Payment).where(where))
    return found


def _same_kind(found: Payment, kind: str, field: str = "clientRequestId") -> Payment:
    if found.kind != kind:
        raise AppError(
            "CONFLICT",
            "该请求编号已用于其他操作",
            "This request id was used for another operation",
            field=field,
        )
    return found


async def _lock_bills(session: AsyncSession, bill_ids: Sequence[int], field: str) -> list[Bill]:
    ids = sorted(set(bill_ids))
    if not ids or len(ids) > MAX_BILLS:
        raise AppError("VALIDATION_FAILED", field=field)
    rows = list(
        await session.scalars(
            select(Bill).where(_ids(Bill.id, ids)).order_by(Bill.id).with_for_update()
        )
    )
    if len(rows) != len(ids):
        raise AppError("NOT_FOUND", field=field)
    return rows


async def _check_bills_visible(
    session: AsyncSession, actor: Actor, bills: Sequence[Bill], field: str
) -> None:
    """Staff: every bill in the data scope; residents: every bill of a unit they live in.
    NOT_FOUND otherwise (never reveal a neighbour's bill exists)."""
    if actor.is_staff:
        if not all(actor.scope.allows(b.community_id) for b in bills):
            raise AppError("NOT_FOUND", field=field)
        return
    units = (await places_of_user(session, actor.user_id)).unit_ids
    if not all(b.unit_id is not None and b.unit_id in units for b in bills):
        raise AppError("NOT_FOUND", field=field)


def _one_unit(bills: Sequence[Bill], field: str) -> int:
    units = {b.unit_id for b in bills}
    if len(units) != 1 or None in units:
        raise AppError(
            "VALIDATION_FAILED",
            "一次收款只能包含同一房屋的账单",
            "One payment covers the bills of one unit",
            field=field,
        )
    return int(next(iter(units)))  # type: ignore[arg-type]


def _check_open(bills: Sequence[Bill], field: str) -> None:
    for b in bills:
        if b.status not in OPEN or outstanding(b) <= 0:
            raise AppError("INVALID_TRANSITION", status=b.status, field=field)


def _allocate(
    bills: Sequence[Bill], amount_fen: int, *, partial: bool, field: str = "amountFen"
) -> dict[int, int]:
    """Bill id -> fen: everything when the amount is the total; with partial payments a
    smaller amount goes to the oldest due bill first. More than due is refused."""
    total = sum(outstanding(b) for b in bills)
    if amount_fen > total:
        raise AppError(
            "VALIDATION_FAILED",
            "金额超过应收合计",
            "The amount is more than the bills' outstanding total",
            field=field,
        )
    if amount_fen < total and not partial:
        raise AppError(
            "VALIDATION_FAILED",
            "金额须等于应收合计（未开通部分缴费）",
            "The amount must equal the outstanding total (partial payments are off)",
            field=field,
        )
    left, shares = amount_fen, {}
    for b in sorted(bills, key=lambda b: (b.due_on, b.id)):
        share = min(left, outstanding(b))
        if share > 0:
            shares[b.id] = share
            left -= share
    return shares


async def _lock_units(session: AsyncSession, unit_ids: Sequence[int]) -> None:
    """Serialise spending of these units' prepaid balances (FOR NO KEY UPDATE: inserts
    referencing the unit still go on)."""
    ids = sorted(set(unit_ids))
    if ids:
        await session.execute(
            select(Unit.id)
            .where(_ids(Unit.id, ids))
            .order_by(Unit.id)
            .with_for_update(key_share=True)
        )


async def _unit(session: AsyncSession, actor: Actor, unit_id: int, field: str = "unitId") -> Unit:
    found = await session.get(Unit, unit_id)
    if found is None or not (actor.is_staff and actor.scope.allows(found.community_id)):
        raise AppError("NOT_FOUND", field=field)
    return found


async def _insert_payment(
    session: AsyncSession, payment: Payment, *, key_field: str
) -> Payment | None:
    """Insert in a savepoint; None when a concurrent call with the same key won."""
    try:
        async with session.begin_nested():
            session.add(payment)
            await session.flush()
    except IntegrityError:
        return None
    return payment


# --- paying bills --------------------------------------------------------------------------


async def _settle(
    session: AsyncSession,
    tenant: TenantInfo,
    bills: Sequence[Bill],
    shares: dict[int, int],
    *,
    method: str,
    payment_fields: dict[str, Any],
    actor_id: int | None,
    key_field: str,
    find_existing: Any,
) -> Payment:
    """Write the payment, its allocations, the bills' new amounts and the ledger entry."""
    now = _now()
    amount = sum(shares.values())
    payment_id, receipt_no = await receipt_number(session, tenant, now)
    units = {b.unit_id for b in bills if b.id in shares}
    communities = {b.community_id for b in bills if b.id in shares}
    payment = Payment(
        id=payment_id,
        receipt_no=receipt_no,
        kind="payment",
        method=method,
        amount_fen=amount,
        unit_id=next(iter(units)) if len(units) == 1 else None,
        community_id=next(iter(communities)) if len(communities) == 1 else None,
        cashier_id=actor_id,
        **payment_fields,
    )
    if await _insert_payment(session, payment, key_field=key_field) is None:
        found = await find_existing()
        if found is None:
            raise AppError("CONFLICT", field=key_field)
        return _same_kind(found, "payment", key_field)  # type: ignore[no-any-return]
    await session.execute(
        insert(Allocation),
        [{"payment_id": payment_id, "bill_id": b, "amount_fen": f} for b, f in shares.items()],
    )
    lines: list[Line] = []
    per_unit: dict[tuple[int | None, int], int] = defaultdict(int)
    for b in bills:
        share = shares.get(b.id, 0)
        if not share:
            continue
        b.paid_fen += share
        _restate(b, now)
        per_unit[(b.unit_id, b.community_id)] += share
        lines.append(
            Line(
                "receivable",
                credit=share,
                unit_id=b.unit_id,
                community_id=b.community_id,
                fee_item_id=b.fee_item_id,
                bill_id=b.id,
            )
        )
    lines[:0] = [
        Line(METHOD_ACCOUNTS[method], debit=fen, unit_id=u, community_id=c)
        for (u, c), fen in per_unit.items()
    ]
    await ledger.post(
        session,
        kind="payment",
        ref_type="payment",
        ref_id=payment_id,
        lines=lines,
        memo=receipt_no,
        actor_id=actor_id,
    )
    await session.flush()
    return payment


async def record_payment(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    cashier: Actor,
    *,
    bill_ids: Sequence[int],
    method: str,
    amount_fen: int,
    client_request_id: str,
    payer_name: str = "",
    reference: str = "",
    note: str = "",
) -> Payment:
    """An offline payment at the office (cash, bank transfer, POS, cheque) against bills of
    one unit in the cashier's scope."""
    if not cashier.is_staff or not cashier.can(COLLECT):
        raise AppError("FORBIDDEN")
    if method not in OFFLINE_METHODS:
        raise AppError("VALIDATION_FAILED", field="method")
    key = _key(client_request_id)
    _check_amount(amount_fen)
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "payment")
    bills = await _lock_bills(session, bill_ids, "billIds")
    await _check_bills_visible(session, cashier, bills, "billIds")
    found = await _by_key(session, client_request_id=key)  # a concurrent twin committed
    if found is not None:
        return _same_kind(found, "payment")
    _one_unit(bills, "billIds")
    _check_open(bills, "billIds")
    shares = _allocate(bills, amount_fen, partial=config_of(tenant).allow_partial)
    return await _settle(
        session,
        tenant,
        bills,
        shares,
        method=method,
        payment_fields={
            "payer_name": payer_name.strip()[:100],
            "reference": reference.strip()[:100],
            "note": note.strip()[:300],
            "client_request_id": key,
        },
        actor_id=cashier.user_id,
        key_field="clientRequestId",
        find_existing=lambda: _by_key(session, client_request_id=key),
    )


async def settle_online(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    payer_user_id: int,
    bill_ids: Sequence[int],
    amount_fen: int,
    provider: str,
    provider_ref: str,
) -> Payment:
    """ "These bills are paid by the provider's payment ``provider_ref`` of ``amount_fen``":
    idempotent on ``provider_ref``; the amount must equal the bills' outstanding total; the
    bills must be of units the payer currently lives in (NOT_FOUND otherwise)."""
    ref = _key(provider_ref, "providerRef")
    if len(ref or "") > 100:
        raise AppError("VALIDATION_FAILED", field="providerRef")
    _check_amount(amount_fen)
    found = await _by_key(session, provider_ref=ref)
    if found is not None:
        return _same_kind(found, "payment", "providerRef")
    bills = await _lock_bills(session, bill_ids, "billIds")
    await _check_bills_visible(session, Actor(payer_user_id, False), bills, "billIds")
    found = await _by_key(session, provider_ref=ref)
    if found is not None:
        return _same_kind(found, "payment", "providerRef")
    _check_open(bills, "billIds")
    shares = _allocate(bills, amount_fen, partial=False)
    payer = await session.scalar(
        text("SELECT name FROM users WHERE id = :id"), {"id": payer_user_id}
    )
    return await _settle(
        session,
        tenant,
        bills,
        shares,
        method="online",
        payment_fields={
            "payer_name": str(payer or "")[:100],
            "provider_ref": ref,
            "reference": provider.strip()[:100],
        },
        actor_id=None,
        key_field="providerRef",
        find_existing=lambda: _by_key(session, provider_ref=ref),
    )


async def pay_from_balance(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    actor: Actor,
    *,
    bill_ids: Sequence[int],
    client_request_id: str | None = None,
) -> Payment:
    """Settle bills (of one unit) from that unit's prepaid balance, in full: a cashier
    (billing.collect, in scope) or a resident for their own unit's bills."""
    if actor.is_staff and not actor.can(COLLECT):
        raise AppError("FORBIDDEN")
    key = _key(client_request_id)
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "payment")
    bills = await _lock_bills(session, bill_ids, "billIds")
    await _check_bills_visible(session, actor, bills, "billIds")
    unit_id = _one_unit(bills, "billIds")
    await _lock_units(session, [unit_id])
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "payment")
    _check_open(bills, "billIds")
    total = sum(outstanding(b) for b in bills)
    balance = (await ledger.prepaid_balances(session, [unit_id]))[unit_id]
    if balance < total:
        raise AppError(
            "VALIDATION_FAILED",
            "预存款余额不足",
            "The prepaid balance is not enough",
            field="billIds",
        )
    shares = {b.id: outstanding(b) for b in bills}
    return await _settle(
        session,
        tenant,
        bills,
        shares,
        method="balance",
        payment_fields={
            "payer_name": "" if actor.is_staff else actor.name[:100],
            "client_request_id": key,
        },
        actor_id=actor.user_id,
        key_field="clientRequestId",
        find_existing=lambda: _by_key(session, client_request_id=key),
    )


# --- reversal ------------------------------------------------------------------------------


async def reverse_payment(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    cashier: Actor,
    *,
    payment_id: int,
    reason: str,
    client_request_id: str,
) -> Payment:
    """Reverse a payment or top-up (once): a negative payment row, negative allocations,
    the bills reopened, the ledger entry's lines swapped. A top-up is reversed only while
    its amount is still in the balance."""
    if not cashier.is_staff or not cashier.can(COLLECT):
        raise AppError("FORBIDDEN")
    key = _key(client_request_id)
    reason = _required(reason, "reason")
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "reversal")
    original: Payment | None = await session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update()
    )
    if original is None or not cashier.scope.allows(original.community_id):
        raise AppError("NOT_FOUND", field="paymentId")
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "reversal")
    if original.kind == "reversal":
        raise AppError("INVALID_TRANSITION", status="reversal", field="paymentId")
    if await session.scalar(select(Payment.id).where(Payment.reversal_of_id == original.id)):
        raise AppError(
            "CONFLICT", "该笔收款已冲正", "This payment was already reversed", field="paymentId"
        )
    allocations = list(
        await session.scalars(select(Allocation).where(Allocation.payment_id == original.id))
    )
    bills = (
        await _lock_bills(session, [a.bill_id for a in allocations], "paymentId")
        if allocations
        else []
    )
    entry_id = await session.scalar(
        select(LedgerEntry.id).where(
            LedgerEntry.ref_type == "payment", LedgerEntry.ref_id == original.id
        )
    )
    lines = (
        [line.swapped() for line in await ledger.lines_of(session, entry_id)] if entry_id else []
    )
    # the reversal takes money out of a prepaid balance (a top-up): it must still be there
    spent: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.account == "prepaid" and line.debit and line.unit_id is not None:
            spent[line.unit_id] += line.debit
    if spent:
        await _lock_units(session, list(spent))
        balances = await ledger.prepaid_balances(session, list(spent))
        if any(balances[u] < fen for u, fen in spent.items()):
            raise AppError(
                "VALIDATION_FAILED",
                "预存款已被使用，不能冲正",
                "The prepaid balance was already spent",
                field="paymentId",
            )
    now = _now()
    reversal_id, receipt_no = await receipt_number(session, tenant, now)
    reversal = Payment(
        id=reversal_id,
        receipt_no=receipt_no,
        kind="reversal",
        method=original.method,
        amount_fen=-original.amount_fen,
        unit_id=original.unit_id,
        community_id=original.community_id,
        payer_name=original.payer_name,
        cashier_id=cashier.user_id,
        client_request_id=key,
        reversal_of_id=original.id,
        reference=original.reference,
        note=reason,
    )
    if await _insert_payment(session, reversal, key_field="clientRequestId") is None:
        found = await _by_key(session, client_request_id=key)
        if found is not None:
            return _same_kind(found, "reversal")
        raise AppError(
            "CONFLICT", "该笔收款已冲正", "This payment was already reversed", field="paymentId"
        )
    if allocations:
        await session.execute(
            insert(Allocation),
            [
                {"payment_id": reversal_id, "bill_id": a.bill_id, "amount_fen": -a.amount_fen}
                for a in allocations
            ],
        )
        by_id = {b.id: b for b in bills}
        for a in allocations:
            bill = by_id[a.bill_id]
            bill.paid_fen -= a.amount_fen
            _restate(bill, now)
    await ledger.post(
        session,
        kind="reversal",
        ref_type="payment",
        ref_id=reversal_id,
        lines=lines,
        memo=f"{receipt_no} ← {original.receipt_no}: {reason}"[:300],
        actor_id=cashier.user_id,
    )
    await session.flush()
    return reversal


# --- prepaid balance -----------------------------------------------------------------------


async def top_up(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    cashier: Actor,
    *,
    unit_id: int,
    amount_fen: int,
    method: str,
    client_request_id: str,
    payer_name: str = "",
    reference: str = "",
    note: str = "",
) -> Payment:
    """Money into a unit's prepaid balance (预存款) at the office."""
    if not cashier.is_staff or not cashier.can(COLLECT):
        raise AppError("FORBIDDEN")
    if method not in OFFLINE_METHODS:
        raise AppError("VALIDATION_FAILED", field="method")
    key = _key(client_request_id)
    _check_amount(amount_fen)
    found = await _by_key(session, client_request_id=key)
    if found is not None:
        return _same_kind(found, "topup")
    unit = await _unit(session, cashier, unit_id)
    now = _now()
    payment_id, receipt_no = await receipt_number(session, tenant, now)
    payment = Payment(
        id=payment_id,
        receipt_no=receipt_no,
        kind="topup",
        method=method,
        amount_fen=amount_fen,
        unit_id=unit.id,
        community_id=unit.community_id,
        payer_name=payer_name.strip()[:100],
        cashier_id=cashier.user_id,
        client_request_id=key,
        reference=reference.strip()[:100],
        note=note.strip()[:300],
    )
    if await _insert_payment(session, payment, key_field="clientRequestId") is None:
        found = await _by_key(session, client_request_id=key)
        if found is None:
            raise AppError("CONFLICT", field="clientRequestId")
        return _same_kind(found, "topup")
    where = {"unit_id": unit.id, "community_id": unit.community_id}
    await ledger.post(
        session,
        kind="topup",
        ref_type="payment",
        ref_id=payment_id,
        lines=[
            Line(METHOD_ACCOUNTS[method], debit=amount_fen, **where),
            Line("prepaid", credit=amount_fen, **where),
        ],
        memo=receipt_no,
        actor_id=cashier.user_id,
    )
    return payment


async def top_up_online(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    payer_user_id: int,
    unit_id: int,
    amount_fen: int,
    provider: str,
    provider_ref: str,
) -> Payment:
    """A prepaid top-up paid online (the payments service calls it on success): idempotent
    on ``provider_ref``; the unit must be one the payer currently lives in (NOT_FOUND)."""
    ref = _key(provider_ref, "providerRef")
    _check_amount(amount_fen)
    found = await _by_key(session, provider_ref=ref)
    if found is not None:
        return _same_kind(found, "topup", "providerRef")
    unit = await session.get(Unit, unit_id)
    places = await places_of_user(session, payer_user_id)
    if unit is None or unit.id not in places.unit_ids:
        raise AppError("NOT_FOUND", field="unitId")
    payer = await session.scalar(
        text("SELECT name FROM users WHERE id = :id"), {"id": payer_user_id}
    )
    now = _now()
    payment_id, receipt_no = await receipt_number(session, tenant, now)
    payment = Payment(
        id=payment_id,
        receipt_no=receipt_no,
        kind="topup",
        method="online",
        amount_fen=amount_fen,
        unit_id=unit.id,
        community_id=unit.community_id,
        payer_name=str(payer or "")[:100],
        provider_ref=ref,
        reference=provider.strip()[:100],
    )
    if await _insert_payment(session, payment, key_field="providerRef") is None:
        found = await _by_key(session, provider_ref=ref)
        if found is None:
            raise AppError("CONFLICT", field="providerRef")
        return _same_kind(found, "topup", "providerRef")
    where = {"unit_id": unit.id, "community_id": unit.community_id}
    await ledger.post(
        session,
        kind="topup",
        ref_type="payment",
        ref_id=payment_id,
        lines=[
            Line(METHOD_ACCOUNTS["online"], debit=amount_fen, **where),
            Line("prepaid", credit=amount_fen, **where),
        ],
        memo=receipt_no,
    )
    return payment


async def refund_balance(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    actor: Actor,
    *,
    unit_id: int,
    amount_fen: int,
    method: str,
    reason: str,
    client_request_id: str,
) -> Adjustment:
    """Pay (part of) a unit's prepaid balance back (billing.refund): not more than it holds."""
    if method not in REFUND_METHODS:
        raise AppError("VALIDATION_FAILED", field="method")
    key = _key(client_request_id)
    _check_amount(amount_fen)
    reason = _required(reason, "reason")
    existing = await _adjustment_by_key(session, key)
    if existing is not None:
        return _same_adjustment(existing, "refund")
    unit = await _unit(session, actor, unit_id)
    await _lock_units(session, [unit.id])
    existing = await _adjustment_by_key(session, key)
    if existing is not None:
        return _same_adjustment(existing, "refund")
    balance = (await ledger.prepaid_balances(session, [unit.id]))[unit.id]
    if amount_fen > balance:
        raise AppError(
            "VALIDATION_FAILED",
            "退款金额超过预存款余额",
            "The refund is more than the prepaid balance",
            field="amountFen",
        )
    adjustment = Adjustment(
        kind="refund",
        unit_id=unit.id,
        amount_fen=amount_fen,
        method=method,
        reason=reason,
        client_request_id=key,
        actor_id=actor.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(adjustment)
            await session.flush()
    except IntegrityError:
        existing = await _adjustment_by_key(session, key)
        if existing is None:
            raise AppError("CONFLICT", field="clientRequestId") from None
        return _same_adjustment(existing, "refund")
    where = {"unit_id": unit.id, "community_id": unit.community_id}
    await ledger.post(
        session,
        kind="refund",
        ref_type="adjustment",
        ref_id=adjustment.id,
        lines=[
            Line("prepaid", debit=amount_fen, **where),
            Line(METHOD_ACCOUNTS[method], credit=amount_fen, **where),
        ],
        memo=reason,
        actor_id=actor.user_id,
    )
    return adjustment


async def _adjustment_by_key(session: AsyncSession, key: str | None) -> Adjustment | None:
    if key is None:
        return None
    found: Adjustment | None = await session.scalar(
        select(Adjustment).where(Adjustment.client_request_id == key)
    )
    return found


def _same_adjustment(found: Adjustment, kind: str) -> Adjustment:
    if found.kind != kind:
        raise AppError(
            "CONFLICT",
            "该请求编号已用于其他操作",
            "This request id was used for another operation",
            field="clientRequestId",
        )
    return found


async def waive_bill(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    actor: Actor,
    *,
    bill_id: int,
    amount_fen: int,
    reason: str,
    client_request_id: str | None = None,
) -> Adjustment:
    """Waive (减免) part or all of an open bill (billing.waive), with a reason: the bill's
    status becomes waived when nothing was paid and nothing is left, paid when the rest
    was paid."""
    key = _key(client_request_id)
    _check_amount(amount_fen)
    reason = _required(reason, "reason")
    existing = await _adjustment_by_key(session, key)
    if existing is not None:
        return _same_adjustment(existing, "waive")
    (bill,) = await _lock_bills(session, [bill_id], "billId")
    if not actor.is_staff or not actor.scope.allows(bill.community_id):
        raise AppError("NOT_FOUND", field="billId")
    existing = await _adjustment_by_key(session, key)
    if existing is not None:
        return _same_adjustment(existing, "waive")
    _check_open([bill], "billId")
    if amount_fen > outstanding(bill):
        raise AppError(
            "VALIDATION_FAILED",
            "减免金额超过欠费金额",
            "The waiver is more than the outstanding amount",
            field="amountFen",
        )
    adjustment = Adjustment(
        kind="waive",
        bill_id=bill.id,
        unit_id=bill.unit_id,
        amount_fen=amount_fen,
        reason=reason,
        client_request_id=key,
        actor_id=actor.user_id,
    )
    session.add(adjustment)
    await session.flush()
    bill.waived_fen += amount_fen
    _restate(bill, _now())
    where = Line(
        "",
        unit_id=bill.unit_id,
        community_id=bill.community_id,
        fee_item_id=bill.fee_item_id,
        bill_id=bill.id,
    )
    await ledger.post(
        session,
        kind="waive",
        ref_type="adjustment",
        ref_id=adjustment.id,
        lines=[
            replace(where, account="waivers", debit=amount_fen),
            replace(where, account="receivable", credit=amount_fen),
        ],
        memo=reason,
        actor_id=actor.user_id,
    )
    await session.flush()
    return adjustment


# --- automatic settlement from the balance -------------------------------------------------


async def auto_settle(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, bill_ids: Sequence[int]
) -> int:
    """Pay new bills from their units' prepaid balances, oldest due first, as far as each
    balance goes (whole bills only, unless partial payments are on: then the last bill gets
    what is left). Off unless the tenant sets ``auto_settle_from_balance``. Idempotent (paid
    bills are skipped). One payment (method balance) per unit. Set-based: one query for the
    balances, one to lock the units that have any, one to lock their open bills, then
    batched inserts and updates. Returns how many bills it touched."""
    config = config_of(tenant)
    if not config.auto_settle_from_balance or not bill_ids:
        return 0
    ids = sorted(set(bill_ids))
    open_units = select(Bill.unit_id).where(
        _ids(Bill.id, ids), Bill.status.in_(OPEN), Bill.unit_id.is_not(None)
    )
    rows = await session.execute(
        select(LedgerLine.unit_id)
        .where(LedgerLine.account == "prepaid", LedgerLine.unit_id.in_(open_units))
        .group_by(LedgerLine.unit_id)
        .having(func.sum(LedgerLine.credit_fen - LedgerLine.debit_fen) > 0)
    )
    candidates = sorted(int(r[0] or 0) for r in rows)
    if not candidates:
        return 0
    await _lock_units(session, candidates)
    balances = await ledger.prepaid_balances(session, candidates)  # again, under the lock
    bills = list(
        await session.scalars(
            select(Bill)
            .where(
                _ids(Bill.id, ids),
                _ids(Bill.unit_id, [u for u in candidates if balances[u] > 0]),
                Bill.status.in_(OPEN),
            )
            .order_by(Bill.id)
            .with_for_update()
        )
    )
    by_unit: dict[int, list[Bill]] = defaultdict(list)
    for b in bills:
        by_unit[int(b.unit_id)].append(b)  # type: ignore[arg-type]
    plans: list[tuple[int, list[Bill], dict[int, int]]] = []
    for unit_id, unit_bills in sorted(by_unit.items()):
        left, shares = balances[unit_id], {}
        for b in sorted(unit_bills, key=lambda b: (b.due_on, b.id)):
            due = outstanding(b)
            if due <= 0:
                continue
            if due > left and not (config.allow_partial and left > 0):
                break  # oldest first: never pay a newer bill before an older one
            shares[b.id] = min(due, left)
            left -= shares[b.id]
            if left == 0:
                break
        if shares:
            plans.append((unit_id, unit_bills, shares))
    if not plans:
        return 0
    now = _now()
    payment_ids = [
        int(r[0])
        for r in await session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('payments', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": len(plans)},
        )
    ]
    payments, allocations, bill_rows, entries, lines_of = [], [], [], [], {}
    for payment_id, (unit_id, unit_bills, shares) in zip(payment_ids, plans, strict=True):
        amount = sum(shares.values())
        community_id = unit_bills[0].community_id
        receipt_no = _receipt_no(tenant, now, payment_id)
        payments.append(
            {
                "id": payment_id,
                "receipt_no": receipt_no,
                "kind": "payment",
                "method": "balance",
                "amount_fen": amount,
                "unit_id": unit_id,
                "community_id": community_id,
                "note": "自动从预存款扣缴 / automatic settlement from the prepaid balance",
            }
        )
        lines = [Line("prepaid", debit=amount, unit_id=unit_id, community_id=community_id)]
        for b in unit_bills:
            share = shares.get(b.id)
            if not share:
                continue
            allocations.append({"payment_id": payment_id, "bill_id": b.id, "amount_fen": share})
            paid = b.paid_fen + share
            settled = paid + b.waived_fen + b.discount_fen == b.amount_fen + b.late_fee_fen
            bill_rows.append(
                {
                    "id": b.id,
                    "paid_fen": paid,
                    "status": "paid" if settled else "partial",
                    "paid_at": now if settled else None,
                }
            )
            lines.append(
                Line(
                    "receivable",
                    credit=share,
                    unit_id=unit_id,
                    community_id=b.community_id,
                    fee_item_id=b.fee_item_id,
                    bill_id=b.id,
                )
            )
        if sum(x.debit for x in lines) != sum(x.credit for x in lines):
            raise ledger.Unbalanced(f"auto settle payment:{payment_id}")
        entries.append(
            {"kind": "payment", "ref_type": "payment", "ref_id": payment_id, "memo": receipt_no}
        )
        lines_of[payment_id] = lines
    await session.execute(insert(Payment), payments)
    await session.execute(insert(Allocation), allocations)
    # the bills were loaded (and locked) in this session: update them by primary key
    for b in bills:
        session.expire(b)
    await session.execute(update(Bill), bill_rows)
    entry_ids = await session.execute(
        insert(LedgerEntry).returning(
            LedgerEntry.id, LedgerEntry.ref_id, sort_by_parameter_order=True
        ),
        entries,
    )
    await session.execute(
        insert(LedgerLine),
        [
            {
                "entry_id": int(entry_id),
                "account": line.account,
                "debit_fen": line.debit,
                "credit_fen": line.credit,
                "unit_id": line.unit_id,
                "community_id": line.community_id,
                "fee_item_id": line.fee_item_id,
                "bill_id": line.bill_id,
            }
            for entry_id, ref_id in entry_ids
            for line in lines_of[int(ref_id)]
        ],
    )
    return len(bill_rows)
