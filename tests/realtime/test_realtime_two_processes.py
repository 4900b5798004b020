"""Fan-out across API processes: two uvicorn processes on the test database and Redis; an
event raised by a mutation on one reaches a subscriber on the other, and a subscriber of
another tenant never receives it (while still receiving its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from conftest import Services, make_tenant, signed_in
from kit import Place, Resident, add_resident, add_staff, make_place
from realtime_kit import INBOX_CHANGED, ApiProcess, open_socket, until_subscribed

from wuye.modules.workorders.realtime import resident_topic
from wuye.notify.service import inbox_topic
from wuye.runtime import Runtime

pytestmark = pytest.mark.slow
NOTICE = "notices.notice"
VARS = {"title": "停水通知", "summary": "明天停水", "category": "water", "notice_id": 1}


@pytest.fixture
def process_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    with open(tmp_path / "api.log", "w+b") as log:
        yield log


@pytest.fixture
def two_processes(
    runtime: Runtime, services: Services, process_log: IO[bytes]
) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    s = runtime.settings
    env = {
        "WUYE_ENV": "test",
        "WUYE_DEBUG": "true",
        "WUYE_DATABASE_URL": services.database_url,
        "WUYE_REDIS_URL": services.redis_url,
        "WUYE_SECRET_KEY": s.secret_key,
        "WUYE_REDIS_PREFIX": s.redis_prefix,
        "WUYE_QUEUE_NAME": s.queue_name,
        "WUYE_DB_POOL_SIZE": "2",
    }
    procs: list[ApiProcess] = []
    try:
        procs = [ApiProcess(env, process_log), ApiProcess(env, process_log)]
        yield procs[0], procs[1]
    except BaseException:
        process_log.seek(0)
        print(process_log.read().decode(errors="replace")[-5000:])
        raise
    finally:
        for p in procs:
            p.stop()
        assert all(p.proc.poll() is not None for p in procs)


async def _record(runtime: Runtime, tenant, user_id: int) -> None:
    async with runtime.db.tenant_session(tenant.schema) as s:
        await runtime.notifier.notify(
            s,
            runtime=runtime,
            tenant=tenant.slug,
            type_key=NOTICE,
            users=[user_id],
            variables=VARS,
            channels=[],
        )
        await s.commit()  # (its after-commit hooks are not run: no event from here)


async def _post(url: str, tenant: str, token: str, query: str, **variables: object) -> dict:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"x-tenant": tenant, "authorization": f"Bearer {token}"},
        )
    return r.json()  # type: ignore[no-any-return]


async def _mark_all_read(url: str, tenant: str, token: str) -> dict:
    return await _post(url, tenant, token, "mutation { markAllMessagesRead }")


async def test_event_on_one_process_reaches_a_subscriber_on_the_other(runtime, api, two_processes):
    proc_a, proc_b = two_processes
    tenant_a = await make_tenant(runtime, modules=("notices",))
    tenant_b = await make_tenant(runtime, modules=("notices",))
    alice = await signed_in(api, runtime, tenant_a, kind="resident")
    bob = await signed_in(api, runtime, tenant_b, kind="resident")
    assert alice.user_id == bob.user_id  # same user id in both tenants: the same topic name
    for tenant, who in ((tenant_a, alice), (tenant_b, bob)):
        await _record(runtime, tenant, who.user_id)
        await _record(runtime, tenant, who.user_id)
    await proc_a.wait_ready()
    await proc_b.wait_ready()

    async with (
        open_socket(proc_b.port, tenant_a.slug) as a_sock,
        open_socket(proc_b.port, tenant_b.slug) as b_sock,
    ):
        assert await a_sock.init(alice.token) == {"type": "connection_ack"}
        assert await b_sock.init(bob.token) == {"type": "connection_ack"}
        await a_sock.subscribe("1", INBOX_CHANGED)
        await b_sock.subscribe("1", INBOX_CHANGED)
        await until_subscribed(runtime, tenant_a.slug, inbox_topic(alice.user_id))
        await until_subscribed(runtime, tenant_b.slug, inbox_topic(bob.user_id))

        # tenant A's resident reads her inbox through process A ...
        body = await _mark_all_read(proc_a.url, tenant_a.slug, alice.token)
        assert body == {"data": {"markAllMessagesRead": 2}}, body
        # ... and her subscription on process B hears it
        message = await a_sock.recv(within=10)
        assert message["type"] == "next" and message["id"] == "1"
        assert message["payload"]["data"]["inboxChanged"] == {
            "unreadCount": 0,
            "reason": "read",
            "messageId": None,
        }
        # tenant B's resident with the same user id and subscription hears nothing of it
        await b_sock.nothing_within(1.0)

        # but does hear his own tenant's event, raised on process A too
        body = await _mark_all_read(proc_a.url, tenant_b.slug, bob.token)
        assert body == {"data": {"markAllMessagesRead": 2}}, body
        change = (await b_sock.recv(within=10))["payload"]["data"]["inboxChanged"]
        assert change["reason"] == "read" and change["unreadCount"] == 0
        await a_sock.nothing_within(0.5)


MY_ORDERS = "subscription { myWorkOrderChanged { action order { number status } } }"
SUBMIT = """mutation($i: SubmitWorkOrderInput!) { submitWorkOrder(input: $i) { id number } }"""
ACCEPT = """mutation($i: WorkOrderStepInput!) { acceptWorkOrder(input: $i) { status } }"""


async def _estate_with_a_resident(api, runtime: Runtime, tenant) -> tuple[Place, Resident]:
    place = await make_place(runtime, tenant, {"A": {"1": ["101"]}})
    return place, await add_resident(api, runtime, tenant, place.ids["A/1/101"])


async def test_a_work_order_step_on_one_process_reaches_its_resident_on_the_other(
    runtime, api, two_processes
):
    proc_a, proc_b = two_processes
    tenant_a = await make_tenant(runtime, modules=("workorders",))
    tenant_b = await make_tenant(runtime, modules=("workorders",))
    place, alice = await _estate_with_a_resident(api, runtime, tenant_a)
    _, bob = await _estate_with_a_resident(api, runtime, tenant_b)
    desk = await add_staff(api, runtime, tenant_a, roles=("customer_service",))
    assert alice.user_id == bob.user_id  # the same topic name in both tenants
    await proc_a.wait_ready()
    await proc_b.wait_ready()
    order = {"type": "repair", "description": "水龙头漏水", "unitId": place.gid("A/1/101")}
    submitted = await _post(proc_a.url, tenant_a.slug, alice.token, SUBMIT, i=order)
    oid = submitted["data"]["submitWorkOrder"]["id"]

    async with (
        open_socket(proc_b.port, tenant_a.slug) as a_sock,
        open_socket(proc_b.port, tenant_b.slug) as b_sock,
    ):
        assert await a_sock.init(alice.token) == {"type": "connection_ack"}
        assert await b_sock.init(bob.token) == {"type": "connection_ack"}
        await a_sock.subscribe("1", MY_ORDERS)
        await b_sock.subscribe("1", MY_ORDERS)
        await until_subscribed(runtime, tenant_a.slug, resident_topic(alice.user_id))
        await until_subscribed(runtime, tenant_b.slug, resident_topic(bob.user_id))

        # customer service accepts the order through process A ...
        body = await _post(proc_a.url, tenant_a.slug, desk.token, ACCEPT, i={"id": oid})
        assert body == {"data": {"acceptWorkOrder": {"status": "accepted"}}}, body
        # ... the resident's app, connected to process B, hears it
        change = (await a_sock.recv(within=10))["payload"]["data"]["myWorkOrderChanged"]
        assert change["action"] == "accept" and change["order"]["status"] == "accepted"
        # tenant B's resident with the same user id hears nothing
        await b_sock.nothing_within(1.0)
