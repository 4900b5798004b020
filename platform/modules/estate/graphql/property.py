"""Estate API: property. (Scaffold: the first field only, replaced as the area is built.)"""

from __future__ import annotations

import strawberry

from wuye.graphql.access import mutation, query


@strawberry.type
class PropertyQuery:
    @query(signed_in=True)
    async def estate_property_ready(self, info: strawberry.Info) -> bool:
        return False


@strawberry.type
class PropertyMutation:
    @mutation(signed_in=True)
    async def estate_property_noop(self, info: strawberry.Info) -> bool:
        return False
