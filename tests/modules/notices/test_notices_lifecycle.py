"""The notice life cycle: approval by a second person, scheduled publishing, withdrawal,
re-push to those who have not read, and bad input that leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import Api, TenantFixture, login, make_tenant
from kit import set_module_config
from notices_kit import (
    APPROVE,
    CREATE,
    MY_NOTICES,
    NOTICES,
    PUBLISH,
    READ,
    REJECT,
    REPUSH,
    UPDATE,
    WITHDRAW,
    add_resident,
    add_staff,
    codes,
    drain,
    make_place,
    messages,
    notice_input,
    ok,
)
from sqlalchemy import func, select

from wuye.graphql.ids import decode_id
from wuye.modules.notices.jobs import publish_due_notices
from wuye.modules.notices.models import Notice, NoticeTarget
from wuye.notify.models import NotifyAddress
from wuye.runtime import Runtime

LAYOUT = {"A": {"1": ["101", "102", "103"]}}


async def _tenant(runtime: Runtime, *, approval: bool = False) -> TenantFixture:
    tenant = await make_tenant(runtime, modules=("notices",))
    if approval:
        await set_module_config(runtime, tenant, "notices", {"approval_required": True})
    return tenant


async def _admin(api: Api, tenant: TenantFixture) -> str:
    return str((await login(api, tenant.slug, tenant.admin_phone))["accessToken"])


async def test_approval_needs_a_second_person(runtime: Runtime, api: Api) -> None:
    tenant = await _tenant(runtime, approval=True)
    place = await make_place(runtime, tenant, LAYOUT)
    resident = await add_resident(api, runtime, tenant, place.ids["A/1/101"])
    author = await add_staff(api, runtime, tenant, roles=("customer_service",))
    approver = await add_staff(api, runtime, tenant, roles=("manager",))
    n = ok(
        await api(
            CREATE,
            {"i": notice_input([{"kind": "tenant"}])},
            tenant=tenant.slug,
            token=author.token,
        )
    )["createNotice"]
    submitted = ok(await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=author.token))
    assert submitted["publishNotice"]["status"] == "pending"
    # customer service may not approve at all; the author (even a manager) not their own
    denied = await api(APPROVE, {"id": n["id"]}, tenant=tenant.slug, token=author.token)
    assert codes(denied) == ["FORBIDDEN"]
    await drain(runtime)
    # approvers were asked (through their inbox), nobody else was told anything
    told = await messages(runtime, tenant, source=f"notice:{decode_id(n['id'], 'Notice')}")
    asked = {(m.user_id, m.type) for m in told}
    assert asked == {(u, "notices.approval_requested") for u in (tenant.admin_id, approver.user_id)}
    listed = ok(await api(MY_NOTICES, tenant=tenant.slug, token=resident.token))["myNotices"]
    assert listed["totalCount"] == 0
    rejected = ok(
        await api(
            REJECT, {"id": n["id"], "n": "标题写错了"}, tenant=tenant.slug, token=approver.token
        )
    )["rejectNotice"]
    assert (rejected["status"], rejected["reviewNote"]) == ("draft", "标题写错了")
    ok(await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=author.token))
    approved = ok(await api(APPROVE, {"id": n["id"]}, tenant=tenant.slug, token=approver.token))
    assert approved["approveNotice"]["status"] == "published"
    await drain(runtime)
    listed = ok(await api(MY_NOTICES, tenant=tenant.slug, token=resident.token))["myNotices"]
    assert listed["totalCount"] == 1

    own = ok(
        await api(
            CREATE,
            {"i": notice_input([{"kind": "tenant"}])},
            tenant=tenant.slug,
            token=approver.token,
        )
    )["createNotice"]
    ok(await api(PUBLISH, {"id": own["id"]}, tenant=tenant.slug, token=approver.token))
    self_approval = await api(APPROVE, {"id": own["id"]}, tenant=tenant.slug, token=approver.token)
    assert codes(self_approval) == ["SECOND_APPROVER_REQUIRED"]


async def test_scheduled_notice_goes_out_when_due(runtime: Runtime, api: Api) -> None:
    tenant = await _tenant(runtime)
    place = await make_place(runtime, tenant, LAYOUT)
    resident = await add_resident(api, runtime, tenant, place.ids["A/1/101"])
    admin = await _admin(api, tenant)
    later = datetime.now(UTC) + timedelta(hours=2)
    n = ok(
        await api(
            CREATE,
            {"i": notice_input([{"kind": "tenant"}], publishAt=later.isoformat())},
            tenant=tenant.slug,
            token=admin,
        )
    )["createNotice"]
    scheduled = ok(await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=admin))
    assert scheduled["publishNotice"]["status"] == "scheduled"
    assert await publish_due_notices({"runtime": runtime}, tenant.slug) == 0  # not yet
    async with runtime.db.tenant_session(tenant.schema) as s:  # time passes
        notice = await s.get(Notice, decode_id(n["id"], "Notice"))
        assert notice is not None
        notice.publish_at = datetime.now(UTC) - timedelta(minutes=1)
        await s.commit()
    assert await publish_due_notices({"runtime": runtime}, tenant.slug) == 1
    assert await publish_due_notices({"runtime": runtime}, tenant.slug) == 0  # once only
    await drain(runtime)
    listed = ok(await api(MY_NOTICES, tenant=tenant.slug, token=resident.token))["myNotices"]
    assert [e["node"]["id"] for e in listed["edges"]] == [n["id"]]
    inbox = [m for m in await messages(runtime, tenant) if m.channel == "inbox"]
    assert [(m.user_id, m.title) for m in inbox] == [(resident.user_id, "停水通知")]


async def test_withdraw_hides_it_and_repush_reaches_only_unread(runtime: Runtime, api: Api) -> None:
    tenant = await _tenant(runtime)
    place = await make_place(runtime, tenant, LAYOUT)
    readers = [await add_resident(api, runtime, tenant, place.ids[f"A/1/10{i}"]) for i in (1, 2, 3)]
    async with runtime.db.tenant_session(tenant.schema) as s:
        for r in readers:
            s.add(NotifyAddress(user_id=r.user_id, channel="wechat", address=f"o-{r.user_id}"))
        await s.commit()
    admin = await _admin(api, tenant)
    n = ok(
        await api(
            CREATE,
            {
                "i": notice_input(
                    [{"kind": "community", "refId": place.gid("A")}], channels=["wechat"]
                )
            },
            tenant=tenant.slug,
            token=admin,
        )
    )["createNotice"]
    ok(await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=admin))
    await drain(runtime)
    ok(await api(READ, {"id": n["id"]}, tenant=tenant.slug, token=readers[0].token))
    ok(await api(REPUSH, {"id": n["id"], "c": ["wechat"]}, tenant=tenant.slug, token=admin))
    await drain(runtime)
    pk = decode_id(n["id"], "Notice")
    pushes = [
        m for m in await messages(runtime, tenant, source=f"notice:{pk}") if m.channel == "wechat"
    ]
    per_user = {r.user_id: sum(m.user_id == r.user_id for m in pushes) for r in readers}
    assert per_user == {readers[0].user_id: 1, readers[1].user_id: 2, readers[2].user_id: 2}
    inbox = [
        m for m in await messages(runtime, tenant, source=f"notice:{pk}") if m.channel == "inbox"
    ]
    assert len(inbox) == 3  # a re-push adds no second inbox row
    bad = await api(REPUSH, {"id": n["id"], "c": ["fax"]}, tenant=tenant.slug, token=admin)
    assert codes(bad) == ["CHANNEL_NOT_ALLOWED"]

    withdrawn = ok(await api(WITHDRAW, {"id": n["id"]}, tenant=tenant.slug, token=admin))
    assert withdrawn["withdrawNotice"]["status"] == "withdrawn"
    listed = ok(await api(MY_NOTICES, tenant=tenant.slug, token=readers[1].token))["myNotices"]
    assert listed["totalCount"] == 0
    again = await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=admin)
    assert codes(again) == ["INVALID_TRANSITION"]
    edit = await api(
        UPDATE,
        {"i": {"id": n["id"], **notice_input([{"kind": "tenant"}])}},
        tenant=tenant.slug,
        token=admin,
    )
    assert codes(edit) == ["INVALID_TRANSITION"]


async def test_bad_input_is_refused_and_writes_nothing(runtime: Runtime, api: Api) -> None:
    tenant = await _tenant(runtime)
    place = await make_place(runtime, tenant, LAYOUT)
    admin = await _admin(api, tenant)
    scoped = await add_staff(
        api,
        runtime,
        tenant,
        roles=("customer_service",),
        all_communities=False,
        communities=(place.ids["A"],),
    )
    cases = [
        (admin, notice_input([]), "VALIDATION_FAILED"),
        (admin, notice_input([{"kind": "tenant"}], title="  "), "VALIDATION_FAILED"),
        (admin, notice_input([{"kind": "tenant"}], category="spam"), "VALIDATION_FAILED"),
        (admin, notice_input([{"kind": "planet", "refId": "x"}]), "VALIDATION_FAILED"),
        (
            admin,
            notice_input([{"kind": "building", "refId": place.gid("A")}]),
            "NOT_FOUND",
        ),  # a community id where a building id belongs
        (admin, notice_input([{"kind": "tenant"}], channels=["fax"]), "CHANNEL_NOT_ALLOWED"),
        (
            admin,
            notice_input(
                [{"kind": "tenant"}],
                publishAt="2030-01-02T00:00:00Z",
                expiresAt="2030-01-01T00:00:00Z",
            ),
            "VALIDATION_FAILED",
        ),
        (
            admin,
            notice_input(
                [{"kind": "tenant"}], attachments=[{"name": "x", "url": "javascript:alert(1)"}]
            ),
            "VALIDATION_FAILED",
        ),
        (scoped.token, notice_input([{"kind": "tenant"}]), "FORBIDDEN"),  # whole tenant: not theirs
    ]
    for token, given, code in cases:
        body = await api(CREATE, {"i": given}, tenant=tenant.slug, token=token)
        assert codes(body) == [code], (given, body)
    async with runtime.db.tenant_session(tenant.schema) as s:
        assert await s.scalar(select(func.count()).select_from(Notice)) == 0
        assert await s.scalar(select(func.count()).select_from(NoticeTarget)) == 0
    # the scoped staff member can address their own community
    ok(
        await api(
            CREATE,
            {"i": notice_input([{"kind": "community", "refId": place.gid("A")}])},
            tenant=tenant.slug,
            token=scoped.token,
        )
    )
    listed = ok(await api(NOTICES, tenant=tenant.slug, token=admin))["notices"]
    assert listed["totalCount"] == 1


async def test_notices_need_the_module_and_the_permission(runtime: Runtime, api: Api) -> None:
    off = await make_tenant(runtime)
    token = await _admin(api, off)
    assert codes(await api(NOTICES, tenant=off.slug, token=token)) == ["MODULE_DISABLED"]
    tenant = await _tenant(runtime)
    place = await make_place(runtime, tenant, LAYOUT)
    resident = await add_resident(api, runtime, tenant, place.ids["A/1/101"])
    worker = await add_staff(api, runtime, tenant, roles=("maintenance_worker",))
    for who in (resident, worker):
        body = await api(
            CREATE, {"i": notice_input([{"kind": "tenant"}])}, tenant=tenant.slug, token=who.token
        )
        assert codes(body) == ["FORBIDDEN"]
    assert codes(await api(NOTICES, tenant=tenant.slug, token=resident.token)) == ["FORBIDDEN"]
    assert codes(await api(MY_NOTICES, tenant=tenant.slug, token=worker.token)) == ["FORBIDDEN"]
