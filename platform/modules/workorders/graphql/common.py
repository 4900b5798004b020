"""What every work-order resolver shares: the viewer of the request and batched lookups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.graphql.ids import decode_id
from wuye.identity.models import User
from wuye.identity.scope import NO_SCOPE
from wuye.modules.workorders import orders
from wuye.modules.workorders.models import WorkOrder


async def viewer_of(ctx: Any) -> orders.Viewer:
    """The signed-in user with permissions, data scope and team, read once per request."""
    found: orders.Viewer | None = ctx.loaders.get("workorders.viewer")
    if found is None:
        user = await ctx.user()
        staff = user.kind == "staff"
        found = orders.Viewer(
            user=user,
            permissions=await ctx.permissions(),
            scope=await ctx.data_scope() if staff else NO_SCOPE,
            team_id=await orders.team_of(ctx.session, user) if staff else None,
        )
        ctx.loaders["workorders.viewer"] = found
    return found


def order_id(global_id: str, field: str = "id") -> int:
    return decode_id(global_id, "WorkOrder", field)


async def users_by_id(session: AsyncSession, ids: list[int]) -> dict[int, User]:
    rows = await session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in rows}


async def orders_by_id(session: AsyncSession, ids: list[int]) -> dict[int, WorkOrder]:
    rows = await session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))
    return {o.id: o for o in rows}
