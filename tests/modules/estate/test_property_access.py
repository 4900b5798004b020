"""Who sees and changes what: tenants, data scopes (communities), permissions, residents."""

from __future__ import annotations

from typing import Any

from conftest import make_tenant
from property_kit import (
    ASSIGN,
    BUILDING,
    BUILDINGS,
    CHANGE_STATUS,
    COMMUNITIES,
    COMMUNITY,
    CREATE_BUILDING,
    CREATE_COMMUNITY,
    CREATE_LOT,
    CREATE_SPACE,
    CREATE_UNIT,
    END_ASSIGNMENT,
    PARKING_LOTS,
    REGISTER_VEHICLE,
    REMOVE_VEHICLE,
    SPACES,
    UNIT,
    UNITS,
    UPDATE_BUILDING,
    UPDATE_COMMUNITY,
    UPDATE_UNIT,
    VEHICLES,
    Estate,
    codes,
    ok,
    seed_estate,
    staff,
)

LISTS = {
    "communities": COMMUNITIES,
    "buildings": BUILDINGS,
    "units": UNITS,
    "parkingLots": PARKING_LOTS,
    "parkingSpaces": SPACES,
    "vehicles": VEHICLES,
}


async def _parking(api, tenant, token: str, estate: Estate, plate: str) -> dict[str, str]:
    """A lot, a space assigned to the unit, and a vehicle of the owner, in ``estate``."""
    call = {"tenant": tenant.slug, "token": token}
    lot = ok(await api(CREATE_LOT, {"i": {"communityId": estate.community, "name": "P"}}, **call))
    lot_id = lot["createParkingLot"]["id"]
    space = ok(await api(CREATE_SPACE, {"i": {"lotId": lot_id, "number": "1"}}, **call))
    space_id = space["createParkingSpace"]["id"]
    assignment = ok(
        await api(
            ASSIGN,
            {"i": {"spaceId": space_id, "unitId": estate.unit(), "startsOn": "2026-01-01"}},
            **call,
        )
    )["assignParkingSpace"]["id"]
    car = ok(
        await api(
            REGISTER_VEHICLE,
            {"i": {"communityId": estate.community, "personId": estate.person(), "plate": plate}},
            **call,
        )
    )["registerVehicle"]["id"]
    return {"lot": lot_id, "space": space_id, "assignment": assignment, "vehicle": car}


def _writes(estate: Estate, parking: dict[str, str], x: Estate) -> list[tuple[str, Any]]:
    """Every write aimed at ``estate`` (``x``: an estate the caller may change)."""
    return [
        (UPDATE_COMMUNITY, {"id": estate.community, "hotline": "110"}),
        (CREATE_BUILDING, {"communityId": estate.community, "name": "新楼", "floors": 3}),
        (UPDATE_BUILDING, {"id": estate.building, "name": "改名楼"}),
        (
            CREATE_UNIT,
            {"buildingId": estate.building, "roomNo": "9", "floor": 1, "buildingArea": "50"},
        ),
        (UPDATE_UNIT, {"id": estate.unit(), "layout": "1室"}),
        (CHANGE_STATUS, {"unitId": estate.unit(), "status": "rented"}),
        (CREATE_LOT, {"communityId": estate.community, "name": "新车库"}),
        (CREATE_SPACE, {"lotId": parking["lot"], "number": "2"}),
        (ASSIGN, {"spaceId": parking["space"], "unitId": x.unit(), "startsOn": "2027-01-01"}),
        (END_ASSIGNMENT, {"assignmentId": parking["assignment"], "endsOn": "2026-02-01"}),
        (
            REGISTER_VEHICLE,
            {"communityId": estate.community, "personId": estate.person(), "plate": "沪C12345"},
        ),
        (REMOVE_VEHICLE, {"id": parking["vehicle"]}),
    ]


async def _nodes(api, tenant, token: str, doc: str) -> set[str]:
    body = ok(await api(doc, {}, tenant=tenant.slug, token=token))
    (conn,) = body.values()
    return {e["node"]["id"] for e in conn["edges"]}


async def test_a_scoped_agent_sees_nothing_of_another_community(api, runtime, tenant, admin_token):
    # given communities X and Y, each with units, residents, parking and a vehicle
    x = await seed_estate(runtime, tenant, units=2, residents_per_unit=1)
    y = await seed_estate(runtime, tenant, units=2, residents_per_unit=1)
    await _parking(api, tenant, admin_token, x, "京A11111")
    py = await _parking(api, tenant, admin_token, y, "京A22222")
    everything = {name: await _nodes(api, tenant, admin_token, doc) for name, doc in LISTS.items()}
    # when a customer-service agent limited to X lists everything
    agent = await staff(
        api, runtime, tenant, roles=("customer_service",), communities=(x.community_id,)
    )
    for name, doc in LISTS.items():
        mine = await _nodes(api, tenant, agent, doc)
        # then each list holds X's rows only (and X has some of each)
        assert mine, name
        assert mine < everything[name], name
    assert await _nodes(api, tenant, agent, COMMUNITIES) == {x.community}
    units = ok(await api(UNITS, {"first": 100}, tenant=tenant.slug, token=agent))["units"]
    assert {e["node"]["community"]["id"] for e in units["edges"]} == {x.community}
    assert units["totalCount"] == 2
    # and filtering by Y explicitly yields nothing either
    body = ok(await api(UNITS, {"c": y.community}, tenant=tenant.slug, token=agent))
    assert body["units"]["totalCount"] == 0
    # and Y's single objects do not exist for them
    for doc, gid_ in ((COMMUNITY, y.community), (BUILDING, y.building), (UNIT, y.unit())):
        assert codes(await api(doc, {"id": gid_}, tenant=tenant.slug, token=agent)) == ["NOT_FOUND"]
    # while X's do
    ok(await api(UNIT, {"id": x.unit()}, tenant=tenant.slug, token=agent))
    del py


async def test_a_scoped_manager_cannot_change_another_community(api, runtime, tenant, admin_token):
    # given communities X and Y with parking, and a manager limited to X
    x = await seed_estate(runtime, tenant, units=1, residents_per_unit=1)
    y = await seed_estate(runtime, tenant, units=1, residents_per_unit=1)
    px = await _parking(api, tenant, admin_token, x, "京A33333")
    py = await _parking(api, tenant, admin_token, y, "京A44444")
    manager = await staff(api, runtime, tenant, roles=("manager",), communities=(x.community_id,))
    # when they try every write on Y
    for doc, data in _writes(y, py, x):
        body = await api(doc, {"i": data}, tenant=tenant.slug, token=manager)
        # then Y's objects do not exist for them
        assert codes(body) == ["NOT_FOUND"], (doc, body)
    # and they cannot attach Y's unit to X's space either
    body = await api(
        ASSIGN,
        {"i": {"spaceId": px["space"], "unitId": y.unit(), "startsOn": "2027-01-01"}},
        tenant=tenant.slug,
        token=manager,
    )
    assert codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["extensions"]["field"] == "unitId"
    # nor add communities (which would fall outside their scope)
    body = await api(CREATE_COMMUNITY, {"i": {"name": "新小区"}}, tenant=tenant.slug, token=manager)
    assert codes(body) == ["FORBIDDEN"]
    # while the same writes on X work
    for doc, data in _writes(x, px, x)[:8]:
        ok(await api(doc, {"i": data}, tenant=tenant.slug, token=manager))
    # and Y is unchanged
    y_unit = ok(await api(UNIT, {"id": y.unit()}, tenant=tenant.slug, token=admin_token))["unit"]
    assert (y_unit["layout"], y_unit["status"], y_unit["building"]["name"]) == (
        "",
        "vacant",
        "1号楼",
    )
    assert len(await _nodes(api, tenant, admin_token, VEHICLES)) == 2


async def test_other_tenants_data_is_out_of_reach(api, runtime, tenant, admin_token):
    # given tenant B with a community, units and parking
    other = await make_tenant(runtime)
    b_admin = await staff(api, runtime, other)
    b = await seed_estate(runtime, other, units=2, residents_per_unit=1)
    pb = await _parking(api, other, b_admin, b, "京A55555")
    # when tenant A's admin sends their token to tenant B
    for doc in (COMMUNITIES, UNITS):
        refused = await api(doc, {}, tenant=other.slug, token=admin_token)
        # then the token is refused
        assert codes(refused) == ["UNAUTHENTICATED"], refused
    body = await api(
        UPDATE_UNIT, {"i": {"id": b.unit(), "layout": "x"}}, tenant=other.slug, token=admin_token
    )
    assert codes(body) == ["UNAUTHENTICATED"]
    # and inside tenant A, B's ids name nothing (A has no estate data)
    for name, doc in LISTS.items():
        assert await _nodes(api, tenant, admin_token, doc) == set(), name
    for doc, gid_ in ((COMMUNITY, b.community), (BUILDING, b.building), (UNIT, b.unit())):
        body = await api(doc, {"id": gid_}, tenant=tenant.slug, token=admin_token)
        assert codes(body) == ["NOT_FOUND"]
    for doc, data in _writes(b, pb, b):
        body = await api(doc, {"i": data}, tenant=tenant.slug, token=admin_token)
        assert codes(body) == ["NOT_FOUND"], (doc, body)
    # and B's data is unchanged
    unit = ok(await api(UNIT, {"id": b.unit()}, tenant=other.slug, token=b_admin))["unit"]
    assert unit["layout"] == "" and unit["status"] == "vacant"


async def test_permissions_gate_reads_and_writes(api, runtime, tenant, admin_token):
    # given a unit
    estate = await seed_estate(runtime, tenant, units=1)
    resident = await staff(api, runtime, tenant, roles=(), kind="resident")
    worker = await staff(api, runtime, tenant, roles=("maintenance_worker",))
    agent = await staff(api, runtime, tenant, roles=("customer_service",))
    # then residents and anonymous callers read nothing
    for token in (resident, None):
        for doc in LISTS.values():
            body = await api(doc, {}, tenant=tenant.slug, token=token)
            assert codes(body) == ["FORBIDDEN" if token else "UNAUTHENTICATED"], body
        body = await api(UNIT, {"id": estate.unit()}, tenant=tenant.slug, token=token)
        assert codes(body) == ["FORBIDDEN" if token else "UNAUTHENTICATED"]
    # and staff without estate.manage change nothing
    for token in (worker, agent, resident):
        body = await api(
            UPDATE_UNIT,
            {"i": {"id": estate.unit(), "layout": "x"}},
            tenant=tenant.slug,
            token=token,
        )
        assert codes(body) == ["FORBIDDEN"]
        body = await api(
            CREATE_COMMUNITY, {"i": {"name": "偷偷建"}}, tenant=tenant.slug, token=token
        )
        assert codes(body) == ["FORBIDDEN"]
    # while the worker may read
    ok(await api(UNIT, {"id": estate.unit()}, tenant=tenant.slug, token=worker))
