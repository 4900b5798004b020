"""Estate API: transfer. (Scaffold: the first field only, replaced as the area is built.)"""

from __future__ import annotations

import strawberry

from wuye.graphql.access import mutation, query


@strawberry.type
class TransferQuery:
    @query(signed_in=True)
    async def estate_transfer_ready(self, info: strawberry.Info) -> bool:
        return False


@strawberry.type
class TransferMutation:
    @mutation(signed_in=True)
    async def estate_transfer_noop(self, info: strawberry.Info) -> bool:
        return False
