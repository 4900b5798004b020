"""Public ledgers (公共账目) residents read: the maintenance fund (专项维修基金) and public
income (公共收益: advertising, parking, venue rent), per community.

- Entries are **append-only**: nothing edits or deletes one. A mistake is corrected by an
  opposite entry (the other direction, the same amount and category) that points at the
  original (``corrects_id``, unique: an entry is corrected once; a correction itself is
  never corrected).
- The ledger is read with the **running balance** (income - expense) from a window
  function over the whole history of the community's fund, ordered by (occurred_on, id),
  so a page or a date range starts from the right balance.
- Readers: residents currently living in the community (``places_of_user``) and staff whose
  data scope holds it (with ``billing.view``, ``billing.funds.manage`` or
  ``billing.reports.view``); anyone else gets NOT_FOUND (the ledger's existence is not
  revealed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.permissions import grants
from wuye.identity.scope import DataScope
from wuye.modules.billing.models import DIRECTIONS, FUNDS, FundEntry
from wuye.modules.billing.permissions import FUNDS as MANAGE
from wuye.modules.billing.permissions import REPORTS, VIEW
from wuye.modules.estate.models import Community
from wuye.modules.estate.residents import places_of_user

MAX_AMOUNT_FEN = 10**13
STAFF_READERS = (VIEW, MANAGE, REPORTS)


@dataclass(frozen=True)
class NewEntry:
    community_id: int
    fund: str
    direction: str
    category: str
    amount_fen: int
    occurred_on: date
    description: str = ""


async def record(
    session: AsyncSession, entry: NewEntry, *, scope: DataScope, actor_id: int | None
) -> FundEntry:
    if entry.fund not in FUNDS:
        raise AppError("VALIDATION_FAILED", field="fund")
    if entry.direction not in DIRECTIONS:
        raise AppError("VALIDATION_FAILED", field="direction")
    if not entry.category.strip() or len(entry.category) > 40:
        raise AppError("VALIDATION_FAILED", field="category")
    if not 0 < entry.amount_fen <= MAX_AMOUNT_FEN:
        raise AppError("VALIDATION_FAILED", field="amountFen")
    if len(entry.description) > 300:
        raise AppError("VALIDATION_FAILED", field="description")
    scope.check(entry.community_id)
    if await session.get(Community, entry.community_id) is None:
        raise AppError("NOT_FOUND", field="communityId")
    row = FundEntry(
        community_id=entry.community_id,
        fund=entry.fund,
        direction=entry.direction,
        category=entry.category.strip(),
        amount_fen=entry.amount_fen,
        occurred_on=entry.occurred_on,
        description=entry.description,
        created_by=actor_id,
    )
    session.add(row)
    await session.flush()
    return row


async def correct(
    session: AsyncSession,
    entry_id: int,
    *,
    reason: str,
    occurred_on: date,
    scope: DataScope,
    actor_id: int | None,
) -> FundEntry:
    """The opposite entry of ``entry_id`` (once; a correction is not corrected)."""
    original = await session.get(FundEntry, entry_id, with_for_update=True)
    if original is None or not scope.allows(original.community_id):
        raise AppError("NOT_FOUND", field="id")
    if original.corrects_id is not None:
        raise AppError(
            "VALIDATION_FAILED",
            "冲正记录不能再冲正",
            "A correction cannot be corrected",
            field="id",
        )
    if not reason.strip() or len(reason) > 250:
        raise AppError("VALIDATION_FAILED", field="reason")
    taken = await session.scalar(select(FundEntry.id).where(FundEntry.corrects_id == entry_id))
    if taken is not None:
        raise AppError("CONFLICT", "该记录已冲正", "This entry was already corrected", field="id")
    row = FundEntry(
        community_id=original.community_id,
        fund=original.fund,
        direction="expense" if original.direction == "income" else "income",
        category=original.category,
        amount_fen=original.amount_fen,
        occurred_on=occurred_on,
        description=f"冲正#{original.id}：{reason.strip()}",
        created_by=actor_id,
        corrects_id=original.id,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as e:  # a concurrent correction won
        raise AppError("CONFLICT", field="id") from e
    return row


async def check_reader(
    session: AsyncSession,
    user: User,
    permissions: frozenset[str],
    scope: DataScope,
    community_id: int,
) -> None:
    """Residents of the community, or staff in scope with a billing read permission; else
    NOT_FOUND."""
    if user.kind == "staff":
        if scope.allows(community_id) and any(grants(permissions, p.key) for p in STAFF_READERS):
            return
    elif community_id in (await places_of_user(session, user.id)).community_ids:
        return
    raise AppError("NOT_FOUND", field="communityId")


def signed(amount: Any, direction: Any) -> Any:
    return case((direction == "income", amount), else_=-amount)


def ledger_statement(community_id: int, fund: str, start: date | None, end: date | None) -> Any:
    """The entries in [start, end] with ``balance``: the running balance after each, over
    the whole history (ordered by occurred_on, id)."""
    inner = (
        select(
            FundEntry,
            func.sum(signed(FundEntry.amount_fen, FundEntry.direction))
            .over(order_by=(FundEntry.occurred_on, FundEntry.id))
            .label("balance"),
        )
        .where(FundEntry.community_id == community_id, FundEntry.fund == fund)
        .subquery("ledger")
    )
    stmt = select(inner)
    if start is not None:
        stmt = stmt.where(inner.c.occurred_on >= start)
    if end is not None:
        stmt = stmt.where(inner.c.occurred_on <= end)
    return stmt.order_by(inner.c.occurred_on, inner.c.id)


@dataclass(frozen=True)
class CategoryTotal:
    direction: str
    category: str
    amount_fen: int


@dataclass(frozen=True)
class LedgerSummary:
    opening_fen: int  # balance before ``start``
    income_fen: int
    expense_fen: int
    closing_fen: int
    categories: list[CategoryTotal]


async def summary(
    session: AsyncSession, community_id: int, fund: str, start: date | None, end: date | None
) -> LedgerSummary:
    """Opening balance, income, expense, closing balance and totals per category of the
    period (one statement)."""
    lo = start or date.min
    hi = end or date.max
    amount = signed(FundEntry.amount_fen, FundEntry.direction)
    in_period = (FundEntry.occurred_on >= lo) & (FundEntry.occurred_on <= hi)
    rows = (
        await session.execute(
            select(
                func.grouping(FundEntry.direction, FundEntry.category),
                FundEntry.direction,
                FundEntry.category,
                func.coalesce(func.sum(FundEntry.amount_fen).filter(in_period), 0),
                func.coalesce(func.sum(amount).filter(FundEntry.occurred_on < lo), 0),
                func.coalesce(func.sum(amount).filter(FundEntry.occurred_on <= hi), 0),
            )
            .where(FundEntry.community_id == community_id, FundEntry.fund == fund)
            .group_by(func.rollup(FundEntry.direction, FundEntry.category))
        )
    ).all()
    opening = closing = income = expense = 0
    categories = []
    for grouping, direction, category, period_sum, before, upto in rows:
        if grouping == 3:
            opening, closing = int(before), int(upto)
        elif grouping == 1:
            if direction == "income":
                income = int(period_sum)
            else:
                expense = int(period_sum)
        elif int(period_sum):
            categories.append(CategoryTotal(direction, category, int(period_sum)))
    categories.sort(key=lambda c: (c.direction != "income", -c.amount_fen, c.category))
    return LedgerSummary(opening, income, expense, closing, categories)
