"""Bill generation API (staff): start a run, follow it, list the bills.

- ``generateBills(input)``: queue a run for a period and scope (``billing.generate``, within
  the caller's data scope); poll ``billRun(id)`` for status and progress.
- ``billRun(id)`` / ``billRuns``: runs, newest first (``billing.view``); staff limited to some
  communities see the runs of those communities only.
- ``bills(...)``: bills by unit, building or community, period and status, in the caller's
  data scope (``billing.view``), newest due first.
"""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from sqlalchemy import select

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.billing import generation
from wuye.modules.billing.graphql.bills import BillType
from wuye.modules.billing.graphql.common import actor_of
from wuye.modules.billing.models import Bill, BillRun
from wuye.modules.billing.permissions import GENERATE, VIEW
from wuye.modules.estate.models import Building, Unit
from wuye.modules.rows import get_row


@strawberry.enum(name="BillRunStatus")
class BillRunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@strawberry.type(name="BillRun", description="One generation of bills for a period and scope")
class BillRunType:
    id: strawberry.ID
    period: str
    community_id: strawberry.ID | None
    building_id: strawberry.ID | None
    fee_item_ids: list[strawberry.ID] = strawberry.field(description="Empty: every fee item")
    status: BillRunStatus
    progress: int = strawberry.field(description="Percent")
    created_count: int
    total_fen: int
    error: str
    scheduled: bool
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: BillRun) -> BillRunType:
        return cls(
            id=gid("BillRun", run.id),
            period=run.period,
            community_id=optional_gid("Community", run.community_id),
            building_id=optional_gid("Building", run.building_id),
            fee_item_ids=[gid("FeeItem", int(i)) for i in run.fee_item_ids],
            status=BillRunStatus(run.status),
            progress=run.progress,
            created_count=run.created_count,
            total_fen=run.total_fen,
            error=run.error,
            scheduled=run.scheduled,
            created_at=run.created_at,
            finished_at=run.finished_at,
        )


@strawberry.input
class GenerateBillsInput:
    period: str = strawberry.field(description="YYYY-MM")
    community_id: strawberry.ID | None = None
    building_id: strawberry.ID | None = None
    fee_item_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Empty or absent: every active fee item"
    )


async def _run(ctx: object, pk: int) -> BillRun:
    run = await ctx.session.scalar(  # type: ignore[attr-defined]
        select(BillRun).where(BillRun.id == pk).execution_options(populate_existing=True)
    )
    if run is None:
        raise AppError("NOT_FOUND")
    # a whole-tenant run (no community) is visible to staff who see every community
    (await ctx.data_scope()).check(run.community_id)  # type: ignore[attr-defined]
    return run


@strawberry.type
class GenerationQuery:
    @query(VIEW, description="A bill run: status, progress, what it created")
    async def bill_run(self, info: strawberry.Info, id: strawberry.ID) -> BillRunType:
        return BillRunType.of(await _run(info.context, decode_id(id, "BillRun")))

    @query(VIEW, description="Bill runs, newest first")
    async def bill_runs(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[BillRunType]:
        ctx = info.context
        scope = await ctx.data_scope()
        stmt = select(BillRun).order_by(BillRun.id.desc())
        if not scope.all_communities:
            stmt = stmt.where(scope.filter(BillRun.community_id))
        return await paginate(ctx, stmt, first=first, after=after, to_node=BillRunType.of)

    @query(
        VIEW,
        description="Staff: bills by unit, building or community (in my data scope), "
        "period and status, newest due first",
    )
    async def bills(
        self,
        info: strawberry.Info,
        unit_id: strawberry.ID | None = None,
        building_id: strawberry.ID | None = None,
        community_id: strawberry.ID | None = None,
        period: str | None = None,
        status: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[BillType]:
        ctx = info.context
        scope = (await actor_of(ctx)).scope
        stmt = select(Bill).where(scope.filter(Bill.community_id))
        unit_pk = optional_id(unit_id, "Unit", "unitId")
        if unit_pk is not None:
            unit = await get_row(ctx.session, Unit, unit_pk, field="unitId")
            scope.check(unit.community_id)
            stmt = stmt.where(Bill.unit_id == unit_pk)
        building_pk = optional_id(building_id, "Building", "buildingId")
        if building_pk is not None:
            building = await get_row(ctx.session, Building, building_pk, field="buildingId")
            scope.check(building.community_id)
            stmt = stmt.where(Bill.building_id == building_pk)
        community_pk = optional_id(community_id, "Community", "communityId")
        if community_pk is not None:
            scope.check(community_pk)
            stmt = stmt.where(Bill.community_id == community_pk)
        if period is not None:
            generation.parse_period(period)
            stmt = stmt.where(Bill.period == period)
        if status:
            stmt = stmt.where(Bill.status.in_(status))
        on = ctx.tenant.today()
        return await paginate(
            ctx,
            stmt.order_by(Bill.due_on.desc(), Bill.id.desc()),
            first=first,
            after=after,
            to_node=lambda b: BillType.of(b, on),  # type: ignore[arg-type]
        )


@strawberry.type
class GenerationMutation:
    @mutation(
        GENERATE,
        description="Generate the bills of a period (YYYY-MM) for the tenant, a community or "
        "a building, as a background run; poll billRun(id). Bills already issued are kept.",
    )
    async def generate_bills(self, info: strawberry.Info, input: GenerateBillsInput) -> BillRunType:
        ctx = info.context
        run = await generation.start_run(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            period=input.period,
            community_id=optional_id(input.community_id, "Community", "communityId"),
            building_id=optional_id(input.building_id, "Building", "buildingId"),
            fee_item_ids=[decode_id(i, "FeeItem", "feeItemIds") for i in input.fee_item_ids or []],
            actor=await actor_of(ctx),
        )
        ctx.audit_target = ("BillRun", str(run.id))
        return BillRunType.of(run)
