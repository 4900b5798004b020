"""Work-order statistics (工单统计): counts, medians and rates per group, and their XLSX.

A request covers a period of local dates (``start``..``end`` inclusive, the tenant's time
zone) over ``work_orders.created_at`` and groups by one dimension (``DIMENSIONS``). Every
figure of every group, and the totals, come from ONE statement: the orders are selected
with their group key and label (names joined in), then aggregated with
``count(*) FILTER (WHERE ...)`` and ``percentile_cont(0.5) WITHIN GROUP (ORDER BY ...)``
under ``GROUP BY ROLLUP((key, label))``, whose extra row is the totals (a median of all
orders, never an average of the groups' medians).

Who sees what is decided by the caller and passed in: staff get their data scope and the
complaint levels they may see (``visible_complaint_levels``); a worker gets the orders
dispatched to them (``worker_stats``). Definitions: docs/modules/workorders-stats.md.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, extract, false, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.permissions import grants
from wuye.identity.scope import DataScope
from wuye.modules.estate.importing import XLSX_TYPE
from wuye.modules.estate.models import Community, Department
from wuye.modules.workorders.models import STATUSES, TYPES, Category, WorkOrder
from wuye.modules.workorders.permissions import COMPLAINT_PERMISSION
from wuye.tenancy.directory import DEFAULT_TIME_ZONE, utc_bounds, zone_named

DIMENSIONS = ("community", "category", "team", "worker", "type", "day", "month")
# Longest period one request may cover (three years, by day or by month).
MAX_DAYS = 3 * 366

DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "community": ("小区", "Community"),
    "category": ("类别", "Category"),
    "team": ("班组", "Team"),
    "worker": ("维修人员", "Worker"),
    "type": ("类型", "Type"),
    "day": ("日期", "Day"),
    "month": ("月份", "Month"),
}
TYPE_LABELS: dict[str, tuple[str, str]] = {
    "repair": ("报修", "Repair"),
    "appointment": ("预约维修", "Appointment"),
    "complaint": ("投诉", "Complaint"),
    "consultation": ("咨询", "Consultation"),
    "suggestion": ("建议", "Suggestion"),
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "submitted": ("待受理", "Submitted"),
    "accepted": ("已受理", "Accepted"),
    "dispatched": ("已派工", "Dispatched"),
    "confirmed": ("已确认", "Confirmed"),
    "in_progress": ("处理中", "In progress"),
    "paused": ("已暂停", "Paused"),
    "completed": ("已完成", "Completed"),
    "rated": ("已评价", "Rated"),
    "closed": ("已关闭", "Closed"),
    "cancelled": ("已取消", "Cancelled"),
    "rejected": ("已驳回", "Rejected"),
    "merged": ("已合并", "Merged"),
}
# The group of orders without a category / team / worker.
NONE_LABELS: dict[str, tuple[str, str]] = {
    "category": ("未分类", "Uncategorised"),
    "team": ("未分配班组", "No team"),
    "worker": ("未派工", "Not dispatched"),
}
TOTAL_LABEL = ("合计", "Total")


@dataclass(frozen=True)
class StatsFilters:
    """A staff member's request: the period (local dates, both inclusive), the dimension
    to group by and optional filters (ids are database keys)."""

    start: date
    end: date
    group_by: str = "community"
    community_id: int | None = None
    category_id: int | None = None
    type: str | None = None
    team_id: int | None = None
    worker_id: int | None = None


@dataclass(frozen=True)
class StatsRow:
    """The figures of one group (or of all of them: ``StatsResult.totals``).

    ``key``: the community / category / team / worker id, the type, or the local day
    (YYYY-MM-DD) / month (YYYY-MM); None for orders without a category / team / worker
    and for the totals. Medians are minutes (None when no order qualifies); rates are
    fractions 0..1 rounded to 4 places (None when their denominator is 0)."""

    key: int | str | None
    label: str
    label_en: str
    total: int
    by_status: dict[str, int]  # every status of models.STATUSES, in that order
    by_type: dict[str, int]  # every type of models.TYPES, in that order
    accepted: int  # orders with accepted_at
    completed: int  # orders with completed_at
    completed_with_deadline: int  # ... that had a completion_due_at
    on_time: int  # ... completed by it
    rated: int  # orders with a rating
    satisfied: int  # ... of 4 or 5
    reached_completion: int  # completed_at set, or reopened (a reopen starts from completed)
    reopened: int  # reopen_count > 0
    median_response_minutes: float | None
    median_completion_minutes: float | None

    @property
    def on_time_rate(self) -> float | None:
        return _rate(self.on_time, self.completed_with_deadline)

    @property
    def satisfaction_rate(self) -> float | None:
        return _rate(self.satisfied, self.rated)

    @property
    def reopen_rate(self) -> float | None:
        return _rate(self.reopened, self.reached_completion)

    def label_in(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label


@dataclass(frozen=True)
class StatsResult:
    group_by: str
    start: date
    end: date
    time_zone: str
    rows: list[StatsRow]
    totals: StatsRow
    # the UTC bounds the period became: created_at >= since AND created_at < until
    since: datetime = field(compare=False)
    until: datetime = field(compare=False)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- who sees what --------------------------------------------------------------------------


def visible_complaint_levels(permissions: Iterable[str]) -> frozenset[str]:
    """The customer levels whose complaints a viewer may count: a complaint is counted only
    for a viewer holding the permission its level needs (``COMPLAINT_PERMISSION``: normal ->
    workorders.complaints.handle, vip -> workorders.complaints.vip), as for reading it."""
    granted = list(permissions)
    return frozenset(
        level for level, perm in COMPLAINT_PERMISSION.items() if grants(granted, perm.key)
    )


def _complaints_visible(levels: Collection[str]) -> ColumnElement[bool]:
    not_complaint = WorkOrder.type != "complaint"
    if not levels:
        return not_complaint
    return or_(not_complaint, WorkOrder.level.in_(sorted(levels)))


# --- the period -----------------------------------------------------------------------------


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise AppError(
            "VALIDATION_FAILED",
            "结束日期不能早于开始日期",
            "The end date is before the start date",
            field="to",
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise AppError(
            "VALIDATION_FAILED",
            f"统计时段不能超过{MAX_DAYS}天",
            f"A period cannot be longer than {MAX_DAYS} days",
            field="to",
        )


def _check_group_by(group_by: str) -> None:
    if group_by not in DIMENSIONS:
        raise AppError("VALIDATION_FAILED", field="groupBy")


# --- the statement --------------------------------------------------------------------------


def _group(group_by: str, time_zone: str) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """(key expression, label expression, outer joins) of a dimension."""
    if group_by == "community":
        return (
            WorkOrder.community_id,
            Community.name,
            [(Community, Community.id == WorkOrder.community_id)],
        )
    if group_by == "category":
        return (
            WorkOrder.category_id,
            Category.name_zh,
            [(Category, Category.id == WorkOrder.category_id)],
        )
    if group_by == "team":
        return (
            WorkOrder.team_id,
            Department.name,
            [(Department, Department.id == WorkOrder.team_id)],
        )
    if group_by == "worker":
        worker = aliased(User, name="worker")
        return WorkOrder.worker_id, worker.name, [(worker, worker.id == WorkOrder.worker_id)]
    if group_by == "type":
        return WorkOrder.type, literal(""), []
    pattern = "YYYY-MM-DD" if group_by == "day" else "YYYY-MM"
    local = func.to_char(func.timezone(time_zone, WorkOrder.created_at), pattern)
    return local, literal(""), []


def _label_en_of(group_by: str) -> Any:
    return Category.name_en if group_by == "category" else literal("")


async def _compute(
    session: AsyncSession,
    *,
    group_by: str,
    start: date,
    end: date,
    time_zone: str | None,
    where: list[ColumnElement[bool]],
) -> StatsResult:
    _check_group_by(group_by)
    _check_period(start, end)
    zone = zone_named(time_zone).key
    since, until = utc_bounds(start, end, zone)
    key, label, joins = _group(group_by, zone)
    inner = select(
        key.label("key"),
        label.label("label"),
        _label_en_of(group_by).label("label_en"),
        WorkOrder.type.label("type"),
        WorkOrder.status.label("status"),
        WorkOrder.rating.label("rating"),
        WorkOrder.reopen_count.label("reopen_count"),
        WorkOrder.accepted_at.label("accepted_at"),
        WorkOrder.completed_at.label("completed_at"),
        WorkOrder.completion_due_at.label("completion_due_at"),
        (WorkOrder.accepted_at - WorkOrder.created_at).label("response"),
        (WorkOrder.completed_at - WorkOrder.created_at).label("completion"),
    ).select_from(WorkOrder)
    for target, on in joins:
        inner = inner.outerjoin(target, on)
    inner = inner.where(WorkOrder.created_at >= since, WorkOrder.created_at < until, *where)
    o = inner.subquery("o")

    completed = o.c.completed_at.is_not(None)
    with_deadline = and_(completed, o.c.completion_due_at.is_not(None))
    reopened = o.c.reopen_count > 0
    count = func.count()

    def median(column: Any) -> Any:
        # percentile_cont ignores NULLs: orders never accepted / completed do not count
        return extract("epoch", func.percentile_cont(0.5).within_group(column)) / 60

    stmt = select(
        func.grouping(o.c.key, o.c.label, o.c.label_en).label("grouping"),
        o.c.key,
        o.c.label,
        o.c.label_en,
        count,
        *(count.filter(o.c.status == s) for s in STATUSES),
        *(count.filter(o.c.type == t) for t in TYPES),
        count.filter(o.c.accepted_at.is_not(None)),
        count.filter(completed),
        count.filter(with_deadline),
        count.filter(and_(with_deadline, o.c.completed_at <= o.c.completion_due_at)),
        count.filter(o.c.rating.is_not(None)),
        count.filter(o.c.rating >= 4),
        count.filter(or_(completed, reopened)),
        count.filter(reopened),
        median(o.c.response),
        median(o.c.completion),
    ).group_by(func.rollup(tuple_(o.c.key, o.c.label, o.c.label_en)))

    rows: list[StatsRow] = []
    totals: StatsRow | None = None
    for r in (await session.execute(stmt)).all():
        row = _row(group_by, r)
        if r[0]:  # the ROLLUP's grand total
            totals = row
        else:
            rows.append(row)
    if totals is None:  # pragma: no cover - ROLLUP always yields the grand total
        counts = [0] * (1 + len(STATUSES) + len(TYPES) + 8)
        totals = _row(group_by, (1, None, "", "", *counts, None, None))
    rows.sort(key=lambda r: _order(group_by, r))
    return StatsResult(
        group_by=group_by,
        start=start,
        end=end,
        time_zone=zone,
        rows=rows,
        totals=totals,
        since=since,
        until=until,
    )


def _minutes(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _row(group_by: str, r: Any) -> StatsRow:
    grouping, key, label, label_en, total, *rest = r
    statuses = dict(zip(STATUSES, rest[: len(STATUSES)], strict=True))
    rest = rest[len(STATUSES) :]
    types = dict(zip(TYPES, rest[: len(TYPES)], strict=True))
    rest = rest[len(TYPES) :]
    (accepted, completed, deadline, on_time, rated, satisfied, reached, reopened, resp, comp) = rest
    if grouping:
        key, label, label_en = None, *TOTAL_LABEL
    elif group_by == "type":
        label, label_en = TYPE_LABELS.get(key, (key, key))
    elif group_by in ("day", "month"):
        label = label_en = key
    elif key is None:
        label, label_en = NONE_LABELS[group_by]
    else:
        label_en = label_en or label
    return StatsRow(
        key=key,
        label=label,
        label_en=label_en,
        total=total,
        by_status=statuses,
        by_type=types,
        accepted=accepted,
        completed=completed,
        completed_with_deadline=deadline,
        on_time=on_time,
        rated=rated,
        satisfied=satisfied,
        reached_completion=reached,
        reopened=reopened,
        median_response_minutes=_minutes(resp),
        median_completion_minutes=_minutes(comp),
    )


def _order(group_by: str, row: StatsRow) -> tuple[Any, ...]:
    """Types in their declared order, days and months in time, the rest by name; the group
    without a category / team / worker last."""
    if group_by == "type":
        return (TYPES.index(str(row.key)) if row.key in TYPES else len(TYPES),)
    if group_by in ("day", "month"):
        return (str(row.key),)
    return (row.key is None, row.label, row.key or 0)


# --- the two entry points ---------------------------------------------------------------------


async def work_order_stats(
    session: AsyncSession,
    filters: StatsFilters,
    *,
    scope: DataScope,
    complaint_levels: Collection[str],
    time_zone: str | None = DEFAULT_TIME_ZONE,
) -> StatsResult:
    """A staff member's statistics: orders of the communities in ``scope``; complaints only
    of the customer levels in ``complaint_levels`` (``visible_complaint_levels``). A
    community filter outside the scope is NOT_FOUND. One statement."""
    if filters.type is not None and filters.type not in TYPES:
        raise AppError("VALIDATION_FAILED", field="type")
    if filters.community_id is not None:
        scope.check(filters.community_id)
    where: list[ColumnElement[bool]] = [
        scope.filter(WorkOrder.community_id),
        _complaints_visible(complaint_levels),
    ]
    for column, value in (
        (WorkOrder.community_id, filters.community_id),
        (WorkOrder.category_id, filters.category_id),
        (WorkOrder.type, filters.type),
        (WorkOrder.team_id, filters.team_id),
        (WorkOrder.worker_id, filters.worker_id),
    ):
        if value is not None:
            where.append(column == value)
    return await _compute(
        session,
        group_by=filters.group_by,
        start=filters.start,
        end=filters.end,
        time_zone=time_zone,
        where=where,
    )


async def worker_stats(
    session: AsyncSession,
    *,
    worker_id: int | None,
    start: date,
    end: date,
    group_by: str = "type",
    time_zone: str | None = DEFAULT_TIME_ZONE,
) -> StatsResult:
    """A worker's own figures: the orders dispatched to ``worker_id`` (complaints included:
    they are in the worker's own queue), whatever their community. One statement."""
    mine = false() if worker_id is None else WorkOrder.worker_id == worker_id
    return await _compute(
        session,
        group_by=group_by,
        start=start,
        end=end,
        time_zone=time_zone,
        where=[mine],
    )


# --- XLSX -----------------------------------------------------------------------------------

PERCENT = "0.0%"


def xlsx_header(group_by: str) -> list[str]:
    """The header row: zh-CN with English beside it."""

    def both(pair: tuple[str, str]) -> str:
        return f"{pair[0]} {pair[1]}"

    return [
        both(DIMENSION_LABELS[group_by]),
        "数量 Count",
        *(both(STATUS_LABELS[s]) for s in STATUSES),
        *(both(TYPE_LABELS[t]) for t in TYPES),
        "响应时长中位数(分钟) Median response (min)",
        "完成时长中位数(分钟) Median completion (min)",
        "按时完成率 On-time rate",
        "满意率 Satisfaction rate",
        "重开率 Reopen rate",
    ]


def xlsx_values(row: StatsRow, lang: str = "zh-CN") -> list[Any]:
    """One sheet row: counts, medians in minutes, rates as fractions (shown as %)."""
    return [
        row.label_in(lang),
        row.total,
        *(row.by_status[s] for s in STATUSES),
        *(row.by_type[t] for t in TYPES),
        row.median_response_minutes,
        row.median_completion_minutes,
        row.on_time_rate,
        row.satisfaction_rate,
        row.reopen_rate,
    ]


def encode_xlsx(result: StatsResult, *, lang: str = "zh-CN") -> tuple[str, str, bytes]:
    """(filename, content type, bytes): one row per group then the totals; rates are
    numbers formatted as percentages, medians minutes. A second sheet states the period
    and the definitions."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("工单统计")
    sheet.append(xlsx_header(result.group_by))
    rate_columns = {len(xlsx_header(result.group_by)) - i for i in (1, 2, 3)}

    def cells(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for column, value in enumerate(values, start=1):
            if column in rate_columns and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = PERCENT
                out.append(cell)
            else:
                out.append(value)
        return out

    for row in result.rows:
        sheet.append(cells(xlsx_values(row, lang)))
    sheet.append(cells(xlsx_values(result.totals, lang)))

    notes = book.create_sheet("说明")
    dim_zh, dim_en = DIMENSION_LABELS[result.group_by]
    for line in (
        ["统计时段 Period", f"{result.start.isoformat()} ~ {result.end.isoformat()}"],
        ["时区 Time zone", result.time_zone],
        ["分组 Grouped by", f"{dim_zh} {dim_en}"],
        ["响应时长 Response", "受理时间 - 提交时间 accepted - created"],
        ["完成时长 Completion", "完成时间 - 提交时间 completed - created"],
        [
            "按时完成率 On-time rate",
            "按时完成 / 有时限的已完成 on time / completed with a deadline",
        ],
        ["满意率 Satisfaction rate", "4-5星 / 已评价 rated 4-5 / rated"],
        ["重开率 Reopen rate", "重开过 / 曾完成 reopened / reached completion"],
    ):
        notes.append(line)
    out = io.BytesIO()
    book.save(out)
    filename = f"工单统计-work-order-stats-{result.start.isoformat()}_{result.end.isoformat()}.xlsx"
    return filename, XLSX_TYPE, out.getvalue()
