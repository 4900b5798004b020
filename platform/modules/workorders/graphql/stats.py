"""Work-order statistics API (工单统计).

- ``workOrderStats(input)`` (``workorders.stats.view``): figures per community, category,
  team, worker, type, day or month, limited to the caller's data scope; complaints are
  counted only for a caller who may handle them (by the complainant's level).
- ``myWorkOrderStats(from, to, groupBy)`` (``workorders.work``): a worker's own figures,
  the orders dispatched to them.
- ``exportWorkOrderStats(input)`` (``workorders.stats.view``): the same figures as XLSX,
  delivered as estate exports are (an ``EstateFile``, base64), and, like them, a mutation
  so the export is audited.

Definitions: docs/modules/workorders-stats.md.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated, Any

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import gid, optional_id
from wuye.modules.estate.graphql.transfer import EstateFile
from wuye.modules.workorders import stats as service
from wuye.modules.workorders.permissions import STATS, WORK

# Global id type names of the groups' keys (categories: the work-order category type).
KEY_TYPES = {
    "community": "Community",
    "category": "WorkOrderCategory",
    "team": "Department",
    "worker": "User",
}


@strawberry.enum(name="WorkOrderStatsDimension", description="What statistics are grouped by")
class StatsDimension(enum.Enum):
    COMMUNITY = "community"
    CATEGORY = "category"
    TEAM = "team"
    WORKER = "worker"
    TYPE = "type"
    DAY = "day"
    MONTH = "month"


@strawberry.type(name="WorkOrderStatsStatusCount")
class StatusCountType:
    status: str
    count: int


@strawberry.type(name="WorkOrderStatsTypeCount")
class TypeCountType:
    type: str
    count: int


@strawberry.type(
    name="WorkOrderStatsRow",
    description="The figures of one group, or of all orders (the totals). Medians are "
    "minutes, rates fractions 0..1; both null when nothing qualifies.",
)
class StatsRowType:
    key: str | None = strawberry.field(
        description="The group: a Community / WorkOrderCategory / Department / User id, the "
        "order type, or the local day (YYYY-MM-DD) / month (YYYY-MM); null for orders "
        "without a category / team / worker, and for the totals"
    )
    label: str
    total: int
    by_status: list[StatusCountType] = strawberry.field(description="Every status, zeros too")
    by_type: list[TypeCountType] = strawberry.field(description="Every type, zeros too")
    median_response_minutes: float | None = strawberry.field(
        description="Median of accepted - created over the orders accepted"
    )
    median_completion_minutes: float | None = strawberry.field(
        description="Median of completed - created over the orders completed"
    )
    on_time_rate: float | None = strawberry.field(
        description="Completed by the completion deadline / completed orders with a deadline"
    )
    satisfaction_rate: float | None = strawberry.field(description="Rated 4-5 / rated")
    reopen_rate: float | None = strawberry.field(
        description="Reopened at least once / orders that reached completion"
    )
    accepted: int
    completed: int
    completed_with_deadline: int
    on_time: int
    rated: int
    satisfied: int
    reopened: int

    @classmethod
    def of(cls, row: service.StatsRow, group_by: str, lang: str) -> StatsRowType:
        key: str | None
        if row.key is None:
            key = None
        elif group_by in KEY_TYPES:
            key = str(gid(KEY_TYPES[group_by], int(row.key)))
        else:
            key = str(row.key)
        return cls(
            key=key,
            label=row.label_in(lang),
            total=row.total,
            by_status=[StatusCountType(status=s, count=n) for s, n in row.by_status.items()],
            by_type=[TypeCountType(type=t, count=n) for t, n in row.by_type.items()],
            median_response_minutes=row.median_response_minutes,
            median_completion_minutes=row.median_completion_minutes,
            on_time_rate=row.on_time_rate,
            satisfaction_rate=row.satisfaction_rate,
            reopen_rate=row.reopen_rate,
            accepted=row.accepted,
            completed=row.completed,
            completed_with_deadline=row.completed_with_deadline,
            on_time=row.on_time,
            rated=row.rated,
            satisfied=row.satisfied,
            reopened=row.reopened,
        )


@strawberry.type(name="WorkOrderStats")
class StatsType:
    group_by: StatsDimension
    from_: date = strawberry.field(name="from")
    to: date
    time_zone: str = strawberry.field(description="The zone the dates and days are local to")
    rows: list[StatsRowType]
    totals: StatsRowType

    @classmethod
    def of(cls, result: service.StatsResult, lang: str) -> StatsType:
        return cls(
            group_by=StatsDimension(result.group_by),
            from_=result.start,
            to=result.end,
            time_zone=result.time_zone,
            rows=[StatsRowType.of(r, result.group_by, lang) for r in result.rows],
            totals=StatsRowType.of(result.totals, result.group_by, lang),
        )


@strawberry.input(name="WorkOrderStatsInput")
class StatsInput:
    from_: date = strawberry.field(
        name="from", description="First day of the period (the company's time zone)"
    )
    to: date = strawberry.field(description="Last day of the period, included")
    group_by: StatsDimension = StatsDimension.COMMUNITY
    community_id: strawberry.ID | None = None
    category_id: strawberry.ID | None = None
    type: str | None = strawberry.field(
        default=None, description="repair | appointment | complaint | consultation | suggestion"
    )
    team_id: strawberry.ID | None = None
    worker_id: strawberry.ID | None = None


def _time_zone(ctx: Any) -> str:
    return str(getattr(ctx.tenant, "time_zone", None) or service.DEFAULT_TIME_ZONE)


async def _staff_stats(ctx: Any, i: StatsInput) -> service.StatsResult:
    filters = service.StatsFilters(
        start=i.from_,
        end=i.to,
        group_by=i.group_by.value,
        community_id=optional_id(i.community_id, "Community", "communityId"),
        category_id=optional_id(i.category_id, KEY_TYPES["category"], "categoryId"),
        type=i.type or None,
        team_id=optional_id(i.team_id, "Department", "teamId"),
        worker_id=optional_id(i.worker_id, "User", "workerId"),
    )
    return await service.work_order_stats(
        ctx.session,
        filters,
        scope=await ctx.data_scope(),
        complaint_levels=service.visible_complaint_levels(await ctx.permissions()),
        time_zone=_time_zone(ctx),
    )


@strawberry.type
class StatsQuery:
    @query(
        STATS,
        description="Work-order statistics of a period, grouped by one dimension (your "
        "communities only; complaints only if you may handle them)",
    )
    async def work_order_stats(self, info: strawberry.Info, input: StatsInput) -> StatsType:
        ctx = info.context
        return StatsType.of(await _staff_stats(ctx, input), ctx.lang)

    @query(WORK, description="My own figures: the work orders dispatched to me")
    async def my_work_order_stats(
        self,
        info: strawberry.Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        group_by: StatsDimension = StatsDimension.TYPE,
    ) -> StatsType:
        ctx = info.context
        user = await ctx.user()
        result = await service.worker_stats(
            ctx.session,
            worker_id=user.id,
            start=from_,
            end=to,
            group_by=group_by.value,
            time_zone=_time_zone(ctx),
        )
        return StatsType.of(result, ctx.lang)


@strawberry.type
class StatsMutation:
    @mutation(
        STATS,
        description="The statistics of workOrderStats(input) as an XLSX file (audited)",
    )
    async def export_work_order_stats(self, info: strawberry.Info, input: StatsInput) -> EstateFile:
        ctx = info.context
        result = await _staff_stats(ctx, input)
        return EstateFile.of(*service.encode_xlsx(result, lang=ctx.lang))
