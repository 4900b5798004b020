"""Every workflow step, tried by every role from every state, through GraphQL.

The expected table below is the product rule written out independently of
``workflow.ACTIONS``: a step succeeds only for the listed roles from the listed states; a
role that cannot see the order gets NOT_FOUND, one that sees it but may not take the step
FORBIDDEN, and the right role in the wrong state INVALID_TRANSITION. A refused step writes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Api
from kit import Resident, add_resident, add_staff, codes, ok
from sqlalchemy import func, select, update
from wo_kit import MUTATIONS, Crew, make_crew, submit, take, user_gid, wo_tenant

from wuye.graphql.ids import decode_id, encode_id
from wuye.modules.estate.models import StaffProfile
from wuye.modules.workorders.models import STATUSES, OrderEvent, WorkOrder
from wuye.runtime import Runtime

FIELD_STEPS: dict[str, tuple[set[str], set[str]]] = {
    # step: (states it starts from, roles that may take it) for a repair
    "accept": ({"submitted"}, {"desk", "manager"}),
    "reject": ({"submitted"}, {"desk", "manager"}),
    "merge": ({"submitted", "accepted"}, {"desk", "manager"}),
    "cancel": ({"submitted", "accepted"}, {"owner", "desk", "manager"}),
    "dispatch": ({"accepted"}, {"desk", "manager"}),
    "grab": ({"accepted"}, {"pool"}),  # grabbing (抢单) is on in this tenant
    "transfer": ({"dispatched", "confirmed", "in_progress", "paused"}, {"desk", "manager"}),
    "confirm": ({"dispatched"}, {"assignee"}),
    "start": ({"confirmed"}, {"assignee"}),
    "take_up": (set(), set()),  # consultations and suggestions only
    "pause": ({"in_progress"}, {"assignee", "desk", "manager"}),
    "resume": ({"paused"}, {"assignee", "desk", "manager"}),
    "complete": ({"in_progress"}, {"assignee"}),
    "answer": (set(), set()),  # consultations and suggestions only
    "rate": ({"completed"}, {"owner"}),
    "close": ({"completed", "rated"}, {"desk", "manager"}),
    "reopen": ({"completed", "rated", "closed"}, {"owner"}),
}
ROLES = ("owner", "stranger", "desk", "worker", "other_worker", "manager")
WORKER_STATES = {"dispatched", "confirmed", "in_progress", "paused", "completed", "rated", "closed"}


@dataclass
class Cast:
    crew: Crew
    people: dict[str, Resident]
    other_worker: Resident
    spare: str  # an open order to merge into


@pytest.fixture(scope="module")
async def cast(api_module, runtime: Runtime) -> Cast:
    tenant = await wo_tenant(runtime, allow_grab=True)
    crew = await make_crew(api_module, runtime, tenant)
    stranger = await add_resident(api_module, runtime, tenant, crew.place.ids["A/1号楼/102"])
    other_worker = await add_staff(api_module, runtime, tenant, roles=("maintenance_worker",))
    people = {
        "owner": crew.resident,
        "stranger": stranger,
        "desk": crew.desk,
        "worker": crew.worker,
        "other_worker": other_worker,
        "manager": crew.manager,
    }
    spare = await submit(api_module, crew, description="楼上渗水")
    return Cast(crew, people, other_worker, spare["id"])


@pytest.fixture(scope="module")
def api_module(http):
    return Api(http, "/graphql")


async def _order_in(api: Any, runtime: Runtime, cast: Cast, status: str) -> str:
    order = await submit(api, cast.crew)
    values: dict[str, Any] = {"status": status, "accepted_at": datetime.now(UTC)}
    if status in WORKER_STATES:
        values["worker_id"] = cast.crew.worker.user_id
    if status in ("completed", "rated", "closed"):
        values["completed_at"] = datetime.now(UTC) - timedelta(hours=1)
    async with runtime.db.tenant_session(cast.crew.tenant.schema) as s:
        await s.execute(
            update(WorkOrder)
            .where(WorkOrder.id == decode_id(order["id"], "WorkOrder"))
            .values(**values)
        )
        await s.commit()
    return str(order["id"])


def _fields(action: str, cast: Cast) -> dict[str, Any]:
    soon = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    return {
        "reject": {"reason": "重复提交"},
        "merge": {"intoId": cast.spare},
        "dispatch": {"workerId": user_gid(cast.crew.worker.user_id)},
        "transfer": {"workerId": user_gid(cast.other_worker.user_id)},
        "confirm": {"arrivalAt": soon},
        "pause": {"reason": "等配件"},
        "complete": {"note": "已修好"},
        "answer": {"note": "已答复"},
        "rate": {"rating": 4},
        "reopen": {"reason": "又漏了"},
    }.get(action, {})


def _sees(role: str, status: str) -> bool:
    if role == "stranger":
        return False
    if role == "other_worker":
        return status == "accepted"  # only the grab pool
    if role == "worker":
        return status == "accepted" or status in WORKER_STATES
    return True


def _parts(role: str, status: str) -> set[str]:
    """What a person is for an order in ``status``: a worker is its assignee once it is
    dispatched to them, and one of the grab pool while it waits unassigned."""
    if role in ("worker", "other_worker"):
        if role == "worker" and status in WORKER_STATES:
            return {"assignee"}
        return {"pool"} if status == "accepted" else set()
    return {role}


def _expected(action: str, status: str, role: str) -> str | None:
    sources, roles = FIELD_STEPS[action]
    if not _sees(role, status):
        return "NOT_FOUND"
    if not sources and not roles:
        return "INVALID_TRANSITION"  # not a step for this type of order
    if not _parts(role, status) & roles:
        return "FORBIDDEN"
    if status not in sources:
        return "INVALID_TRANSITION"
    return None


async def _events(runtime: Runtime, cast: Cast, order_id: str) -> int:
    async with runtime.db.tenant_session(cast.crew.tenant.schema) as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(OrderEvent)
                .where(OrderEvent.order_id == decode_id(order_id, "WorkOrder"))
            )
            or 0
        )


@pytest.mark.parametrize("status", [s for s in STATUSES])
async def test_every_role_and_step_from(status: str, api_module, runtime: Runtime, cast) -> None:
    api = api_module
    shared = await _order_in(api, runtime, cast, status)
    events_before = await _events(runtime, cast, shared)
    outcomes: dict[tuple[str, str], str | None] = {}
    for action in FIELD_STEPS:
        for role in ROLES:
            expected = _expected(action, status, role)
            # a step that should succeed gets a fresh order, so the others see the state
            order = shared if expected else await _order_in(api, runtime, cast, status)
            body = await take(
                api, cast.crew, cast.people[role], action, order, **_fields(action, cast)
            )
            got = codes(body)[0] if codes(body) else None
            outcomes[(action, role)] = got
            if expected is None and got is None:
                answer = body["data"][MUTATIONS[action]]
                assert answer["status"] != status or action in ("transfer",), (action, role)
    wrong = {
        k: (got, _expected(k[0], status, k[1]))
        for k, got in outcomes.items()
        if got != _expected(k[0], status, k[1])
    }
    assert wrong == {}, f"from {status}: (step, role): (got, expected) {wrong}"
    # every refusal left the shared order as it was
    assert await _events(runtime, cast, shared) == events_before


DESK_STEPS = {
    "accept": {"submitted"},
    "take_up": {"accepted"},
    "answer": {"in_progress"},
    "dispatch": set(),
    "confirm": set(),
    "complete": set(),
}


async def test_consultations_stay_at_the_desk(api_module, runtime: Runtime, cast) -> None:
    api, crew = api_module, cast.crew
    order = await submit(api, crew, type="consultation", description="物业费怎么交？")
    oid = order["id"]
    for status, step, fields in (
        ("submitted", "accept", {}),
        ("accepted", "take_up", {}),
        ("in_progress", "answer", {"note": "可在应用内缴费"}),
    ):
        for refused in ("dispatch", "confirm", "complete"):
            got = codes(await take(api, crew, crew.manager, refused, oid, note="x"))
            assert got == ["INVALID_TRANSITION"], (status, refused)
        answer = ok(await take(api, crew, crew.desk, step, oid, **fields))
        assert (
            answer[MUTATIONS[step]]["status"]
            == {
                "accept": "accepted",
                "take_up": "in_progress",
                "answer": "completed",
            }[step]
        )
    # a worker never sees a consultation
    got = codes(await take(api, crew, crew.worker, "rate", oid, rating=5))
    assert got == ["NOT_FOUND"]
    ok(await take(api, crew, crew.resident, "rate", oid, rating=5))


async def test_team_dispatch_goes_to_whoever_confirms_first(
    api_module, runtime: Runtime, cast
) -> None:
    api, crew = api_module, cast.crew
    teammate = await add_staff(api, runtime, crew.tenant, roles=("maintenance_worker",))
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        s.add(StaffProfile(user_id=teammate.user_id, department_id=crew.team_id))
        await s.commit()
    oid = (await submit(api, crew))["id"]
    ok(await take(api, crew, crew.desk, "accept", oid))
    team = encode_id("Department", crew.team_id)
    ok(await take(api, crew, crew.desk, "dispatch", oid, teamId=team))
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    first = ok(await take(api, crew, teammate, "confirm", oid, arrivalAt=soon))["confirmWorkOrder"]
    assert first["worker"]["id"] == user_gid(teammate.user_id)
    # the order is now the teammate's: the other team member no longer sees it
    assert codes(await take(api, crew, crew.worker, "start", oid)) == ["NOT_FOUND"]


async def test_reopen_only_within_the_window(api_module, runtime: Runtime, cast) -> None:
    api, crew = api_module, cast.crew
    oid = await _order_in(api, runtime, cast, "closed")
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        await s.execute(
            update(WorkOrder)
            .where(WorkOrder.id == decode_id(oid, "WorkOrder"))
            .values(completed_at=datetime.now(UTC) - timedelta(days=8))
        )
        await s.commit()
    body = await take(api, crew, crew.resident, "reopen", oid, reason="又坏了")
    assert codes(body) == ["INVALID_TRANSITION"]
    assert "7" in body["errors"][0]["message"]
