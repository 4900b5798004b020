"""Reminders before the due date and dunning after it: stages at the tenant's intervals,
idempotent (twice, and twice at once), stopped once paid, only the latest missed stage
after a downtime, one message per unit and stage, the 09:00 tenant-local gate, and one
tenant's run never touching another's bills."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from billing_kit import Office, add_bill, add_fee_item, make_office
from conftest import TenantFixture
from kit import set_module_config
from sqlalchemy import select, update

from wuye.db import take_after_commit
from wuye.modules.billing import reminders
from wuye.modules.billing.collection_jobs import send_bill_reminders
from wuye.modules.billing.models import Bill, Reminder
from wuye.notify.models import Message
from wuye.runtime import Runtime

DUE = date(2026, 11, 15)


async def set_config(runtime: Runtime, tenant: TenantFixture, config: dict[str, Any]) -> None:
    await set_module_config(runtime, tenant, "billing", config)


async def run(runtime: Runtime, tenant: TenantFixture, today: date) -> list[reminders.Sent]:
    info = await runtime.directory.by_slug(tenant.slug)
    assert info is not None
    async with runtime.db.tenant_session(tenant.schema) as s:
        sent = await reminders.send_due(s, runtime, info, today=today)
        await s.commit()
        hooks = take_after_commit(s)
    for hook in hooks:
        await hook()
    return sent


async def inbox(runtime: Runtime, tenant: TenantFixture) -> list[Message]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        rows = await s.scalars(
            select(Message).where(Message.channel == "inbox").order_by(Message.id)
        )
        return list(rows)


async def stages(runtime: Runtime, tenant: TenantFixture) -> list[tuple[int, str]]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        rows = await s.execute(
            select(Reminder.bill_id, Reminder.stage).order_by(Reminder.bill_id, Reminder.sent_at)
        )
        return [(int(b), str(st)) for b, st in rows]


async def office_with_bill(api: Any, runtime: Runtime, amount: int = 25060) -> tuple[Office, int]:
    office = await make_office(api, runtime)
    item = await add_fee_item(runtime, office.tenant)
    bill = await add_bill(
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/101"],
        fee_item_id=item,
        amount_fen=amount,
        due_on=DUE,
    )
    return office, bill


async def pay(runtime: Runtime, tenant: TenantFixture, bill_id: int) -> None:
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(
            update(Bill)
            .where(Bill.id == bill_id)
            .values(paid_fen=Bill.amount_fen, status="paid", paid_at=datetime.now(UTC))
        )
        await s.commit()


async def test_a_reminder_goes_three_days_before_the_due_date(api: Any, runtime: Runtime) -> None:
    office, bill = await office_with_bill(api, runtime)
    assert await run(runtime, office.tenant, date(2026, 11, 11)) == []
    sent = await run(runtime, office.tenant, date(2026, 11, 12))
    assert [(s.stage, s.bill_ids, s.total_fen) for s in sent] == [("before:3", (bill,), 25060)]
    messages = await inbox(runtime, office.tenant)
    assert [(m.type, m.user_id) for m in messages] == [
        ("billing.reminder", office.resident.user_id)
    ]
    assert "250.60" in messages[0].body and "2026-11-15" in messages[0].body
    assert "A 1 101" in messages[0].body
    # the due date itself: still the same (latest) stage, already sent
    assert await run(runtime, office.tenant, DUE) == []


async def test_dunning_follows_the_default_intervals(api: Any, runtime: Runtime) -> None:
    office, bill = await office_with_bill(api, runtime)
    timeline = {
        date(2026, 11, 12): ["before:3"],
        date(2026, 11, 15): [],
        date(2026, 11, 16): ["after:1"],  # the day after the due date
        date(2026, 11, 29): [],
        date(2026, 11, 30): ["after:15"],
        date(2026, 12, 14): [],
        date(2026, 12, 15): ["after:30"],
        date(2027, 1, 13): [],
        date(2027, 1, 14): ["after:60"],
        date(2027, 6, 1): [],  # nothing after the last stage
    }
    for day, expected in timeline.items():
        assert [s.stage for s in await run(runtime, office.tenant, day)] == expected, day
    assert [st for _, st in await stages(runtime, office.tenant)] == [
        "before:3",
        "after:1",
        "after:15",
        "after:30",
        "after:60",
    ]
    kinds = [m.type for m in await inbox(runtime, office.tenant)]
    assert kinds == ["billing.reminder"] + ["billing.dunning"] * 4
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        sms = await s.scalar(
            select(Message.id).where(Message.type == "billing.dunning", Message.channel == "sms")
        )
    assert sms is not None  # dunning goes by SMS too by default
    assert bill


async def test_the_tenant_sets_the_intervals(api: Any, runtime: Runtime) -> None:
    office, _ = await office_with_bill(api, runtime)
    await set_config(
        runtime, office.tenant, {"reminder_days_before": [7], "dunning_days_after": [5, 20]}
    )
    assert [s.stage for s in await run(runtime, office.tenant, date(2026, 11, 8))] == ["before:7"]
    assert await run(runtime, office.tenant, date(2026, 11, 12)) == []  # no 3-day stage now
    assert await run(runtime, office.tenant, date(2026, 11, 16)) == []
    assert [s.stage for s in await run(runtime, office.tenant, date(2026, 11, 20))] == ["after:5"]
    assert [s.stage for s in await run(runtime, office.tenant, date(2026, 12, 5))] == ["after:20"]


async def test_running_twice_and_twice_at_once_sends_once(api: Any, runtime: Runtime) -> None:
    office, _ = await office_with_bill(api, runtime)
    day = date(2026, 11, 16)
    results = await asyncio.gather(*(run(runtime, office.tenant, day) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert await run(runtime, office.tenant, day) == []
    assert len(await inbox(runtime, office.tenant)) == 1
    assert len(await stages(runtime, office.tenant)) == 1


async def test_a_paid_bill_gets_no_more_messages(api: Any, runtime: Runtime) -> None:
    office, bill = await office_with_bill(api, runtime)
    assert len(await run(runtime, office.tenant, date(2026, 11, 16))) == 1
    await pay(runtime, office.tenant, bill)
    for day in (date(2026, 11, 30), date(2026, 12, 15), date(2027, 1, 14)):
        assert await run(runtime, office.tenant, day) == []
    assert len(await inbox(runtime, office.tenant)) == 1


async def test_after_a_downtime_only_the_latest_missed_stage_is_sent(
    api: Any, runtime: Runtime
) -> None:
    office, bill = await office_with_bill(api, runtime)
    sent = await run(runtime, office.tenant, date(2026, 12, 20))  # 35 days overdue
    assert [s.stage for s in sent] == ["after:30"]
    assert await stages(runtime, office.tenant) == [(bill, "after:30")]
    assert len(await inbox(runtime, office.tenant)) == 1
    # a bill already overdue never gets a "due soon" reminder
    office2, _ = await office_with_bill(api, runtime)
    await set_config(runtime, office2.tenant, {"dunning_days_after": [30]})
    assert await run(runtime, office2.tenant, date(2026, 11, 20)) == []


async def test_one_message_per_unit_and_stage(api: Any, runtime: Runtime) -> None:
    office, first = await office_with_bill(api, runtime)
    water = await add_fee_item(runtime, office.tenant, name_zh="水费", kind="water", method="fixed")
    second = await add_bill(
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/101"],
        fee_item_id=water,
        amount_fen=4500,
        due_on=DUE,
    )
    other = await add_bill(
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/102"],
        fee_item_id=water,
        amount_fen=1000,
        due_on=DUE,
    )
    nobody = await add_bill(  # A/1/103: nobody lives there, recorded but nobody told
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/103"],
        fee_item_id=water,
        amount_fen=1000,
        due_on=DUE,
    )
    sent = await run(runtime, office.tenant, date(2026, 11, 16))
    assert sorted((s.bill_ids, s.total_fen, s.recipients) for s in sent) == [
        ((first, second), 25060 + 4500, 1),
        ((other,), 1000, 1),
        ((nobody,), 1000, 0),
    ]
    messages = await inbox(runtime, office.tenant)
    assert sorted(m.user_id for m in messages) == sorted(
        [office.resident.user_id, office.neighbour.user_id]
    )
    mine = next(m for m in messages if m.user_id == office.resident.user_id)
    assert "2笔" in mine.body and "295.60" in mine.body


async def test_the_job_acts_from_nine_tenant_local_time(api: Any, runtime: Runtime) -> None:
    office, _ = await office_with_bill(api, runtime)
    ctx = {"runtime": runtime}
    # 00:30 UTC is 08:30 in Shanghai (the default zone): too early
    early = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)
    assert await send_bill_reminders(ctx, office.tenant.slug, now=early) == {
        "messages": 0,
        "bills": 0,
    }
    at_nine = datetime(2026, 11, 16, 1, 5, tzinfo=UTC)
    assert await send_bill_reminders(ctx, office.tenant.slug, now=at_nine) == {
        "messages": 1,
        "bills": 1,
    }
    later = datetime(2026, 11, 16, 5, 5, tzinfo=UTC)
    assert (await send_bill_reminders(ctx, office.tenant.slug, now=later))["messages"] == 0


async def test_one_tenant_never_reminds_for_another(api: Any, runtime: Runtime) -> None:
    a, bill_a = await office_with_bill(api, runtime)
    b, bill_b = await office_with_bill(api, runtime)
    assert len(await run(runtime, a.tenant, date(2026, 11, 16))) == 1
    assert await stages(runtime, b.tenant) == []
    assert await inbox(runtime, b.tenant) == []
    assert [s.bill_ids for s in await run(runtime, b.tenant, date(2026, 11, 16))] == [(bill_b,)]
    assert bill_a
