"""Module subscriptions: declared access (deny by default covers Subscription), the module
switch and the permission checked when a subscription starts, the switch re-checked on
every event -- with a test module written the way a real module writes one."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import pytest
import strawberry
from conftest import build_runtime, login, make_tenant, signed_in
from realtime_kit import in_process_server, open_socket, until_subscribed

from wuye.app import create_app
from wuye.graphql.access import query, subscription
from wuye.graphql.realtime import publish_after_commit
from wuye.graphql.schema import (
    SchemaAssemblyError,
    build_tenant_schema,
    root_fields_without_access,
)
from wuye.identity.permissions import Permission
from wuye.modules.base import Module
from wuye.modules.registry import MODULES
from wuye.tenancy.service import set_module

PING_WATCH = Permission("pings.watch", "看", "Watch pings")


@strawberry.type
class Ping:
    n: int
    by: str


@strawberry.type
class PingQuery:
    @query(signed_in=True)
    async def ping_count(self) -> int:
        return 0


@strawberry.type
class PingSubscription:
    @subscription(PING_WATCH, description="Every ping of the tenant")
    async def pings(self, info: strawberry.Info) -> AsyncGenerator[Ping, None]:
        ctx = info.context
        user = await ctx.user()  # checked once at start; the session is released after
        async for payload in ctx.events("pings"):  # tenant, token, module re-checked
            yield Ping(n=int(payload["n"]), by=f"{user.kind}")


PINGS = Module(
    key="pings",
    title_zh="乒",
    title_en="Pings",
    permissions=(PING_WATCH,),
    role_grants={"manager": ("pings.watch",)},
    query=PingQuery,
    subscription=PingSubscription,
)


def test_deny_by_default_covers_subscription_roots():
    @strawberry.type
    class Open:
        @strawberry.subscription
        async def leak(self) -> AsyncGenerator[int, None]:
            yield 1

    schema = strawberry.Schema(query=PingQuery, subscription=Open)
    assert root_fields_without_access(schema) == ["Open.leak"]
    leaky = Module(key="leaky", title_zh="漏", title_en="Leaky", subscription=Open)
    with pytest.raises(SchemaAssemblyError, match="leak"):
        build_tenant_schema((leaky,))
    assert root_fields_without_access(build_tenant_schema((*MODULES, PINGS))) == []


@pytest.fixture(scope="module")
async def ping_port(settings, services) -> AsyncIterator[tuple[object, int]]:
    rt = build_runtime(settings, services, modules=(*MODULES, PINGS))
    try:
        async with in_process_server(rt) as port:
            yield rt, port
    finally:
        await rt.close()


async def _switch(rt, slug: str, enabled: bool) -> None:
    async with rt.db.shared_session() as s:
        await set_module(
            s,
            slug=slug,
            key="pings",
            enabled=enabled,
            config=None,
            changed_by="tests",
            modules=rt.modules,
        )
        await s.commit()
    await rt.directory.invalidate()


async def _publish(rt, slug: str, n: int) -> None:
    """The way a service function announces: in its transaction, after commit."""
    from wuye.db import take_after_commit

    async with rt.db.shared_session() as s:
        publish_after_commit(s, rt, slug, "pings", {"n": n})
        await s.commit()
    for hook in take_after_commit(s):
        await hook()


async def test_module_subscription_access_switch_and_per_event_recheck(ping_port):
    rt, port = ping_port
    from conftest import Api, client_for

    async with client_for(create_app(rt)) as http:
        api = Api(http, "/graphql")
        tenant = await make_tenant(rt)
        admin = (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
        resident = await signed_in(api, rt, tenant, kind="resident")
    sub = "subscription { pings { n by } }"

    async with open_socket(port, tenant.slug) as sock:
        await sock.init(admin)
        await sock.subscribe("off", sub)  # module off
        error = await sock.recv()
        assert error["type"] == "error"
        assert error["payload"][0]["extensions"]["code"] == "MODULE_DISABLED"

        await _switch(rt, tenant.slug, True)
        await sock.subscribe("on", sub)
        await until_subscribed(rt, tenant.slug, "pings")
        await _publish(rt, tenant.slug, 7)
        got = await sock.recv()
        assert got == {"id": "on", "type": "next", "payload": {"data": {"pings": {
            "n": 7, "by": "staff"}}}}  # fmt: skip

        # switched off while subscribed: the next event ends the subscription
        await _switch(rt, tenant.slug, False)
        await _publish(rt, tenant.slug, 8)
        error = await sock.recv()
        assert error["id"] == "on" and error["type"] == "error"
        assert error["payload"][0]["extensions"]["code"] == "MODULE_DISABLED"

    await _switch(rt, tenant.slug, True)
    async with open_socket(port, tenant.slug) as sock:
        await sock.init(resident.token)
        await sock.subscribe("1", sub)  # a resident lacks pings.watch
        error = await sock.recv()
        assert error["payload"][0]["extensions"]["code"] == "FORBIDDEN"
