"""Bad input: a clear code and the field named, and nothing written."""

from __future__ import annotations

import pytest
from org_kit import (
    CREATE_DEPT,
    SET_PROFILE,
    SET_TEAM,
    STAFF,
    TEAM,
    TRANSFER,
    TRANSFERS,
    Org,
    add_community,
    add_staff,
    count_rows,
    failure,
)

from wuye.graphql.ids import encode_id
from wuye.modules.estate.models import Department, StaffProfile, StaffTransfer

NO_SUCH = encode_id("Department", 999_999)


@pytest.fixture
def org(api, tenant, admin_token) -> Org:
    return Org(api, tenant, admin_token)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"name": "  "}, ("VALIDATION_FAILED", "name")),
        ({"name": "x" * 101}, ("VALIDATION_FAILED", "name")),
        ({"kind": "division"}, ("VALIDATION_FAILED", "kind")),
        ({"parentId": NO_SUCH}, ("NOT_FOUND", "parentId")),
        ({"parentId": "garbage"}, ("NOT_FOUND", "parentId")),
        ({"communityId": encode_id("Community", 999_999)}, ("NOT_FOUND", "communityId")),
        ({"communityId": encode_id("Unit", 1)}, ("NOT_FOUND", "communityId")),
    ],
)
async def test_bad_department_input(org, runtime, tenant, patch, expected):
    before = await count_rows(runtime, tenant, Department)
    body = await org.raw(CREATE_DEPT, {"i": {"name": "工程部", "kind": "team", **patch}})
    assert failure(body) == expected
    assert await count_rows(runtime, tenant, Department) == before


async def test_bad_staff_profile_input(org, runtime, tenant):
    dept = await org.dept("工程部")
    uid = encode_id("User", await add_staff(runtime, tenant))
    for patch, expected in (
        ({"departmentId": NO_SUCH}, ("NOT_FOUND", "departmentId")),
        ({"positionId": encode_id("Position", 999_999)}, ("NOT_FOUND", "positionId")),
        ({"userId": encode_id("User", 999_999)}, ("NOT_FOUND", "userId")),
        ({"employeeNo": "9" * 31}, ("VALIDATION_FAILED", "employeeNo")),
    ):
        body = await org.raw(
            SET_PROFILE, {"i": {"userId": uid, "departmentId": dept["id"], **patch}}
        )
        assert failure(body) == expected, patch
    assert await count_rows(runtime, tenant, StaffProfile) == 0


async def test_bad_transfer_input(org, runtime, tenant):
    dept = await org.dept("工程部")
    uid = encode_id("User", await add_staff(runtime, tenant))
    await org.ok(SET_PROFILE, {"i": {"userId": uid, "departmentId": dept["id"]}})
    base = {"userId": uid, "toDepartmentId": dept["id"], "effectiveOn": "2025-01-01"}
    other = await org.dept("客服部")
    for patch, expected in (
        ({}, ("VALIDATION_FAILED", "toDepartmentId")),  # already there
        ({"toDepartmentId": NO_SUCH}, ("NOT_FOUND", "toDepartmentId")),
        ({"toDepartmentId": other["id"], "reason": "x" * 301}, ("VALIDATION_FAILED", "reason")),
        (
            {"toDepartmentId": other["id"], "userId": encode_id("User", 999_999)},
            ("NOT_FOUND", "userId"),
        ),
    ):
        assert failure(await org.raw(TRANSFER, {"i": {**base, **patch}})) == expected, patch
    assert await count_rows(runtime, tenant, StaffTransfer) == 0
    (member,) = [
        e["node"]
        for e in (await org.ok(STAFF, {"dept": dept["id"], "sub": False}))["staffMembers"]["edges"]
    ]
    assert member["department"]["id"] == dept["id"]
    # and the history needs exactly one of userId / departmentId
    assert failure(await org.raw(TRANSFERS, {})) == ("VALIDATION_FAILED", "userId")


async def test_bad_team_input_leaves_the_team_as_it_was(org, runtime, tenant):
    c = encode_id("Community", await add_community(runtime, tenant))
    a = encode_id("User", await add_staff(runtime, tenant))
    await org.ok(SET_TEAM, {"i": {"communityId": c, "members": [{"userId": a, "duty": "管家"}]}})
    for members, expected in (
        ([{"userId": a}, {"userId": a}], ("VALIDATION_FAILED", "members")),
        ([{"userId": encode_id("User", 999_999)}], ("NOT_FOUND", "members")),
        ([{"userId": a, "duty": "d" * 61}], ("VALIDATION_FAILED", "members.duty")),
    ):
        body = await org.raw(SET_TEAM, {"i": {"communityId": c, "members": members}})
        assert failure(body) == expected, members
    body = await org.raw(
        SET_TEAM, {"i": {"communityId": encode_id("Community", 999_999), "members": []}}
    )
    assert failure(body) == ("NOT_FOUND", "communityId")
    team = (await org.ok(TEAM, {"c": c}))["communityTeam"]
    assert [(m["userId"], m["duty"]) for m in team] == [(a, "管家")]


async def test_a_page_size_beyond_the_limit_is_refused(org):
    body = await org.raw(STAFF, {"first": 100_000, "sub": False})
    assert failure(body) == ("VALIDATION_FAILED", "first")
