"""Data scope: which communities a staff member sees, kept per user and read per request."""

from __future__ import annotations

import pytest
from identity_kit import CREATE_STAFF, add_user, codes, member
from sqlalchemy import Integer as Int
from sqlalchemy import column, select, values
from starlette.requests import Request

from wuye.errors import AppError
from wuye.graphql.context import Context, Surface
from wuye.graphql.ids import decode_id, encode_id
from wuye.identity.models import UserCommunityScope
from wuye.identity.scope import NO_SCOPE, DataScope
from wuye.identity.tokens import AccessClaims, tenant_audience

SET_SCOPE = """mutation($i: SetUserScopeInput!) { setUserScope(input: $i) {
  id allCommunities } }"""


def test_data_scope_allows_only_its_communities():
    some = DataScope(False, frozenset({3, 7}))
    assert some.allows(3) and some.allows(7)
    assert not some.allows(4) and not some.allows(None)
    assert DataScope(True).allows(4) and DataScope(True).allows(None)
    assert not NO_SCOPE.allows(3)
    some.check(7)
    with pytest.raises(AppError) as raised:
        some.check(4)
    # outside the scope things do not exist, rather than being forbidden
    assert raised.value.code == "NOT_FOUND"


async def test_data_scope_filters_rows_in_sql(runtime):
    ids = values(column("community_id", Int), name="c").data([(i,) for i in range(1, 9)])
    col = ids.c.community_id

    async def visible(scope: DataScope) -> list[int]:
        async with runtime.db.shared_session() as s:
            return list(await s.scalars(select(col).where(scope.filter(col)).order_by(col)))

    assert await visible(DataScope(True)) == list(range(1, 9))
    assert await visible(DataScope(False, frozenset({2, 5, 42}))) == [2, 5]
    assert await visible(NO_SCOPE) == []


async def _scope_of(runtime, tenant, user_id: int, kind: str = "staff") -> DataScope:
    """What a request of this user sees as its data scope."""
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.1", 1),
        }
    )
    ctx = Context(
        runtime=runtime,
        request=request,
        surface=Surface.TENANT,
        tenant=await runtime.directory.by_slug(tenant.slug),
        lang="zh-CN",
        request_id="scope-test",
        claims=AccessClaims(user_id, kind, tenant_audience(tenant.slug)),
    )
    try:
        return await ctx.data_scope()
    finally:
        await ctx.finish(commit=False)


async def _stored_scope(runtime, tenant, user_id: int) -> set[int]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return set(
            await s.scalars(
                select(UserCommunityScope.community_id).where(UserCommunityScope.user_id == user_id)
            )
        )


async def test_set_user_scope_persists_and_is_what_requests_see(api, runtime, tenant, admin_token):
    # given a staff member
    user_id, _ = await add_user(runtime, tenant)
    gid = encode_id("User", user_id)
    assert await _scope_of(runtime, tenant, user_id) == DataScope(False, frozenset())
    # when the admin limits them to two communities (listed with a repeat)
    body = await api(
        SET_SCOPE,
        {"i": {"userId": gid, "allCommunities": False, "communityIds": [7, 3, 7]}},
        tenant=tenant.slug,
        token=admin_token,
    )
    # then that is stored, answered and what their requests filter by
    assert body["data"]["setUserScope"]["allCommunities"] is False
    assert await _stored_scope(runtime, tenant, user_id) == {3, 7}
    assert await _scope_of(runtime, tenant, user_id) == DataScope(False, frozenset({3, 7}))
    # when they are given every community
    body = await api(
        SET_SCOPE,
        {"i": {"userId": gid, "allCommunities": True, "communityIds": [5]}},
        tenant=tenant.slug,
        token=admin_token,
    )
    # then the list is gone and the scope is everything
    assert body["data"]["setUserScope"]["allCommunities"] is True
    assert await _stored_scope(runtime, tenant, user_id) == set()
    scope = await _scope_of(runtime, tenant, user_id)
    assert scope.all_communities and scope.allows(12345)
    # and the tenant admin has every community from the start
    assert (await _scope_of(runtime, tenant, tenant.admin_id)).all_communities


async def test_residents_have_no_staff_scope(runtime, tenant):
    user_id, _ = await add_user(runtime, tenant, kind="resident", all_communities=True)
    assert await _scope_of(runtime, tenant, user_id, "resident") == NO_SCOPE


async def test_create_staff_with_communities_and_scope_requires_user_management(
    api, runtime, tenant, admin_token
):
    # given a new staff member created for communities 1 and 2
    body = await api(
        CREATE_STAFF,
        {
            "i": {
                "name": "巡检员",
                "email": "patrol@example.com",
                "roles": ["maintenance_worker"],
                "communityIds": [2, 1],
            }
        },
        tenant=tenant.slug,
        token=admin_token,
    )
    created = body["data"]["createStaff"]
    assert created["user"]["allCommunities"] is False
    assert created["user"]["roles"] == [{"key": "maintenance_worker"}]
    user_id = decode_id(created["user"]["id"], "User")
    assert await _stored_scope(runtime, tenant, user_id) == {1, 2}
    # and a manager (who may view, not manage users) cannot change scopes
    manager = await member(api, runtime, tenant, roles=("manager",))
    body = await api(
        SET_SCOPE,
        {"i": {"userId": created["user"]["id"], "allCommunities": True}},
        tenant=tenant.slug,
        token=manager.access,
    )
    assert codes(body) == ["FORBIDDEN"]
    assert await _stored_scope(runtime, tenant, user_id) == {1, 2}
