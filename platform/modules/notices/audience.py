"""Targets: who a notice or periodic message is for. A list of (kind, id) pairs, a union:
the whole tenant, communities, buildings, units or named residents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.estate.models import Building, Community, Unit
from wuye.modules.estate.residents import resident_users
from wuye.modules.notices.models import TARGET_KINDS


@dataclass(frozen=True)
class Target:
    kind: str  # one of TARGET_KINDS
    ref_id: int | None = None  # None only for "tenant"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref_id": self.ref_id}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Target:
        return cls(raw["kind"], raw.get("ref_id"))


def audience(targets: Sequence[Target]) -> Select[tuple[int]]:
    """The resident account ids the targets reach now."""
    ids: dict[str, list[int]] = {k: [] for k in TARGET_KINDS}
    for t in targets:
        if t.ref_id is not None:
            ids[t.kind].append(t.ref_id)
    return resident_users(
        everyone=any(t.kind == "tenant" for t in targets),
        community_ids=ids["community"],
        building_ids=ids["building"],
        unit_ids=ids["unit"],
        user_ids=ids["user"],
    )


_PLACE_MODELS: dict[str, Any] = {"community": Community, "building": Building, "unit": Unit}


async def check_targets(
    session: AsyncSession, targets: Sequence[Target], scope: DataScope
) -> list[Target]:
    """Refuse an empty list, unknown kinds, ids that do not exist (NOT_FOUND, as for ids
    outside the caller's scope) and whole-tenant targets from community-scoped staff.
    One query per kind of target, however many targets."""
    if not targets:
        raise AppError("VALIDATION_FAILED", field="targets", reason="empty")
    checked = list(dict.fromkeys(targets))
    ids: dict[str, set[int]] = {}
    for t in checked:
        if t.kind not in TARGET_KINDS or (t.kind == "tenant") != (t.ref_id is None):
            raise AppError("VALIDATION_FAILED", field="targets", kind=t.kind)
        if t.kind == "tenant" and not scope.all_communities:
            raise AppError("FORBIDDEN")
        if t.ref_id is not None:
            ids.setdefault(t.kind, set()).add(t.ref_id)
    for kind, wanted in ids.items():
        if kind == "user":
            found = select(User.id).where(User.id.in_(wanted), User.kind == "resident")
            allowed = set(await session.scalars(found))
        else:
            model = _PLACE_MODELS[kind]
            community = model.id if kind == "community" else model.community_id
            rows = await session.execute(select(model.id, community).where(model.id.in_(wanted)))
            allowed = {row_id for row_id, cid in rows if scope.allows(cid)}
        if allowed != wanted:
            raise AppError("NOT_FOUND", field="targets")
    return checked
