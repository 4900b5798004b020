"""Daily reconciliation: each provider's statement of a day (where it offers one) against
our succeeded payments and refunds of that day and their ledger entries. Mismatches:
``missing_here`` (the provider has it, we do not), ``missing_there`` (we have it, the
provider does not), ``amount_differs``, ``not_in_ledger`` (a success or refund without
its ledger entry). One report per day and provider; running it again replaces it."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.modules.billing.models import LedgerEntry, LedgerLine
from wuye.payments import registry, service
from wuye.payments.models import (
    OnlinePayment,
    OnlineRefund,
    PaymentAccount,
    PaymentReconciliation,
)
from wuye.payments.providers.base import ProviderError, StatementLine
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo


def _bounds(tenant: TenantInfo, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=tenant.zone)
    return start, start + timedelta(days=1)


async def _ours(
    session: AsyncSession, tenant: TenantInfo, provider: str, day: date
) -> dict[tuple[str, str], dict[str, Any]]:
    start, end = _bounds(tenant, day)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    payments = await session.scalars(
        select(OnlinePayment).where(
            OnlinePayment.provider == provider,
            OnlinePayment.succeeded_at >= start,
            OnlinePayment.succeeded_at < end,
        )
    )
    for p in payments:
        found[("payment", p.out_trade_no)] = {
            "out_trade_no": p.out_trade_no,
            "provider_ref": p.provider_ref or "",
            "amount_fen": p.amount_fen,
            "payment_id": p.id,
            "booked": await _booked_payment(session, p),
        }
    refunds = await session.execute(
        select(OnlineRefund, OnlinePayment.out_trade_no)
        .join(OnlinePayment, OnlinePayment.id == OnlineRefund.payment_id)
        .where(
            OnlinePayment.provider == provider,
            OnlineRefund.status == "succeeded",
            OnlineRefund.succeeded_at >= start,
            OnlineRefund.succeeded_at < end,
        )
    )
    for r, out_trade_no in refunds:
        booked = await session.scalar(
            select(func.sum(LedgerLine.credit_fen))
            .join(LedgerEntry, LedgerEntry.id == LedgerLine.entry_id)
            .where(
                LedgerEntry.ref_type == "online_refund",
                LedgerEntry.ref_id == r.id,
                LedgerLine.account == service.CLEARING,
            )
        )
        found[("refund", r.refund_ref or r.out_refund_no)] = {
            "out_trade_no": out_trade_no,
            "provider_ref": r.refund_ref or "",
            "amount_fen": r.amount_fen,
            "refund_id": r.id,
            "booked": int(booked or 0),
        }
    return found


async def _booked_payment(session: AsyncSession, p: OnlinePayment) -> int:
    """What the ledger's online_clearing received for this payment (settled or not)."""
    conds = [(LedgerEntry.ref_type == "online_payment") & (LedgerEntry.ref_id == p.id)]
    if p.billing_payment_id is not None:
        conds.append(
            (LedgerEntry.ref_type == "payment") & (LedgerEntry.ref_id == p.billing_payment_id)
        )
    booked = await session.scalar(
        select(func.sum(LedgerLine.debit_fen))
        .join(LedgerEntry, LedgerEntry.id == LedgerLine.entry_id)
        .where(or_(*conds), LedgerLine.account == service.CLEARING)
    )
    return int(booked or 0)


def compare(
    ours: dict[tuple[str, str], dict[str, Any]], theirs: list[StatementLine] | None
) -> list[dict[str, Any]]:
    mismatches: list[dict[str, Any]] = []
    for key, mine in sorted(ours.items()):
        if mine["booked"] != mine["amount_fen"]:
            mismatches.append(
                {
                    "kind": "not_in_ledger",
                    "line": key[0],
                    "ref": key[1],
                    "ours": mine["amount_fen"],
                    "ledger": mine["booked"],
                }
            )
    if theirs is None:
        return mismatches
    seen: set[tuple[str, str]] = set()
    for line in theirs:
        key = (line.kind, line.out_trade_no if line.kind == "payment" else line.provider_ref)
        if key not in ours and line.kind == "refund":
            alt = next(
                (
                    k
                    for k, v in ours.items()
                    if k[0] == "refund" and v["provider_ref"] == line.provider_ref
                ),
                None,
            )
            key = alt or key
        seen.add(key)
        ours_line = ours.get(key)
        if ours_line is None:
            mismatches.append(
                {
                    "kind": "missing_here",
                    "line": line.kind,
                    "ref": key[1],
                    "outTradeNo": line.out_trade_no,
                    "theirs": line.amount_fen,
                }
            )
        elif ours_line["amount_fen"] != line.amount_fen:
            mismatches.append(
                {
                    "kind": "amount_differs",
                    "line": line.kind,
                    "ref": key[1],
                    "outTradeNo": ours_line["out_trade_no"],
                    "ours": ours_line["amount_fen"],
                    "theirs": line.amount_fen,
                }
            )
    for key, mine in sorted(ours.items()):
        if key not in seen:
            mismatches.append(
                {
                    "kind": "missing_there",
                    "line": key[0],
                    "ref": key[1],
                    "outTradeNo": mine["out_trade_no"],
                    "ours": mine["amount_fen"],
                }
            )
    return mismatches


async def reconcile_day(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    day: date,
    *,
    provider: str | None = None,
    actor_id: int | None = None,
) -> list[PaymentReconciliation]:
    """Reconcile ``day`` (the tenant's calendar day) for each account (or one provider)."""
    stmt = select(PaymentAccount).order_by(PaymentAccount.provider)
    if provider is not None:
        stmt = stmt.where(PaymentAccount.provider == provider)
    accounts = list(await session.scalars(stmt))
    if provider is not None and not accounts:
        raise AppError("NOT_FOUND", field="provider")
    reports = []
    for account in accounts:
        creds = service.decrypt_credentials(runtime, tenant, account)
        theirs: list[StatementLine] | None
        try:
            adapter = registry.get(account.provider, runtime.settings)
            theirs = await service.call_provider(
                runtime,
                lambda a=adapter, c=creds: a.statement(c, day, tenant.zone),  # type: ignore[misc]
            )
        except (ProviderError, AppError):
            theirs = None
        ours = await _ours(session, tenant, account.provider, day)
        mismatches = compare(ours, theirs)
        status = "unavailable" if theirs is None else "mismatches" if mismatches else "ok"
        values = {
            "day": day,
            "provider": account.provider,
            "status": status,
            "provider_lines": len(theirs or []),
            "our_lines": len(ours),
            "mismatches": mismatches,
            "created_by": actor_id,
        }
        pk = await session.scalar(
            pg_insert(PaymentReconciliation)
            .values(**values)
            .on_conflict_do_update(
                constraint="uq_payment_reconciliations_day",
                set_={k: v for k, v in values.items() if k not in ("day", "provider")}
                | {"created_at": func.now()},
            )
            .returning(PaymentReconciliation.id)
        )
        row = await session.get(PaymentReconciliation, pk, populate_existing=True)
        assert row is not None
        reports.append(row)
    return reports
