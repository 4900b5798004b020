"""Property happy paths: communities with their profile, buildings, units with status history,
parking lots, spaces and assignments, vehicles — through the tenant GraphQL API."""

from __future__ import annotations

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
    ok,
    seed_estate,
    staff,
)
from sqlalchemy import select

from wuye.identity.models import AuditLog
from wuye.identity.passwords import mask_phone
from wuye.modules.estate.models import Person

PROFILE = {
    "intro": "一级物业服务",
    "serviceItems": [{"name": "保洁", "standard": "公共区域每日清扫两次"}],
    "prices": [{"item": "物业费", "amountFen": 250, "unit": "元/㎡/月"}],
    "contacts": [{"role": "客服主管", "name": "王经理", "phone": "13800138000"}],
}


async def test_manager_creates_and_updates_a_community_with_its_profile(
    api, runtime, tenant, admin_token
):
    # given a signed-in manager (the tenant admin)
    call = {"tenant": tenant.slug, "token": admin_token}
    # when they create a community with its profile
    created = ok(
        await api(
            CREATE_COMMUNITY,
            {
                "i": {
                    "name": "  阳光花园 ",
                    "address": "北京市朝阳区建国路1号",
                    "district": "朝阳区",
                    "latitude": "39.908722",
                    "longitude": "116.397499",
                    "areaM2": "52000.50",
                    "hotline": "400-100-2000",
                    "profile": PROFILE,
                }
            },
            **call,
        )
    )["createCommunity"]
    # then it is stored trimmed, with its decimals and profile
    assert created["name"] == "阳光花园"
    assert created["areaM2"] == "52000.50"
    assert created["latitude"] == "39.908722"
    assert created["profile"] == PROFILE
    # when they change the hotline and clear the area, leaving the rest
    updated = ok(
        await api(
            UPDATE_COMMUNITY,
            {"i": {"id": created["id"], "hotline": "400-100-3000", "areaM2": None}},
            **call,
        )
    )["updateCommunity"]
    # then only those fields changed
    assert updated["hotline"] == "400-100-3000"
    assert updated["areaM2"] is None
    assert updated["address"] == "北京市朝阳区建国路1号"
    assert updated["profile"] == PROFILE
    # and the community reads back, alone and in the list (searchable by name)
    one = ok(await api(COMMUNITY, {"id": created["id"]}, **call))["community"]
    assert one == updated
    listed = ok(await api(COMMUNITIES, {"search": "阳光"}, **call))["communities"]
    assert [e["node"]["id"] for e in listed["edges"]] == [created["id"]]
    # and each change left an audit row naming the community
    async with runtime.db.tenant_session(tenant.schema) as s:
        audit = list(
            await s.scalars(
                select(AuditLog.action)
                .where(AuditLog.object_type == "Community")
                .order_by(AuditLog.id)
            )
        )
    assert audit == ["createCommunity", "updateCommunity"]


async def test_buildings_and_units_are_created_updated_and_listed(api, tenant, admin_token):
    call = {"tenant": tenant.slug, "token": admin_token}
    # given a community
    community = ok(await api(CREATE_COMMUNITY, {"i": {"name": "翠湖苑"}}, **call))[
        "createCommunity"
    ]
    # when a building is created and renamed
    building = ok(
        await api(
            CREATE_BUILDING,
            {"i": {"communityId": community["id"], "name": "3号楼", "floors": 18, "entrances": 2}},
            **call,
        )
    )["createBuilding"]
    assert building["community"] == {"id": community["id"], "name": "翠湖苑"}
    renamed = ok(await api(UPDATE_BUILDING, {"i": {"id": building["id"], "name": "3栋"}}, **call))[
        "updateBuilding"
    ]
    assert renamed == {"id": building["id"], "name": "3栋", "floors": 18, "entrances": 2}
    # and a unit is created in it
    unit = ok(
        await api(
            CREATE_UNIT,
            {
                "i": {
                    "buildingId": building["id"],
                    "roomNo": "2-1802",
                    "floor": 18,
                    "entrance": 2,
                    "layout": "3室2厅",
                    "buildingArea": "120.5",
                    "innerArea": "98.25",
                    "propertyType": "residential",
                }
            },
            **call,
        )
    )["createUnit"]
    # then it carries its building, community and a first history entry
    assert unit["buildingArea"] == "120.50"
    assert unit["innerArea"] == "98.25"
    assert unit["status"] == "vacant"
    assert unit["building"] == {"id": building["id"], "name": "3栋", "floors": 18, "entrances": 2}
    assert unit["community"] == {"id": community["id"], "name": "翠湖苑"}
    assert unit["residents"] == []
    assert [(h["fromStatus"], h["toStatus"]) for h in unit["statusHistory"]] == [(None, "vacant")]
    # when the unit is updated
    changed = ok(
        await api(
            UPDATE_UNIT, {"i": {"id": unit["id"], "layout": "4室2厅", "innerArea": None}}, **call
        )
    )["updateUnit"]
    assert changed["layout"] == "4室2厅"
    assert changed["innerArea"] is None
    assert changed["roomNo"] == "2-1802"
    # then buildings and units list it
    buildings = ok(await api(BUILDINGS, {"c": community["id"]}, **call))["buildings"]
    assert [e["node"]["name"] for e in buildings["edges"]] == ["3栋"]
    assert ok(await api(BUILDING, {"id": building["id"]}, **call))["building"]["name"] == "3栋"
    units = ok(await api(UNITS, {"b": building["id"]}, **call))["units"]
    assert units["totalCount"] == 1
    assert units["edges"][0]["node"] == changed
    assert ok(await api(UNIT, {"id": unit["id"]}, **call))["unit"] == changed


async def test_unit_status_changes_are_recorded_in_order(api, runtime, tenant, admin_token):
    call = {"tenant": tenant.slug, "token": admin_token}
    # given a vacant unit
    estate = await seed_estate(runtime, tenant, units=1)
    # when it is rented, then renovated
    ok(
        await api(
            CHANGE_STATUS,
            {"i": {"unitId": estate.unit(), "status": "rented", "reason": "出租给张三"}},
            **call,
        )
    )
    unit = ok(
        await api(CHANGE_STATUS, {"i": {"unitId": estate.unit(), "status": "RENOVATING"}}, **call)
    )["changeUnitStatus"]
    # then its status and history show both changes, oldest first
    assert unit["status"] == "renovating"
    assert [(h["fromStatus"], h["toStatus"], h["reason"]) for h in unit["statusHistory"]] == [
        ("vacant", "rented", "出租给张三"),
        ("rented", "renovating", ""),
    ]
    # and the status filter finds it
    found = ok(await api(UNITS, {"status": "renovating"}, **call))["units"]
    assert [e["node"]["id"] for e in found["edges"]] == [estate.unit()]
    assert ok(await api(UNITS, {"status": "vacant"}, **call))["units"]["totalCount"] == 0


async def test_units_search_by_room_building_or_community_and_page(
    api, runtime, tenant, admin_token
):
    call = {"tenant": tenant.slug, "token": admin_token}
    # given two communities
    a = await seed_estate(runtime, tenant, units=5, name="金色家园", building="8号楼")
    b = await seed_estate(runtime, tenant, units=3, name="银河湾", building="2号楼")

    async def search(text: str) -> set[str]:
        conn = ok(await api(UNITS, {"search": text, "first": 100}, **call))["units"]
        return {e["node"]["id"] for e in conn["edges"]}

    # when searching by community name, building name, room number and both
    assert await search("金色") == {a.unit(i) for i in range(5)}
    assert await search("2号楼") == {b.unit(i) for i in range(3)}
    room = ok(await api(UNIT, {"id": b.unit(1)}, **call))["unit"]["roomNo"]
    # (both communities' seeds number their rooms alike)
    assert await search(room) == {a.unit(1), b.unit(1)}
    assert await search(f"银河 {room}") == {b.unit(1)}
    assert await search(f"2号楼 {room}") == {b.unit(1)}
    assert await search("金色 2号楼") == set()
    # and filters by community
    assert ok(await api(UNITS, {"c": a.community}, **call))["units"]["totalCount"] == 5
    # and pages through everything in a stable order
    seen, after = [], None
    while True:
        page = ok(await api(UNITS, {"first": 3, "after": after}, **call))["units"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 8
    # (keyset cursors: a forged or offset-style cursor is refused, not misread)
    for bad in ("garbage", "b2Zmc2V0OjI=", "a2V5OlsxXQ=="):
        body = await api(UNITS, {"first": 3, "after": bad}, **call)
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED", bad


async def test_residents_show_masked_phones_unless_the_viewer_may_see_them(
    api, runtime, tenant, admin_token
):
    # given a unit with two occupants
    estate = await seed_estate(runtime, tenant, units=1, residents_per_unit=2)
    async with runtime.db.tenant_session(tenant.schema) as s:
        phones = {
            p.id: p.phone
            for p in await s.scalars(select(Person).where(Person.id.in_(estate.person_ids)))
        }
    full = [phones[pid] for pid in estate.person_ids]
    # when a customer-service agent (residents.view, not sensitive) reads it
    agent = await staff(api, runtime, tenant, roles=("customer_service",))
    shown = ok(await api(UNIT, {"id": estate.unit()}, tenant=tenant.slug, token=agent))["unit"]
    # then they see the occupants, primary first, with masked phones
    assert [r["phone"] for r in shown["residents"]] == [mask_phone(p) for p in full]
    assert [r["isPrimary"] for r in shown["residents"]] == [True, False]
    assert [r["personId"] for r in shown["residents"]] == [estate.person(0), estate.person(1)]
    assert all("****" in r["phone"] for r in shown["residents"])
    # when a role with view_sensitive reads it, the numbers are whole
    boss = await _token_with(
        api,
        runtime,
        tenant,
        admin_token,
        ["estate.view", "estate.residents.view", "estate.residents.view_sensitive"],
    )
    whole = ok(await api(UNIT, {"id": estate.unit()}, tenant=tenant.slug, token=boss))["unit"]
    assert [r["phone"] for r in whole["residents"]] == full
    # and a maintenance worker (estate.view only) sees no residents at all
    worker = await staff(api, runtime, tenant, roles=("maintenance_worker",))
    bare = ok(await api(UNIT, {"id": estate.unit()}, tenant=tenant.slug, token=worker))["unit"]
    assert bare["residents"] == []


async def _token_with(api, runtime, tenant, admin_token, permissions: list[str]) -> str:
    role = "prop_sensitive"
    body = await api(
        """mutation($i: CreateRoleInput!) { createRole(input: $i) { key } }""",
        {"i": {"key": role, "nameZh": role, "permissions": permissions}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert "errors" not in body, body
    return await staff(api, runtime, tenant, roles=(role,))


async def test_parking_lot_space_assignment_and_vehicle(api, runtime, tenant, admin_token):
    call = {"tenant": tenant.slug, "token": admin_token}
    # given a unit with an owner
    estate = await seed_estate(runtime, tenant, units=1, residents_per_unit=1)
    # when a lot and a space with a rent standard are created
    lot = ok(
        await api(CREATE_LOT, {"i": {"communityId": estate.community, "name": "地下车库"}}, **call)
    )["createParkingLot"]
    space = ok(
        await api(
            CREATE_SPACE,
            {"i": {"lotId": lot["id"], "number": "B1-023", "monthlyRentFen": 30000}},
            **call,
        )
    )["createParkingSpace"]
    assert space["kind"] == "rented" and space["status"] == "vacant"
    assert space["communityId"] == estate.community
    # and the space is assigned to the unit and its owner
    assignment = ok(
        await api(
            ASSIGN,
            {
                "i": {
                    "spaceId": space["id"],
                    "unitId": estate.unit(),
                    "personId": estate.person(),
                    "startsOn": "2026-01-01",
                }
            },
            **call,
        )
    )["assignParkingSpace"]
    # then the rent defaults to the standard, and the space is occupied
    assert assignment["monthlyRentFen"] == 30000
    assert assignment["unitId"] == estate.unit()
    spaces = ok(await api(SPACES, {"lot": lot["id"], "status": "occupied"}, **call))
    assert [e["node"]["id"] for e in spaces["parkingSpaces"]["edges"]] == [space["id"]]
    lots = ok(await api(PARKING_LOTS, {"c": estate.community}, **call))["parkingLots"]
    assert [e["node"]["name"] for e in lots["edges"]] == ["地下车库"]
    # when the assignment ends, the space is vacant again
    ended = ok(
        await api(
            END_ASSIGNMENT,
            {"i": {"assignmentId": assignment["id"], "endsOn": "2026-06-30"}},
            **call,
        )
    )["endParkingAssignment"]
    assert ended["endsOn"] == "2026-06-30"
    spaces = ok(await api(SPACES, {"c": estate.community, "status": "vacant"}, **call))
    assert spaces["parkingSpaces"]["totalCount"] == 1
    # when the owner registers a new-energy car with a loosely typed plate
    car = ok(
        await api(
            REGISTER_VEHICLE,
            {
                "i": {
                    "communityId": estate.community,
                    "personId": estate.person(),
                    "plate": "京ad 12345",
                }
            },
            **call,
        )
    )["registerVehicle"]
    # then it is stored normalised and found by a plate fragment
    assert car["plate"] == "京AD12345" and car["newEnergy"] is True
    found = ok(await api(VEHICLES, {"search": "d123"}, **call))["vehicles"]
    assert [e["node"]["id"] for e in found["edges"]] == [car["id"]]
    # and removing it leaves none
    ok(await api(REMOVE_VEHICLE, {"i": {"id": car["id"]}}, **call))
    assert ok(await api(VEHICLES, {}, **call))["vehicles"]["totalCount"] == 0
