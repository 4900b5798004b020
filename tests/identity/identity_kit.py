"""Helpers for the identity tests: accounts made in the tenant schema, clients, error codes."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import TEST_PASSWORD, Api, TenantFixture, login, new_phone

from wuye.app import create_app
from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.runtime import Runtime

REFRESH = """mutation($i: RefreshInput!) { refreshToken(input: $i) {
  accessToken refreshToken user { id } } }"""
LOGOUT = "mutation($i: RefreshInput!) { logout(input: $i) }"
SET_ACTIVE = """mutation($i: SetUserActiveInput!) { setUserActive(input: $i) { id isActive } }"""
SET_ROLES = """mutation($i: SetUserRolesInput!) { setUserRoles(input: $i) { id roles { key } } }"""
CREATE_ROLE = """mutation($i: CreateRoleInput!) { createRole(input: $i) { key permissions } }"""
UPDATE_ROLE = """mutation($i: UpdateRoleInput!) { updateRole(input: $i) { key permissions } }"""
DELETE_ROLE = "mutation($i: RoleKeyInput!) { deleteRole(input: $i) }"
CREATE_STAFF = """mutation($i: CreateStaffInput!) { createStaff(input: $i) {
  inviteToken user { id name phone roles { key } allCommunities } } }"""


@dataclass
class Member:
    """A signed-in account of a tenant."""

    id: int
    phone: str
    access: str
    refresh: str

    @property
    def gid(self) -> str:
        return encode_id("User", self.id)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def error(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a response."""
    assert len(body.get("errors", [])) == 1, body
    return body["errors"][0]


def random_ip() -> str:
    return (
        f"10.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    )


@contextlib.asynccontextmanager
async def client_from(runtime: Runtime, ip: str | None = None) -> AsyncIterator[Api]:
    """A tenant API client with its own client address, so per-IP throttles stay its own."""
    transport = httpx.ASGITransport(app=create_app(runtime), client=(ip or random_ip(), 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, "/graphql")


async def add_user(
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    kind: str = "staff",
    roles: tuple[str, ...] = (),
    email: str | None = None,
    phone: str | None = None,
    all_communities: bool = False,
) -> tuple[int, str]:
    """An account with TEST_PASSWORD, written straight into the tenant schema."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        user = await identity.create_user(
            s,
            kind=kind,
            name=f"{kind}-{secrets.token_hex(2)}",
            phone=phone or new_phone(),
            email=email,
            role_keys=roles,
            all_communities=all_communities,
            password_hash=runtime.passwords.hash(TEST_PASSWORD),
        )
        await s.commit()
        return user.id, user.phone or ""


async def member(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    kind: str = "staff",
    roles: tuple[str, ...] = (),
) -> Member:
    """A new account of ``kind`` with ``roles``, signed in."""
    user_id, phone = await add_user(runtime, tenant, kind=kind, roles=roles)
    pair = await login(api, tenant.slug, phone)
    return Member(user_id, phone, pair["accessToken"], pair["refreshToken"])


async def create_role(
    api: Api, tenant: TenantFixture, token: str, key: str, permissions: list[str]
) -> None:
    body = await api(
        CREATE_ROLE,
        {"i": {"key": key, "nameZh": key, "permissions": permissions}},
        tenant=tenant.slug,
        token=token,
    )
    assert "errors" not in body, body
