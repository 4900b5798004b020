"""The whole life of a repair through GraphQL: report, accept, dispatch, confirm, work,
complete, rate, close; and what the resident is told at each step that matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kit import codes, drain, ok
from sqlalchemy import select
from wo_kit import ORDER, SUBMIT, add_category, make_crew, submit, take, user_gid

from wuye.graphql.ids import encode_id
from wuye.notify.models import Message
from wuye.runtime import Runtime


async def test_a_repair_from_report_to_close(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    category = await add_category(
        runtime, crew.tenant, name_zh="管道疏通", response_minutes=30, completion_minutes=240
    )
    order = await submit(api, crew, categoryId=encode_id("WorkOrderCategory", category))
    assert order["status"] == "submitted" and order["number"].startswith("WO")
    assert order["place"] == "A 1号楼 101" and order["contactName"] == "王芳"
    assert order["actions"] == ["cancel"]
    oid = order["id"]

    accepted = ok(await take(api, crew, crew.desk, "accept", oid))["acceptWorkOrder"]
    assert accepted["status"] == "accepted"
    assert set(accepted["actions"]) >= {"merge", "cancel", "dispatch"}
    dispatched = ok(
        await take(api, crew, crew.desk, "dispatch", oid, workerId=user_gid(crew.worker.user_id))
    )["dispatchWorkOrder"]
    assert dispatched["status"] == "dispatched"
    assert dispatched["worker"]["id"] == user_gid(crew.worker.user_id)

    arrival = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    confirmed = ok(
        await take(
            api,
            crew,
            crew.worker,
            "confirm",
            oid,
            arrivalAt=arrival,
            feeFen=5000,
            feeStandard="上门费50元",
        )
    )["confirmWorkOrder"]
    assert confirmed["status"] == "confirmed" and confirmed["feeFen"] == 5000
    ok(await take(api, crew, crew.worker, "start", oid))
    # the resident cannot complete their own order; the worker can
    assert codes(await take(api, crew, crew.resident, "complete", oid, note="x")) == ["FORBIDDEN"]
    done = ok(
        await take(
            api,
            crew,
            crew.worker,
            "complete",
            oid,
            note="更换角阀",
            materials=[{"name": "角阀", "quantity": 1, "unit": "个", "priceFen": 3500}],
        )
    )["completeWorkOrder"]
    assert done["status"] == "completed"
    rated = ok(await take(api, crew, crew.resident, "rate", oid, rating=5, comment="很快"))
    assert rated["rateWorkOrder"]["status"] == "rated"
    closed = ok(await take(api, crew, crew.desk, "close", oid))["closeWorkOrder"]
    assert closed["status"] == "closed" and closed["actions"] == []

    timeline = ok(await api(ORDER, {"id": oid}, tenant=crew.tenant.slug, token=crew.resident.token))
    steps = [(e["action"], e["toStatus"]) for e in timeline["workOrder"]["events"]]
    assert steps == [
        ("submit", "submitted"),
        ("accept", "accepted"),
        ("dispatch", "dispatched"),
        ("confirm", "confirmed"),
        ("start", "in_progress"),
        ("complete", "completed"),
        ("rate", "rated"),
        ("close", "closed"),
    ]
    await drain(runtime)


async def test_the_resident_is_told_at_the_steps_that_matter(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    oid = (await submit(api, crew))["id"]
    ok(await take(api, crew, crew.desk, "accept", oid))
    ok(await take(api, crew, crew.desk, "dispatch", oid, workerId=user_gid(crew.worker.user_id)))
    arrival = datetime(2030, 5, 1, 6, 30, tzinfo=UTC).isoformat()  # 14:30 in Shanghai
    ok(await take(api, crew, crew.worker, "confirm", oid, arrivalAt=arrival))
    ok(await take(api, crew, crew.worker, "start", oid))
    ok(await take(api, crew, crew.worker, "complete", oid, note="好了"))
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        rows = (
            await s.execute(
                select(Message.user_id, Message.type, Message.body)
                .where(Message.channel == "inbox")
                .order_by(Message.id)
            )
        ).all()
    to_resident = [(t, b) for u, t, b in rows if u == crew.resident.user_id]
    assert [t for t, _ in to_resident] == [
        "workorders.accepted",
        "workorders.dispatched",  # at dispatch: who comes
        "workorders.dispatched",  # at confirmation: and when
        "workorders.completed",
    ]
    assert "2030-05-01 14:30" in to_resident[2][1]
    # the worker was told the order is theirs, with where it is
    to_worker = [(t, b) for u, t, b in rows if u == crew.worker.user_id]
    assert to_worker[0][0] == "workorders.assigned" and "A 1号楼 101" in to_worker[0][1]


async def test_customer_service_files_a_phone_report_for_a_resident(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    order = await submit(
        api, crew, who=crew.desk, residentId=user_gid(crew.resident.user_id), description="电话报修"
    )
    assert order["source"] == "phone" and order["contactName"] == "王芳"
    mine = ok(
        await api(
            "{ myWorkOrders { edges { node { id source } } } }",
            tenant=crew.tenant.slug,
            token=crew.resident.token,
        )
    )
    assert [e["node"]["id"] for e in mine["myWorkOrders"]["edges"]] == [order["id"]]
    # a worker may not file orders, and an appointment needs its time window
    unit = crew.place.gid("A/1号楼/101")
    body = await api(
        SUBMIT,
        {"i": {"type": "repair", "description": "x", "unitId": unit}},
        tenant=crew.tenant.slug,
        token=crew.worker.token,
    )
    assert codes(body) == ["FORBIDDEN"]
    body = await api(
        SUBMIT,
        {"i": {"type": "appointment", "description": "装空调", "unitId": unit}},
        tenant=crew.tenant.slug,
        token=crew.resident.token,
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    start = datetime.now(UTC) + timedelta(days=1)
    window = {
        "preferredStart": start.isoformat(),
        "preferredEnd": (start + timedelta(hours=2)).isoformat(),
    }
    booked = await submit(api, crew, type="appointment", description="装空调", **window)
    assert booked["status"] == "submitted"
