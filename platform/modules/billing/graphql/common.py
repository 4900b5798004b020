"""What every billing resolver shares: the actor of the request and batched lookups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity.scope import NO_SCOPE
from wuye.modules.billing.models import FeeItem
from wuye.modules.billing.settlement import Actor
from wuye.modules.estate.property import unit_labels


async def actor_of(ctx: Any) -> Actor:
    """The signed-in user with permissions and data scope, read once per request."""
    found: Actor | None = ctx.loaders.get("billing.actor")
    if found is None:
        user = await ctx.user()
        staff = user.kind == "staff"
        found = Actor(
            user_id=user.id,
            is_staff=staff,
            permissions=await ctx.permissions(),
            scope=await ctx.data_scope() if staff else NO_SCOPE,
            name=user.name,
        )
        ctx.loaders["billing.actor"] = found
    return found


async def fee_items_by_id(session: AsyncSession, ids: list[int]) -> dict[int, FeeItem]:
    return {f.id: f for f in await session.scalars(select(FeeItem).where(FeeItem.id.in_(ids)))}


async def places_by_unit(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    return await unit_labels(session, ids)
