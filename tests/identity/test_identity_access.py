"""Deny by default: every root field declares its access; roles are data, and guarded."""

from __future__ import annotations

import pytest
import strawberry
from identity_kit import (
    CREATE_ROLE,
    CREATE_STAFF,
    DELETE_ROLE,
    SET_ROLES,
    UPDATE_ROLE,
    codes,
    create_role,
    member,
)

from wuye.graphql.access import mutation, query
from wuye.graphql.schema import (
    SchemaAssemblyError,
    build_tenant_schema,
    root_fields_without_access,
)
from wuye.identity.permissions import AUDIT_VIEW, USERS_VIEW
from wuye.modules.base import Module

AUDIT = "{ auditLog(first: 5) { totalCount edges { node { action } } } }"
USERS = "{ users { totalCount } }"
ROLES = "{ roles { key } }"


# --- every root field is declared -----------------------------------------------------------


def test_every_root_field_declares_its_access(runtime):
    assert root_fields_without_access(runtime.tenant_api.schema) == []
    assert root_fields_without_access(runtime.admin_api.schema) == []


@strawberry.type
class _Query:
    @query(public=True)
    async def declared(self) -> int:
        return 1

    @strawberry.field
    async def forgotten(self) -> int:
        return 2


@strawberry.type
class _Mutation:
    @mutation(USERS_VIEW)
    async def declared_change(self) -> int:
        return 1

    @strawberry.mutation
    async def forgotten_change(self) -> int:
        return 2


def test_the_walker_finds_an_undeclared_root_field():
    # given a schema with one undeclared query and one undeclared mutation
    schema = strawberry.Schema(query=_Query, mutation=_Mutation)
    # then the walker names exactly those
    missing = root_fields_without_access(schema)
    assert len(missing) == 2
    assert any("forgotten" in m and m.startswith("_Query.") for m in missing)
    assert any("forgotten_change" in m or "forgottenChange" in m for m in missing)


def test_schema_assembly_refuses_a_module_field_without_access():
    @strawberry.type
    class LeakyQuery:
        @strawberry.field
        async def leak(self) -> int:
            return 1

    leaky = Module(key="leaky", title_zh="泄露", title_en="Leaky", query=LeakyQuery)
    with pytest.raises(SchemaAssemblyError, match="leak"):
        build_tenant_schema([leaky])


def test_access_declares_exactly_one_rule():
    with pytest.raises(ValueError):
        query()
    with pytest.raises(ValueError):
        query(AUDIT_VIEW, public=True)


# --- anonymous and unprivileged callers -----------------------------------------------------


async def test_anonymous_calls_to_gated_fields_are_unauthenticated(api, admin_api, tenant):
    tenant_calls = [
        "{ me { id } }",
        USERS,
        ROLES,
        "{ permissions { key } }",
        AUDIT,
        'mutation { createRole(input: {key: "x_role", nameZh: "x"}) { key } }',
        'mutation { deleteRole(input: {key: "manager"}) }',
        'mutation { setUserActive(input: {userId: "VXNlcjox", active: false}) { id } }',
    ]
    for q in tenant_calls:
        body = await api(q, tenant=tenant.slug)
        assert body["data"] is None, q
        assert codes(body) == ["UNAUTHENTICATED"], q
    admin_calls = [
        "{ operatorMe { id } }",
        "{ tenants { totalCount } }",
        "{ modules { key } }",
        "{ auditLog { totalCount } }",
    ]
    for q in admin_calls:
        body = await admin_api(q)
        assert codes(body) == ["UNAUTHENTICATED"], q
    # while public fields answer anyone
    public = await api("{ tenant { slug } }", tenant=tenant.slug)
    assert public["data"]["tenant"]["slug"] == tenant.slug


async def test_members_without_the_permission_are_forbidden(api, runtime, tenant):
    # given a resident and two staff members, one without roles, one in customer service
    resident = await member(api, runtime, tenant, kind="resident", roles=("resident",))
    bare = await member(api, runtime, tenant)
    service = await member(api, runtime, tenant, roles=("customer_service",))
    for who in (resident, bare):
        # then they see themselves
        me = await api("{ me { kind } }", tenant=tenant.slug, token=who.access)
        assert "errors" not in me, me
        # but nothing gated
        for q in (USERS, ROLES, AUDIT):
            assert codes(await api(q, tenant=tenant.slug, token=who.access)) == ["FORBIDDEN"]
    # and customer service sees users, but neither the audit log nor role management
    assert "errors" not in await api(USERS, tenant=tenant.slug, token=service.access)
    assert codes(await api(AUDIT, tenant=tenant.slug, token=service.access)) == ["FORBIDDEN"]
    body = await api(
        CREATE_ROLE,
        {"i": {"key": "sneaky", "nameZh": "x", "permissions": []}},
        tenant=tenant.slug,
        token=service.access,
    )
    assert codes(body) == ["FORBIDDEN"]


# --- roles are data -------------------------------------------------------------------------


async def test_roles_are_editable_and_take_effect_on_the_next_request(
    api, runtime, tenant, admin_token
):
    # given a staff member without roles, who cannot read the audit log
    staff = await member(api, runtime, tenant)
    assert codes(await api(AUDIT, tenant=tenant.slug, token=staff.access)) == ["FORBIDDEN"]
    # when the admin creates an "auditor" role and assigns it
    await create_role(api, tenant, admin_token, "auditor", [AUDIT_VIEW.key])
    body = await api(
        SET_ROLES,
        {"i": {"userId": staff.gid, "roles": ["auditor"]}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert body["data"]["setUserRoles"]["roles"] == [{"key": "auditor"}]
    # then the same access token now reads the audit log
    body = await api(AUDIT, tenant=tenant.slug, token=staff.access)
    assert "errors" not in body, body
    # when the role loses the permission
    body = await api(
        UPDATE_ROLE,
        {"i": {"key": "auditor", "permissions": []}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert body["data"]["updateRole"]["permissions"] == []
    # then the very next request is refused
    assert codes(await api(AUDIT, tenant=tenant.slug, token=staff.access)) == ["FORBIDDEN"]
    # and a module wildcard grants every permission of the module
    await api(
        UPDATE_ROLE,
        {"i": {"key": "auditor", "permissions": ["identity.*"]}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert "errors" not in await api(AUDIT, tenant=tenant.slug, token=staff.access)


async def test_unknown_permissions_are_refused(api, tenant, admin_token):
    roles_query = "{ roles { key permissions } }"
    before = (await api(roles_query, tenant=tenant.slug, token=admin_token))["data"]["roles"]
    for perms in (
        ["identity.nope"],
        ["bogus.*"],
        [".*"],
        ["identity"],
        ["identity.audit.view", "x.y"],
    ):
        body = await api(
            CREATE_ROLE,
            {"i": {"key": "odd_role", "nameZh": "x", "permissions": perms}},
            tenant=tenant.slug,
            token=admin_token,
        )
        assert codes(body) == ["VALIDATION_FAILED"], perms
        assert body["errors"][0]["extensions"]["field"] == "permissions"
        body = await api(
            UPDATE_ROLE,
            {"i": {"key": "manager", "permissions": perms}},
            tenant=tenant.slug,
            token=admin_token,
        )
        assert codes(body) == ["VALIDATION_FAILED"], perms
    # nor a malformed key
    body = await api(
        CREATE_ROLE, {"i": {"key": "Bad Key", "nameZh": "x"}}, tenant=tenant.slug, token=admin_token
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    # the role was never created, and "manager" kept its permissions
    roles = (await api("{ roles { key permissions } }", tenant=tenant.slug, token=admin_token))[
        "data"
    ]["roles"]
    assert "odd_role" not in {r["key"] for r in roles}
    assert roles == before


async def test_built_in_roles_cannot_be_deleted(api, tenant, admin_token):
    for key in ("tenant_admin", "manager", "resident"):
        body = await api(DELETE_ROLE, {"i": {"key": key}}, tenant=tenant.slug, token=admin_token)
        assert codes(body) == ["CONFLICT"], key
    # nor the tenant admin's rights narrowed
    body = await api(
        UPDATE_ROLE,
        {"i": {"key": "tenant_admin", "permissions": []}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert codes(body) == ["CONFLICT"]
    # while a role of the tenant's own can be
    await create_role(api, tenant, admin_token, "temp_role", [])
    body = await api(
        DELETE_ROLE, {"i": {"key": "temp_role"}}, tenant=tenant.slug, token=admin_token
    )
    assert body["data"]["deleteRole"] is True
    missing = await api(
        DELETE_ROLE, {"i": {"key": "temp_role"}}, tenant=tenant.slug, token=admin_token
    )
    assert codes(missing) == ["NOT_FOUND"]
    body = await api(
        CREATE_ROLE,
        {"i": {"key": "manager", "nameZh": "dup"}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert codes(body) == ["CONFLICT"]


async def test_user_managers_cannot_grant_more_than_they_hold(api, runtime, tenant, admin_token):
    # given an HR clerk who manages users but is no tenant admin
    await create_role(
        api, tenant, admin_token, "hr", ["identity.users.manage", "identity.users.view"]
    )
    hr = await member(api, runtime, tenant, roles=("hr",))
    # (a colleague with no rights beyond the clerk's: see the next test for the others)
    colleague = await member(api, runtime, tenant, roles=())
    # when the clerk hands out the tenant admin role, or a role with the audit log
    for roles in (["tenant_admin"], ["manager"], ["customer_service", "tenant_admin"]):
        body = await api(
            SET_ROLES,
            {"i": {"userId": colleague.gid, "roles": roles}},
            tenant=tenant.slug,
            token=hr.access,
        )
        # then it is refused
        assert codes(body) == ["FORBIDDEN"], roles
    body = await api(
        CREATE_STAFF,
        {"i": {"name": "新人", "email": "new@example.com", "roles": ["tenant_admin"]}},
        tenant=tenant.slug,
        token=hr.access,
    )
    assert codes(body) == ["FORBIDDEN"]
    body = await api(
        SET_ROLES,
        {"i": {"userId": hr.gid, "roles": ["tenant_admin"]}},
        tenant=tenant.slug,
        token=hr.access,
    )
    assert codes(body) == ["FORBIDDEN"]
    # and nothing changed
    me = await api("{ me { roles { key } } }", tenant=tenant.slug, token=colleague.access)
    assert me["data"]["me"]["roles"] == []
    # while roles within the clerk's own rights can be handed out
    body = await api(
        SET_ROLES,
        {"i": {"userId": colleague.gid, "roles": ["hr"]}},
        tenant=tenant.slug,
        token=hr.access,
    )
    assert body["data"]["setUserRoles"]["roles"] == [{"key": "hr"}]


async def test_role_managers_cannot_grant_rights_they_lack(api, runtime, tenant, admin_token):
    # given a clerk who manages roles, and holds nothing else
    await create_role(api, tenant, admin_token, "role_admin", ["identity.roles.manage"])
    clerk = await member(api, runtime, tenant, roles=("role_admin",))
    # when the clerk widens their own role, or creates a role with rights they lack
    attempts = [
        (UPDATE_ROLE, {"key": "role_admin", "permissions": ["*"]}),
        (UPDATE_ROLE, {"key": "role_admin", "permissions": ["identity.*"]}),
        (UPDATE_ROLE, {"key": "manager", "permissions": ["identity.users.manage"]}),
        (CREATE_ROLE, {"key": "super", "nameZh": "x", "permissions": ["*"]}),
        (CREATE_ROLE, {"key": "peek", "nameZh": "x", "permissions": [AUDIT_VIEW.key]}),
    ]
    for q, variables in attempts:
        body = await api(q, {"i": variables}, tenant=tenant.slug, token=clerk.access)
        # then it is refused
        assert codes(body) == ["FORBIDDEN"], variables
    assert codes(await api(AUDIT, tenant=tenant.slug, token=clerk.access)) == ["FORBIDDEN"]
    # while roles within the clerk's rights are fine
    body = await api(
        CREATE_ROLE,
        {"i": {"key": "deputy", "nameZh": "x", "permissions": ["identity.roles.manage"]}},
        tenant=tenant.slug,
        token=clerk.access,
    )
    assert "errors" not in body, body
    body = await api(
        UPDATE_ROLE,
        {"i": {"key": "role_admin", "nameZh": "角色管理员"}},
        tenant=tenant.slug,
        token=clerk.access,
    )
    assert "errors" not in body, body


async def test_user_managers_cannot_manage_accounts_with_more_rights(
    api, runtime, tenant, admin_token
):
    # given an HR clerk who manages users, and a customer-service agent (who holds rights,
    # e.g. estate ones, that the clerk lacks) and the tenant admin
    await create_role(
        api, tenant, admin_token, "hr2", ["identity.users.manage", "identity.users.view"]
    )
    hr = await member(api, runtime, tenant, roles=("hr2",))
    agent = await member(api, runtime, tenant, roles=("customer_service",))
    admin_gid = (await api("{ me { id } }", tenant=tenant.slug, token=admin_token))["data"]["me"][
        "id"
    ]
    for target in (agent.gid, admin_gid):
        # when the clerk strips their roles, disables them or narrows their scope
        for doc, extra in (
            (SET_ROLES, {"roles": []}),
            (
                "mutation($i: SetUserActiveInput!) { setUserActive(input: $i) { id } }",
                {"active": False},
            ),
            (
                "mutation($i: SetUserScopeInput!) { setUserScope(input: $i) { id } }",
                {"allCommunities": False, "communityIds": []},
            ),
        ):
            body = await api(
                doc, {"i": {"userId": target, **extra}}, tenant=tenant.slug, token=hr.access
            )
            # then it is refused, and the account keeps working as before
            assert codes(body) == ["FORBIDDEN"], (target, doc)
    me = await api("{ me { roles { key } } }", tenant=tenant.slug, token=agent.access)
    assert me["data"]["me"]["roles"] == [{"key": "customer_service"}]
