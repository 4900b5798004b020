"""graphql-transport-ws on /graphql through a real socket: handshake, sign-in, tenant and
token checks, the message types and close codes, and ``inboxChanged`` end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import jwt
import pytest
from conftest import make_tenant, signed_in
from realtime_kit import INBOX_CHANGED, in_process_server, open_socket, until, until_subscribed

from wuye.graphql import ws
from wuye.identity.tokens import Tokens, tenant_audience
from wuye.notify.service import inbox_topic
from wuye.runtime import Runtime

NOTICE = "notices.notice"
VARS = {"title": "停水通知", "summary": "明天停水", "category": "water", "notice_id": 1}
MARK_ALL = "mutation { markAllMessagesRead }"


@pytest.fixture(scope="module")
async def port(runtime: Runtime) -> AsyncIterator[int]:
    async with in_process_server(runtime) as p:
        yield p


@pytest.fixture(scope="module")
async def tenant_a(runtime):
    return await make_tenant(runtime, modules=("notices",))


@pytest.fixture(scope="module")
async def tenant_b(runtime):
    return await make_tenant(runtime, modules=("notices",))


async def notify(runtime, tenant, user_ids, *, commit: bool = True):
    async with runtime.db.tenant_session(tenant.schema) as s:
        recorded = await runtime.notifier.notify(
            s,
            runtime=runtime,
            tenant=tenant.slug,
            type_key=NOTICE,
            users=list(user_ids),
            variables=VARS,
            channels=[],
        )
        if commit:
            await s.commit()
        else:
            await s.rollback()
    # what Context.finish does for a request
    from wuye.db import take_after_commit

    for hook in take_after_commit(s) if commit else []:
        await hook()
    return recorded


async def test_ping_pong_and_inbox_changed_end_to_end(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.send({"type": "ping"})  # allowed even before connection_init
        assert await sock.recv() == {"type": "pong"}
        assert await sock.init(me.token) == {"type": "connection_ack"}
        await sock.subscribe("1", INBOX_CHANGED)
        await until_subscribed(runtime, tenant_a.slug, inbox_topic(me.user_id))

        recorded = await notify(runtime, tenant_a, [me.user_id, me.user_id])
        message = await sock.recv()
        assert message["id"] == "1" and message["type"] == "next"
        change = message["payload"]["data"]["inboxChanged"]
        assert change["unreadCount"] == 1 and change["reason"] == "added"
        assert change["messageId"] and recorded.count("inbox") == 1

        # marking read on another "device" (HTTP) updates this one
        assert (await api(MARK_ALL, tenant=tenant_a.slug, token=me.token))["data"] == {
            "markAllMessagesRead": 1
        }
        change = (await sock.recv())["payload"]["data"]["inboxChanged"]
        assert change == {"unreadCount": 0, "reason": "read", "messageId": None}
        # nothing changed: nothing announced
        await api(MARK_ALL, tenant=tenant_a.slug, token=me.token)
        await sock.nothing_within(0.3)


async def test_rolled_back_notify_announces_nothing(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.init(me.token)
        await sock.subscribe("s", INBOX_CHANGED)
        await until_subscribed(runtime, tenant_a.slug, inbox_topic(me.user_id))
        await notify(runtime, tenant_a, [me.user_id], commit=False)
        await sock.nothing_within(0.5)


async def test_notify_to_many_publishes_one_event_each(port, runtime, api, tenant_a):
    one = await signed_in(api, runtime, tenant_a, kind="resident")
    two = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, tenant_a.slug) as a, open_socket(port, tenant_a.slug) as b:
        for sock, who in ((a, one), (b, two)):
            await sock.init(who.token)
            await sock.subscribe("x", INBOX_CHANGED)
            await until_subscribed(runtime, tenant_a.slug, inbox_topic(who.user_id))
        await notify(runtime, tenant_a, [one.user_id, two.user_id])
        for sock in (a, b):
            change = (await sock.recv())["payload"]["data"]["inboxChanged"]
            assert change["unreadCount"] == 1 and change["reason"] == "added"
        await a.nothing_within(0.2)


async def test_complete_stops_events(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    topic = inbox_topic(me.user_id)
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.init(me.token)
        await sock.subscribe("1", INBOX_CHANGED)
        await until_subscribed(runtime, tenant_a.slug, topic)
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        assert (await sock.recv())["type"] == "next"
        await sock.send({"id": "1", "type": "complete"})

        async def unsubscribed() -> bool:
            return runtime.broker.channel(tenant_a.slug, topic) not in runtime.broker.channels

        await until(unsubscribed, "the broker to drop the channel")
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        await sock.nothing_within(0.3)
        # the id is free again, and the socket still works
        await sock.subscribe("1", INBOX_CHANGED)
        await until(lambda: _not(unsubscribed), "the resubscription")
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        assert (await sock.recv())["id"] == "1"


async def _not(check) -> bool:
    return not await check()


async def test_two_subscriptions_on_one_socket_and_one_redis_subscription(
    port, runtime, api, tenant_a
):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    topic = inbox_topic(me.user_id)
    async with open_socket(port, tenant_a.slug) as one, open_socket(port, tenant_a.slug) as two:
        await one.init(me.token)
        await two.init(me.token)
        await one.subscribe("a", INBOX_CHANGED)
        await one.subscribe("b", INBOX_CHANGED)
        await two.subscribe("a", INBOX_CHANGED)
        channel = runtime.broker.channel(tenant_a.slug, topic)

        async def three_listeners() -> bool:
            return len(runtime.broker._listeners.get(channel, ())) == 3

        await until(three_listeners, "three local listeners")
        found = await runtime.redis.pubsub_numsub(channel)
        assert found[0][1] == 1  # one Redis subscription for the whole process
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        got = {(await one.recv())["id"], (await one.recv())["id"], (await two.recv())["id"]}
        assert got == {"a", "b"}


async def test_queries_and_mutations_are_refused_over_the_socket(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.init(me.token)
        await sock.subscribe("q", "{ unreadMessageCount }")
        error = await sock.recv()
        assert error["type"] == "error" and error["id"] == "q"
        assert error["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
        await sock.subscribe("m", MARK_ALL)
        assert (await sock.recv())["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
        await sock.subscribe("v", "subscription { nope }")
        error = await sock.recv()
        assert error["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        # the socket stays open
        await sock.send({"type": "ping"})
        assert await sock.recv() == {"type": "pong"}


async def test_no_connection_init_in_time_closes_4408(port, tenant_a, monkeypatch):
    monkeypatch.setattr(ws, "CONNECTION_INIT_TIMEOUT_S", 0.3)
    async with open_socket(port, tenant_a.slug) as sock:
        assert (await sock.closed_with())[0] == 4408


async def test_bad_or_missing_token_closes_4403(port, tenant_a):
    for payload in ({"Authorization": "Bearer not-a-token"}, {}, None):
        async with open_socket(port, tenant_a.slug) as sock:
            await sock.send({"type": "connection_init", "payload": payload})
            assert (await sock.closed_with())[0] == 4403


async def test_token_variants_are_accepted(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    for payload in ({"authorization": f"Bearer {me.token}"}, {"token": me.token}):
        async with open_socket(port, tenant_a.slug) as sock:
            await sock.send({"type": "connection_init", "payload": payload})
            assert await sock.recv() == {"type": "connection_ack"}


async def test_other_tenants_token_closes_4403(port, runtime, api, tenant_a, tenant_b):
    a_user = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, None, host=f"{tenant_b.slug}.localhost") as sock:
        await sock.send({"type": "connection_init", "payload": {"token": a_user.token}})
        assert (await sock.closed_with())[0] == 4403
    async with open_socket(port, None, host=f"{tenant_a.slug}.localhost") as sock:  # by Host
        assert await sock.init(a_user.token) == {"type": "connection_ack"}


async def test_unknown_tenant_closes_4404_and_protocol_is_required(port, tenant_a):
    async with open_socket(port, "no-such-tenant") as sock:
        assert (await sock.closed_with())[0] == 4404
    async with open_socket(port, tenant_a.slug, protocol="graphql-ws") as sock:
        assert (await sock.closed_with())[0] == 4406


async def test_subscribe_before_ack_closes_4401(port, tenant_a):
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.subscribe("1", INBOX_CHANGED)
        assert (await sock.closed_with())[0] == 4401


async def test_duplicate_id_closes_4409_and_second_init_4429(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.init(me.token)
        await sock.subscribe("1", INBOX_CHANGED)
        await sock.subscribe("1", INBOX_CHANGED)
        assert (await sock.closed_with())[0] == 4409
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.init(me.token)
        await sock.send({"type": "connection_init", "payload": {"token": me.token}})
        assert (await sock.closed_with())[0] == 4429
    async with open_socket(port, tenant_a.slug) as sock:
        await sock.conn.send("not json")
        assert (await sock.closed_with())[0] == 4400


async def test_expired_token_closes_4401_at_the_next_event(port, runtime, api, tenant_a):
    me = await signed_in(api, runtime, tenant_a, kind="resident")
    short = Tokens(runtime.settings.secret_key, access_ttl_s=2)  # a short token TTL
    token = short.issue_access(subject_id=me.user_id, kind="resident", audience=tenant_audience(
        tenant_a.slug))  # fmt: skip
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    topic = inbox_topic(me.user_id)
    async with open_socket(port, tenant_a.slug) as sock:
        assert await sock.init(token) == {"type": "connection_ack"}
        await sock.subscribe("1", INBOX_CHANGED)
        await until_subscribed(runtime, tenant_a.slug, topic)
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        assert (await sock.recv())["type"] == "next"  # still valid
        await asyncio.sleep(max(0.0, expires - __import__("time").time()) + 0.2)
        await runtime.broker.publish(tenant_a.slug, topic, {"reason": "read"})
        code, reason = await sock.closed_with()
        assert code == 4401 and "expired" in reason.lower()


async def test_suspended_tenant_closes_4403_at_the_next_event(port, runtime, api):
    tenant = await make_tenant(runtime)
    me = await signed_in(api, runtime, tenant, kind="resident")
    topic = inbox_topic(me.user_id)
    async with open_socket(port, tenant.slug) as sock:
        await sock.init(me.token)
        await sock.subscribe("1", INBOX_CHANGED)
        await until_subscribed(runtime, tenant.slug, topic)
        from sqlalchemy import update

        from wuye.tenancy.models import Tenant

        async with runtime.db.shared_session() as s:
            await s.execute(update(Tenant).where(Tenant.slug == tenant.slug).values(
                status="suspended"))  # fmt: skip
            await s.commit()
        await runtime.directory.invalidate()
        await runtime.broker.publish(tenant.slug, topic, {"reason": "read"})
        assert (await sock.closed_with())[0] == 4403
