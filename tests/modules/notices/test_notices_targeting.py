"""A notice reaches exactly the residents it targets: in the list, the detail, the inbox and
the pushes; and tenants never see each other's notices."""

from __future__ import annotations

from conftest import Api, make_tenant
from notices_kit import (
    CREATE,
    MY_NOTICE,
    MY_NOTICES,
    PUBLISH,
    REACH,
    READ,
    add_resident,
    codes,
    drain,
    make_place,
    messages,
    notice_input,
    ok,
)
from sqlalchemy import update

from wuye.notify.models import NotifyAddress
from wuye.runtime import Runtime

LAYOUT = {"A": {"3": ["301", "302"], "5": ["501"]}, "B": {"1": ["101"]}}


async def _admin(api: Api, tenant) -> str:  # type: ignore[no-untyped-def]
    from conftest import login

    return str((await login(api, tenant.slug, tenant.admin_phone))["accessToken"])


async def test_building_targeting_in_list_detail_inbox_and_push(runtime: Runtime, api: Api) -> None:
    tenant = await make_tenant(runtime, modules=("notices",))
    place = await make_place(runtime, tenant, LAYOUT)
    in3 = await add_resident(api, runtime, tenant, place.ids["A/3/301"])
    also3 = await add_resident(api, runtime, tenant, place.ids["A/3/302"])
    in5 = await add_resident(api, runtime, tenant, place.ids["A/5/501"])
    other = await add_resident(api, runtime, tenant, place.ids["B/1/101"])
    async with runtime.db.tenant_session(tenant.schema) as s:  # everyone can get WeChat
        for r in (in3, also3, in5, other):
            s.add(NotifyAddress(user_id=r.user_id, channel="wechat", address=f"openid-{r.user_id}"))
        await s.commit()
    admin = await _admin(api, tenant)
    created = ok(
        await api(
            CREATE,
            {"i": notice_input([{"kind": "building", "refId": place.gid("A/3")}])},
            tenant=tenant.slug,
            token=admin,
        )
    )["createNotice"]
    assert created["status"] == "draft" and "<strong>9:00-12:00</strong>" in created["bodyHtml"]
    published = ok(await api(PUBLISH, {"id": created["id"]}, tenant=tenant.slug, token=admin))
    assert published["publishNotice"]["status"] == "published"
    await drain(runtime)

    for r, sees in ((in3, True), (also3, True), (in5, False), (other, False)):
        listed = ok(await api(MY_NOTICES, tenant=tenant.slug, token=r.token))["myNotices"]
        assert [e["node"]["id"] for e in listed["edges"]] == ([created["id"]] if sees else [])
        detail = await api(MY_NOTICE, {"id": created["id"]}, tenant=tenant.slug, token=r.token)
        assert (codes(detail) == []) is sees
        if not sees:
            assert codes(detail) == ["NOT_FOUND"]
    sent = await messages(runtime, tenant, source=f"notice:{_pk(created['id'])}")
    by_user = {(m.user_id, m.channel) for m in sent}
    assert by_user == {
        (in3.user_id, "inbox"),
        (in3.user_id, "wechat"),
        (also3.user_id, "inbox"),
        (also3.user_id, "wechat"),
    }
    assert {m.status for m in sent if m.channel == "wechat"} == {"sent"}  # log provider

    # reading records the receipt, marks the inbox row read, and shows in reach
    read = ok(await api(READ, {"id": created["id"]}, tenant=tenant.slug, token=in3.token))
    assert read["readNotice"]["readAt"] is not None
    reach = ok(await api(REACH, {"id": created["id"]}, tenant=tenant.slug, token=admin))
    figures = reach["notice"]["reach"]
    assert (figures["targeted"], figures["read"], figures["unread"]) == (2, 1, 1)
    channels = {c["channel"]: c for c in figures["channels"]}
    assert channels["inbox"]["read"] == 1 and channels["inbox"]["delivered"] == 1
    assert channels["wechat"]["sent"] == 2
    # a resident of building 5 cannot read it either
    denied = await api(READ, {"id": created["id"]}, tenant=tenant.slug, token=in5.token)
    assert codes(denied) == ["NOT_FOUND"]


async def test_moving_in_later_sees_place_targeted_notice_but_not_user_targeted(
    runtime: Runtime, api: Api
) -> None:
    tenant = await make_tenant(runtime, modules=("notices",))
    place = await make_place(runtime, tenant, LAYOUT)
    first = await add_resident(api, runtime, tenant, place.ids["A/3/301"])
    admin = await _admin(api, tenant)
    ids = []
    for target in (
        {"kind": "community", "refId": place.gid("A")},
        {"kind": "user", "refId": first.gid},
    ):
        n = ok(await api(CREATE, {"i": notice_input([target])}, tenant=tenant.slug, token=admin))
        ok(await api(PUBLISH, {"id": n["createNotice"]["id"]}, tenant=tenant.slug, token=admin))
        ids.append(n["createNotice"]["id"])
    await drain(runtime)
    newcomer = await add_resident(api, runtime, tenant, place.ids["A/5/501"])
    mine = ok(await api(MY_NOTICES, tenant=tenant.slug, token=first.token))["myNotices"]
    theirs = ok(await api(MY_NOTICES, tenant=tenant.slug, token=newcomer.token))["myNotices"]
    assert {e["node"]["id"] for e in mine["edges"]} == set(ids)
    assert [e["node"]["id"] for e in theirs["edges"]] == [ids[0]]


async def test_tenants_never_see_each_others_notices(runtime: Runtime, api: Api) -> None:
    a = await make_tenant(runtime, modules=("notices",))
    b = await make_tenant(runtime, modules=("notices",))
    place_a = await make_place(runtime, a, LAYOUT)
    place_b = await make_place(runtime, b, LAYOUT)
    res_a = await add_resident(api, runtime, a, place_a.ids["A/3/301"])
    res_b = await add_resident(api, runtime, b, place_b.ids["A/3/301"])
    admin_a, admin_b = await _admin(api, a), await _admin(api, b)
    n = ok(
        await api(CREATE, {"i": notice_input([{"kind": "tenant"}])}, tenant=a.slug, token=admin_a)
    )["createNotice"]
    ok(await api(PUBLISH, {"id": n["id"]}, tenant=a.slug, token=admin_a))
    await drain(runtime)
    # B's resident and admin see nothing of it, by list or by id
    listed = ok(await api(MY_NOTICES, tenant=b.slug, token=res_b.token))["myNotices"]
    assert listed["totalCount"] == 0
    assert codes(await api(MY_NOTICE, {"id": n["id"]}, tenant=b.slug, token=res_b.token)) == [
        "NOT_FOUND"
    ]
    assert codes(await api(REACH, {"id": n["id"]}, tenant=b.slug, token=admin_b)) == ["NOT_FOUND"]
    assert codes(await api(PUBLISH, {"id": n["id"]}, tenant=b.slug, token=admin_b)) == ["NOT_FOUND"]
    # A's token is refused by B's API; A's resident got it, B's no message at all
    assert codes(await api(MY_NOTICES, tenant=b.slug, token=res_a.token)) == ["UNAUTHENTICATED"]
    assert await messages(runtime, b) == []
    assert {m.user_id for m in await messages(runtime, a) if m.channel == "inbox"} == {
        res_a.user_id
    }
    # targeting B's building from A is refused (the id does not exist in A)
    bad = await api(
        CREATE,
        {"i": notice_input([{"kind": "building", "refId": place_b.gid("B/1")}])},
        tenant=a.slug,
        token=admin_a,
    )
    assert codes(bad) in (["NOT_FOUND"], [])  # ids are per tenant: B/1's id may exist in A
    assert res_b  # unused otherwise


async def test_inactive_resident_gets_no_push(runtime: Runtime, api: Api) -> None:
    tenant = await make_tenant(runtime, modules=("notices",))
    place = await make_place(runtime, tenant, LAYOUT)
    gone = await add_resident(api, runtime, tenant, place.ids["A/3/301"])
    from wuye.identity.models import User

    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(update(User).where(User.id == gone.user_id).values(is_active=False))
        await s.commit()
    admin = await _admin(api, tenant)
    n = ok(
        await api(
            CREATE, {"i": notice_input([{"kind": "tenant"}])}, tenant=tenant.slug, token=admin
        )
    )["createNotice"]
    ok(await api(PUBLISH, {"id": n["id"]}, tenant=tenant.slug, token=admin))
    await drain(runtime)
    assert await messages(runtime, tenant, source=f"notice:{_pk(n['id'])}") == []


def _pk(global_id: str) -> int:
    from wuye.graphql.ids import decode_id

    return decode_id(global_id, "Notice")
