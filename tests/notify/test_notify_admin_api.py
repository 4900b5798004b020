"""The staff side: delivery settings (secret write-only), template overrides used by the
next ``notify``, the message log, and who may use them."""

from __future__ import annotations

import pytest
from conftest import count_statements, login, make_tenant
from notify_kit import NOTICE, URGENT, codes, member, messages, notices_tenant, notify, ok
from sqlalchemy import select

from wuye.crypto import decrypt_field
from wuye.graphql.ids import encode_id
from wuye.identity.models import AuditLog
from wuye.identity.passwords import mask_phone
from wuye.notify.delivery import WECHAT_SECRET_PURPOSE
from wuye.notify.models import NotifySettings

SETTINGS_FIELDS = """quietHoursEnabled quietHoursStart quietHoursEnd senderName smsSignName
  smsTemplates { type templateCode } wechatAppId wechatAppSecretSet
  wechatTemplates { type templateId fields url }"""
GET = f"{{ notificationSettings {{ {SETTINGS_FIELDS} }} }}"
UPDATE = f"""mutation($i: NotificationSettingsInput!) {{
  updateNotificationSettings(input: $i) {{ {SETTINGS_FIELDS} }} }}"""
TEMPLATES = """{ messageTemplates { type title variables
  defaults { locale subject body } overrides { locale subject body updatedAt } } }"""
SET_TEMPLATE = """mutation($t: String!, $l: String!, $s: String!, $b: String!) {
  setMessageTemplate(type: $t, locale: $l, subject: $s, body: $b) {
    type overrides { locale subject body } } }"""
RESET_TEMPLATE = """mutation($t: String!, $l: String!) {
  resetMessageTemplate(type: $t, locale: $l) { type overrides { locale } } }"""
LOG = """query($first: Int, $after: String, $user: ID, $status: String, $channel: String,
  $type: String, $source: String) {
  messageLog(first: $first, after: $after, userId: $user, status: $status, channel: $channel,
    type: $type, source: $source) {
    totalCount
    edges { node { id userId userName userPhone type channel status attempts error source
      createdAt sentAt readAt } }
    pageInfo { hasNextPage endCursor } } }"""

FULL = {
    "quietHoursEnabled": False,
    "quietHoursStart": "21:30",
    "quietHoursEnd": "07:15",
    "senderName": "阳光物业",
    "smsSignName": "阳光物业",
    "smsTemplates": [{"type": URGENT, "templateCode": "SMS_100"}],
    "wechatAppId": "wx-app-1",
    "wechatAppSecret": "very-secret-value",
    "wechatTemplates": [
        {
            "type": NOTICE,
            "templateId": "TPL-1",
            "fields": {"thing1": "title", "thing2": "subject"},
            "url": "https://x.test/n",
        }
    ],
}


async def _admin(api, tenant) -> str:
    return (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]


async def _row(runtime, tenant) -> NotifySettings | None:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return await s.get(NotifySettings, 1)


async def test_settings_round_trip_with_a_write_only_secret(api, runtime):
    tenant = await make_tenant(runtime, modules=("notices",), quiet_hours=True)
    admin = await _admin(api, tenant)
    defaults = ok(await api(GET, tenant=tenant.slug, token=admin))["notificationSettings"]
    assert defaults["quietHoursEnabled"] is True
    assert defaults["quietHoursStart"] == "22:00" and defaults["quietHoursEnd"] == "08:00"
    assert defaults["wechatAppSecretSet"] is False and defaults["smsTemplates"] == []

    saved = ok(await api(UPDATE, {"i": FULL}, tenant=tenant.slug, token=admin))
    expected = {k: v for k, v in FULL.items() if k != "wechatAppSecret"}
    assert saved["updateNotificationSettings"] == {**expected, "wechatAppSecretSet": True}
    assert ok(await api(GET, tenant=tenant.slug, token=admin)) == {
        "notificationSettings": saved["updateNotificationSettings"]
    }
    # there is no way to read the secret back, and it is stored encrypted for this tenant
    body = await api(
        "{ notificationSettings { wechatAppSecret } }", tenant=tenant.slug, token=admin
    )
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    row = await _row(runtime, tenant)
    assert row is not None and b"very-secret-value" not in row.wechat_app_secret_enc
    plain = decrypt_field(
        runtime.settings.secret_key,
        purpose=WECHAT_SECRET_PURPOSE,
        tenant=tenant.slug,
        blob=row.wechat_app_secret_enc,
    )
    assert plain == "very-secret-value"
    async with runtime.db.tenant_session(tenant.schema) as s:
        audit = (await s.scalars(select(AuditLog.detail))).all()
    assert audit and "very-secret-value" not in str(audit)

    # a partial change keeps the rest, the secret included; "" removes the secret
    partial = await api(UPDATE, {"i": {"senderName": "新名字"}}, tenant=tenant.slug, token=admin)
    got = ok(partial)["updateNotificationSettings"]
    assert got["senderName"] == "新名字" and got["wechatAppSecretSet"] is True
    assert got["quietHoursStart"] == "21:30"
    cleared = await api(UPDATE, {"i": {"wechatAppSecret": ""}}, tenant=tenant.slug, token=admin)
    assert ok(cleared)["updateNotificationSettings"]["wechatAppSecretSet"] is False


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"quietHoursStart": "25:00"}, "VALIDATION_FAILED"),
        ({"quietHoursEnd": "8am"}, "VALIDATION_FAILED"),
        ({"smsTemplates": [{"type": "nope.nothing", "templateCode": "X"}]}, "NOT_FOUND"),
        (
            {"smsTemplates": [{"type": "notices.approval_requested", "templateCode": "X"}]},
            "CHANNEL_NOT_ALLOWED",
        ),
        (
            {"wechatTemplates": [{"type": URGENT, "templateId": "T", "fields": {"a": "secret"}}]},
            "TEMPLATE_UNKNOWN_VARIABLE",
        ),
        (
            {
                "wechatTemplates": [
                    {"type": "identity.verification_code", "templateId": "T", "fields": {}}
                ]
            },
            "CHANNEL_NOT_ALLOWED",
        ),
        ({"senderName": "x" * 101}, "VALIDATION_FAILED"),
    ],
)
async def test_settings_are_validated_and_nothing_is_saved(api, runtime, change, code):
    tenant = await notices_tenant(runtime)
    admin = await _admin(api, tenant)
    before = ok(await api(GET, tenant=tenant.slug, token=admin))
    body = await api(
        UPDATE, {"i": {**change, "wechatAppId": "wx-new"}}, tenant=tenant.slug, token=admin
    )
    assert codes(body) == [code], body
    assert ok(await api(GET, tenant=tenant.slug, token=admin)) == before
    assert (await _row(runtime, tenant)).wechat_app_id == ""


async def test_template_override_is_used_by_the_next_notify(api, runtime):
    tenant = await notices_tenant(runtime)
    admin = await _admin(api, tenant)
    zh = await member(api, runtime, tenant)
    en = await member(api, runtime, tenant, locale="en")
    listed = ok(await api(TEMPLATES, tenant=tenant.slug, token=admin))["messageTemplates"]
    notice = next(t for t in listed if t["type"] == NOTICE)
    assert notice["variables"] == ["title", "summary", "category", "notice_id"]
    assert notice["defaults"][0] == {
        "locale": "zh-CN",
        "subject": "{{title}}",
        "body": "{{summary}}",
    }
    assert notice["overrides"] == []

    body = await api(
        SET_TEMPLATE,
        {"t": NOTICE, "l": "zh-CN", "s": "【{{category}}】{{title}}", "b": "详情：{{summary}}"},
        tenant=tenant.slug,
        token=admin,
    )
    assert ok(body)["setMessageTemplate"]["overrides"] == [
        {"locale": "zh-CN", "subject": "【{{category}}】{{title}}", "body": "详情：{{summary}}"}
    ]
    await notify(runtime, tenant, [zh.id, en.id], channels=[], source="n1")
    (mine,) = await messages(runtime, tenant, zh.id)
    assert (mine.title, mine.body) == ("【water】停水通知", "详情：明天停水")
    (theirs,) = await messages(runtime, tenant, en.id)
    assert theirs.title == "停水通知"  # English keeps the default

    reset = await api(RESET_TEMPLATE, {"t": NOTICE, "l": "zh-CN"}, tenant=tenant.slug, token=admin)
    assert ok(reset)["resetMessageTemplate"]["overrides"] == []
    await notify(runtime, tenant, [zh.id], channels=[], source="n2")
    assert (await messages(runtime, tenant, zh.id))[-1].title == "停水通知"


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        (
            {"t": NOTICE, "l": "zh-CN", "s": "{{title}}", "b": "{{password}}"},
            "TEMPLATE_UNKNOWN_VARIABLE",
        ),
        ({"t": NOTICE, "l": "fr", "s": "{{title}}", "b": ""}, "VALIDATION_FAILED"),
        ({"t": NOTICE, "l": "en", "s": "", "b": "x"}, "VALIDATION_FAILED"),
        ({"t": "nope.nothing", "l": "en", "s": "x", "b": "x"}, "NOT_FOUND"),
    ],
)
async def test_bad_templates_are_refused(api, runtime, variables, code):
    tenant = await notices_tenant(runtime)
    body = await api(SET_TEMPLATE, variables, tenant=tenant.slug, token=await _admin(api, tenant))
    assert codes(body) == [code], body


async def test_residents_and_managers_get_only_what_they_may(api, runtime):
    tenant = await notices_tenant(runtime)
    resident = await member(api, runtime, tenant)
    manager = await member(api, runtime, tenant, kind="staff", roles=("manager",))
    settings_docs = [
        (GET, None),
        (UPDATE, {"i": {"senderName": "x"}}),
        (TEMPLATES, None),
        (SET_TEMPLATE, {"t": NOTICE, "l": "en", "s": "x", "b": "y"}),
        (RESET_TEMPLATE, {"t": NOTICE, "l": "en"}),
    ]
    for doc, variables in [*settings_docs, (LOG, None)]:
        body = await api(doc, variables, tenant=tenant.slug, token=resident.token)
        assert codes(body) == ["FORBIDDEN"], (doc, body)
    for doc, variables in settings_docs:
        body = await api(doc, variables, tenant=tenant.slug, token=manager.token)
        assert codes(body) == ["FORBIDDEN"], (doc, body)
    ok(await api(LOG, tenant=tenant.slug, token=manager.token))


async def test_message_log_filters_masks_and_pages(api, runtime):
    tenant = await notices_tenant(runtime)
    admin = await _admin(api, tenant)
    a = await member(api, runtime, tenant)
    b = await member(api, runtime, tenant)
    await notify(runtime, tenant, [a.id, b.id], channels=["sms"], source="notice:1")
    await notify(runtime, tenant, [a.id], type_key=URGENT, channels=["sms"], source="notice:2")

    def call(**variables):
        return api(LOG, variables, tenant=tenant.slug, token=admin)

    data = ok(await call(user=a.gid))["messageLog"]
    nodes = [e["node"] for e in data["edges"]]
    assert [(n["type"], n["channel"], n["source"]) for n in nodes] == [
        (URGENT, "sms", "notice:2"),
        (URGENT, "inbox", "notice:2"),
        (NOTICE, "sms", "notice:1"),
        (NOTICE, "inbox", "notice:1"),
    ]
    assert {n["userId"] for n in nodes} == {a.gid}
    assert {n["userPhone"] for n in nodes} == {mask_phone(a.phone)} and "****" in nodes[0][
        "userPhone"
    ]
    assert nodes[0]["status"] == "queued" and nodes[0]["attempts"] == 0
    assert data["totalCount"] == 4

    sms = ok(await call(channel="sms", source="notice:1"))["messageLog"]
    assert {(e["node"]["userId"], e["node"]["status"]) for e in sms["edges"]} == {
        (a.gid, "queued"),
        (b.gid, "queued"),
    }
    assert ok(await call(status="read"))["messageLog"]["edges"] == []
    assert ok(await call(type=URGENT))["messageLog"]["totalCount"] == 2
    assert codes(await call(status="nonsense")) == ["VALIDATION_FAILED"]
    assert codes(await call(user=encode_id("Message", 1))) == ["NOT_FOUND"]

    seen, after = [], None
    while True:
        page = ok(await call(first=2, after=after))["messageLog"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 6


async def test_message_log_statements_do_not_grow_with_the_page(api, runtime):
    tenant = await notices_tenant(runtime)
    admin = await _admin(api, tenant)
    users = [await member(api, runtime, tenant) for _ in range(3)]
    await notify(runtime, tenant, [users[0].id], channels=[])

    async def statements(first: int, expect: int) -> int:
        with count_statements(runtime) as seen:
            body = await api(LOG, {"first": first}, tenant=tenant.slug, token=admin)
        assert len(ok(body)["messageLog"]["edges"]) == expect
        return len([s for s in seen if "messages" in s.lower()])

    small = await statements(1, 1)
    await notify(runtime, tenant, [u.id for u in users], channels=["sms", "email"])
    big = await statements(50, 10)  # 1 + 3 users x (inbox, sms, email)
    assert small == big == 2  # one page query (users joined) and one count
