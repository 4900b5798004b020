"""Work-order subscriptions over a real WebSocket: the resident follows their order, the
worker's queue gains and loses orders, staff queues stay within their rights, and no event
crosses tenants."""

from __future__ import annotations

from typing import Any

from conftest import login, make_tenant
from kit import add_resident, add_staff, ok
from realtime_kit import in_process_server, open_socket, until_subscribed
from wo_kit import make_crew, submit, take, user_gid, wo_tenant

from wuye.graphql.ids import decode_id
from wuye.modules.workorders import realtime
from wuye.runtime import Runtime

CHANGE = "{ orderId action visible order { id status worker { name } } }"
MINE = f"subscription {{ myWorkOrderChanged {CHANGE} }}"
QUEUE = f"subscription {{ workQueueChanged {CHANGE} }}"
STAFF = f"subscription {{ workOrdersChanged {CHANGE} }}"


def _data(message: dict[str, Any], field: str) -> dict[str, Any]:
    assert message["type"] == "next", message
    return dict(message["payload"]["data"][field])


async def test_resident_and_worker_follow_an_order_live(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    slug = crew.tenant.slug
    order = await submit(api, crew)
    async with (
        in_process_server(runtime) as port,
        open_socket(port, slug) as resident,
        open_socket(port, slug) as worker,
    ):
        assert (await resident.init(crew.resident.token))["type"] == "connection_ack"
        assert (await worker.init(crew.worker.token))["type"] == "connection_ack"
        await resident.subscribe("1", MINE)
        await worker.subscribe("1", QUEUE)
        await until_subscribed(runtime, slug, realtime.resident_topic(crew.resident.user_id))
        await until_subscribed(runtime, slug, realtime.QUEUE)

        ok(await take(api, crew, crew.desk, "accept", order["id"]))
        change = _data(await resident.recv(), "myWorkOrderChanged")
        assert change["action"] == "accept" and change["order"]["status"] == "accepted"

        dispatch = {"workerId": user_gid(crew.worker.user_id)}
        ok(await take(api, crew, crew.desk, "dispatch", order["id"], **dispatch))
        mine = _data(await worker.recv(), "workQueueChanged")
        assert mine["visible"] and mine["order"]["status"] == "dispatched"
        assert _data(await resident.recv(), "myWorkOrderChanged")["order"]["worker"]

        # transferred away: the worker is told it left their queue, without its content
        other = await crew_worker(api, runtime, crew)
        ok(await take(api, crew, crew.desk, "transfer", order["id"], workerId=user_gid(other)))
        gone = _data(await worker.recv(), "workQueueChanged")
        assert gone == {
            "orderId": order["id"],
            "action": "transfer",
            "visible": False,
            "order": None,
        }


async def crew_worker(api: Any, runtime: Runtime, crew: Any) -> int:
    return (await add_staff(api, runtime, crew.tenant, roles=("maintenance_worker",))).user_id


async def test_no_event_crosses_residents_rights_or_tenants(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    slug = crew.tenant.slug
    neighbour = await add_resident(api, runtime, crew.tenant, crew.place.ids["A/1号楼/102"])
    limited = await _desk_of_b(api, runtime, crew)
    other = await wo_tenant(runtime)
    other_crew = await make_crew(api, runtime, other)
    async with (
        in_process_server(runtime) as port,
        open_socket(port, slug) as nosy,
        open_socket(port, slug) as desk_b,
        open_socket(port, other.slug) as foreign,
    ):
        await nosy.init(neighbour.token)
        await desk_b.init(limited.token)
        await foreign.init(other_crew.manager.token)
        await nosy.subscribe("1", MINE)
        await desk_b.subscribe("1", STAFF)
        await foreign.subscribe("1", STAFF)
        await until_subscribed(runtime, slug, realtime.QUEUE)
        await until_subscribed(runtime, other.slug, realtime.QUEUE)

        order = await submit(api, crew)  # community A, the crew's resident
        ok(await take(api, crew, crew.desk, "accept", order["id"]))
        for socket in (nosy, desk_b, foreign):
            await socket.nothing_within(0.5)
        # the foreign manager still gets their own tenant's events
        await submit(api, other_crew)
        assert _data(await foreign.recv(), "workOrdersChanged")["action"] == "submit"


async def _desk_of_b(api: Any, runtime: Runtime, crew: Any) -> Any:
    return await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        all_communities=False,
        communities=(crew.place.ids["B"],),
    )


async def test_subscriptions_need_the_module(api, runtime: Runtime) -> None:
    plain = await make_tenant(runtime)
    token = str((await login(api, plain.slug, plain.admin_phone))["accessToken"])
    async with in_process_server(runtime) as port, open_socket(port, plain.slug) as socket:
        await socket.init(token)
        await socket.subscribe("1", STAFF)
        message = await socket.recv()
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "MODULE_DISABLED"


THREAD = """subscription($id: ID!) { workOrderMessageAdded(orderId: $id) {
  id body fromStaff sender { name } } }"""
POST = """mutation($i: PostWorkOrderMessageInput!) { postWorkOrderMessage(input: $i) { id } }"""


async def test_a_consultation_thread_is_live_for_its_readers_only(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    slug = crew.tenant.slug
    order = await submit(api, crew, type="consultation", description="停车位怎么租？")
    neighbour = await add_resident(api, runtime, crew.tenant, crew.place.ids["A/1号楼/102"])
    ok(await take(api, crew, crew.desk, "accept", order["id"]))
    async with (
        in_process_server(runtime) as port,
        open_socket(port, slug) as resident,
        open_socket(port, slug) as nosy,
    ):
        await resident.init(crew.resident.token)
        await nosy.init(neighbour.token)
        await nosy.subscribe("1", THREAD, variables={"id": order["id"]})
        refused = await nosy.recv()
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"
        await resident.subscribe("1", THREAD, variables={"id": order["id"]})
        await until_subscribed(runtime, slug, realtime.thread_topic(_pk(order["id"])))
        body = {"orderId": order["id"], "kind": "text", "body": "可以在物业中心办理"}
        ok(await api(POST, {"i": body}, tenant=slug, token=crew.desk.token))
        message = _data(await resident.recv(), "workOrderMessageAdded")
        assert message["body"] == "可以在物业中心办理" and message["fromStaff"] is True
    # and the order list shows the unread reply
    listed = ok(
        await api(
            "{ myWorkOrders { edges { node { unreadMessages lastEvent { action } } } } }",
            tenant=slug,
            token=crew.resident.token,
        )
    )
    assert listed["myWorkOrders"]["edges"][0]["node"] == {
        "unreadMessages": 1,
        "lastEvent": {"action": "accept"},
    }


def _pk(global_id: str) -> int:
    return decode_id(global_id, "WorkOrder")
