"""Finance reports (财务报表), each ONE statement, limited to the viewer's data scope, and
their XLSX (zh headers with English beside, amounts in 元 with two decimals).

- **Collection** (收缴率) by community, month (the bill's period) or fee item: bills whose
  period is in [from, to] (months, YYYY-MM), void bills excluded. Billed = amount -
  discount; collected = paid to those bills (``paid_fen``, whenever paid); rate =
  collected / billed. ``GROUP BY ROLLUP`` gives the totals row.
- **Aging** (账龄): overdue amounts per community in the arrears buckets (0-30, 31-90,
  91-180, 180+ days), built from ``arrears.overdue_bills`` / ``bucket_columns``.
- **Daily cash** (收银日报): the payments table in one tenant-local day, per cashier and
  method: received (payments and top-ups), reversed (reversal rows, negative) and net,
  with a subtotal per cashier and the day's total (ROLLUP).
- **Income and expense** (收支): ledger ``income:<item>`` credits minus debits per fee item
  (bills posted in the period, net of reversals) and public-ledger entries (maintenance
  fund, public income) per category, over tenant-local dates [from, to].
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.billing.arrears import BUCKETS, bucket_columns, overdue_bills
from wuye.modules.billing.models import Bill, FeeItem, FundEntry, LedgerLine, Payment
from wuye.modules.billing.money import yuan
from wuye.modules.estate.importing import XLSX_TYPE
from wuye.modules.estate.models import Community
from wuye.tenancy.directory import utc_bounds, zone_named

GROUPS = ("community", "month", "fee_item")
KINDS = ("collection", "aging", "daily_cash", "income_expense")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_DAYS = 3 * 366
TOTAL = ("合计", "Total")
FUND_LABELS = {
    "maintenance": ("专项维修基金", "Maintenance fund"),
    "public_income": ("公共收益", "Public income"),
}
METHOD_LABELS = {
    "cash": ("现金", "Cash"),
    "transfer": ("转账", "Transfer"),
    "pos": ("刷卡", "POS"),
    "cheque": ("支票", "Cheque"),
    "online": ("线上", "Online"),
    "balance": ("预存抵扣", "Prepaid balance"),
}


def _check_dates(start: date, end: date) -> None:
    if end < start:
        raise AppError(
            "VALIDATION_FAILED",
            "结束日期不能早于开始日期",
            "The end date is before the start date",
            field="to",
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise AppError("VALIDATION_FAILED", field="to")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- collection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionRow:
    key: int | str | None  # community / fee item id, the month; None: totals
    label: str
    bills: int
    billed_fen: int
    collected_fen: int

    @property
    def outstanding_fen(self) -> int:
        return self.billed_fen - self.collected_fen

    @property
    def rate(self) -> float | None:
        return _rate(self.collected_fen, self.billed_fen)


@dataclass(frozen=True)
class CollectionReport:
    group_by: str
    from_month: str
    to_month: str
    rows: list[CollectionRow]
    totals: CollectionRow


async def collection(
    session: AsyncSession, *, from_month: str, to_month: str, group_by: str, scope: DataScope
) -> CollectionReport:
    if group_by not in GROUPS:
        raise AppError("VALIDATION_FAILED", field="groupBy")
    for name, value in (("fromMonth", from_month), ("toMonth", to_month)):
        if not MONTH.match(value):
            raise AppError("VALIDATION_FAILED", field=name)
    if to_month < from_month:
        raise AppError("VALIDATION_FAILED", field="toMonth")
    key: Any
    label: Any
    join: tuple[Any, Any] | None
    if group_by == "community":
        key, label = Bill.community_id, Community.name
        join = (Community, Community.id == Bill.community_id)
    elif group_by == "fee_item":
        key, label = Bill.fee_item_id, FeeItem.name_zh
        join = (FeeItem, FeeItem.id == Bill.fee_item_id)
    else:
        key, label, join = Bill.period, Bill.period, None
    stmt = select(
        func.grouping(key, label),
        key,
        label,
        func.count(),
        func.coalesce(func.sum(Bill.amount_fen - Bill.discount_fen), 0),
        func.coalesce(func.sum(Bill.paid_fen), 0),
    ).select_from(Bill)
    if join is not None:
        stmt = stmt.join(*join)
    stmt = stmt.where(
        Bill.period >= from_month,
        Bill.period <= to_month,
        Bill.status != "void",
        scope.filter(Bill.community_id),
    ).group_by(func.rollup(tuple_(key, label)))
    rows: list[CollectionRow] = []
    totals = CollectionRow(None, TOTAL[0], 0, 0, 0)
    for grouping, k, lab, n, billed, collected in (await session.execute(stmt)).all():
        row = CollectionRow(k, str(lab), int(n), int(billed), int(collected))
        if grouping:
            totals = CollectionRow(None, TOTAL[0], row.bills, row.billed_fen, row.collected_fen)
        else:
            rows.append(row)
    rows.sort(key=lambda r: (str(r.key) if group_by == "month" else r.label, str(r.key)))
    return CollectionReport(group_by, from_month, to_month, rows, totals)


# --- aging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgingRow:
    community_id: int | None  # None: totals
    label: str
    units: int
    bills: int
    buckets: dict[str, int]
    total_fen: int


@dataclass(frozen=True)
class AgingReport:
    as_of: date
    rows: list[AgingRow]
    totals: AgingRow


async def aging(
    session: AsyncSession, *, scope: DataScope, today: date, community_id: int | None = None
) -> AgingReport:
    where: list[ColumnElement[bool]] = [scope.filter(Bill.community_id)]
    if community_id is not None:
        scope.check(community_id)
        where.append(Bill.community_id == community_id)
    o = overdue_bills(today, where)
    stmt = (
        select(
            func.grouping(o.c.community_id, Community.name).label("g"),
            o.c.community_id,
            Community.name,
            func.count(func.distinct(o.c.unit_id)).label("units"),
            *bucket_columns(o),
        )
        .join(Community, Community.id == o.c.community_id)
        .group_by(func.rollup(tuple_(o.c.community_id, Community.name)))
    )
    rows: list[AgingRow] = []
    totals = AgingRow(None, TOTAL[0], 0, 0, {k: 0 for k, *_ in BUCKETS}, 0)
    for r in (await session.execute(stmt)).mappings():
        row = AgingRow(
            None if r["g"] else int(r["community_id"]),
            TOTAL[0] if r["g"] else str(r["name"]),
            int(r["units"]),
            int(r["bills"]),
            {k: int(r[k]) for k, *_ in BUCKETS},
            int(r["total"]),
        )
        if r["g"]:
            totals = row
        else:
            rows.append(row)
    rows.sort(key=lambda r: (-r.total_fen, r.label))
    return AgingReport(today, rows, totals)


# --- daily cash -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CashRow:
    cashier_id: int | None
    cashier: str
    method: str | None  # None: the cashier's subtotal (or, with cashier None, the total)
    count: int
    received_fen: int
    reversed_fen: int  # negative or 0

    @property
    def net_fen(self) -> int:
        return self.received_fen + self.reversed_fen


@dataclass(frozen=True)
class CashReport:
    day: date
    time_zone: str
    rows: list[CashRow]  # per cashier and method, then the cashier's subtotal (method None)
    totals: CashRow


async def daily_cash(
    session: AsyncSession,
    *,
    day: date,
    time_zone: str | None,
    scope: DataScope,
    cashier_id: int | None = None,
) -> CashReport:
    since, until = utc_bounds(day, day, time_zone)
    cashier = User.name
    where: list[ColumnElement[bool]] = [
        Payment.created_at >= since,
        Payment.created_at < until,
        scope.filter(Payment.community_id),
    ]
    if cashier_id is not None:
        where.append(Payment.cashier_id == cashier_id)
    stmt = (
        select(
            func.grouping(Payment.cashier_id, Payment.method).label("g"),
            Payment.cashier_id,
            cashier.label("cashier"),
            Payment.method,
            func.count().label("n"),
            func.coalesce(func.sum(Payment.amount_fen).filter(Payment.amount_fen > 0), 0),
            func.coalesce(func.sum(Payment.amount_fen).filter(Payment.amount_fen < 0), 0),
        )
        .outerjoin(User, User.id == Payment.cashier_id)
        .where(*where)
        .group_by(func.rollup(tuple_(Payment.cashier_id, cashier), Payment.method))
    )
    rows: list[CashRow] = []
    totals = CashRow(None, TOTAL[0], None, 0, 0, 0)
    for g, cid, name, method, n, received, reversed_ in (await session.execute(stmt)).all():
        row = CashRow(cid, str(name or ""), method, int(n), int(received), int(reversed_))
        if g == 3:
            totals = CashRow(None, TOTAL[0], None, row.count, row.received_fen, row.reversed_fen)
        else:
            rows.append(row)
    rows.sort(key=lambda r: (r.cashier, r.cashier_id or 0, r.method is None, r.method or ""))
    return CashReport(day, zone_named(time_zone).key, rows, totals)


# --- income and expense ---------------------------------------------------------------------


@dataclass(frozen=True)
class IncomeRow:
    source: str  # fee (billing income by fee item) | maintenance | public_income
    key: str  # fee item id or the category
    label: str
    income_fen: int
    expense_fen: int

    @property
    def net_fen(self) -> int:
        return self.income_fen - self.expense_fen


@dataclass(frozen=True)
class IncomeReport:
    start: date
    end: date
    rows: list[IncomeRow]
    totals: IncomeRow = field(default_factory=lambda: IncomeRow("", "", TOTAL[0], 0, 0))


async def income_expense(
    session: AsyncSession, *, start: date, end: date, time_zone: str | None, scope: DataScope
) -> IncomeReport:
    _check_dates(start, end)
    since, until = utc_bounds(start, end, time_zone)
    fees = (
        select(
            literal("fee").label("source"),
            cast(LedgerLine.fee_item_id, String).label("key"),
            func.coalesce(func.min(FeeItem.name_zh), func.min(LedgerLine.account)).label("label"),
            func.sum(LedgerLine.credit_fen - LedgerLine.debit_fen).label("income"),
            literal(0).label("expense"),
        )
        .outerjoin(FeeItem, FeeItem.id == LedgerLine.fee_item_id)
        .where(
            LedgerLine.account.like("income:%"),
            LedgerLine.created_at >= since,
            LedgerLine.created_at < until,
            scope.filter(LedgerLine.community_id),
        )
        .group_by(LedgerLine.fee_item_id, LedgerLine.account)
    )
    funds = (
        select(
            FundEntry.fund,
            FundEntry.category,
            FundEntry.category,
            func.coalesce(
                func.sum(FundEntry.amount_fen).filter(FundEntry.direction == "income"), 0
            ),
            func.coalesce(
                func.sum(FundEntry.amount_fen).filter(FundEntry.direction == "expense"), 0
            ),
        )
        .where(
            FundEntry.occurred_on >= start,
            FundEntry.occurred_on <= end,
            scope.filter(FundEntry.community_id),
        )
        .group_by(FundEntry.fund, FundEntry.category)
    )
    rows = [
        IncomeRow(str(s), str(k or ""), str(lab), int(i), int(e))
        for s, k, lab, i, e in (await session.execute(union_all(fees, funds))).all()
    ]
    order = {"fee": 0, "public_income": 1, "maintenance": 2}
    rows.sort(key=lambda r: (order.get(r.source, 9), -r.income_fen, r.expense_fen, r.label))
    totals = IncomeRow(
        "", "", TOTAL[0], sum(r.income_fen for r in rows), sum(r.expense_fen for r in rows)
    )
    return IncomeReport(start, end, rows, totals)


# --- XLSX -----------------------------------------------------------------------------------


def _money(fen: int) -> float:
    return float(yuan(fen))


def _pct(rate: float | None) -> Any:
    return rate


def sheets_of(report: Any) -> tuple[str, list[str], list[list[Any]], set[int], set[int]]:
    """(sheet title, headers, rows, money column indexes, rate column indexes)."""
    if isinstance(report, CollectionReport):
        dim = {
            "community": "小区 Community",
            "month": "月份 Month",
            "fee_item": "收费项目 Fee item",
        }
        headers = [
            dim[report.group_by],
            "账单数 Bills",
            "应收（元）Billed",
            "实收（元）Collected",
            "未收（元）Outstanding",
            "收缴率 Rate",
        ]
        rows = [
            [
                r.label,
                r.bills,
                _money(r.billed_fen),
                _money(r.collected_fen),
                _money(r.outstanding_fen),
                r.rate,
            ]
            for r in [*report.rows, report.totals]
        ]
        return "收缴率 Collection", headers, rows, {2, 3, 4}, {5}
    if isinstance(report, AgingReport):
        headers = [
            "小区 Community",
            "户数 Units",
            "账单数 Bills",
            *[f"{zh} {en}（元）" for _, _, zh, en in BUCKETS],
            "合计（元）Total",
        ]
        rows = [
            [
                r.label,
                r.units,
                r.bills,
                *[_money(r.buckets[k]) for k, *_ in BUCKETS],
                _money(r.total_fen),
            ]
            for r in [*report.rows, report.totals]
        ]
        return "账龄 Aging", headers, rows, set(range(3, 8)), set()
    if isinstance(report, CashReport):
        headers = [
            "收银员 Cashier",
            "方式 Method",
            "笔数 Count",
            "收款（元）Received",
            "冲正（元）Reversed",
            "净额（元）Net",
        ]
        rows = [
            [
                r.cashier,
                METHOD_LABELS.get(r.method, (r.method,))[0] if r.method else "小计 Subtotal",
                r.count,
                _money(r.received_fen),
                _money(r.reversed_fen),
                _money(r.net_fen),
            ]
            for r in report.rows
        ]
        t = report.totals
        rows.append(
            [
                t.cashier,
                "",
                t.count,
                _money(t.received_fen),
                _money(t.reversed_fen),
                _money(t.net_fen),
            ]
        )
        return "收银日报 Daily cash", headers, rows, {3, 4, 5}, set()
    assert isinstance(report, IncomeReport)
    headers = ["来源 Source", "项目 Item", "收入（元）Income", "支出（元）Expense", "净额（元）Net"]
    source = {"fee": "收费 Billing", **{k: f"{zh} {en}" for k, (zh, en) in FUND_LABELS.items()}}
    rows = [
        [
            source.get(r.source, r.source),
            r.label,
            _money(r.income_fen),
            _money(r.expense_fen),
            _money(r.net_fen),
        ]
        for r in [*report.rows, report.totals]
    ]
    return "收支 Income and expense", headers, rows, {2, 3, 4}, set()


def encode_xlsx(report: Any, filename: str) -> tuple[str, str, bytes]:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    title, headers, rows, money, rates = sheets_of(report)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(headers)
    for values in rows:
        out: list[Any] = []
        for i, value in enumerate(values):
            if (i in money or i in rates) and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "0.00" if i in money else "0.00%"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    data = io.BytesIO()
    book.save(data)
    return filename, XLSX_TYPE, data.getvalue()
