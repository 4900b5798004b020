"""Module gating: a module's root fields answer MODULE_DISABLED until the operator switches
the module on for the tenant; dependencies are enforced; the schema assembly is strict."""

from __future__ import annotations

import re

import pytest
import strawberry
from conftest import Api, client_for, login, make_tenant
from tenancy_support import (
    ENABLED_CALLS,
    GIZMO,
    GIZMO_BASE,
    PUBLIC_TENANT,
    TEST_MODULES,
    error_code,
    isolated_runtime,
    ok,
    operator_login,
    set_module,
)

from wuye.app import create_app
from wuye.graphql.access import mutation, query
from wuye.graphql.schema import (
    SchemaAssemblyError,
    build_admin_schema,
    build_tenant_schema,
    root_fields_without_access,
)
from wuye.modules.base import Module

GREETING = "{ gizmoGreeting }"
USER_COUNT = "{ gizmoUserCount }"
POKE = 'mutation { gizmoPoke(label: "门禁") }'


@pytest.fixture(scope="module")
async def rt(settings, services):
    runtime = isolated_runtime(settings, services)
    yield runtime
    await runtime.close()


@pytest.fixture(scope="module")
async def client(rt):
    async with client_for(create_app(rt)) as c:
        yield c


@pytest.fixture(scope="module")
async def operator(rt, client):
    _, token = await operator_login(Api(client, "/admin/graphql"), rt)
    return token


@pytest.fixture
def tapi(client):
    return Api(client, "/graphql")


@pytest.fixture
def aapi(client):
    return Api(client, "/admin/graphql")


@pytest.fixture
async def signed_in(rt, tapi):
    """A fresh tenant (no optional module on) and its admin's access token."""
    t = await make_tenant(rt)
    return t, (await login(tapi, t.slug, t.admin_phone))["accessToken"]


def enabled_keys(tenant_payload):
    return sorted(m["key"] for m in tenant_payload["modules"] if m["enabled"])


async def public_modules(tapi, slug):
    return sorted(m["key"] for m in ok(await tapi(PUBLIC_TENANT, tenant=slug))["tenant"]["modules"])


async def test_module_fields_follow_the_tenant_switch(tapi, aapi, operator, signed_in):
    t, token = signed_in
    # given the tenant has not enabled the module
    for doc in (GREETING, USER_COUNT, POKE):
        body = await tapi(doc, tenant=t.slug, token=token)
        # then its fields (queries and mutations) answer MODULE_DISABLED, even for the admin
        assert error_code(body) == "MODULE_DISABLED", doc
        assert body["errors"][0]["extensions"]["module"] == "gizmo"
        assert body["data"] is None
    assert await public_modules(tapi, t.slug) == []

    # when the operator enables it, with a config
    ENABLED_CALLS.clear()
    payload = ok(await set_module(aapi, operator, t.slug, "gizmo", True, {"greeting": "你好"}))
    tenant = payload["setTenantModule"]
    # then it is on together with what it depends on, and its set-up ran in the tenant schema
    assert enabled_keys(tenant) == ["gizmo", "gizmobase"]
    gizmo_row = next(m for m in tenant["modules"] if m["key"] == "gizmo")
    assert gizmo_row["config"] == {"greeting": "你好"}
    assert gizmo_row["changedBy"].endswith("@ops.wuye.test")  # the operator who did it
    assert sorted(ENABLED_CALLS) == [("gizmo", t.slug, 1), ("gizmobase", t.slug, 1)]
    # and the next requests see it (the tenant cache was invalidated on commit)
    assert ok(await tapi(GREETING, tenant=t.slug, token=token)) == {"gizmoGreeting": "你好"}
    assert ok(await tapi(USER_COUNT, tenant=t.slug, token=token)) == {"gizmoUserCount": 1}
    assert ok(await tapi(POKE, tenant=t.slug, token=token)) == {"gizmoPoke": "poked 门禁"}
    assert await public_modules(tapi, t.slug) == ["gizmo", "gizmobase"]
    # and its own access rule still applies once it is on
    assert error_code(await tapi(GREETING, tenant=t.slug)) == "UNAUTHENTICATED"

    # when the operator disables it again
    ENABLED_CALLS.clear()
    payload = ok(await set_module(aapi, operator, t.slug, "gizmo", False))
    assert enabled_keys(payload["setTenantModule"]) == ["gizmobase"]
    # then its fields are refused again, at once
    for doc in (GREETING, POKE):
        assert error_code(await tapi(doc, tenant=t.slug, token=token)) == "MODULE_DISABLED"
    assert await public_modules(tapi, t.slug) == ["gizmobase"]
    # and enabling it once more runs only its own set-up (the dependency stayed on)
    ok(await set_module(aapi, operator, t.slug, "gizmo", True))
    assert ENABLED_CALLS == [("gizmo", t.slug, 1)]
    assert ok(await tapi(GREETING, tenant=t.slug, token=token)) == {"gizmoGreeting": "你好"}


async def test_switch_is_per_tenant(rt, tapi, aapi, operator, signed_in):
    a, token_a = signed_in
    b = await make_tenant(rt)
    token_b = (await login(tapi, b.slug, b.admin_phone))["accessToken"]
    ok(await set_module(aapi, operator, a.slug, "gizmo", True))
    assert ok(await tapi(POKE, tenant=a.slug, token=token_a)) == {"gizmoPoke": "poked 门禁"}
    assert error_code(await tapi(POKE, tenant=b.slug, token=token_b)) == "MODULE_DISABLED"


async def test_dependencies_are_enforced(tapi, aapi, operator, signed_in):
    t, token = signed_in
    ok(await set_module(aapi, operator, t.slug, "gizmo", True))
    # when the operator tries to switch off a module another enabled module depends on
    body = await set_module(aapi, operator, t.slug, "gizmobase", False)
    # then it is a conflict naming the dependant, and nothing changed
    assert error_code(body) == "CONFLICT" and "gizmo" in body["errors"][0]["message"]
    assert ok(await tapi(GREETING, tenant=t.slug, token=token)) == {"gizmoGreeting": "hello"}
    assert await public_modules(tapi, t.slug) == ["gizmo", "gizmobase"]
    # and in the right order both can go
    ok(await set_module(aapi, operator, t.slug, "gizmo", False))
    payload = ok(await set_module(aapi, operator, t.slug, "gizmobase", False))
    assert enabled_keys(payload["setTenantModule"]) == []


async def test_unknown_module_and_failing_setup_change_nothing(tapi, aapi, operator, signed_in):
    t, _ = signed_in
    assert error_code(await set_module(aapi, operator, t.slug, "nope", True)) == "VALIDATION_FAILED"
    assert (
        error_code(await set_module(aapi, operator, "no-such-tenant", "gizmo", True)) == "NOT_FOUND"
    )
    # when a module's set-up fails, the switch is rolled back with the rest of the request
    body = await set_module(aapi, operator, t.slug, "boom", True)
    assert error_code(body) == "INTERNAL_SERVER_ERROR"
    assert await public_modules(tapi, t.slug) == []


# --- schema assembly -----------------------------------------------------------------------


def test_assembled_schemas_declare_access_on_every_root_field():
    assert root_fields_without_access(build_tenant_schema(TEST_MODULES)) == []
    assert root_fields_without_access(build_admin_schema()) == []


def test_duplicate_root_fields_across_modules_are_refused():
    @strawberry.type
    class SameName:
        @query(signed_in=True)
        async def gizmo_greeting(self, info: strawberry.Info) -> str:
            return "copy"

    @strawberry.type
    class ExplicitName:
        @query(signed_in=True, name="gizmoGreeting")
        async def other(self, info: strawberry.Info) -> str:
            return "copy"

    @strawberry.type
    class CamelName:
        @query(signed_in=True)
        async def gizmoGreeting(self, info: strawberry.Info) -> str:
            return "copy"

    @strawberry.type
    class SameMutation:
        @mutation(signed_in=True)
        async def gizmo_poke(self, info: strawberry.Info, label: str) -> str:
            return "copy"

    # every way of spelling the same GraphQL field name is caught, for queries and mutations
    for query_type, mutation_type, field in (
        (SameName, None, "Query.gizmoGreeting"),
        (ExplicitName, None, "Query.gizmoGreeting"),
        (CamelName, None, "Query.gizmoGreeting"),
        (None, SameMutation, "Mutation.gizmoPoke"),
    ):
        copycat = Module(
            key="copycat",
            title_zh="仿冒",
            title_en="Copycat",
            query=query_type,
            mutation=mutation_type,
        )
        expected = rf"^{re.escape(field)} is declared by both Gizmo"
        with pytest.raises(SchemaAssemblyError, match=expected):
            build_tenant_schema((GIZMO_BASE, GIZMO, copycat))


def test_module_field_clashing_with_core_is_refused():
    @strawberry.type
    class MeQuery:
        @query(public=True)
        async def me(self, info: strawberry.Info) -> str:
            return "not you"

    with pytest.raises(SchemaAssemblyError, match=r"Query\.me\b.*IdentityQuery"):
        build_tenant_schema((Module(key="meme", title_zh="我", title_en="Me", query=MeQuery),))


def test_module_root_field_without_access_is_refused():
    @strawberry.type
    class OpenQuery:
        @strawberry.field
        async def wide_open(self) -> str:
            return "everyone"

    @strawberry.type
    class OpenMutation:
        @strawberry.mutation
        async def wide_open_write(self) -> str:
            return "anyone"

    for module in (
        Module(key="leaky", title_zh="漏", title_en="Leaky", query=OpenQuery),
        Module(key="leakier", title_zh="漏", title_en="Leaky", mutation=OpenMutation),
    ):
        with pytest.raises(SchemaAssemblyError, match="declares no access"):
            build_tenant_schema((module,))
