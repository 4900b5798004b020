"""Estate API: residents. (Scaffold: the first field only, replaced as the area is built.)"""

from __future__ import annotations

import strawberry

from wuye.graphql.access import mutation, query


@strawberry.type
class ResidentQuery:
    @query(signed_in=True)
    async def estate_residents_ready(self, info: strawberry.Info) -> bool:
        return False


@strawberry.type
class ResidentMutation:
    @mutation(signed_in=True)
    async def estate_residents_noop(self, info: strawberry.Info) -> bool:
        return False
