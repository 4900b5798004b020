"""Helpers for the notification API tests: tenants with the notices module, signed-in
accounts, messages recorded through the real ``Notifier``, rows read back from the schema."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conftest import TEST_PASSWORD, Api, TenantFixture, login, make_tenant, new_phone
from sqlalchemy import select

from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.notify.models import Message
from wuye.notify.service import Recorded
from wuye.runtime import Runtime

NOTICE = "notices.notice"  # non-urgent; sms / wechat / email; wechat by default
URGENT = "notices.urgent"  # urgent; sms + wechat by default
VARS = {"title": "停水通知", "summary": "明天停水", "category": "water", "notice_id": 1}


@dataclass
class Member:
    """A signed-in account of a tenant."""

    id: int
    phone: str
    token: str

    @property
    def gid(self) -> str:
        return encode_id("User", self.id)


async def notices_tenant(runtime: Runtime) -> TenantFixture:
    """A tenant running the notices module (whose message types the tests send)."""
    return await make_tenant(runtime, modules=("notices",))


async def member(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    kind: str = "resident",
    roles: Sequence[str] = (),
    locale: str = "zh-CN",
) -> Member:
    """A new account, written straight into the tenant schema, then signed in."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        user = await identity.create_user(
            s,
            kind=kind,
            name=f"{kind}-{secrets.token_hex(2)}",
            phone=new_phone(),
            email=None,
            role_keys=roles,
            all_communities=False,
            password_hash=runtime.passwords.hash(TEST_PASSWORD),
        )
        user.locale = locale
        await s.commit()
        user_id, phone = user.id, user.phone or ""
    pair = await login(api, tenant.slug, phone)
    return Member(user_id, phone, pair["accessToken"])


async def notify(
    runtime: Runtime,
    tenant: TenantFixture,
    users: Sequence[int],
    *,
    type_key: str = NOTICE,
    variables: dict[str, Any] | None = None,
    channels: Sequence[str] | None = None,
    source: str = "",
) -> Recorded:
    """Record a message through the real ``Notifier``, committed."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        recorded = await runtime.notifier.notify(
            s,
            runtime=runtime,
            tenant=tenant.slug,
            type_key=type_key,
            users=list(users),
            variables=variables or VARS,
            channels=channels,
            source=source,
        )
        await s.commit()
    return recorded


async def messages(runtime: Runtime, tenant: TenantFixture, user_id: int) -> list[Message]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        rows = await s.scalars(
            select(Message).where(Message.user_id == user_id).order_by(Message.id)
        )
        return list(rows)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]
