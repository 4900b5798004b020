"""Who may manage periodic messages: the permission, data scope, tenant isolation; and the
staff life cycle (list, update, pause, resume, delete)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from periodic_kit import (
    CREATE,
    DELETE,
    LIST,
    ONE,
    PAUSE,
    RESUME,
    UPDATE,
    add_resident,
    create,
    failure,
    inbox,
    make_world,
    ok,
    resident_token,
    row,
    run_job,
    set_due,
    staff_token,
)
from sqlalchemy import select

from wuye.graphql.ids import decode_id
from wuye.modules.estate.models import Community
from wuye.notify.models import Message

T = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)


def _input(world, **fields):
    return {
        "name": "提醒",
        "title": "标题",
        "body": "内容",
        "rule": "0 9 1 * *",
        "targets": [world.target("tenant")],
        **fields,
    }


async def test_residents_and_staff_without_the_permission_are_refused(api, runtime):
    world = await make_world(runtime, api)
    created = await create(api, world)
    slug = world.tenant.slug
    resident = await resident_token(runtime, api, world)
    clerk = await staff_token(
        runtime, api, world, roles=("customer_service",), all_communities=True
    )
    for token in (resident, clerk):
        body = await api(CREATE, {"i": _input(world)}, tenant=slug, token=token)
        assert failure(body)[0] == "FORBIDDEN"
        assert (
            failure(await api(ONE, {"id": created["id"], "n": 1}, tenant=slug, token=token))[0]
            == "FORBIDDEN"
        )
        assert failure(await api(LIST, {}, tenant=slug, token=token))[0] == "FORBIDDEN"
        body = await api(PAUSE, {"i": {"id": created["id"]}}, tenant=slug, token=token)
        assert failure(body)[0] == "FORBIDDEN"
    assert failure(await api(LIST, {}, tenant=slug))[0] == "UNAUTHENTICATED"
    # a manager may
    manager = await staff_token(runtime, api, world, roles=("manager",), all_communities=True)
    listed = ok(await api(LIST, {}, tenant=slug, token=manager))["periodicMessages"]
    assert listed["totalCount"] == 1


async def test_staff_limited_to_a_community_stay_inside_it(api, runtime):
    world = await make_world(runtime, api)
    async with runtime.db.tenant_session(world.tenant.schema) as s:
        other = Community(name="别的小区")
        s.add(other)
        await s.flush()
        other_id = other.id
        await s.commit()
    scoped = await staff_token(runtime, api, world, roles=("manager",), communities=(other_id,))
    slug = world.tenant.slug

    # the whole tenant, and birthdays of everyone, are beyond them
    for fields in ({}, {"audience": "birthday", "targets": []}):
        body = await api(CREATE, {"i": _input(world, **fields)}, tenant=slug, token=scoped)
        assert failure(body)[0] == "FORBIDDEN"
    # so are buildings of another community
    body = await api(
        CREATE, {"i": _input(world, targets=[world.building("3")])}, tenant=slug, token=scoped
    )
    assert failure(body) == ("NOT_FOUND", "targets")
    # and messages that reach beyond them cannot be changed by them
    tenant_wide = await create(api, world)
    body = await api(
        UPDATE, {"i": {"id": tenant_wide["id"], "title": "改"}}, tenant=slug, token=scoped
    )
    assert failure(body)[0] == "FORBIDDEN"
    # but their own community is fine
    body = await api(
        CREATE,
        {"i": _input(world, targets=[world.target("community", other_id)])},
        tenant=slug,
        token=scoped,
    )
    assert ok(body)["createPeriodicMessage"]["targets"][0]["kind"] == "community"


async def test_life_cycle_update_pause_resume_delete(api, runtime):
    world = await make_world(runtime, api)
    slug, token = world.tenant.slug, world.admin
    created = await create(api, world, channels=["sms"])
    assert created["channels"] == ["sms"]
    mid = created["id"]

    updated = ok(
        await api(
            UPDATE,
            {"i": {"id": mid, "rule": "0 10 * * 1", "title": "每周提醒", "channels": []}},
            tenant=slug,
            token=token,
        )
    )["updatePeriodicMessage"]
    assert updated["title"] == "每周提醒" and updated["channels"] == []
    assert updated["nextRunAt"] != created["nextRunAt"]
    assert datetime.fromisoformat(updated["nextRunAt"]).astimezone(UTC).hour == 2  # 10:00 +08

    paused = ok(await api(PAUSE, {"i": {"id": mid}}, tenant=slug, token=token))
    assert paused["pausePeriodicMessage"]["nextRunAt"] is None
    listed = ok(await api(LIST, {"active": True}, tenant=slug, token=token))["periodicMessages"]
    assert listed["totalCount"] == 0
    resumed = ok(await api(RESUME, {"i": {"id": mid}}, tenant=slug, token=token))
    resumed_at = datetime.fromisoformat(resumed["resumePeriodicMessage"]["nextRunAt"])
    assert resumed_at > datetime.now(UTC)

    assert ok(await api(DELETE, {"i": {"id": mid}}, tenant=slug, token=token)) == {
        "deletePeriodicMessage": True
    }
    assert failure(await api(ONE, {"id": mid, "n": 1}, tenant=slug, token=token)) == (
        "NOT_FOUND",
        None,
    )


async def test_tenants_cannot_reach_each_others_messages(api, runtime):
    # given tenants A and B, each with a resident; B has a periodic message
    a = await make_world(runtime, api)
    b = await make_world(runtime, api)
    await add_resident(runtime, a, "3", "甲")
    b_resident = await add_resident(runtime, b, "3", "乙")
    b_message = await create(api, b, title="B的提醒")
    b_pk = decode_id(b_message["id"], "PeriodicMessage")

    # when A's administrator uses B's id, they find nothing and change nothing
    for doc, variables in (
        (ONE, {"id": b_message["id"], "n": 1}),
        (UPDATE, {"i": {"id": b_message["id"], "title": "A改的"}}),
        (PAUSE, {"i": {"id": b_message["id"]}}),
        (DELETE, {"i": {"id": b_message["id"]}}),
    ):
        body = await api(doc, variables, tenant=a.tenant.slug, token=a.admin)
        assert failure(body)[0] == "NOT_FOUND", body
    assert (
        ok(await api(LIST, {}, tenant=a.tenant.slug, token=a.admin))["periodicMessages"][
            "totalCount"
        ]
        == 0
    )
    kept = await row(runtime, b.tenant.schema, b_pk)
    assert (kept.title, kept.active) == ("B的提醒", True)

    # when A's message to everyone and B's message are both due and A's job runs
    a_pk = decode_id((await create(api, a))["id"], "PeriodicMessage")
    await set_due(runtime, a.tenant.schema, a_pk, T)
    await set_due(runtime, b.tenant.schema, b_pk, T)
    assert await run_job(runtime, a.tenant.slug, T + timedelta(seconds=1)) == 1

    # then A's resident has it, B has no message at all, and B's message is still due
    assert len(await inbox(runtime, a.tenant.schema)) == 1
    async with runtime.db.tenant_session(b.tenant.schema) as s:
        assert list(await s.scalars(select(Message.id))) == []
    assert (await row(runtime, b.tenant.schema, b_pk)).next_run_at == T
    # and B's own job sends B's message to B's resident only
    await run_job(runtime, b.tenant.slug, T + timedelta(seconds=2))
    assert [m.user_id for m in await inbox(runtime, b.tenant.schema)] == [b_resident]
    assert len(await inbox(runtime, a.tenant.schema)) == 1
