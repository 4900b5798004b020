"""Who is reading: the communities a signed-in user's reads cover, and a resident's places.

Staff read within their data scope; residents within the communities they live in now."""

from __future__ import annotations

from typing import Any

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.estate.residents import Places, places_of_user


async def reader_scope(ctx: Any) -> DataScope:
    user = await ctx.user()
    if user.kind == "staff":
        scope: DataScope = await ctx.data_scope()
        return scope
    places = await places_of_user(ctx.session, user.id)
    return DataScope(False, places.community_ids)


async def resident_places(ctx: Any) -> tuple[User, Places]:
    """The signed-in resident and where they live; FORBIDDEN for staff."""
    user = await ctx.user()
    if user.kind != "resident":
        raise AppError("FORBIDDEN")
    return user, await places_of_user(ctx.session, user.id)
