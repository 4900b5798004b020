"""The SLA sweep: overdue orders, escalation, auto-close; who is told; idempotent when run
twice or twice at once; one tenant's sweep never touches another's orders.

Deadlines are moved into the past in the database (no sleeping); escalation timing uses
the sweep's ``now``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import TenantFixture, add_account
from kit import drain, ok
from sqlalchemy import func, select, update
from wo_kit import ORDER, Crew, add_category, make_crew, set_config, submit, take, user_gid

from wuye.db import take_after_commit
from wuye.graphql.ids import decode_id, encode_id
from wuye.identity.models import User
from wuye.modules.workorders import sla
from wuye.modules.workorders.models import OrderEvent, WorkOrder
from wuye.notify.models import Message
from wuye.runtime import Runtime
from wuye.workers.jobs import enqueue

OVERDUE, ESCALATED = "workorders.overdue", "workorders.escalated"
QUEUE = "query($o: Boolean) { workOrders(overdue: $o) { edges { node { id overdue } } } }"


def pk(order: dict[str, Any]) -> int:
    return decode_id(order["id"], "WorkOrder")


async def late(runtime: Runtime, tenant: TenantFixture, order: dict[str, Any], **ago: int) -> None:
    """Move deadlines into the past: ``response=5`` puts response_due_at 5 minutes ago."""
    now = datetime.now(UTC)
    values = {f"{k}_due_at": now - timedelta(minutes=v) for k, v in ago.items()}
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(update(WorkOrder).where(WorkOrder.id == pk(order)).values(**values))
        await s.commit()


async def sweep(
    runtime: Runtime, tenant: TenantFixture, now: datetime | None = None
) -> sla.SweepResult:
    info = await runtime.directory.by_slug(tenant.slug)
    assert info is not None
    async with runtime.db.tenant_session(tenant.schema) as s:
        result = await sla.sweep(s, runtime, info, now=now)
        await s.commit()
        hooks = take_after_commit(s)
    for hook in hooks:
        await hook()
    return result


async def close_unrated(runtime: Runtime, tenant: TenantFixture) -> list[int]:
    info = await runtime.directory.by_slug(tenant.slug)
    assert info is not None
    async with runtime.db.tenant_session(tenant.schema) as s:
        closed = [o.id for o in await sla.close_unrated(s, runtime, info)]
        await s.commit()
    return closed


async def told(runtime: Runtime, tenant: TenantFixture, type_key: str) -> dict[int, list[int]]:
    """order id -> the users whose inbox got ``type_key`` about it."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        rows = await s.execute(
            select(Message.source, Message.user_id)
            .where(Message.type == type_key, Message.channel == "inbox")
            .order_by(Message.user_id)
        )
        found: dict[int, list[int]] = {}
        for source, user_id in rows:
            found.setdefault(int(source.split(":")[1]), []).append(user_id)
    return found


async def events(runtime: Runtime, tenant: TenantFixture, action: str) -> list[OrderEvent]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        found = await s.scalars(
            select(OrderEvent).where(OrderEvent.action == action).order_by(OrderEvent.order_id)
        )
        return list(found)


async def order_row(runtime: Runtime, tenant: TenantFixture, order: dict[str, Any]) -> WorkOrder:
    async with runtime.db.tenant_session(tenant.schema) as s:
        found = await s.get(WorkOrder, pk(order))
        assert found is not None
        return found


async def crew_with_category(api: Any, runtime: Runtime, **minutes: int) -> tuple[Crew, str]:
    crew = await make_crew(api, runtime)
    minutes = {"response_minutes": 30, "completion_minutes": 240, **minutes}
    category = await add_category(runtime, crew.tenant, name_zh="排水管道", **minutes)
    return crew, encode_id("WorkOrderCategory", category)


async def work_on(api: Any, crew: Crew, order: dict[str, Any], until: str) -> None:
    """Take the order through the workflow up to (and including) ``until``."""
    arrival = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    steps = [
        (crew.desk, "accept", {}),
        (crew.desk, "dispatch", {"workerId": user_gid(crew.worker.user_id)}),
        (crew.worker, "confirm", {"arrivalAt": arrival}),
        (crew.worker, "start", {}),
        (crew.worker, "complete", {"note": "已修好"}),
        (crew.resident, "rate", {"rating": 5}),
    ]
    for who, action, fields in steps:
        ok(await take(api, crew, who, action, order["id"], **fields))
        if action == until:
            return


async def test_late_orders_are_flagged_once_and_supervisors_told(
    api, runtime: Runtime, monkeypatch
) -> None:
    crew, category = await crew_with_category(api, runtime)
    t = crew.tenant
    # who supervises community A: customer service and managers of A (and the tenant admin,
    # who holds everything); not the worker, not B's desk, not a disabled account
    b_desk = await add_account(
        runtime, t, roles=("customer_service",), communities=(crew.place.ids["B"],)
    )
    a_desk_en = await add_account(
        runtime, t, roles=("customer_service",), communities=(crew.place.ids["A"],)
    )
    gone = await add_account(runtime, t, roles=("manager",), all_communities=True)
    async with runtime.db.tenant_session(t.schema) as s:
        await s.execute(update(User).where(User.id == gone.user_id).values(is_active=False))
        await s.execute(update(User).where(User.id == a_desk_en.user_id).values(locale="en"))
        await s.commit()

    unanswered = await submit(api, crew, categoryId=category, description="没人受理")
    unfinished = await submit(api, crew, categoryId=category, description="没修完")
    answered_late = await submit(api, crew, categoryId=category, description="受理晚了")
    on_time = await submit(api, crew, categoryId=category, description="还没到时间")
    finished = await submit(api, crew, categoryId=category, description="已修好")
    no_deadline = await submit(api, crew, description="没有类别")
    await work_on(api, crew, unfinished, "start")
    await work_on(api, crew, answered_late, "accept")
    await work_on(api, crew, finished, "complete")
    await late(runtime, t, unanswered, response=1)
    await late(runtime, t, unfinished, response=200, completion=1)
    await late(runtime, t, answered_late, response=5)  # accepted, completion still ahead
    await late(runtime, t, finished, response=300, completion=60)  # done, waiting for rating

    published: list[tuple[str, dict[str, Any]]] = []

    async def record(tenant: str, batch: Any) -> None:
        published.extend(batch)

    monkeypatch.setattr(runtime.broker, "publish_many", record)
    result = await sweep(runtime, t)
    assert (result.overdue, result.escalated) == (2, 0)

    flagged = {pk(unanswered), pk(unfinished)}
    for order in (unanswered, unfinished):
        assert (await order_row(runtime, t, order)).overdue_at is not None
    for order in (answered_late, on_time, finished, no_deadline):
        assert (await order_row(runtime, t, order)).overdue_at is None

    found = await events(runtime, t, "overdue")
    assert [(e.order_id, e.from_status, e.to_status) for e in found] == [
        (pk(unanswered), "submitted", "submitted"),
        (pk(unfinished), "in_progress", "in_progress"),
    ]
    assert all(e.actor_id is None and e.internal for e in found)
    assert [e.data["deadline"] for e in found] == ["response", "completion"]

    supervisors = sorted([t.admin_id, crew.desk.user_id, crew.manager.user_id, a_desk_en.user_id])
    assert await told(runtime, t, OVERDUE) == {o: supervisors for o in sorted(flagged)}
    async with runtime.db.tenant_session(t.schema) as s:
        bodies = dict(
            (
                await s.execute(
                    select(Message.user_id, Message.body).where(
                        Message.type == OVERDUE,
                        Message.channel == "inbox",
                        Message.source == f"workorders:{pk(unanswered)}",
                    )
                )
            ).all()
        )
        external = await s.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.type == OVERDUE, Message.channel != "inbox")
        )
    number = ok(await api(ORDER, {"id": unanswered["id"]}, tenant=t.slug, token=crew.desk.token))
    assert "响应" in bodies[crew.desk.user_id] and "排水管道" in bodies[crew.desk.user_id]
    assert number["workOrder"]["number"] in bodies[crew.desk.user_id]
    assert "response deadline" in bodies[a_desk_en.user_id]
    assert external and external > 0  # urgent: sms and wechat rows too (suppressed or queued)
    assert b_desk.user_id not in supervisors and gone.user_id not in supervisors

    # staff see the flag and the event; the resident sees the flag but not the internal event
    staff_view = ok(await api(QUEUE, {"o": True}, tenant=t.slug, token=crew.desk.token))
    assert {e["node"]["id"] for e in staff_view["workOrders"]["edges"]} == {
        unanswered["id"],
        unfinished["id"],
    }
    seen = ok(await api(ORDER, {"id": unanswered["id"]}, tenant=t.slug, token=crew.desk.token))
    assert seen["workOrder"]["overdue"] is True
    assert "overdue" in [e["action"] for e in seen["workOrder"]["events"]]
    mine = ok(await api(ORDER, {"id": unanswered["id"]}, tenant=t.slug, token=crew.resident.token))
    assert mine["workOrder"]["overdue"] is True
    assert "overdue" not in [e["action"] for e in mine["workOrder"]["events"]]

    # real time: each flagged order announced on the queue (and its resident's topic)
    queue = [p for topic, p in published if topic == "workorders.queue"]
    assert sorted(p["order_id"] for p in queue if p["action"] == "overdue") == sorted(flagged)

    # again: nothing new
    assert await sweep(runtime, t) == sla.SweepResult(0, 0)
    assert len(await events(runtime, t, "overdue")) == 2
    assert await told(runtime, t, OVERDUE) == {o: supervisors for o in sorted(flagged)}
    await drain(runtime)


async def test_escalation_comes_escalation_minutes_after_a_missed_deadline(
    api, runtime: Runtime
) -> None:
    crew, category = await crew_with_category(api, runtime, escalation_minutes=60)
    t = crew.tenant
    ignored = await submit(api, crew, categoryId=category, description="一直没人管")
    taken_late = await submit(api, crew, categoryId=category, description="晚了但在处理")
    done_late = await submit(api, crew, categoryId=category, description="晚了但修好了")
    await late(runtime, t, ignored, response=30)
    await late(runtime, t, taken_late, response=30)
    await late(runtime, t, done_late, response=30)
    now = datetime.now(UTC)
    assert await sweep(runtime, t, now) == sla.SweepResult(3, 0)
    await work_on(api, crew, taken_late, "accept")
    await work_on(api, crew, done_late, "complete")

    # 29 minutes later the response deadline is 59 minutes past: not yet
    assert await sweep(runtime, t, now + timedelta(minutes=29)) == sla.SweepResult(0, 0)
    # 31 minutes later: the order still not accepted is escalated; the one accepted late
    # is on its way, the one done is no longer open
    assert await sweep(runtime, t, now + timedelta(minutes=31)) == sla.SweepResult(0, 1)
    assert (await order_row(runtime, t, ignored)).escalated_at is not None
    for order in (taken_late, done_late):
        assert (await order_row(runtime, t, order)).escalated_at is None
    escalations = await events(runtime, t, "escalated")
    assert [(e.order_id, e.to_status, e.actor_id) for e in escalations] == [
        (pk(ignored), "submitted", None)
    ]
    # escalations go to the holders of workorders.escalations (manager, tenant admin), not
    # to customer service, who were told when it became overdue
    assert await told(runtime, t, ESCALATED) == {
        pk(ignored): sorted([t.admin_id, crew.manager.user_id])
    }
    assert crew.desk.user_id in (await told(runtime, t, OVERDUE))[pk(ignored)]

    # the order accepted late escalates once it also misses completion by 60 minutes
    completion_due = (await order_row(runtime, t, taken_late)).completion_due_at
    assert completion_due is not None
    assert await sweep(runtime, t, completion_due + timedelta(minutes=59)) == sla.SweepResult(0, 0)
    assert await sweep(runtime, t, completion_due + timedelta(minutes=61)) == sla.SweepResult(0, 1)
    assert [e.data["deadline"] for e in await events(runtime, t, "escalated")] == [
        "response",
        "completion",
    ]
    # and never twice
    assert await sweep(runtime, t, completion_due + timedelta(days=3)) == sla.SweepResult(0, 0)
    assert len(await told(runtime, t, ESCALATED)) == 2


async def test_an_order_found_hours_late_is_flagged_and_escalated_in_one_run(
    api, runtime: Runtime
) -> None:
    crew, category = await crew_with_category(api, runtime, escalation_minutes=60)
    order = await submit(api, crew, categoryId=category)
    await late(runtime, crew.tenant, order, response=180)
    assert await sweep(runtime, crew.tenant) == sla.SweepResult(1, 1)
    row = await order_row(runtime, crew.tenant, order)
    assert row.overdue_at is not None and row.escalated_at is not None
    assert await sweep(runtime, crew.tenant) == sla.SweepResult(0, 0)


async def test_two_sweeps_at_once_flag_and_tell_once(api, runtime: Runtime) -> None:
    crew, category = await crew_with_category(api, runtime, escalation_minutes=10)
    t = crew.tenant
    made = [await submit(api, crew, categoryId=category, description=f"漏水{i}") for i in range(6)]
    for order in made:
        await late(runtime, t, order, response=60)
    results = await asyncio.gather(*(sweep(runtime, t) for _ in range(3)))
    assert sum(r.overdue for r in results) == 6
    assert sum(r.escalated for r in results) == 6
    assert len(await events(runtime, t, "overdue")) == 6
    assert len(await events(runtime, t, "escalated")) == 6
    recipients = sorted([t.admin_id, crew.desk.user_id, crew.manager.user_id])
    assert await told(runtime, t, OVERDUE) == {pk(o): recipients for o in made}
    escalation_recipients = sorted([t.admin_id, crew.manager.user_id])
    assert await told(runtime, t, ESCALATED) == {pk(o): escalation_recipients for o in made}
    assert await asyncio.gather(sweep(runtime, t), sweep(runtime, t)) == [sla.SweepResult(0, 0)] * 2


async def test_the_job_sweeps_only_its_own_tenant(api, runtime: Runtime) -> None:
    crew_a, category_a = await crew_with_category(api, runtime)
    crew_b, category_b = await crew_with_category(api, runtime)
    order_a = await submit(api, crew_a, categoryId=category_a)
    order_b = await submit(api, crew_b, categoryId=category_b)
    await late(runtime, crew_a.tenant, order_a, response=10)
    await late(runtime, crew_b.tenant, order_b, response=10)
    # both rows have the same id in their own schema: only the tenant's own is touched
    assert pk(order_a) == pk(order_b)

    await enqueue(runtime, "check_work_order_deadlines", crew_a.tenant.slug)
    await drain(runtime)
    assert (await order_row(runtime, crew_a.tenant, order_a)).overdue_at is not None
    assert (await order_row(runtime, crew_b.tenant, order_b)).overdue_at is None
    assert await told(runtime, crew_b.tenant, OVERDUE) == {}
    assert await events(runtime, crew_b.tenant, "overdue") == []

    await enqueue(runtime, "check_work_order_deadlines", crew_b.tenant.slug)
    await drain(runtime)
    assert (await order_row(runtime, crew_b.tenant, order_b)).overdue_at is not None
    assert len(await told(runtime, crew_a.tenant, OVERDUE)) == 1


async def test_completed_orders_nobody_rates_close_after_the_rating_window(
    api, runtime: Runtime
) -> None:
    crew, category = await crew_with_category(api, runtime)
    t = crew.tenant
    old = await submit(api, crew, categoryId=category, description="八天前修好")
    recent = await submit(api, crew, categoryId=category, description="两天前修好")
    rated = await submit(api, crew, categoryId=category, description="已评价")
    working = await submit(api, crew, categoryId=category, description="还在修")
    await work_on(api, crew, old, "complete")
    await work_on(api, crew, recent, "complete")
    await work_on(api, crew, rated, "rate")
    await work_on(api, crew, working, "start")
    now = datetime.now(UTC)
    async with runtime.db.tenant_session(t.schema) as s:
        for order, days in ((old, 8), (recent, 2), (rated, 30), (working, 30)):
            await s.execute(
                update(WorkOrder)
                .where(WorkOrder.id == pk(order))
                .values(completed_at=now - timedelta(days=days))
            )
        await s.commit()

    assert await close_unrated(runtime, t) == [pk(old)]  # default: 7 days
    row = await order_row(runtime, t, old)
    assert row.status == "closed" and row.closed_at is not None and row.rating is None
    closes = await events(runtime, t, "close")
    assert [(e.order_id, e.from_status, e.actor_id) for e in closes] == [
        (pk(old), "completed", None)
    ]
    assert "7" in closes[0].note
    # twice, or twice at once: nothing more
    assert await close_unrated(runtime, t) == []
    await set_config(runtime, t, {"auto_close_days": 1})
    both = await asyncio.gather(close_unrated(runtime, t), close_unrated(runtime, t))
    assert sorted(both) == [[], [pk(recent)]]
    assert len(await events(runtime, t, "close")) == 2
    for order, status in ((rated, "rated"), (working, "in_progress")):
        assert (await order_row(runtime, t, order)).status == status
    # the resident still sees it closed, by the system
    timeline = ok(await api(ORDER, {"id": recent["id"]}, tenant=t.slug, token=crew.resident.token))
    last = timeline["workOrder"]["events"][-1]
    assert (last["action"], last["toStatus"], last["actor"]) == ("close", "closed", None)

    # through the job, for a tenant that switched auto-close off
    await set_config(runtime, t, {"auto_close_days": 0})
    async with runtime.db.tenant_session(t.schema) as s:
        await s.execute(
            update(WorkOrder).where(WorkOrder.id == pk(rated)).values(status="completed")
        )
        await s.commit()
    await enqueue(runtime, "close_unrated_work_orders", t.slug)
    await drain(runtime)
    assert (await order_row(runtime, t, rated)).status == "completed"
