"""The work-order state machine: which actor may take which action from which state.

The table is the whole workflow; services never test statuses by hand. An action names the
states it starts from, the state it leads to, who may take it and for which order types.
Anything else is ``INVALID_TRANSITION`` (a known actor in the wrong state) or ``FORBIDDEN``
(an actor the action is not for).

Actors (worked out per order by ``actors_of``):
- ``resident``: the resident the order belongs to;
- ``desk``: customer service (``workorders.handle``) in whose scope the order is;
- ``dispatcher``: ``workorders.dispatch`` in scope;
- ``assignee``: the worker the order is dispatched to;
- ``pool``: a worker (``workorders.work``) who may grab an accepted, unassigned order;
- ``system``: the scheduled jobs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wuye.errors import AppError
from wuye.modules.workorders.models import FIELD_TYPES, TYPES

DESK_TYPES = tuple(t for t in TYPES if t not in FIELD_TYPES)  # consultation, suggestion
_WORKING = ("dispatched", "confirmed", "in_progress", "paused")


@dataclass(frozen=True)
class Action:
    key: str
    sources: tuple[str, ...]
    target: str
    actors: tuple[str, ...]
    types: tuple[str, ...] = TYPES


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action("accept", ("submitted",), "accepted", ("desk",)),
        Action("reject", ("submitted",), "rejected", ("desk",)),
        Action("merge", ("submitted", "accepted"), "merged", ("desk",)),
        Action("cancel", ("submitted", "accepted"), "cancelled", ("resident", "desk")),
        Action("dispatch", ("accepted",), "dispatched", ("dispatcher",), FIELD_TYPES),
        Action("grab", ("accepted",), "dispatched", ("pool",), FIELD_TYPES),
        Action("transfer", _WORKING, "dispatched", ("dispatcher",), FIELD_TYPES),
        Action("confirm", ("dispatched",), "confirmed", ("assignee",), FIELD_TYPES),
        # field orders start once the worker confirmed; desk orders once accepted
        Action("start", ("confirmed",), "in_progress", ("assignee",), FIELD_TYPES),
        Action("take_up", ("accepted",), "in_progress", ("desk",), DESK_TYPES),
        Action("pause", ("in_progress",), "paused", ("assignee", "desk")),
        Action("resume", ("paused",), "in_progress", ("assignee", "desk")),
        Action("complete", ("in_progress",), "completed", ("assignee",), FIELD_TYPES),
        Action("answer", ("in_progress",), "completed", ("desk",), DESK_TYPES),
        Action("rate", ("completed",), "rated", ("resident",)),
        Action("close", ("completed", "rated"), "closed", ("desk", "system")),
        Action("reopen", ("completed", "rated", "closed"), "submitted", ("resident",)),
    )
}


def check(action_key: str, *, status: str, order_type: str, actors: Iterable[str]) -> Action:
    """The action if ``actors`` may take it now; else FORBIDDEN or INVALID_TRANSITION."""
    action = ACTIONS.get(action_key)
    if action is None or order_type not in action.types:
        raise AppError("INVALID_TRANSITION", action=action_key, status=status)
    if not set(actors) & set(action.actors):
        raise AppError("FORBIDDEN")
    if status not in action.sources:
        raise AppError("INVALID_TRANSITION", action=action_key, status=status)
    return action


def available(*, status: str, order_type: str, actors: Iterable[str]) -> list[str]:
    """The actions these actors could take now (the buttons an app shows)."""
    mine = set(actors)
    return [
        a.key
        for a in ACTIONS.values()
        if status in a.sources and order_type in a.types and mine & set(a.actors)
    ]
