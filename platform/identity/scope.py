"""Data scope: which communities a staff member may see. Every module filters through it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, true

from wuye.errors import AppError


@dataclass(frozen=True)
class DataScope:
    all_communities: bool
    community_ids: frozenset[int] = frozenset()

    def allows(self, community_id: int | None) -> bool:
        return self.all_communities or (
            community_id is not None and community_id in self.community_ids
        )

    def check(self, community_id: int | None) -> None:
        """NOT_FOUND (not FORBIDDEN) outside the scope: do not reveal what exists."""
        if not self.allows(community_id):
            raise AppError("NOT_FOUND")

    def filter(self, column: Any) -> Any:
        """A WHERE clause limiting ``column`` (a community id) to this scope."""
        if self.all_communities:
            return true()
        if not self.community_ids:
            return false()
        return column.in_(sorted(self.community_ids))


NO_SCOPE = DataScope(all_communities=False)
