"""Staff members with profile and communities, subtree listing, transfers, no N+1."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import count_statements
from org_kit import (
    CREATE_POSITION,
    DELETE_DEPT,
    POSITIONS,
    RENAME_POSITION,
    SET_COMMUNITIES,
    SET_PROFILE,
    STAFF,
    TRANSFER,
    TRANSFERS,
    Org,
    add_community,
    add_staff,
    failure,
)

from wuye.graphql.ids import encode_id


@pytest.fixture
def org(api, tenant, admin_token) -> Org:
    return Org(api, tenant, admin_token)


def _uid(pk: int) -> str:
    return encode_id("User", pk)


async def _staff(org: Org, dept: str | None = None, **variables: Any) -> list[dict]:
    v = {"first": 50, "dept": dept, "sub": False, **variables}
    return [e["node"] for e in (await org.ok(STAFF, v))["staffMembers"]["edges"]]


async def test_a_staff_profile_shows_department_position_and_communities(org, runtime, tenant):
    # given a department, a position, a community and a staff member
    c = await add_community(runtime, tenant, "阳光花园")
    dept = await org.dept("客服部")
    pos = (await org.ok(CREATE_POSITION, {"i": {"name": "客服主管"}}))["createPosition"]
    user_id = await add_staff(runtime, tenant, name="李四")
    # when the profile and the communities are set
    await org.ok(
        SET_PROFILE,
        {
            "i": {
                "userId": _uid(user_id),
                "departmentId": dept["id"],
                "positionId": pos["id"],
                "employeeNo": "E001",
                "joinedOn": "2024-03-01",
            }
        },
    )
    done = await org.ok(
        SET_COMMUNITIES,
        {"i": {"userId": _uid(user_id), "communityIds": [encode_id("Community", c)]}},
    )
    member = done["setStaffCommunities"]
    # then the member shows all of it, phone masked
    assert member["department"]["name"] == "客服部" and member["position"]["name"] == "客服主管"
    assert member["employeeNo"] == "E001" and member["joinedOn"] == "2024-03-01"
    assert member["communities"] == [{"id": encode_id("Community", c), "name": "阳光花园"}]
    assert "****" in member["phone"]
    # and the list agrees, filtered by community and by search
    (listed,) = await _staff(org, dept["id"])
    assert listed == member
    # (the admin works in every community, so they are listed too)
    in_c = await _staff(org, None, community=encode_id("Community", c))
    assert [m["name"] for m in in_c] == ["管理员", "李四"]
    other = await add_community(runtime, tenant)
    in_other = await _staff(org, None, community=encode_id("Community", other))
    assert [m["name"] for m in in_other] == ["管理员"]
    assert [m["name"] for m in await _staff(org, None, search="E00")] == ["李四"]
    assert [m["name"] for m in await _staff(org, None, search="李")] == ["李四"]


async def test_positions_are_created_renamed_and_listed(org):
    a = (await org.ok(CREATE_POSITION, {"i": {"name": "维修工"}}))["createPosition"]
    await org.ok(CREATE_POSITION, {"i": {"name": "保安"}})
    assert failure(await org.raw(CREATE_POSITION, {"i": {"name": "保安"}})) == ("CONFLICT", "name")
    await org.ok(RENAME_POSITION, {"i": {"id": a["id"], "name": "水电工"}})
    names = [p["name"] for p in (await org.ok(POSITIONS))["positions"]]
    assert sorted(names) == sorted(["水电工", "保安"])


async def test_subdepartment_staff_are_listed_with_include_subdepartments(org, runtime, tenant):
    # given 公司 -> 项目 -> 工程组, with one person in each, and one elsewhere
    co = await org.dept("公司", kind="company")
    proj = await org.dept("项目", co["id"], kind="project")
    team = await org.dept("工程组", proj["id"])
    other = await org.dept("别的公司", kind="company")
    for name, dept in (("甲", co), ("乙", proj), ("丙", team), ("丁", other)):
        uid = await add_staff(runtime, tenant, name=name)
        await org.ok(SET_PROFILE, {"i": {"userId": _uid(uid), "departmentId": dept["id"]}})
    # when listing 项目 alone and with its sub-departments
    alone = await _staff(org, proj["id"])
    subtree = await _staff(org, proj["id"], sub=True)
    everyone = await _staff(org, co["id"], sub=True)
    # then
    assert [m["name"] for m in alone] == ["乙"]
    assert sorted(m["name"] for m in subtree) == ["丙", "乙"]
    assert sorted(m["name"] for m in everyone) == ["丙", "乙", "甲"]


async def test_a_transfer_moves_the_staff_member_and_is_kept_in_history(org, runtime, tenant):
    # given a staff member in 工程部
    eng = await org.dept("工程部")
    svc = await org.dept("客服部")
    sec = await org.dept("保安部")
    uid = await add_staff(runtime, tenant, name="王五")
    await org.ok(SET_PROFILE, {"i": {"userId": _uid(uid), "departmentId": eng["id"]}})
    # when they move to 客服部, then to 保安部
    first = (
        await org.ok(
            TRANSFER,
            {
                "i": {
                    "userId": _uid(uid),
                    "toDepartmentId": svc["id"],
                    "effectiveOn": "2025-01-01",
                    "reason": "岗位调整",
                }
            },
        )
    )["transferStaff"]
    await org.ok(
        TRANSFER,
        {"i": {"userId": _uid(uid), "toDepartmentId": sec["id"], "effectiveOn": "2025-06-01"}},
    )
    # then each move records where they came from, and the profile follows
    assert first["fromDepartmentId"] == eng["id"] and first["toDepartmentId"] == svc["id"]
    assert first["recordedBy"] is not None
    assert [m["name"] for m in await _staff(org, sec["id"])] == ["王五"]
    assert await _staff(org, eng["id"]) == []
    # and the history is listed newest first, per person and per department
    history = (await org.ok(TRANSFERS, {"user": _uid(uid)}))["staffTransfers"]
    assert [(h["fromDepartmentId"], h["toDepartmentId"]) for h in history] == [
        (svc["id"], sec["id"]),
        (eng["id"], svc["id"]),
    ]
    assert history[1]["reason"] == "岗位调整"
    through_svc = (await org.ok(TRANSFERS, {"dept": svc["id"]}))["staffTransfers"]
    assert len(through_svc) == 2
    assert [h["effectiveOn"] for h in through_svc] == ["2025-06-01", "2025-01-01"]
    # and a department with history cannot be deleted
    assert failure(await org.raw(DELETE_DEPT, {"i": {"id": eng["id"]}}))[0] == "CONFLICT"


async def _placed_staff(org: Org, runtime, tenant, n: int, dept: dict, pos: dict, c: int) -> None:
    for _ in range(n):
        uid = await add_staff(runtime, tenant, communities=(c,))
        await org.ok(
            SET_PROFILE,
            {"i": {"userId": _uid(uid), "departmentId": dept["id"], "positionId": pos["id"]}},
        )


async def test_listing_staff_costs_the_same_statements_for_5_and_50(org, runtime, tenant):
    # given 5 staff with department, position and a community
    c = await add_community(runtime, tenant)
    dept = await org.dept("物业部")
    pos = (await org.ok(CREATE_POSITION, {"i": {"name": "管家"}}))["createPosition"]
    await _placed_staff(org, runtime, tenant, 4, dept, pos, c)  # + the admin = 5

    async def measure() -> tuple[int, list[dict]]:
        await org.ok(STAFF, {"first": 50, "sub": False})  # warm caches
        with count_statements(runtime) as seen:
            nodes = await _staff(org)
        return len(seen), nodes

    few, nodes = await measure()
    assert len(nodes) == 5
    # when there are 50
    await _placed_staff(org, runtime, tenant, 45, dept, pos, c)
    many, nodes = await measure()
    # then the statement count is the same
    assert len(nodes) == 50
    assert all(n["communities"] and n["department"] and n["position"] for n in nodes[1:])
    assert many == few, (few, many)
