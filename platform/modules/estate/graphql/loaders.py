"""DataLoaders shared by the estate API, one per request (``ctx.loader(key, factory)``).

Each loader reads a whole batch with one statement in the request's session, so a page of
units with their building, community and residents costs the same for 20 rows or 200.
Loaders do not check the data scope: they are reached only from objects already checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from wuye.modules.estate.models import Building, Community, Occupancy, Person, UnitStatusChange


@dataclass(frozen=True)
class Occupant:
    """A current occupant of a unit (an occupancy without a move-out date)."""

    unit_id: int
    person_id: int
    name: str
    phone: str | None
    relation: str
    is_primary: bool
    move_in_on: date


@dataclass(frozen=True)
class StatusChange:
    from_status: str | None
    to_status: str
    reason: str
    changed_at: datetime


T = TypeVar("T")


def _by_id_loader(ctx: Any, model: Any) -> DataLoader[int, Any]:
    async def load(ids: Sequence[int]) -> list[Any]:
        rows = await ctx.session.scalars(select(model).where(model.id.in_(sorted(set(ids)))))
        found = {r.id: r for r in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def buildings(ctx: Any) -> DataLoader[int, Building | None]:
    return ctx.loader("estate.building", lambda: _by_id_loader(ctx, Building))  # type: ignore[no-any-return]


def communities(ctx: Any) -> DataLoader[int, Community | None]:
    return ctx.loader("estate.community", lambda: _by_id_loader(ctx, Community))  # type: ignore[no-any-return]


async def building_of(ctx: Any, building_id: int) -> Building:
    """The building a foreign key points at (batched with the request's other lookups)."""
    return _present(await buildings(ctx).load(building_id))


async def community_of(ctx: Any, community_id: int) -> Community:
    return _present(await communities(ctx).load(community_id))


def _present(row: T | None) -> T:
    if row is None:  # a dangling foreign key: the database is broken, not the request
        raise LookupError("referenced row is missing")
    return row


def occupants(ctx: Any) -> DataLoader[int, list[Occupant]]:
    """Current occupants by unit id: primary contact first, then by move-in date."""

    def factory() -> DataLoader[int, list[Occupant]]:
        async def load(unit_ids: Sequence[int]) -> list[list[Occupant]]:
            rows = await ctx.session.execute(
                select(
                    Occupancy.unit_id,
                    Occupancy.person_id,
                    Person.name,
                    Person.phone,
                    Occupancy.relation,
                    Occupancy.is_primary,
                    Occupancy.move_in_on,
                )
                .join(Person, Person.id == Occupancy.person_id)
                .where(
                    Occupancy.unit_id.in_(sorted(set(unit_ids))),
                    Occupancy.move_out_on.is_(None),
                )
                .order_by(
                    Occupancy.unit_id,
                    Occupancy.is_primary.desc(),
                    Occupancy.move_in_on,
                    Occupancy.id,
                )
            )
            found: dict[int, list[Occupant]] = defaultdict(list)
            for r in rows:
                found[r.unit_id].append(Occupant(*r))
            return [found.get(i, []) for i in unit_ids]

        return DataLoader(load_fn=load)

    return ctx.loader("estate.occupants", factory)  # type: ignore[no-any-return]


def status_history(ctx: Any) -> DataLoader[int, list[StatusChange]]:
    """A unit's status changes, oldest first."""

    def factory() -> DataLoader[int, list[StatusChange]]:
        async def load(unit_ids: Sequence[int]) -> list[list[StatusChange]]:
            rows = await ctx.session.execute(
                select(
                    UnitStatusChange.unit_id,
                    UnitStatusChange.from_status,
                    UnitStatusChange.to_status,
                    UnitStatusChange.reason,
                    UnitStatusChange.changed_at,
                )
                .where(UnitStatusChange.unit_id.in_(sorted(set(unit_ids))))
                .order_by(UnitStatusChange.unit_id, UnitStatusChange.id)
            )
            found: dict[int, list[StatusChange]] = defaultdict(list)
            for r in rows:
                found[r.unit_id].append(StatusChange(*r[1:]))
            return [found.get(i, []) for i in unit_ids]

        return DataLoader(load_fn=load)

    return ctx.loader("estate.unit_status_history", factory)  # type: ignore[no-any-return]
