"""Periodic messages: rule validation, occurrences in the tenant's time zone, and bad input
refused over GraphQL with nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from periodic_kit import CREATE, ONE, UPDATE, create, failure, make_world, ok
from sqlalchemy import func, select

from wuye.errors import AppError
from wuye.modules.notices.models import PeriodicMessage
from wuye.modules.notices.periodic import (
    _birthday_days,
    check_rule,
    latest_occurrence,
    next_occurrence,
    occurrences,
)
from wuye.tenancy import service as tenancy


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        "* * * * *",  # every minute
        "*/30 * * * *",  # twice an hour
        "0,30 9 * * *",  # two minutes of one hour
        "0-5 9 * * *",
        "0 9 * * * *",  # six fields
        "0 9 * *",  # four
        "@daily",
        "0 9 30 2 *",  # never fires
        "61 9 * * *",
        "",
        "bonjour",
    ],
)
def test_rules_firing_more_than_hourly_or_malformed_are_refused(rule):
    with pytest.raises(AppError) as caught:
        check_rule(rule)
    assert caught.value.code == "VALIDATION_FAILED"
    assert caught.value.params["field"] == "rule"


@pytest.mark.parametrize(
    "rule", ["0 9 1 * *", "0 * * * *", "15 8 * * 1-5", "30 7 29 2 *", "  0   9 * * *  "]
)
def test_hourly_or_rarer_rules_are_accepted_and_normalised(rule):
    assert check_rule(rule) == " ".join(rule.split())


def test_next_occurrence_is_read_in_the_tenants_time_zone():
    now = _utc(2030, 1, 10, 12, 0)
    # 09:00 on the 1st in Shanghai (UTC+8, no DST) is 01:00 UTC
    assert next_occurrence("0 9 1 * *", "Asia/Shanghai", after=now) == _utc(2030, 2, 1, 1, 0)
    # in Berlin it is 08:00 UTC in winter and 07:00 UTC in summer
    assert next_occurrence("0 9 1 * *", "Europe/Berlin", after=now) == _utc(2030, 2, 1, 8, 0)
    summer = _utc(2030, 6, 10, 12, 0)
    assert next_occurrence("0 9 1 * *", "Europe/Berlin", after=summer) == _utc(2030, 7, 1, 7, 0)
    # strictly after: at the occurrence itself, the next one
    assert next_occurrence("0 9 1 * *", "Asia/Shanghai", after=_utc(2030, 2, 1, 1, 0)) == _utc(
        2030, 3, 1, 1, 0
    )


def test_occurrences_across_a_dst_change_keep_local_time():
    found = occurrences(
        "0 9 * * *", "Europe/Berlin", after=_utc(2030, 3, 29, 12, 0), count=3
    )  # Berlin moves to summer time on 31 March 2030
    assert [d.astimezone(ZoneInfo("Europe/Berlin")).hour for d in found] == [9, 9, 9]
    assert [d.hour for d in found] == [8, 7, 7]  # 30 March CET, then CEST


def test_latest_occurrence_includes_the_current_minute():
    rule, tz = "0 9 * * *", "Asia/Shanghai"
    at = _utc(2030, 5, 5, 1, 0)
    assert latest_occurrence(rule, tz, at=at) == at
    assert latest_occurrence(rule, tz, at=at + timedelta(seconds=59)) == at
    assert latest_occurrence(rule, tz, at=at - timedelta(seconds=1)) == at - timedelta(days=1)
    # days of missed runs collapse into the last one
    assert latest_occurrence(rule, tz, at=at + timedelta(days=9, hours=3)) == at + timedelta(days=9)


def test_29_february_birthdays_are_greeted_on_28_february_in_other_years():
    assert _birthday_days(date(2031, 2, 28)) == [28, 29]
    assert _birthday_days(date(2032, 2, 28)) == [28]
    assert _birthday_days(date(2032, 2, 29)) == [29]
    assert _birthday_days(date(2031, 3, 1)) == [1]


# --- over GraphQL --------------------------------------------------------------------------


async def _count(runtime, schema) -> int:
    async with runtime.db.tenant_session(schema) as s:
        return int(await s.scalar(select(func.count()).select_from(PeriodicMessage)) or 0)


async def test_next_run_at_and_preview_in_the_tenants_time_zone(api, runtime):
    # given a tenant in Shanghai
    world = await make_world(runtime, api)
    # when a message runs at 09:00 on the 1st of each month
    created = await create(api, world, rule="0 9 1 * *")
    # then its next run is the next 1st at 01:00 UTC, after now
    next_run = datetime.fromisoformat(created["nextRunAt"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(UTC).day == 1 and next_run.astimezone(UTC).hour == 1
    assert created["active"] is True and created["lastRunAt"] is None
    body = ok(
        await api(ONE, {"id": created["id"], "n": 3}, tenant=world.tenant.slug, token=world.admin)
    )
    shown = [datetime.fromisoformat(d) for d in body["periodicMessage"]["preview"]]
    assert shown[0] == next_run and len(shown) == 3
    assert all(d.astimezone(ZoneInfo("Asia/Shanghai")).hour == 9 for d in shown)

    # when the company moves to Berlin and the rule is saved again
    async with runtime.db.shared_session() as s:
        await tenancy.update_branding(
            s, slug=world.tenant.slug, changes={"time_zone": "Europe/Berlin"}
        )
        await s.commit()
    await runtime.directory.invalidate()
    body = await api(
        UPDATE,
        {"i": {"id": created["id"], "rule": "0 9 1 * *"}},
        tenant=world.tenant.slug,
        token=world.admin,
    )
    # then the next run is 09:00 Berlin time: 07:00 or 08:00 UTC
    moved = datetime.fromisoformat(ok(body)["updatePeriodicMessage"]["nextRunAt"])
    local = moved.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.day, local.hour, local.minute) == (1, 9, 0)
    assert moved.astimezone(UTC).hour in (7, 8)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"rule": "* * * * *"}, "VALIDATION_FAILED", "rule"),
        ({"rule": "*/10 9 * * *"}, "VALIDATION_FAILED", "rule"),
        ({"rule": "0 9 * * * 2030"}, "VALIDATION_FAILED", "rule"),
        ({"channels": ["fax"]}, "CHANNEL_NOT_ALLOWED", None),
        ({"title": " "}, "VALIDATION_FAILED", "title"),
        ({"body": "您好 {{unit}}"}, "VALIDATION_FAILED", "body"),
        ({"audience": "everyone"}, "VALIDATION_FAILED", "audience"),
        ({"targets": []}, "VALIDATION_FAILED", "targets"),
        ({"targets": [{"kind": "building", "refId": None}]}, "VALIDATION_FAILED", "targets"),
        ({"targets": [{"kind": "building", "refId": "bm9wZQ"}]}, "NOT_FOUND", "targets"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(api, runtime, fields, code, field):
    world = await make_world(runtime, api)
    i = {
        "name": "提醒",
        "title": "标题",
        "body": "内容",
        "rule": "0 9 1 * *",
        "targets": [world.target("tenant")],
        **fields,
    }
    body = await api(CREATE, {"i": i}, tenant=world.tenant.slug, token=world.admin)
    assert failure(body) == (code, field)
    assert await _count(runtime, world.tenant.schema) == 0


async def test_a_bad_update_changes_nothing(api, runtime):
    world = await make_world(runtime, api)
    created = await create(api, world, title="原标题")
    body = await api(
        UPDATE,
        {"i": {"id": created["id"], "title": "新标题", "rule": "* * * * *"}},
        tenant=world.tenant.slug,
        token=world.admin,
    )
    assert failure(body) == ("VALIDATION_FAILED", "rule")
    again = ok(
        await api(ONE, {"id": created["id"], "n": 1}, tenant=world.tenant.slug, token=world.admin)
    )["periodicMessage"]
    assert again["title"] == "原标题" and again["rule"] == "0 9 1 * *"
    assert again["nextRunAt"] == created["nextRunAt"]
