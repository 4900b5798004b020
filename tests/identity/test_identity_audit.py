"""Audit: every successful mutation leaves one row; failed ones leave nothing at all."""

from __future__ import annotations

import secrets

from conftest import TEST_PASSWORD, login, new_phone
from identity_kit import (
    CREATE_ROLE,
    CREATE_STAFF,
    LOGOUT,
    REFRESH,
    codes,
    create_role,
    member,
)
from sqlalchemy import func, select, text

from wuye.graphql.ids import decode_id
from wuye.identity.models import AuditLog, Role, User

ACCEPT = """mutation($i: AcceptInviteInput!) { acceptInvite(input: $i) {
  accessToken refreshToken user { id } } }"""


async def _audit_rows(runtime, tenant, **where) -> list[AuditLog]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        stmt = select(AuditLog).order_by(AuditLog.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditLog, key) == value)
        return list(await s.scalars(stmt))


async def _count(runtime, tenant, model, *where) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def test_a_successful_mutation_writes_one_audit_row(api, runtime, tenant, admin_token):
    # given a request id chosen by the client
    request_id = f"req-{secrets.token_hex(8)}"
    before = await _count(runtime, tenant, AuditLog)
    # when the admin creates a role
    body = await api(
        CREATE_ROLE,
        {"i": {"key": "auditor", "nameZh": "审计", "permissions": ["identity.audit.view"]}},
        tenant=tenant.slug,
        token=admin_token,
        headers={"x-request-id": request_id},
    )
    assert "errors" not in body, body
    # then exactly one row records who did what, from where, in which request
    assert await _count(runtime, tenant, AuditLog) == before + 1
    (row,) = await _audit_rows(runtime, tenant, request_id=request_id)
    assert row.action == "createRole"
    assert (row.actor_kind, row.actor_id) == ("staff", tenant.admin_id)
    assert (row.object_type, row.object_id) == ("Role", "auditor")
    assert str(row.ip) == "127.0.0.1"
    assert row.detail == {
        "input": {
            "key": "auditor",
            "name_zh": "审计",
            "name_en": "",
            "permissions": ["identity.audit.view"],
        }
    }


async def test_sign_ins_are_audited_as_the_account_without_secrets(
    api, runtime, tenant, admin_token
):
    # given a staff member invited by the admin
    body = await api(
        CREATE_STAFF,
        {
            "i": {
                "name": "王芳",
                "phone": new_phone(),
                "email": f"wf{secrets.token_hex(3)}@example.com",
            }
        },
        tenant=tenant.slug,
        token=admin_token,
    )
    invite = body["data"]["createStaff"]["inviteToken"]
    password = f"Pw-{secrets.token_hex(6)}-9"
    # when they accept the invitation, sign in, refresh and sign out
    accepted = (
        await api(ACCEPT, {"i": {"token": invite, "password": password}}, tenant=tenant.slug)
    )["data"]["acceptInvite"]
    user_id = body["data"]["createStaff"]["user"]["id"]
    email = (await api("{ me { email } }", tenant=tenant.slug, token=accepted["accessToken"]))[
        "data"
    ]["me"]["email"]
    signed_in = await login(api, tenant.slug, email, password)
    refreshed = (
        await api(REFRESH, {"i": {"refreshToken": signed_in["refreshToken"]}}, tenant=tenant.slug)
    )["data"]["refreshToken"]
    out = await api(LOGOUT, {"i": {"refreshToken": refreshed["refreshToken"]}}, tenant=tenant.slug)
    assert out["data"]["logout"] is True
    # then each step is in the audit log, the sign-ins under the account itself
    actions = [r.action for r in await _audit_rows(runtime, tenant)]
    assert actions[-5:] == ["createStaff", "acceptInvite", "login", "refreshToken", "logout"]
    login_row = (await _audit_rows(runtime, tenant, action="login"))[-1]
    staff_id = decode_id(user_id, "User")
    assert (login_row.actor_kind, login_row.actor_id) == ("staff", staff_id)
    assert (login_row.object_type, login_row.object_id) == ("User", str(staff_id))
    assert login_row.detail == {"input": {"identifier": email, "password": "***"}}
    # and no password or token appears anywhere in the audit table
    secrets_used = [
        password,
        TEST_PASSWORD,
        invite,
        accepted["refreshToken"],
        signed_in["refreshToken"],
        refreshed["refreshToken"],
        signed_in["accessToken"],
        admin_token,
    ]
    async with runtime.db.tenant_session(tenant.schema) as s:
        dump = await s.scalar(text("SELECT string_agg(a::text, ' ') FROM audit_log a"))
    for secret in secrets_used:
        assert secret not in dump


async def test_a_failed_mutation_writes_nothing(api, runtime, tenant, admin_token):
    before = await _count(runtime, tenant, AuditLog)
    users_before = await _count(runtime, tenant, User)
    # when the admin creates staff with a phone number already taken
    body = await api(
        CREATE_STAFF,
        {"i": {"name": "重复", "phone": tenant.admin_phone}},
        tenant=tenant.slug,
        token=admin_token,
    )
    # then it conflicts
    assert codes(body) == ["CONFLICT"] and body["data"] is None
    # when the user row is written before a later step fails (an unknown role)
    phone = new_phone()
    body = await api(
        CREATE_STAFF,
        {"i": {"name": "半途", "phone": phone, "roles": ["no_such_role"]}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    # when one of two mutations in one request fails
    body = await api(
        """mutation {
        a: createRole(input: {key: "first_ok", nameZh: "一"}) { key }
        b: createRole(input: {key: "Bad Key", nameZh: "二"}) { key } }""",
        tenant=tenant.slug,
        token=admin_token,
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    # then none of it was kept: no user, no role, no audit row
    assert await _count(runtime, tenant, User) == users_before
    assert await _count(runtime, tenant, User, User.phone == phone) == 0
    assert await _count(runtime, tenant, Role, Role.key == "first_ok") == 0
    assert await _count(runtime, tenant, AuditLog) == before


async def test_audit_log_query_lists_entries_for_those_allowed(api, runtime, tenant, admin_token):
    # given two audited changes
    request_id = f"req-{secrets.token_hex(6)}"
    await create_role(api, tenant, admin_token, "one_role", [])
    body = await api(
        CREATE_ROLE,
        {"i": {"key": "two_role", "nameZh": "二"}},
        tenant=tenant.slug,
        token=admin_token,
        headers={"x-request-id": request_id},
    )
    assert "errors" not in body
    # when a manager (identity.audit.view) reads the log
    manager = await member(api, runtime, tenant, roles=("manager",))
    q = """query($a: String) { auditLog(first: 10, action: $a) { totalCount edges { node {
        action actorKind actorId objectType objectId requestId ip detail } } } }"""
    body = await api(q, {"a": "createRole"}, tenant=tenant.slug, token=manager.access)
    # then the entries come newest first, with their details
    log = body["data"]["auditLog"]
    assert log["totalCount"] == 2
    newest = log["edges"][0]["node"]
    assert newest["objectId"] == "two_role" and newest["requestId"] == request_id
    assert newest["actorId"] == tenant.admin_id and newest["ip"] == "127.0.0.1"
    assert newest["detail"]["input"]["key"] == "two_role"
    assert log["edges"][1]["node"]["objectId"] == "one_role"
    # and the manager's own sign-in is in the unfiltered log
    everything = await api(q, tenant=tenant.slug, token=manager.access)
    assert "login" in {e["node"]["action"] for e in everything["data"]["auditLog"]["edges"]}
    # while customer service may not read it
    service = await member(api, runtime, tenant, roles=("customer_service",))
    assert codes(await api(q, tenant=tenant.slug, token=service.access)) == ["FORBIDDEN"]
