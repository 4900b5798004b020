"""Bad input: each refused with a stable code and the input field named, nothing written."""

from __future__ import annotations

import pytest
from property_kit import (
    ASSIGN,
    CHANGE_STATUS,
    CREATE_BUILDING,
    CREATE_COMMUNITY,
    CREATE_LOT,
    CREATE_SPACE,
    CREATE_UNIT,
    REGISTER_VEHICLE,
    UNIT,
    UPDATE_UNIT,
    count_rows,
    error,
    gid,
    ok,
    seed_estate,
)

from wuye.identity.models import AuditLog
from wuye.modules.estate.models import (
    Building,
    Community,
    ParkingAssignment,
    ParkingSpace,
    Unit,
    UnitStatusChange,
    Vehicle,
)

TABLES = (Community, Building, Unit, UnitStatusChange, ParkingSpace, ParkingAssignment, Vehicle)


async def _snapshot(runtime, tenant) -> dict[str, int]:
    counts = {m.__tablename__: await count_rows(runtime, tenant, m) for m in TABLES}
    counts["audit"] = await count_rows(runtime, tenant, AuditLog)
    return counts


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"buildingArea": "-12.50"}, "VALIDATION_FAILED", "buildingArea"),
        ({"buildingArea": "0"}, "VALIDATION_FAILED", "buildingArea"),
        ({"buildingArea": "88.123"}, "VALIDATION_FAILED", "buildingArea"),
        ({"innerArea": "70.001"}, "VALIDATION_FAILED", "innerArea"),
        ({"innerArea": "200"}, "VALIDATION_FAILED", "innerArea"),  # above the building area
        ({"floor": 0}, "VALIDATION_FAILED", "floor"),
        ({"floor": 31}, "VALIDATION_FAILED", "floor"),  # the building has 30
        ({"entrance": 3}, "VALIDATION_FAILED", "entrance"),  # the building has 2
        ({"roomNo": "  "}, "VALIDATION_FAILED", "roomNo"),
        ({"propertyType": "castle"}, "VALIDATION_FAILED", "propertyType"),
        ({"status": "haunted"}, "VALIDATION_FAILED", "status"),
        ({"roomNo": "TAKEN"}, "CONFLICT", "roomNo"),  # duplicate room number in the building
        ({"buildingId": gid("Building", 987654)}, "NOT_FOUND", "buildingId"),
        ({"buildingId": gid("Community", 1)}, "NOT_FOUND", "buildingId"),  # wrong id type
    ],
)
async def test_create_unit_refuses_bad_input_and_writes_nothing(
    api, runtime, tenant, admin_token, change, code, field
):
    # given a building (30 floors, 2 entrances) whose first unit has room number TAKEN
    estate = await seed_estate(runtime, tenant, units=1)
    ok(
        await api(
            UPDATE_UNIT,
            {"i": {"id": estate.unit(), "roomNo": "TAKEN"}},
            tenant=tenant.slug,
            token=admin_token,
        )
    )
    before = await _snapshot(runtime, tenant)
    good = {"buildingId": estate.building, "roomNo": "1-101", "floor": 1, "buildingArea": "88.5"}
    # when a unit is created with one bad value
    body = await api(CREATE_UNIT, {"i": good | change}, tenant=tenant.slug, token=admin_token)
    # then the error names the code and the field, and nothing was written (not even audit)
    ext = error(body)
    assert (ext["code"], ext.get("field")) == (code, field)
    assert body.get("data") is None
    assert await _snapshot(runtime, tenant) == before


async def test_update_unit_to_a_taken_room_number_is_a_conflict(api, runtime, tenant, admin_token):
    # given two units of one building
    estate = await seed_estate(runtime, tenant, units=2)
    other = ok(
        await api(UPDATE_UNIT, {"i": {"id": estate.unit(1)}}, tenant=tenant.slug, token=admin_token)
    )["updateUnit"]
    # when the first takes the second's room number, with a new layout
    body = await api(
        UPDATE_UNIT,
        {"i": {"id": estate.unit(0), "roomNo": other["roomNo"], "layout": "2室1厅"}},
        tenant=tenant.slug,
        token=admin_token,
    )
    # then CONFLICT on roomNo, and the layout was not changed either
    assert (error(body)["code"], error(body)["field"]) == ("CONFLICT", "roomNo")
    unit = ok(await api(UNIT, {"id": estate.unit(0)}, tenant=tenant.slug, token=admin_token))
    assert unit["unit"]["layout"] == ""


@pytest.mark.parametrize(
    ("doc", "make_input", "code", "field"),
    [
        (
            CREATE_BUILDING,
            lambda e: {"communityId": gid("Community", 987654), "name": "X", "floors": 3},
            "NOT_FOUND",
            "communityId",
        ),
        (
            CREATE_BUILDING,
            lambda e: {"communityId": e.community, "name": "1号楼", "floors": 3},
            "CONFLICT",
            "name",
        ),
        (
            CREATE_BUILDING,
            lambda e: {"communityId": e.community, "name": "X", "floors": 0},
            "VALIDATION_FAILED",
            "floors",
        ),
        (
            CREATE_LOT,
            lambda e: {"communityId": gid("Community", 987654), "name": "X"},
            "NOT_FOUND",
            "communityId",
        ),
        (
            CREATE_COMMUNITY,
            lambda e: {"name": "X", "areaM2": "-1"},
            "VALIDATION_FAILED",
            "areaM2",
        ),
        (
            CREATE_COMMUNITY,
            lambda e: {"name": "X", "latitude": "91"},
            "VALIDATION_FAILED",
            "latitude",
        ),
        (
            CREATE_COMMUNITY,
            lambda e: {
                "name": "X",
                "profile": {"prices": [{"item": "物业费", "amountFen": -5}]},
            },
            "VALIDATION_FAILED",
            "profile.prices.amountFen",
        ),
        (
            CHANGE_STATUS,
            lambda e: {"unitId": e.unit(), "status": "sold"},
            "VALIDATION_FAILED",
            "status",
        ),
        (
            CHANGE_STATUS,
            lambda e: {"unitId": e.unit(), "status": "vacant"},  # already vacant
            "VALIDATION_FAILED",
            "status",
        ),
        (
            REGISTER_VEHICLE,
            lambda e: {"communityId": e.community, "personId": e.person(), "plate": "京I12345"},
            "VALIDATION_FAILED",
            "plate",
        ),
        (
            REGISTER_VEHICLE,
            lambda e: {"communityId": e.community, "personId": e.person(), "plate": "ABC123"},
            "VALIDATION_FAILED",
            "plate",
        ),
        (
            REGISTER_VEHICLE,
            lambda e: {
                "communityId": e.community,
                "personId": gid("Person", 987654),
                "plate": "沪B12345",
            },
            "NOT_FOUND",
            "personId",
        ),
    ],
)
async def test_other_writes_refuse_bad_input_and_write_nothing(
    api, runtime, tenant, admin_token, doc, make_input, code, field
):
    # given a community with a building, a unit and its owner
    estate = await seed_estate(runtime, tenant, units=1, residents_per_unit=1)
    before = await _snapshot(runtime, tenant)
    # when the write gets one bad value
    body = await api(doc, {"i": make_input(estate)}, tenant=tenant.slug, token=admin_token)
    # then code and field are named and nothing changed
    ext = error(body)
    assert (ext["code"], ext.get("field")) == (code, field)
    assert await _snapshot(runtime, tenant) == before


async def test_parking_refuses_negative_rent_double_assignment_and_duplicate_plates(
    api, runtime, tenant, admin_token
):
    call = {"tenant": tenant.slug, "token": admin_token}
    estate = await seed_estate(runtime, tenant, units=1, residents_per_unit=1)
    lot = ok(await api(CREATE_LOT, {"i": {"communityId": estate.community, "name": "P1"}}, **call))
    lot_id = lot["createParkingLot"]["id"]
    # a negative rent standard
    body = await api(
        CREATE_SPACE, {"i": {"lotId": lot_id, "number": "1", "monthlyRentFen": -1}}, **call
    )
    assert (error(body)["code"], error(body)["field"]) == ("VALIDATION_FAILED", "monthlyRentFen")
    # a space assigned twice for overlapping dates
    space = ok(await api(CREATE_SPACE, {"i": {"lotId": lot_id, "number": "1"}}, **call))
    first = {"spaceId": space["createParkingSpace"]["id"], "unitId": estate.unit()}
    ok(await api(ASSIGN, {"i": first | {"startsOn": "2026-01-01"}}, **call))
    before = await _snapshot(runtime, tenant)
    body = await api(ASSIGN, {"i": first | {"startsOn": "2026-03-01"}}, **call)
    assert (error(body)["code"], error(body)["field"]) == ("CONFLICT", "spaceId")
    # an end date before the start
    body = await api(
        ASSIGN, {"i": first | {"startsOn": "2026-03-01", "endsOn": "2026-02-01"}}, **call
    )
    assert error(body)["field"] == "endsOn"
    assert await _snapshot(runtime, tenant) == before
    # the same plate twice (written differently)
    car = {"communityId": estate.community, "personId": estate.person()}
    ok(await api(REGISTER_VEHICLE, {"i": car | {"plate": "粤B·D12345"}}, **call))
    before = await _snapshot(runtime, tenant)
    body = await api(REGISTER_VEHICLE, {"i": car | {"plate": "粤bd12345"}}, **call)
    assert (error(body)["code"], error(body)["field"]) == ("CONFLICT", "plate")
    assert await _snapshot(runtime, tenant) == before
