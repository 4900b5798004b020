"""The operators' API (/admin/graphql), end to end, and the wall between the two surfaces."""

from __future__ import annotations

import secrets

import pytest
from conftest import Api, client_for, login, make_tenant, new_phone, unique_slug
from sqlalchemy import text
from tenancy_support import (
    ACCEPT_INVITE,
    CREATE_TENANT,
    OPERATOR_LOGIN,
    OPERATOR_PASSWORD,
    PUBLIC_TENANT,
    TENANT_FIELDS,
    create_operator,
    error_code,
    isolated_runtime,
    ok,
    operator_login,
    schema_exists,
    set_module,
    tenant_row,
    unique_host,
)

from wuye.app import create_app
from wuye.tenancy import migrate

TENANTS = """query($first: Int, $after: String, $search: String, $status: String) {
  tenants(first: $first, after: $after, search: $search, status: $status) {
    totalCount edges { cursor node { slug status } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
TENANT = f"query($slug: String!) {{ tenant(slug: $slug) {{ {TENANT_FIELDS} }} }}"
SUSPEND = f"mutation($i: TenantSlugInput!) {{ suspendTenant(input: $i) {{ {TENANT_FIELDS} }} }}"
REACTIVATE = f"""mutation($i: TenantSlugInput!) {{ reactivateTenant(input: $i) {{
  {TENANT_FIELDS} }} }}"""
UPDATE = f"mutation($i: UpdateTenantInput!) {{ updateTenant(input: $i) {{ {TENANT_FIELDS} }} }}"
ADD_DOMAIN = f"""mutation($i: TenantDomainInput!) {{ addTenantDomain(input: $i) {{
  {TENANT_FIELDS} }} }}"""
REMOVE_DOMAIN = f"""mutation($i: TenantDomainInput!) {{ removeTenantDomain(input: $i) {{
  {TENANT_FIELDS} }} }}"""
RESET_ADMIN = """mutation($i: ResetTenantAdminInput!) { resetTenantAdmin(input: $i) {
  userId inviteToken } }"""
AUDIT = """query($tenant: String, $action: String, $first: Int) {
  auditLog(tenant: $tenant, action: $action, first: $first) { totalCount edges { node {
    actorKind actorId action objectType objectId detail } } } }"""
REFRESH = """mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken } }"""
ME = "{ me { name kind roles { key } } }"


@pytest.fixture(scope="module")
async def rt(settings, services):
    runtime = isolated_runtime(settings, services)
    yield runtime
    await runtime.close()


@pytest.fixture(scope="module")
async def client(rt):
    async with client_for(create_app(rt)) as c:
        yield c


@pytest.fixture
def tapi(client):
    return Api(client, "/graphql")


@pytest.fixture
def aapi(client):
    return Api(client, "/admin/graphql")


@pytest.fixture(scope="module")
async def operator(rt, client):
    """(operator row, access token) of a signed-in operator."""
    return await operator_login(Api(client, "/admin/graphql"), rt)


@pytest.fixture
def op_token(operator):
    return operator[1]


def new_tenant_input(**over):
    slug = over.get("slug") or unique_slug("adm")
    data = {
        "slug": slug,
        "nameZh": f"安居物业{slug}",
        "nameEn": f"Anju {slug}",
        "adminName": "李管理",
        "adminPhone": new_phone(),
    }
    data.update(over)
    return data


async def create(aapi, token, **over):
    data = new_tenant_input(**over)
    payload = ok(await aapi(CREATE_TENANT, {"i": data}, token=token))["createTenant"]
    return data, payload


# --- operator sign-in ----------------------------------------------------------------------


async def test_operator_login(rt, aapi, operator):
    op, token = operator
    me = ok(await aapi("{ operatorMe { email name } }", token=token))["operatorMe"]
    assert me == {"email": op.email, "name": "运营同学"}
    body = await aapi(OPERATOR_LOGIN, {"i": {"identifier": op.email, "password": "wrong-one"}})
    assert error_code(body) == "INVALID_CREDENTIALS"
    # a disabled operator cannot sign in
    disabled = await create_operator(rt, active=False)
    body = await aapi(
        OPERATOR_LOGIN, {"i": {"identifier": disabled.email, "password": OPERATOR_PASSWORD}}
    )
    assert error_code(body) == "ACCOUNT_DISABLED"


# --- createTenant ----------------------------------------------------------------------------


async def test_create_tenant_end_to_end(rt, aapi, tapi, op_token):
    host = unique_host()
    # when an operator creates a tenant with domains, modules, branding and an admin
    data, payload = await create(
        aapi,
        op_token,
        domains=[host, f"m.{host}"],
        modules=["gizmo"],
        appName="安居通",
        logoUrl="https://cdn.example.cn/anju.png",
        primaryColor="#112233",
        accentColor="#445566",
        timeZone="Asia/Urumqi",
        locale="zh-CN",
    )
    tenant = payload["tenant"]
    # then the tenant is described back, complete
    assert tenant["slug"] == data["slug"] and tenant["status"] == "active"
    assert tenant["schemaName"] == "t_" + data["slug"].replace("-", "_")
    assert tenant["schemaRevision"] == migrate.head("tenant")
    assert tenant["migrationStatus"] == "ok" and tenant["timeZone"] == "Asia/Urumqi"
    assert tenant["domains"] == [
        {"hostname": host, "isPrimary": True},
        {"hostname": f"m.{host}", "isPrimary": False},
    ]
    assert sorted(m["key"] for m in tenant["modules"] if m["enabled"]) == ["gizmo", "gizmobase"]
    assert tenant["branding"] == {
        "appName": "安居通",
        "logoUrl": "https://cdn.example.cn/anju.png",
        "primaryColor": "#112233",
        "accentColor": "#445566",
    }
    invite = payload["adminInviteToken"]
    assert invite
    # and the invitation works on the tenant's own API
    accepted = ok(
        await tapi(
            ACCEPT_INVITE, {"i": {"token": invite, "password": "new-pass-42"}}, tenant=data["slug"]
        )
    )["acceptInvite"]
    assert accepted["user"]["name"] == "李管理"
    assert accepted["user"]["roles"] == [{"key": "tenant_admin"}]
    me = ok(await tapi(ME, tenant=data["slug"], token=accepted["accessToken"]))["me"]
    assert me["kind"] == "staff"
    # only once
    again = await tapi(
        ACCEPT_INVITE, {"i": {"token": invite, "password": "other-pass-42"}}, tenant=data["slug"]
    )
    assert error_code(again) == "NOT_FOUND"
    # and the admin can sign in with the password, on the custom domain too
    signed = ok(
        await tapi(
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            {"i": {"identifier": data["adminPhone"], "password": "new-pass-42"}},
            headers={"host": host},
        )
    )
    assert signed["login"]["accessToken"]
    # and the public tenant query shows the branding and enabled modules, without signing in
    public = ok(await tapi(PUBLIC_TENANT, headers={"host": f"m.{host}"}))["tenant"]
    assert public["slug"] == data["slug"] and public["branding"]["appName"] == "安居通"
    assert sorted(m["key"] for m in public["modules"]) == ["gizmo", "gizmobase"]


async def test_create_tenant_refusals_leave_nothing(rt, aapi, op_token):
    data, _ = await create(aapi, op_token)
    # duplicate slug
    body = await aapi(CREATE_TENANT, {"i": new_tenant_input(slug=data["slug"])}, token=op_token)
    assert error_code(body) == "CONFLICT" and body["data"] is None
    # reserved and malformed slugs, unknown module
    for bad in (
        {"slug": "admin"},
        {"slug": "Bad_Slug"},
        {"modules": ["nope"]},
        {"primaryColor": "red"},
    ):
        body = await aapi(CREATE_TENANT, {"i": new_tenant_input(**bad)}, token=op_token)
        assert error_code(body) == "VALIDATION_FAILED", bad
    # a module whose set-up fails midway: the whole request is rolled back
    failing = new_tenant_input(modules=["boom"], domains=[unique_host()])
    body = await aapi(CREATE_TENANT, {"i": failing}, token=op_token)
    assert error_code(body) == "INTERNAL_SERVER_ERROR"
    assert await tenant_row(rt, failing["slug"]) is None
    assert not await schema_exists(rt, "t_" + failing["slug"].replace("-", "_"))
    # and none of the failed attempts left an audit row
    async with rt.db.shared_session() as s:
        rows = await s.scalar(
            text(
                "SELECT count(*) FROM shared.operator_audit_log WHERE action = 'createTenant' "
                "AND tenant_slug IN (:a, :b)"
            ),
            {"a": failing["slug"], "b": "admin"},
        )
    assert rows == 0


# --- listing, reading ------------------------------------------------------------------------


async def test_tenants_list_search_and_pagination(aapi, op_token):
    marker = f"pg{secrets.token_hex(3)}"
    made = [await create(aapi, op_token, slug=f"{marker}-{i}", adminPhone=None) for i in range(5)]
    slugs = [d["slug"] for d, _ in made]
    # when the operator pages through a search, two at a time
    seen, after, pages = [], None, 0
    while True:
        page = ok(
            await aapi(TENANTS, {"first": 2, "after": after, "search": marker}, token=op_token)
        )["tenants"]
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen += [e["node"]["slug"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then every match comes exactly once, in creation order
    assert seen == slugs and pages == 3
    # search also matches names, case-insensitively
    by_name = ok(await aapi(TENANTS, {"search": f"ANJU {marker}-3"}, token=op_token))["tenants"]
    assert [e["node"]["slug"] for e in by_name["edges"]] == [f"{marker}-3"]
    # and filters by status
    ok(await aapi(SUSPEND, {"i": {"slug": slugs[1]}}, token=op_token))
    suspended = ok(await aapi(TENANTS, {"search": marker, "status": "suspended"}, token=op_token))[
        "tenants"
    ]
    assert [e["node"] for e in suspended["edges"]] == [{"slug": slugs[1], "status": "suspended"}]
    # bad page requests are refused
    assert error_code(await aapi(TENANTS, {"first": 1000}, token=op_token)) == "VALIDATION_FAILED"
    assert (
        error_code(await aapi(TENANTS, {"after": "bogus"}, token=op_token)) == "VALIDATION_FAILED"
    )


async def test_tenant_by_slug(aapi, op_token):
    data, payload = await create(aapi, op_token)
    got = ok(await aapi(TENANT, {"slug": data["slug"]}, token=op_token))["tenant"]
    assert got == payload["tenant"]
    assert error_code(await aapi(TENANT, {"slug": "no-such-tenant"}, token=op_token)) == "NOT_FOUND"


# --- lifecycle -------------------------------------------------------------------------------


async def test_suspend_and_reactivate(aapi, tapi, op_token):
    data, _ = await create(aapi, op_token)
    slug = data["slug"]
    assert ok(await tapi(PUBLIC_TENANT, tenant=slug))["tenant"]["slug"] == slug
    assert (
        ok(await aapi(SUSPEND, {"i": {"slug": slug}}, token=op_token))["suspendTenant"]["status"]
        == "suspended"
    )
    r = await tapi.post(PUBLIC_TENANT, tenant=slug)
    assert r.status_code == 403 and error_code(r.json()) == "TENANT_SUSPENDED"
    assert (
        ok(await aapi(REACTIVATE, {"i": {"slug": slug}}, token=op_token))["reactivateTenant"][
            "status"
        ]
        == "active"
    )
    assert ok(await tapi(PUBLIC_TENANT, tenant=slug))["tenant"]["slug"] == slug
    assert (
        error_code(await aapi(SUSPEND, {"i": {"slug": "no-such-tenant"}}, token=op_token))
        == "NOT_FOUND"
    )


async def test_set_module_with_config(aapi, op_token):
    data, _ = await create(aapi, op_token)
    body = ok(
        await set_module(
            aapi,
            op_token,
            data["slug"],
            "gizmo",
            True,
            {"greeting": "早上好", "limits": {"daily": 3}},
        )
    )
    modules = {m["key"]: m for m in body["setTenantModule"]["modules"]}
    assert modules["gizmo"]["enabled"] and modules["gizmobase"]["enabled"]
    assert modules["gizmo"]["config"] == {"greeting": "早上好", "limits": {"daily": 3}}
    # disabling keeps the config for next time, unless a new one is given
    body = ok(await set_module(aapi, op_token, data["slug"], "gizmo", False))
    modules = {m["key"]: m for m in body["setTenantModule"]["modules"]}
    assert not modules["gizmo"]["enabled"]
    assert modules["gizmo"]["config"] == {"greeting": "早上好", "limits": {"daily": 3}}


async def test_add_and_remove_domains(rt, aapi, tapi, op_token):
    data, _ = await create(aapi, op_token)
    slug, first, second = data["slug"], unique_host(), unique_host()
    # when two domains are added, the second as primary
    ok(await aapi(ADD_DOMAIN, {"i": {"slug": slug, "hostname": first}}, token=op_token))
    got = ok(
        await aapi(
            ADD_DOMAIN,
            {"i": {"slug": slug, "hostname": second.upper() + ".", "primary": True}},
            token=op_token,
        )
    )["addTenantDomain"]
    # then both are listed, normalised, with exactly one primary
    assert got["domains"] == [
        {"hostname": second, "isPrimary": True},
        {"hostname": first, "isPrimary": False},
    ]
    # and requests for either host reach the tenant
    for host in (first, second):
        assert ok(await tapi(PUBLIC_TENANT, headers={"host": host}))["tenant"]["slug"] == slug
    # a domain can belong to one tenant only
    other, _ = await create(aapi, op_token)
    body = await aapi(ADD_DOMAIN, {"i": {"slug": other["slug"], "hostname": first}}, token=op_token)
    assert error_code(body) == "CONFLICT"
    # when one is removed, then it stops resolving at once (cache invalidated)
    got = ok(await aapi(REMOVE_DOMAIN, {"i": {"slug": slug, "hostname": first}}, token=op_token))[
        "removeTenantDomain"
    ]
    assert got["domains"] == [{"hostname": second, "isPrimary": True}]
    r = await tapi.post(PUBLIC_TENANT, headers={"host": first})
    assert r.status_code == 404 and error_code(r.json()) == "TENANT_NOT_FOUND"
    body = await aapi(REMOVE_DOMAIN, {"i": {"slug": slug, "hostname": first}}, token=op_token)
    assert error_code(body) == "NOT_FOUND"


async def test_update_branding_shows_on_the_public_query(aapi, tapi, op_token):
    data, _ = await create(aapi, op_token, modules=["gizmobase"])
    slug = data["slug"]
    before = ok(await tapi(PUBLIC_TENANT, tenant=slug))["tenant"]  # cached now
    assert before["branding"]["primaryColor"] == "#1677ff"
    # when the operator rebrands the tenant
    changes = {
        "slug": slug,
        "appName": "新家园",
        "logoUrl": "https://cdn.example.cn/x.png",
        "primaryColor": "#00AA00",
        "nameEn": "New Home",
    }
    got = ok(await aapi(UPDATE, {"i": changes}, token=op_token))["updateTenant"]
    assert got["branding"]["appName"] == "新家园" and got["nameZh"] == data["nameZh"]
    # then the public query (no login) shows it on the next request
    after = ok(await tapi(PUBLIC_TENANT, tenant=slug))["tenant"]
    assert after["branding"] == {
        "appName": "新家园",
        "logoUrl": "https://cdn.example.cn/x.png",
        "primaryColor": "#00AA00",
        "accentColor": "#fa8c16",
    }
    assert after["nameEn"] == "New Home" and after["modules"] == [{"key": "gizmobase"}]
    # and invalid values are refused, changing nothing
    for bad in ({"accentColor": "orange"}, {"timeZone": "Mars/Olympus"}, {"nameZh": "  "}):
        body = await aapi(UPDATE, {"i": {"slug": slug, **bad}}, token=op_token)
        assert error_code(body) == "VALIDATION_FAILED", bad
    got = ok(await aapi(TENANT, {"slug": slug}, token=op_token))["tenant"]
    assert (got["timeZone"], got["nameZh"]) == ("Asia/Shanghai", data["nameZh"])


async def test_reset_tenant_admin(rt, aapi, tapi, op_token):
    t = await make_tenant(rt)
    old = await login(tapi, t.slug, t.admin_phone)
    # when the operator resets the tenant's admin
    got = ok(await aapi(RESET_ADMIN, {"i": {"slug": t.slug}}, token=op_token))["resetTenantAdmin"]
    assert got["inviteToken"]
    # then the old password and the old sign-in stop working
    body = await tapi(
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"identifier": t.admin_phone, "password": "s3cret-pass"}},
        tenant=t.slug,
    )
    assert error_code(body) == "INVALID_CREDENTIALS"
    body = await tapi(REFRESH, {"i": {"refreshToken": old["refreshToken"]}}, tenant=t.slug)
    assert error_code(body) == "UNAUTHENTICATED"
    # and the new invitation sets a new password for the same admin
    accepted = ok(
        await tapi(
            ACCEPT_INVITE,
            {"i": {"token": got["inviteToken"], "password": "brand-new-1"}},
            tenant=t.slug,
        )
    )["acceptInvite"]
    assert accepted["user"]["id"] == got["userId"] == old["user"]["id"]
    assert (await login(tapi, t.slug, t.admin_phone, "brand-new-1"))["user"]["roles"] == [
        {"key": "tenant_admin"}
    ]


async def test_reset_creates_an_admin_when_there_is_none(aapi, tapi, op_token):
    data, _ = await create(aapi, op_token, adminPhone=None)
    phone = new_phone()
    got = ok(
        await aapi(
            RESET_ADMIN,
            {"i": {"slug": data["slug"], "adminPhone": phone, "adminName": "新管理员"}},
            token=op_token,
        )
    )["resetTenantAdmin"]
    accepted = ok(
        await tapi(
            ACCEPT_INVITE,
            {"i": {"token": got["inviteToken"], "password": "first-pass-9"}},
            tenant=data["slug"],
        )
    )["acceptInvite"]
    assert accepted["user"]["name"] == "新管理员"
    assert accepted["user"]["roles"] == [{"key": "tenant_admin"}]


async def test_audit_log_lists_operator_actions(aapi, operator):
    op, token = operator
    data, _ = await create(aapi, token)
    slug = data["slug"]
    ok(await aapi(SUSPEND, {"i": {"slug": slug}}, token=token))
    ok(await aapi(REACTIVATE, {"i": {"slug": slug}}, token=token))
    ok(await set_module(aapi, token, slug, "gizmobase", True))
    ok(await aapi(RESET_ADMIN, {"i": {"slug": slug}}, token=token))
    ok(await aapi("{ tenants(first: 1) { totalCount } }", token=token))  # reads: not audited
    # when the audit log is read for that tenant
    log = ok(await aapi(AUDIT, {"tenant": slug}, token=token))["auditLog"]
    entries = [e["node"] for e in log["edges"]]
    # then it lists each action, newest first, with the acting operator and the object
    assert [e["action"] for e in entries] == [
        "resetTenantAdmin",
        "setTenantModule",
        "reactivateTenant",
        "suspendTenant",
        "createTenant",
    ]
    assert log["totalCount"] == 5
    operator_id = int(op.id)
    assert all(e["actorKind"] == "operator" and e["actorId"] == operator_id for e in entries)
    assert [(e["objectType"], e["objectId"]) for e in entries[1:]] == [("Tenant", slug)] * 4
    assert entries[0]["objectType"] == "User" and entries[0]["objectId"].startswith(f"{slug}:")
    # with the input, secrets redacted
    assert entries[-1]["detail"]["input"]["slug"] == slug
    # and it filters by action across tenants
    logins = ok(await aapi(AUDIT, {"action": "operatorLogin", "first": 100}, token=token))[
        "auditLog"
    ]
    assert any(e["node"]["actorId"] == operator_id for e in logins["edges"])
    assert all(e["node"]["detail"]["input"]["password"] == "***" for e in logins["edges"])


# --- the wall between surfaces, and between tenants ------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        "{ tenants { totalCount } }",
        "{ operatorMe { email } }",
        "{ modules { key } }",
        "{ auditLog { totalCount } }",
        '{ tenant(slug: "x") { slug } }',
        'mutation { suspendTenant(input: {slug: "x"}) { slug } }',
        'mutation { createTenant(input: {slug: "anon-made", nameZh: "匿名"}) '
        "{ adminInviteToken } }",
    ],
)
async def test_admin_api_requires_an_operator(rt, aapi, doc):
    body = await aapi(doc)
    assert error_code(body) == "UNAUTHENTICATED" and body["data"] is None
    assert await tenant_row(rt, "anon-made") is None


async def test_tokens_do_not_cross_surfaces(rt, aapi, tapi, op_token):
    t = await make_tenant(rt)
    user_token = (await login(tapi, t.slug, t.admin_phone))["accessToken"]
    # an operator token is no good on a tenant API, not even for a public field
    for doc in (ME, PUBLIC_TENANT):
        r = await tapi.post(doc, tenant=t.slug, token=op_token)
        assert r.status_code == 401 and error_code(r.json()) == "UNAUTHENTICATED"
    # and a tenant token is no good on the admin API
    r = await aapi.post("{ tenants { totalCount } }", token=user_token)
    assert r.status_code == 401 and error_code(r.json()) == "UNAUTHENTICATED"
    # while each works where it belongs
    assert ok(await tapi(ME, tenant=t.slug, token=user_token))["me"]["kind"] == "staff"
    assert ok(await aapi("{ operatorMe { email } }", token=op_token))["operatorMe"]["email"]


async def test_a_tenant_token_is_worthless_at_another_tenant(rt, tapi):
    a, b = await make_tenant(rt), await make_tenant(rt)
    token_a = (await login(tapi, a.slug, a.admin_phone))["accessToken"]
    # given both admins have the same user id in their own schemas
    assert a.admin_id == b.admin_id
    # when A's token is sent to B (by header or host), then B refuses it
    for kw in ({"tenant": b.slug}, {"headers": {"host": f"{b.slug}.localhost"}}):
        r = await tapi.post(ME, token=token_a, **kw)
        assert r.status_code == 401 and error_code(r.json()) == "UNAUTHENTICATED"
        r = await tapi.post("{ users { totalCount } }", token=token_a, **kw)
        assert r.status_code == 401 and error_code(r.json()) == "UNAUTHENTICATED"
    # and A's own data stays A's
    me = ok(await tapi("{ users { edges { node { phone } } } }", tenant=a.slug, token=token_a))
    assert len(me["users"]["edges"]) == 1
    # and A's credentials do not sign in at B either
    body = await tapi(
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"identifier": a.admin_phone, "password": "s3cret-pass"}},
        tenant=b.slug,
    )
    assert error_code(body) == "INVALID_CREDENTIALS"
