"""Estate API: org. (Scaffold: the first field only, replaced as the area is built.)"""

from __future__ import annotations

import strawberry

from wuye.graphql.access import mutation, query


@strawberry.type
class OrgQuery:
    @query(signed_in=True)
    async def estate_org_ready(self, info: strawberry.Info) -> bool:
        return False


@strawberry.type
class OrgMutation:
    @mutation(signed_in=True)
    async def estate_org_noop(self, info: strawberry.Info) -> bool:
        return False
