"""Who sees which order: residents their own, staff their communities, complaints only their
complainant and handlers, workers their queue; tenants never each other's; and the staff
queue costs the same number of statements for 10 orders as for 100."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from conftest import count_statements, login, make_tenant
from kit import add_resident, add_staff, codes, ok
from sqlalchemy import insert, select
from wo_kit import ORDER, make_crew, submit, take, user_gid

from wuye.graphql.ids import decode_id
from wuye.identity import service as identity
from wuye.modules.workorders.models import OrderEvent, WorkOrder
from wuye.runtime import Runtime
from wuye.storage.models import StoredFile

QUEUE = """query($first: Int, $after: String) { workOrders(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id number status place contactPhone
    resident { name phone } worker { name phone } category { nameZh }
    lastEvent { action toStatus actor { name } }
    photos { id contentType thumbnailUrl } } } } }"""
MINE = "{ myWorkOrders { totalCount edges { node { id } } } }"
WORKER_QUEUE = "{ myWorkQueue { totalCount edges { node { id status } } } }"


def _ids(body: dict, field: str) -> set[str]:
    return {e["node"]["id"] for e in ok(body)[field]["edges"]}


async def test_residents_see_only_their_own_orders(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    neighbour = await add_resident(api, runtime, crew.tenant, crew.place.ids["A/1号楼/102"])
    mine = await submit(api, crew)
    theirs = await submit(api, crew, who=neighbour, unitId=crew.place.gid("A/1号楼/102"))
    slug = crew.tenant.slug
    assert _ids(await api(MINE, tenant=slug, token=crew.resident.token), "myWorkOrders") == {
        mine["id"]
    }
    body = await api(ORDER, {"id": theirs["id"]}, tenant=slug, token=crew.resident.token)
    assert codes(body) == ["NOT_FOUND"]
    # nor can a resident report for a unit they do not live in
    body = await api(
        "mutation($i: SubmitWorkOrderInput!) { submitWorkOrder(input: $i) { id } }",
        {"i": {"type": "repair", "description": "x", "unitId": crew.place.gid("A/1号楼/102")}},
        tenant=slug,
        token=crew.resident.token,
    )
    assert codes(body) == ["NOT_FOUND"]
    # staff queries need staff permissions
    assert codes(await api(QUEUE, tenant=slug, token=crew.resident.token)) == ["FORBIDDEN"]


async def test_staff_see_their_communities_only(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    in_a = await submit(api, crew)
    b_resident = await add_resident(api, runtime, crew.tenant, crew.place.ids["B/9/1"])
    in_b = await submit(api, crew, who=b_resident, unitId=crew.place.gid("B/9/1"))
    desk_b = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        all_communities=False,
        communities=(crew.place.ids["B"],),
    )
    slug = crew.tenant.slug
    assert _ids(await api(QUEUE, tenant=slug, token=desk_b.token), "workOrders") == {in_b["id"]}
    assert codes(await take(api, crew, desk_b, "accept", in_a["id"])) == ["NOT_FOUND"]
    # and cannot file a phone report for a unit outside their communities
    body = await api(
        "mutation($i: SubmitWorkOrderInput!) { submitWorkOrder(input: $i) { id } }",
        {
            "i": {
                "type": "repair",
                "description": "电话报修",
                "unitId": crew.place.gid("A/1号楼/101"),
            }
        },
        tenant=slug,
        token=desk_b.token,
    )
    assert codes(body) == ["NOT_FOUND"]


async def test_complaints_are_between_the_complainant_and_handlers(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    complaint = await submit(api, crew, type="complaint", description="楼下装修噪音")
    cid, slug = complaint["id"], crew.tenant.slug
    viewer_only = await add_staff(api, runtime, crew.tenant, roles=())
    # a staff member who may view orders but holds no complaint permission
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        await identity.create_role(
            s,
            key="viewer",
            name_zh="查看",
            name_en="Viewer",
            permissions=["workorders.view"],
            known=runtime.known_permissions,
        )
        await identity.set_user_roles(s, user_id=viewer_only.user_id, role_keys=["viewer"])
        await s.commit()
    viewer_token = str((await login(api, slug, viewer_only.phone))["accessToken"])
    assert codes(await api(ORDER, {"id": cid}, tenant=slug, token=viewer_token)) == ["NOT_FOUND"]
    assert cid not in _ids(await api(QUEUE, tenant=slug, token=viewer_token), "workOrders")
    # customer service handles complaints; a worker sees it only once it is dispatched to them
    assert ok(await api(ORDER, {"id": cid}, tenant=slug, token=crew.desk.token))
    assert codes(await api(ORDER, {"id": cid}, tenant=slug, token=crew.worker.token)) == [
        "NOT_FOUND"
    ]
    ok(await take(api, crew, crew.desk, "accept", cid))
    # a complaint goes to someone who may handle complaints, not to any worker
    body = await take(api, crew, crew.desk, "dispatch", cid, workerId=user_gid(crew.worker.user_id))
    assert codes(body) == ["NOT_FOUND"]
    handler = await add_staff(api, runtime, crew.tenant, roles=("customer_service",))
    ok(await take(api, crew, crew.desk, "dispatch", cid, workerId=user_gid(handler.user_id)))
    assert ok(await api(ORDER, {"id": cid}, tenant=slug, token=handler.token))


async def test_a_worker_sees_their_queue_and_nothing_else(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    slug = crew.tenant.slug
    mine = await submit(api, crew)
    other = await submit(api, crew, description="门禁坏了")
    for oid in (mine["id"], other["id"]):
        ok(await take(api, crew, crew.desk, "accept", oid))
    ok(
        await take(
            api, crew, crew.desk, "dispatch", mine["id"], workerId=user_gid(crew.worker.user_id)
        )
    )
    # grabbing is off by default: accepted orders are not in the worker's queue
    queue = ok(await api(WORKER_QUEUE, tenant=slug, token=crew.worker.token))["myWorkQueue"]
    assert [e["node"]["id"] for e in queue["edges"]] == [mine["id"]]
    assert codes(await api(ORDER, {"id": other["id"]}, tenant=slug, token=crew.worker.token)) == [
        "NOT_FOUND"
    ]
    assert codes(await api(QUEUE, tenant=slug, token=crew.worker.token)) == ["FORBIDDEN"]
    # the pool shows the resident's phone masked; the assigned worker sees it in full
    node = ok(await api(ORDER, {"id": mine["id"]}, tenant=slug, token=crew.worker.token))
    assert "****" not in node["workOrder"]["contactPhone"]


async def test_tenants_never_see_each_other(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    order = await submit(api, crew)
    other = await make_tenant(runtime, modules=("workorders",))
    admin_b = str((await login(api, other.slug, other.admin_phone))["accessToken"])
    # B's admin asking for A's order id finds nothing (B's schema has no such order)
    assert codes(await api(ORDER, {"id": order["id"]}, tenant=other.slug, token=admin_b)) == [
        "NOT_FOUND"
    ]
    assert ok(await api(QUEUE, tenant=other.slug, token=admin_b))["workOrders"]["totalCount"] == 0
    # A's tokens do not work on B
    body = await api(ORDER, {"id": order["id"]}, tenant=other.slug, token=crew.desk.token)
    assert codes(body) in (["UNAUTHENTICATED"], ["TOKEN_EXPIRED"])
    body = await take(api, crew, crew.desk, "accept", order["id"])
    assert ok(body)["acceptWorkOrder"]["status"] == "accepted"
    # a module switched off answers MODULE_DISABLED
    plain = await make_tenant(runtime)
    admin_plain = str((await login(api, plain.slug, plain.admin_phone))["accessToken"])
    assert codes(await api(QUEUE, tenant=plain.slug, token=admin_plain)) == ["MODULE_DISABLED"]


async def _many_orders(runtime: Runtime, crew, n: int) -> None:
    """``n`` dispatched orders with a photo each and a few events, written in bulk."""
    schema, now = crew.tenant.schema, datetime.now(UTC)
    async with runtime.db.tenant_session(schema) as s:
        ids = (
            await s.scalars(
                insert(WorkOrder)
                .returning(WorkOrder.id)
                .values(
                    [
                        {
                            "number": f"WOT{secrets.token_hex(5)}",
                            "type": "repair",
                            "community_id": crew.place.ids["A"],
                            "unit_id": crew.place.ids["A/1号楼/101"],
                            "resident_id": crew.resident.user_id,
                            "contact_phone": "+8613900001111",
                            "description": f"漏水{i}",
                            "status": "dispatched",
                            "worker_id": crew.worker.user_id,
                        }
                        for i in range(n)
                    ]
                )
            )
        ).all()
        await s.execute(
            insert(OrderEvent),
            [
                {"order_id": i, "action": a, "to_status": t, "actor_id": crew.desk.user_id}
                for i in ids
                for a, t in (("submit", "submitted"), ("dispatch", "dispatched"))
            ],
        )
        await s.execute(
            insert(StoredFile),
            [
                {
                    "key": f"tenants/{crew.tenant.slug}/workorders/{secrets.token_hex(8)}",
                    "purpose": "workorders.photo",
                    "module": "workorders",
                    "owner_id": crew.resident.user_id,
                    "content_type": "image/jpeg",
                    "size": 1000,
                    "status": "ready",
                    "thumbnail_status": "ready",
                    "thumbnail_key": f"tenants/{crew.tenant.slug}/workorders/t{i}.thumb.jpg",
                    "attached_kind": "work_order",
                    "attached_id": i,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        await s.commit()


async def test_the_staff_queue_costs_the_same_for_10_or_100_orders(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    await _many_orders(runtime, crew, 200)
    slug = crew.tenant.slug
    counts = {}
    for first in (10, 100):
        with count_statements(runtime) as seen:
            page = ok(await api(QUEUE, {"first": first}, tenant=slug, token=crew.manager.token))
        edges = page["workOrders"]["edges"]
        assert len(edges) == first and page["workOrders"]["totalCount"] == 200
        node = edges[0]["node"]
        assert node["worker"]["name"] and node["resident"]["name"] and node["place"]
        assert node["lastEvent"]["action"] == "dispatch"
        assert node["photos"][0]["thumbnailUrl"]
        counts[first] = len(seen)
    assert counts[10] == counts[100], counts
    assert counts[100] <= 12, counts


async def test_events_record_who_did_what(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    order = await submit(api, crew)
    ok(await take(api, crew, crew.desk, "reject", order["id"], reason="重复报修"))
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        events = (
            await s.execute(
                select(OrderEvent.action, OrderEvent.actor_id, OrderEvent.note)
                .where(OrderEvent.order_id == decode_id(order["id"], "WorkOrder"))
                .order_by(OrderEvent.id)
            )
        ).all()
    assert [tuple(e) for e in events] == [
        ("submit", crew.resident.user_id, ""),
        ("reject", crew.desk.user_id, "重复报修"),
    ]
    # a rejection needs a reason, and a failed step writes nothing
    second = await submit(api, crew)
    assert codes(await take(api, crew, crew.desk, "reject", second["id"])) == ["VALIDATION_FAILED"]
    body = ok(
        await api(ORDER, {"id": second["id"]}, tenant=crew.tenant.slug, token=crew.desk.token)
    )
    assert [e["action"] for e in body["workOrder"]["events"]] == ["submit"]
