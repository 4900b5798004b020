"""The double-entry ledger: every money movement is one entry whose lines' debits equal its
credits. Balances are derived from the lines, never stored.

Accounts (``models.ACCOUNTS``): ``receivable`` (what units owe), ``cash`` / ``bank`` /
``pos`` / ``online_clearing`` (where money arrived), ``prepaid`` (units' prepaid balance, a
liability), ``income:<fee item code>``, ``late_fees``, ``waivers`` and ``refunds``.

Typical entries:
- a bill: debit receivable / credit income:<item>;
- a payment: debit cash (or bank, pos, online_clearing) / credit receivable;
- a top-up: debit cash / credit prepaid; settling from the balance: debit prepaid /
  credit receivable;
- a waiver: debit waivers / credit receivable; a refund of balance: debit prepaid /
  credit cash (or bank);
- a reversal: the original entry's lines with debit and credit swapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.billing.models import LedgerEntry, LedgerLine

# where money of each payment method arrives
METHOD_ACCOUNTS = {
    "cash": "cash",
    "cheque": "bank",
    "transfer": "bank",
    "pos": "pos",
    "online": "online_clearing",
    "balance": "prepaid",
}


def income(fee_item_code: str) -> str:
    return f"income:{fee_item_code}"


@dataclass(frozen=True)
class Line:
    account: str
    debit: int = 0
    credit: int = 0
    unit_id: int | None = None
    community_id: int | None = None
    fee_item_id: int | None = None
    bill_id: int | None = None

    def swapped(self) -> Line:
        return Line(
            self.account,
            debit=self.credit,
            credit=self.debit,
            unit_id=self.unit_id,
            community_id=self.community_id,
            fee_item_id=self.fee_item_id,
            bill_id=self.bill_id,
        )


class Unbalanced(ValueError):
    pass


async def post(
    session: AsyncSession,
    *,
    kind: str,
    ref_type: str,
    ref_id: int,
    lines: Sequence[Line],
    memo: str = "",
    actor_id: int | None = None,
) -> int:
    """Write one balanced entry (in the caller's transaction); its id."""
    lines = [line for line in lines if line.debit or line.credit]
    if any(line.debit < 0 or line.credit < 0 or (line.debit and line.credit) for line in lines):
        raise Unbalanced("a line has a negative or two-sided amount")
    if sum(line.debit for line in lines) != sum(line.credit for line in lines):
        raise Unbalanced(f"{kind} {ref_type}:{ref_id}: debits differ from credits")
    entry_id = int(
        (
            await session.execute(
                insert(LedgerEntry)
                .values(kind=kind, ref_type=ref_type, ref_id=ref_id, memo=memo, actor_id=actor_id)
                .returning(LedgerEntry.id)
            )
        ).scalar_one()
    )
    if lines:
        await session.execute(
            insert(LedgerLine),
            [
                {
                    "entry_id": entry_id,
                    "account": line.account,
                    "debit_fen": line.debit,
                    "credit_fen": line.credit,
                    "unit_id": line.unit_id,
                    "community_id": line.community_id,
                    "fee_item_id": line.fee_item_id,
                    "bill_id": line.bill_id,
                }
                for line in lines
            ],
        )
    return entry_id


async def lines_of(session: AsyncSession, entry_id: int) -> list[Line]:
    rows = await session.scalars(select(LedgerLine).where(LedgerLine.entry_id == entry_id))
    return [
        Line(
            r.account,
            debit=r.debit_fen,
            credit=r.credit_fen,
            unit_id=r.unit_id,
            community_id=r.community_id,
            fee_item_id=r.fee_item_id,
            bill_id=r.bill_id,
        )
        for r in rows
    ]


async def unbalanced_entries(session: AsyncSession) -> list[int]:
    """The consistency check: entries whose debits differ from their credits (none, ever)."""
    rows = await session.scalars(
        select(LedgerLine.entry_id)
        .group_by(LedgerLine.entry_id)
        .having(func.sum(LedgerLine.debit_fen) != func.sum(LedgerLine.credit_fen))
    )
    return list(rows)


async def trial_balance(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Per account: (total debits, total credits). Their grand totals are equal."""
    rows = await session.execute(
        select(
            LedgerLine.account, func.sum(LedgerLine.debit_fen), func.sum(LedgerLine.credit_fen)
        ).group_by(LedgerLine.account)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


async def prepaid_balances(session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, int]:
    """Each unit's prepaid balance (预存款) in fen: credits minus debits of ``prepaid``."""
    ids = sorted(set(unit_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(LedgerLine.unit_id, func.sum(LedgerLine.credit_fen - LedgerLine.debit_fen))
        .where(LedgerLine.account == "prepaid", LedgerLine.unit_id.in_(ids))
        .group_by(LedgerLine.unit_id)
    )
    found = {int(r[0] or 0): int(r[1] or 0) for r in rows}
    return {i: found.get(i, 0) for i in ids}
