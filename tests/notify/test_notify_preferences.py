"""A user's notification choices, end to end: what the API shows and accepts, and what
``notify`` then records for that user; WeChat binding against a local WeChat stand-in."""

from __future__ import annotations

import pytest
from channel_servers import FakeWechat, ThreadedServer
from conftest import Api, build_runtime, client_for, login, make_tenant
from notify_kit import NOTICE, URGENT, codes, member, messages, notices_tenant, notify, ok
from sqlalchemy import select

from wuye.app import create_app
from wuye.notify.models import NotifyAddress

SETTINGS = """{ myNotificationSettings { wechatBound types {
  type title titleZh titleEn urgent channels { channel enabled byDefault } } } }"""
SET = """mutation($t: String!, $c: String!, $e: Boolean!) {
  setNotificationPreference(type: $t, channel: $c, enabled: $e) {
    types { type channels { channel enabled } } } }"""
BIND = "mutation($c: String!) { bindWechat(code: $c) { wechatBound } }"
UNBIND = "mutation { unbindWechat { wechatBound } }"
UPDATE = """mutation($i: NotificationSettingsInput!) {
  updateNotificationSettings(input: $i) { wechatAppId wechatAppSecretSet } }"""


def enabled(settings: dict, type_key: str) -> dict[str, bool]:
    for t in settings["types"]:
        if t["type"] == type_key:
            return {c["channel"]: c["enabled"] for c in t["channels"]}
    raise AssertionError(f"{type_key} not listed")


async def test_lists_the_tenants_types_in_the_request_language(api, runtime, tenant):
    with_notices = await notices_tenant(runtime)
    me = await member(api, runtime, with_notices)
    data = ok(await api(SETTINGS, tenant=with_notices.slug, token=me.token))
    types = {t["type"]: t for t in data["myNotificationSettings"]["types"]}
    assert {"notices.notice", "notices.urgent", "identity.verification_code"} <= set(types)
    notice = types[NOTICE]
    assert notice["title"] == "通知公告" and notice["titleEn"] == "Notice"
    assert notice["urgent"] is False
    assert {c["channel"]: (c["enabled"], c["byDefault"]) for c in notice["channels"]} == {
        "sms": (True, False),
        "wechat": (True, True),
        "email": (True, False),
    }
    assert types[URGENT]["urgent"] is True
    assert data["myNotificationSettings"]["wechatBound"] is False

    english = await api(
        SETTINGS, tenant=with_notices.slug, token=me.token, headers={"accept-language": "en"}
    )
    assert {t["type"]: t["title"] for t in ok(english)["myNotificationSettings"]["types"]}[
        NOTICE
    ] == "Notice"

    # a tenant without the notices module sees only core types
    other = await member(api, runtime, tenant)
    listed = ok(await api(SETTINGS, tenant=tenant.slug, token=other.token))
    assert [t["type"] for t in listed["myNotificationSettings"]["types"]] == [
        "identity.verification_code"
    ]


async def test_preferences_decide_what_notify_records(api, runtime):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    neighbour = await member(api, runtime, tenant)

    body = await api(SET, {"t": "*", "c": "sms", "e": False}, tenant=tenant.slug, token=me.token)
    shown = ok(body)["setNotificationPreference"]
    assert enabled(shown, NOTICE) == {"sms": False, "wechat": True, "email": True}
    assert enabled(shown, URGENT)["sms"] is True  # urgent ignores opt-outs

    both = [me.id, neighbour.id]
    await notify(runtime, tenant, both, channels=["sms", "email"], source="n1")
    await notify(runtime, tenant, both, type_key=URGENT, channels=["sms"], source="u1")
    mine = await messages(runtime, tenant, me.id)
    assert {r.channel for r in mine if r.source == "n1"} == {"inbox", "email"}
    assert {r.channel for r in mine if r.source == "u1"} == {"inbox", "sms"}
    theirs = await messages(runtime, tenant, neighbour.id)
    assert {r.channel for r in theirs if r.source == "n1"} == {"inbox", "sms", "email"}

    # the type's own choice beats the catch-all; type/* beats */channel
    ok(await api(SET, {"t": NOTICE, "c": "sms", "e": True}, tenant=tenant.slug, token=me.token))
    ok(await api(SET, {"t": NOTICE, "c": "*", "e": False}, tenant=tenant.slug, token=me.token))
    shown = ok(await api(SETTINGS, tenant=tenant.slug, token=me.token))["myNotificationSettings"]
    assert enabled(shown, NOTICE) == {"sms": True, "wechat": False, "email": False}
    await notify(runtime, tenant, [me.id], channels=["sms", "wechat", "email"], source="n2")
    assert {r.channel for r in await messages(runtime, tenant, me.id) if r.source == "n2"} == {
        "inbox",
        "sms",
    }


@pytest.mark.parametrize(
    ("type_key", "channel", "on", "code"),
    [
        ("nope.nothing", "sms", False, "NOT_FOUND"),
        ("notices.approval_requested", "sms", False, "CHANNEL_NOT_ALLOWED"),
        (NOTICE, "inbox", False, "CHANNEL_NOT_ALLOWED"),
        ("*", "inbox", False, "CHANNEL_NOT_ALLOWED"),
        ("*", "fax", True, "CHANNEL_NOT_ALLOWED"),
        (URGENT, "sms", False, "URGENT_NOT_OPTIONAL"),
        (URGENT, "*", False, "URGENT_NOT_OPTIONAL"),
        ("identity.verification_code", "sms", False, "URGENT_NOT_OPTIONAL"),
    ],
)
async def test_refused_choices_have_codes(api, runtime, type_key, channel, on, code):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    body = await api(
        SET, {"t": type_key, "c": channel, "e": on}, tenant=tenant.slug, token=me.token
    )
    assert codes(body) == [code], body


async def test_a_disabled_modules_type_is_unknown(api, runtime, tenant):
    me = await member(api, runtime, tenant)
    body = await api(SET, {"t": NOTICE, "c": "sms", "e": False}, tenant=tenant.slug, token=me.token)
    assert codes(body) == ["NOT_FOUND"], body
    # turning an urgent type on is fine (it is on anyway)
    code_on = {"t": "identity.verification_code", "c": "sms", "e": True}
    ok(await api(SET, code_on, tenant=tenant.slug, token=me.token))


# --- WeChat binding -------------------------------------------------------------------------

APP_ID, APP_SECRET = "wx-tenant-app", "tenant-app-secret"


@pytest.fixture
def wechat():
    fake = FakeWechat({APP_ID: APP_SECRET})
    with ThreadedServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def wechat_api(settings, services, wechat):
    """The app of a runtime whose WeChat API is the local stand-in."""
    rt = build_runtime(settings.model_copy(update={"wechat_api_base": wechat.url}), services)
    async with client_for(create_app(rt)) as client:
        yield rt, Api(client, "/graphql")
    await rt.close()


async def test_bind_and_unbind_wechat(wechat_api, wechat):
    runtime, api = wechat_api
    tenant = await make_tenant(runtime, modules=("notices",))
    me = await member(api, runtime, tenant)
    wechat.oauth_codes["code-1"] = "openid-me"

    # no official account configured yet
    assert codes(await api(BIND, {"c": "code-1"}, tenant=tenant.slug, token=me.token)) == [
        "VALIDATION_FAILED"
    ]
    admin = (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
    config = {"wechatAppId": APP_ID, "wechatAppSecret": APP_SECRET}
    ok(await api(UPDATE, {"i": config}, tenant=tenant.slug, token=admin))

    assert codes(await api(BIND, {"c": "wrong"}, tenant=tenant.slug, token=me.token)) == [
        "WECHAT_CODE_INVALID"
    ]
    body = await api(BIND, {"c": "code-1"}, tenant=tenant.slug, token=me.token)
    assert ok(body) == {"bindWechat": {"wechatBound": True}}
    async with runtime.db.tenant_session(tenant.schema) as s:
        stored = (
            await s.scalars(select(NotifyAddress).where(NotifyAddress.user_id == me.id))
        ).all()
    assert [(a.channel, a.address) for a in stored] == [("wechat", "openid-me")]

    await notify(runtime, tenant, [me.id], source="bound")
    rows = [r for r in await messages(runtime, tenant, me.id) if r.channel == "wechat"]
    assert [(r.status, r.address) for r in rows] == [("queued", "openid-me")]

    assert ok(await api(UNBIND, tenant=tenant.slug, token=me.token)) == {
        "unbindWechat": {"wechatBound": False}
    }
    await notify(runtime, tenant, [me.id], source="unbound")
    rows = [r for r in await messages(runtime, tenant, me.id) if r.source == "unbound"]
    assert {(r.channel, r.status) for r in rows} == {
        ("inbox", "delivered"),
        ("wechat", "suppressed"),
    }
