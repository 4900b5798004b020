"""Who may read and change the organisation: permissions, tenants, community scope."""

from __future__ import annotations

from conftest import TEST_PASSWORD, login, make_tenant, new_phone
from org_kit import (
    CREATE_DEPT,
    DELETE_DEPT,
    DEPARTMENT,
    DEPARTMENTS,
    MOVE_DEPT,
    RENAME_DEPT,
    SET_COMMUNITIES,
    SET_PROFILE,
    SET_TEAM,
    STAFF,
    TEAM,
    TRANSFER,
    Org,
    add_community,
    add_staff,
    failure,
    signed_in_staff,
)

from wuye.graphql.ids import encode_id
from wuye.identity import service as identity


async def test_a_tenant_cannot_read_or_change_another_tenants_departments(api, runtime):
    # given tenant B with three departments and tenant A with one
    a, b = await make_tenant(runtime), await make_tenant(runtime)
    org_a = Org(api, a, (await login(api, a.slug, a.admin_phone))["accessToken"])
    org_b = Org(api, b, (await login(api, b.slug, b.admin_phone))["accessToken"])
    await org_a.dept("A公司")
    b_root = await org_b.dept("B公司")
    await org_b.dept("B区域", b_root["id"])
    b_leaf = await org_b.dept("B项目", b_root["id"])
    before = await org_b.tree()
    # when A lists, reads, renames, moves or deletes with B's ids
    assert set(await org_a.tree()) == {"A公司"}
    theirs = b_leaf["id"]  # no such department in A
    for q, v in (
        (DEPARTMENT, {"id": theirs}),
        (RENAME_DEPT, {"i": {"id": theirs, "name": "x"}}),
        (MOVE_DEPT, {"i": {"id": theirs, "parentId": None}}),
        (DELETE_DEPT, {"i": {"id": theirs}}),
        (CREATE_DEPT, {"i": {"name": "x", "parentId": theirs}}),
    ):
        # then it is not found
        assert failure(await org_a.raw(q, v))[0] == "NOT_FOUND", q
    # and A's token does not work on B at all
    assert "errors" in await api(DEPARTMENTS, tenant=b.slug, token=org_a.token)
    # and B is unchanged
    assert await org_b.tree() == before


async def test_customer_service_reads_but_cannot_write_the_organisation(api, runtime, tenant):
    admin = Org(api, tenant, (await login(api, tenant.slug, tenant.admin_phone))["accessToken"])
    dept = await admin.dept("客服部")
    c = await add_community(runtime, tenant)
    target = await add_staff(runtime, tenant)
    cs = await signed_in_staff(api, runtime, tenant, roles=("customer_service",), communities=(c,))
    org = admin.as_(cs.token)
    # reads work
    assert set(await org.tree()) == {"客服部"}
    assert (await org.ok(STAFF, {"first": 10, "sub": False}))["staffMembers"]["edges"]
    # writes are refused
    uid = encode_id("User", target)
    for q, v in (
        (CREATE_DEPT, {"i": {"name": "x"}}),
        (RENAME_DEPT, {"i": {"id": dept["id"], "name": "x"}}),
        (DELETE_DEPT, {"i": {"id": dept["id"]}}),
        (SET_PROFILE, {"i": {"userId": uid, "departmentId": dept["id"]}}),
        (
            TRANSFER,
            {"i": {"userId": uid, "toDepartmentId": dept["id"], "effectiveOn": "2025-01-01"}},
        ),
        (SET_TEAM, {"i": {"communityId": encode_id("Community", c), "members": []}}),
        (SET_COMMUNITIES, {"i": {"userId": uid, "communityIds": []}}),
    ):
        assert failure(await org.raw(q, v))[0] == "FORBIDDEN", q
    assert set(await admin.tree()) == {"客服部"}


async def test_a_resident_cannot_read_the_organisation(api, runtime, tenant):
    uid = await add_staff(runtime, tenant)  # a staff account, then one of a resident
    phone = new_phone()
    async with runtime.db.tenant_session(tenant.schema) as s:
        await identity.create_user(
            s,
            kind="resident",
            name="住户",
            phone=phone,
            password_hash=runtime.passwords.hash(TEST_PASSWORD),
        )
        await s.commit()
    token = (await login(api, tenant.slug, phone))["accessToken"]
    body = await api(DEPARTMENTS, tenant=tenant.slug, token=token)
    assert failure(body)[0] == "FORBIDDEN"
    body = await api(
        "query($id: ID!) { staffMember(id: $id) { name } }",
        {"id": encode_id("User", uid)},
        tenant=tenant.slug,
        token=token,
    )
    assert failure(body)[0] == "FORBIDDEN"


async def test_a_scoped_manager_only_touches_teams_of_their_communities(api, runtime, tenant):
    # given communities X and Y, and a manager limited to X
    x, y = (
        await add_community(runtime, tenant, "X小区"),
        await add_community(runtime, tenant, "Y小区"),
    )
    admin = Org(api, tenant, (await login(api, tenant.slug, tenant.admin_phone))["accessToken"])
    worker = await add_staff(runtime, tenant, name="赵六")
    team = {"members": [{"userId": encode_id("User", worker), "duty": "管家"}]}
    await admin.ok(SET_TEAM, {"i": {"communityId": encode_id("Community", y), **team}})
    mgr = await signed_in_staff(api, runtime, tenant, roles=("manager",), communities=(x,))
    org = admin.as_(mgr.token)
    # when they set and read X's team -> fine
    done = await org.ok(SET_TEAM, {"i": {"communityId": encode_id("Community", x), **team}})
    assert [m["name"] for m in done["setCommunityTeam"]] == ["赵六"]
    got = await org.ok(TEAM, {"c": encode_id("Community", x)})
    assert got["communityTeam"][0]["duty"] == "管家" and "****" in got["communityTeam"][0]["phone"]
    # when they touch Y's team -> not found, and Y's team is unchanged
    y_gid = encode_id("Community", y)
    assert failure(await org.raw(TEAM, {"c": y_gid}))[0] == "NOT_FOUND"
    body = await org.raw(SET_TEAM, {"i": {"communityId": y_gid, "members": []}})
    assert failure(body)[0] == "NOT_FOUND"
    assert len((await admin.ok(TEAM, {"c": y_gid}))["communityTeam"]) == 1
    # and they cannot hand out a community outside their scope
    body = await org.raw(
        SET_COMMUNITIES,
        {"i": {"userId": encode_id("User", worker), "communityIds": [y_gid]}},
    )
    assert failure(body)[0] == "FORBIDDEN"
    body = await org.raw(
        SET_COMMUNITIES, {"i": {"userId": encode_id("User", worker), "allCommunities": True}}
    )
    assert failure(body)[0] == "FORBIDDEN"
    ok = await org.ok(
        SET_COMMUNITIES,
        {"i": {"userId": encode_id("User", worker), "communityIds": [encode_id("Community", x)]}},
    )
    assert [c["name"] for c in ok["setStaffCommunities"]["communities"]] == ["X小区"]


async def test_a_scoped_manager_cannot_narrow_a_wider_scope(api, runtime, tenant):
    # given a manager limited to X, and the admin who works in every community
    x = await add_community(runtime, tenant, "X小区")
    mgr = await signed_in_staff(api, runtime, tenant, roles=("manager",), communities=(x,))
    org = Org(api, tenant, mgr.token)
    # when the manager sets the admin's communities to X only
    body = await org.raw(
        SET_COMMUNITIES,
        {
            "i": {
                "userId": encode_id("User", tenant.admin_id),
                "communityIds": [encode_id("Community", x)],
            }
        },
    )
    # then it is refused and the admin keeps every community
    assert failure(body)[0] == "FORBIDDEN"
    admin = Org(api, tenant, (await login(api, tenant.slug, tenant.admin_phone))["accessToken"])
    me = await admin.ok(
        "query($id: ID!) { staffMember(id: $id) { allCommunities } }",
        {"id": encode_id("User", tenant.admin_id)},
    )
    assert me["staffMember"]["allCommunities"] is True
