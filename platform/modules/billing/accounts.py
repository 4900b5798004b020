"""What residents and staff see of a unit's bills: each bill's state from its dates, and a
unit's totals.

States (the tenant's local date is "today"):

- ``paid``: settled (status paid or waived); ``void``: cancelled;
- ``overdue``: open (unpaid or partial) and ``due_on`` before today;
- ``due``: open and due from today to the end of the current month;
- ``not_yet_due``: open and due after the current month.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.billing import ledger
from wuye.modules.billing.models import Bill
from wuye.modules.billing.settlement import OPEN, outstanding, outstanding_sql
from wuye.tenancy.directory import TenantInfo

STATES = ("overdue", "due", "not_yet_due", "paid", "void")


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def state_of(bill: Bill, on: date) -> str:
    if bill.status == "void":
        return "void"
    if bill.status not in OPEN or outstanding(bill) <= 0:
        return "paid"
    if bill.due_on < on:
        return "overdue"
    return "due" if bill.due_on <= month_end(on) else "not_yet_due"


def state_filter(state: str, on: date) -> Any:
    """The WHERE clause of one state."""
    is_open = Bill.status.in_(OPEN)
    return {
        "void": Bill.status == "void",
        "paid": Bill.status.in_(("paid", "waived")),
        "overdue": and_(is_open, Bill.due_on < on),
        "due": and_(is_open, Bill.due_on >= on, Bill.due_on <= month_end(on)),
        "not_yet_due": and_(is_open, Bill.due_on > month_end(on)),
    }[state]


@dataclass
class UnitTotals:
    unit_id: int
    due_fen: int = 0
    overdue_fen: int = 0
    not_yet_due_fen: int = 0
    paid_fen: int = 0
    prepaid_balance_fen: int = 0

    @property
    def owed_fen(self) -> int:
        """Everything open: overdue + due + not yet due."""
        return self.due_fen + self.overdue_fen + self.not_yet_due_fen


@dataclass
class Totals:
    due_fen: int = 0
    overdue_fen: int = 0
    not_yet_due_fen: int = 0
    paid_fen: int = 0
    prepaid_balance_fen: int = 0
    units: list[UnitTotals] = field(default_factory=list)


async def totals(session: AsyncSession, tenant: TenantInfo, unit_ids: Iterable[int]) -> Totals:
    """Per unit and overall: open amounts by state, what was paid, the prepaid balance.
    Two statements whatever the number of bills."""
    ids = sorted(set(unit_ids))
    result = Totals(units=[UnitTotals(u) for u in ids])
    if not ids:
        return result
    on = tenant.today()
    owed = outstanding_sql()

    def sum_when(cond: Any, value: Any) -> Any:
        return func.coalesce(func.sum(case((cond, value), else_=0)), 0)

    rows = await session.execute(
        select(
            Bill.unit_id,
            sum_when(state_filter("overdue", on), owed),
            sum_when(state_filter("due", on), owed),
            sum_when(state_filter("not_yet_due", on), owed),
            sum_when(Bill.status != "void", Bill.paid_fen),
        )
        .where(Bill.unit_id.in_(ids), Bill.status != "void")
        .group_by(Bill.unit_id)
    )
    by_unit = {t.unit_id: t for t in result.units}
    for unit_id, overdue, due, later, paid in rows:
        t = by_unit[int(unit_id)]
        t.overdue_fen, t.due_fen, t.not_yet_due_fen, t.paid_fen = (
            int(overdue),
            int(due),
            int(later),
            int(paid),
        )
    for unit_id, balance in (await ledger.prepaid_balances(session, ids)).items():
        by_unit[unit_id].prepaid_balance_fen = balance
    for t in result.units:
        result.due_fen += t.due_fen
        result.overdue_fen += t.overdue_fen
        result.not_yet_due_fen += t.not_yet_due_fen
        result.paid_fen += t.paid_fen
        result.prepaid_balance_fen += t.prepaid_balance_fen
    return result
