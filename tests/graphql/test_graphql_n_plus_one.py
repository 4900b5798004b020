"""No N+1: the number of SQL statements of a request does not grow with the rows returned."""

from __future__ import annotations

from conftest import count_statements, login, new_phone

from wuye.identity import service as identity

USERS = "{ users(first: 50) { edges { node { id roles { key } } } totalCount } }"
ME = "{ me { id roles { key permissions } } }"


async def _add_staff(runtime, tenant, n: int, roles: tuple[str, ...] = ("manager",)) -> None:
    async with runtime.db.tenant_session(tenant.schema) as s:
        for i in range(n):
            await identity.create_user(
                s, kind="staff", name=f"员工{i}", phone=new_phone(), role_keys=roles
            )
        await s.commit()


async def _statements(api, runtime, tenant, token: str, q: str) -> tuple[int, dict]:
    await api(q, tenant=tenant.slug, token=token)  # warm the tenant directory cache
    with count_statements(runtime) as seen:
        body = await api(q, tenant=tenant.slug, token=token)
    assert "errors" not in body, body
    return len(seen), body


async def test_users_with_roles_cost_the_same_for_3_and_30_users(api, runtime, tenant, admin_token):
    # given 3 users, each with a role
    await _add_staff(runtime, tenant, 2)
    few, body = await _statements(api, runtime, tenant, admin_token, USERS)
    assert body["data"]["users"]["totalCount"] == 3
    # when there are 30
    await _add_staff(runtime, tenant, 27, roles=("manager", "cashier"))
    many, body = await _statements(api, runtime, tenant, admin_token, USERS)
    assert body["data"]["users"]["totalCount"] == 30
    assert all(e["node"]["roles"] for e in body["data"]["users"]["edges"])
    # then the request runs exactly as many statements
    assert many == few
    # (routing, principal, page, the page's roles, count)
    assert 3 <= few <= 6


async def test_me_with_roles_costs_the_same_for_one_or_many_roles(
    api, runtime, tenant, admin_token
):
    # given the admin with one role and a staff member with three
    one, body = await _statements(api, runtime, tenant, admin_token, ME)
    assert len(body["data"]["me"]["roles"]) == 1
    phone = new_phone()
    async with runtime.db.tenant_session(tenant.schema) as s:
        await identity.create_user(
            s,
            kind="staff",
            name="多角色",
            phone=phone,
            role_keys=("manager", "cashier", "customer_service"),
            password_hash=runtime.passwords.hash("s3cret-pass"),
        )
        await s.commit()
    token = (await login(api, tenant.slug, phone))["accessToken"]
    three, body = await _statements(api, runtime, tenant, token, ME)
    assert len(body["data"]["me"]["roles"]) == 3
    # then both cost the same, and little
    assert one == three
    assert 1 <= one <= 3
