"""The per-minute job: due messages go to their audience once per occurrence, missed runs
collapse into one, birthday greetings reach only whose birthday it is, by name."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from periodic_kit import (
    PAUSE,
    add_resident,
    create,
    inbox,
    make_world,
    ok,
    row,
    run_job,
    set_due,
)

from wuye.graphql.ids import decode_id

# 09:00 Shanghai on 1 March 2030
T = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)


def _pk(created: dict) -> int:
    return decode_id(created["id"], "PeriodicMessage")


async def test_job_sends_to_the_targeted_residents_only(api, runtime):
    # given residents of buildings 3 and 5, and a monthly message for building 3
    world = await make_world(runtime, api)
    r3 = await add_resident(runtime, world, "3", "张三")
    r5 = await add_resident(runtime, world, "5", "李四")
    created = await create(
        api, world, targets=[world.building("3")], title="3号楼停水", body="明天停水"
    )
    pk = _pk(created)
    await set_due(runtime, world.tenant.schema, pk, T)

    # when the job runs that minute
    assert await run_job(runtime, world.tenant.slug, T + timedelta(seconds=20)) == 1

    # then only the resident of building 3 has it in the inbox
    rows = await inbox(runtime, world.tenant.schema, f"periodic:{pk}")
    assert [(m.user_id, m.title, m.body) for m in rows] == [(r3, "3号楼停水", "明天停水")]
    assert r5 not in {m.user_id for m in rows}
    # and the message records the run and moves to 1 April, 09:00 Shanghai
    after = await row(runtime, world.tenant.schema, pk)
    assert after.last_run_count == 1
    assert after.last_run_at == T + timedelta(seconds=20)
    assert after.next_run_at == datetime(2030, 4, 1, 1, 0, tzinfo=UTC)


async def test_running_twice_for_the_same_minute_sends_once(api, runtime):
    world = await make_world(runtime, api)
    resident = await add_resident(runtime, world, "3", "张三")
    pk = _pk(await create(api, world))
    await set_due(runtime, world.tenant.schema, pk, T)

    # when the job runs twice in the minute, and twice at once (two workers)
    await run_job(runtime, world.tenant.slug, T + timedelta(seconds=5))
    assert await run_job(runtime, world.tenant.slug, T + timedelta(seconds=40)) == 0
    # then one message
    assert [m.user_id for m in await inbox(runtime, world.tenant.schema)] == [resident]

    # when the occurrence is somehow due again (a lost update, a restored backup)
    await set_due(runtime, world.tenant.schema, pk, T)
    await asyncio.gather(
        run_job(runtime, world.tenant.slug, T + timedelta(seconds=50)),
        run_job(runtime, world.tenant.slug, T + timedelta(seconds=55)),
    )
    # then the dedup key (message, occurrence) still lets one through
    rows = await inbox(runtime, world.tenant.schema)
    assert [m.user_id for m in rows] == [resident]
    assert rows[0].dedup_key == f"periodic:{pk}:{T.isoformat()}:{resident}:inbox"


async def test_missed_occurrences_collapse_into_the_latest(api, runtime):
    # given a daily 09:00 message whose worker was down for ten days
    world = await make_world(runtime, api)
    resident = await add_resident(runtime, world, "5", "李四")
    pk = _pk(await create(api, world, rule="0 9 * * *"))
    await set_due(runtime, world.tenant.schema, pk, T - timedelta(days=10))

    # when the job runs again at 10:30 on the eleventh day
    now = T + timedelta(hours=1, minutes=30)
    await run_job(runtime, world.tenant.slug, now)

    # then one message, for this morning's occurrence, and the next run is tomorrow
    rows = await inbox(runtime, world.tenant.schema)
    assert [m.user_id for m in rows] == [resident]
    assert rows[0].dedup_key == f"periodic:{pk}:{T.isoformat()}:{resident}:inbox"
    assert (await row(runtime, world.tenant.schema, pk)).next_run_at == T + timedelta(days=1)
    # and another run the same day sends nothing more
    await run_job(runtime, world.tenant.slug, now + timedelta(hours=2))
    assert len(await inbox(runtime, world.tenant.schema)) == 1


async def test_paused_messages_are_not_sent(api, runtime):
    world = await make_world(runtime, api)
    await add_resident(runtime, world, "3", "张三")
    created = await create(api, world)
    pk = _pk(created)
    await set_due(runtime, world.tenant.schema, pk, T)
    paused = ok(
        await api(PAUSE, {"i": {"id": created["id"]}}, tenant=world.tenant.slug, token=world.admin)
    )["pausePeriodicMessage"]
    assert paused["active"] is False and paused["nextRunAt"] is None
    await set_due(runtime, world.tenant.schema, pk, T)  # even with a stale due time
    assert await run_job(runtime, world.tenant.slug, T + timedelta(seconds=5)) == 0
    assert await inbox(runtime, world.tenant.schema) == []


async def test_birthday_greeting_reaches_only_whose_birthday_it_is_by_name(api, runtime):
    # given residents born on 14 and 15 June, on 29 and 28 February, and one without a date
    world = await make_world(runtime, api)
    june15 = await add_resident(runtime, world, "3", "王五", date(1980, 6, 15))
    june14 = await add_resident(runtime, world, "3", "赵六", date(1985, 6, 14))
    leap = await add_resident(runtime, world, "5", "钱七", date(2000, 2, 29))
    feb28 = await add_resident(runtime, world, "5", "孙八", date(1990, 2, 28))
    await add_resident(runtime, world, "5", "周九")
    # and a greeting at 07:30 Shanghai time: 23:30 UTC the day before
    created = await create(
        api,
        world,
        rule="30 7 * * *",
        audience="birthday",
        targets=[],
        title="生日快乐，{{name}}",
        body="{{name}}，祝您生日快乐！",
    )
    pk = _pk(created)
    assert created["targets"] == [{"kind": "tenant", "refId": None}]
    schema, slug = world.tenant.schema, world.tenant.slug

    # when it runs on 15 June (local date; UTC is still the 14th)
    occurrence = datetime(2030, 6, 14, 23, 30, tzinfo=UTC)
    await set_due(runtime, schema, pk, occurrence)
    await run_job(runtime, slug, occurrence + timedelta(seconds=10))

    # then only 王五 is greeted, by name, in the title and the body
    rows = await inbox(runtime, schema, f"periodic:{pk}")
    assert [(m.user_id, m.title, m.body) for m in rows] == [
        (june15, "生日快乐，王五", "王五，祝您生日快乐！")
    ]
    assert june14 not in {m.user_id for m in rows}
    assert (await row(runtime, schema, pk)).last_run_count == 1

    # when it runs on 28 February 2031 (not a leap year): 钱七 and 孙八
    occurrence = datetime(2031, 2, 27, 23, 30, tzinfo=UTC)
    await set_due(runtime, schema, pk, occurrence)
    await run_job(runtime, slug, occurrence + timedelta(seconds=10))
    greeted = {m.user_id: m.title for m in (await inbox(runtime, schema))[1:]}
    assert greeted == {leap: "生日快乐，钱七", feb28: "生日快乐，孙八"}

    # when it runs on 28 February 2032 (a leap year): 孙八 only; 钱七 waits for the 29th
    occurrence = datetime(2032, 2, 27, 23, 30, tzinfo=UTC)
    await set_due(runtime, schema, pk, occurrence)
    await run_job(runtime, slug, occurrence + timedelta(seconds=10))
    assert [m.user_id for m in (await inbox(runtime, schema))[3:]] == [feb28]
    occurrence += timedelta(days=1)
    await set_due(runtime, schema, pk, occurrence)
    await run_job(runtime, slug, occurrence + timedelta(seconds=10))
    assert [m.user_id for m in (await inbox(runtime, schema))[4:]] == [leap]


async def test_name_placeholder_works_for_targeted_messages_too(api, runtime):
    world = await make_world(runtime, api)
    resident = await add_resident(runtime, world, "3", "张三")
    pk = _pk(await create(api, world, body="{{name}}您好，请按时缴费"))
    await set_due(runtime, world.tenant.schema, pk, T)
    await run_job(runtime, world.tenant.slug, T)
    [m] = await inbox(runtime, world.tenant.schema)
    assert (m.user_id, m.body) == (resident, "张三您好，请按时缴费")
