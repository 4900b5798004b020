"""The WeChat template-message channel against a local stand-in of the official-account API,
with the access token cached in the real Redis."""

from __future__ import annotations

import secrets

import httpx
import pytest
import redis.asyncio as aioredis
from channel_servers import FakeWechat, ThreadedServer

from wuye.errors import AppError
from wuye.notify.channels.base import Outgoing, TenantChannelConfig
from wuye.notify.channels.wechat import WechatTemplateChannel, exchange_oauth_code
from wuye.settings import Settings

APP_ID, APP_SECRET = "wx1234567890abcdef", "app-secret-1"
TEMPLATE = {
    "template_id": "TPL-notice",
    "fields": {"thing1": "subject", "thing2": "building", "time3": "when"},
    "url": "https://acme.wuye.test/notices/1",
}


def make_config(app_id: str = APP_ID, secret: str = APP_SECRET) -> TenantChannelConfig:
    return TenantChannelConfig(
        tenant="acme",
        sender_name="阳光物业",
        wechat_app_id=app_id,
        wechat_app_secret=secret,
        wechat_templates={"notices.notice": TEMPLATE},
    )


def note(message_id: int, openid: str, type_key: str = "notices.notice", **variables) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        tenant="acme",
        user_id=1,
        type_key=type_key,
        address=openid,
        subject="停水通知",
        body="明天停水",
        locale="zh-CN",
        variables=variables or {"building": "3号楼", "when": "2026-12-01 09:00"},
    )


@pytest.fixture
def wechat():
    fake = FakeWechat({APP_ID: APP_SECRET, "wx-other": "other-secret"})
    fake.templates.add("TPL-notice")
    with ThreadedServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
async def redis(services):
    client = aioredis.Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix():
    return f"wuye:test:{secrets.token_hex(6)}"  # every test its own token cache


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def wx_settings(settings: Settings, base: str) -> Settings:
    return settings.model_copy(update={"wechat_provider": "wechat", "wechat_api_base": base})


async def test_sends_template_messages_with_mapped_fields(settings, wechat, redis, prefix, client):
    channel = WechatTemplateChannel(wx_settings(settings, wechat.url), redis, prefix, client)

    outcomes = await channel.send([note(1, "openid-a"), note(2, "openid-b")], make_config())

    assert [o.ok for o in outcomes] == [True, True]
    assert {o.provider_id for o in outcomes} == {str(s["msgid"]) for s in wechat.sent}
    first = next(s for s in wechat.sent if s["touser"] == "openid-a")
    assert first["appid"] == APP_ID
    assert first["template_id"] == "TPL-notice"
    assert first["url"] == "https://acme.wuye.test/notices/1"
    assert first["data"] == {
        "thing1": {"value": "停水通知"},  # the subject, available as a variable
        "thing2": {"value": "3号楼"},
        "time3": {"value": "2026-12-01 09:00"},
    }
    # One token for the whole batch, cached for expires_in - 300 s.
    assert wechat.token_requests == 1
    key = f"{prefix}:wechat-token:{APP_ID}"
    assert (await redis.get(key)).decode() in wechat.valid_tokens
    assert 6800 <= await redis.ttl(key) <= 6900


async def test_the_cached_token_is_shared_between_instances(
    settings, wechat, redis, prefix, client
):
    s = wx_settings(settings, wechat.url)
    one = WechatTemplateChannel(s, redis, prefix, client)
    two = WechatTemplateChannel(s, redis, prefix, client)  # e.g. another worker

    assert (await one.send([note(1, "openid-a")], make_config()))[0].ok
    assert (await two.send([note(2, "openid-b")], make_config()))[0].ok

    assert wechat.token_requests == 1
    # Different accounts get different tokens.
    other = make_config("wx-other", "other-secret")
    assert (await two.send([note(3, "openid-c")], other))[0].ok
    assert wechat.token_requests == 2
    assert [s["appid"] for s in wechat.sent] == [APP_ID, APP_ID, "wx-other"]


async def test_a_revoked_token_is_refreshed_and_the_message_retried_once(
    settings, wechat, redis, prefix, client
):
    channel = WechatTemplateChannel(wx_settings(settings, wechat.url), redis, prefix, client)
    await channel.send([note(1, "openid-a")], make_config())
    old = (await redis.get(f"{prefix}:wechat-token:{APP_ID}")).decode()
    wechat.expire_tokens()  # WeChat now answers 40001 to the cached token

    outcomes = await channel.send([note(2, "openid-b"), note(3, "openid-c")], make_config())

    assert [o.ok for o in outcomes] == [True, True]
    new = (await redis.get(f"{prefix}:wechat-token:{APP_ID}")).decode()
    assert new != old and new in wechat.valid_tokens
    # Both messages hit the revoked token, yet only one new token was fetched.
    assert wechat.token_requests == 2
    assert wechat.send_attempts == 1 + 2 * 2
    assert wechat.sent[0]["touser"] == "openid-a"
    assert sorted(s["touser"] for s in wechat.sent[1:]) == ["openid-b", "openid-c"]


async def test_provider_errors_decide_retry(settings, wechat, redis, prefix, client):
    wechat.errors.update({"unfollowed": 43004, "busy": -1, "quota": 45009})
    channel = WechatTemplateChannel(wx_settings(settings, wechat.url), redis, prefix, client)
    deleted = make_config()
    deleted = TenantChannelConfig(
        **{
            **deleted.__dict__,
            "wechat_templates": {
                **deleted.wechat_templates,
                "bills.due": {**TEMPLATE, "template_id": "TPL-deleted"},
            },
        }
    )

    outcomes = await channel.send(
        [
            note(1, "unfollowed"),
            note(2, "busy"),
            note(3, "quota"),
            note(4, "openid-ok"),
            note(5, "openid-ok", type_key="bills.due"),  # 40037 invalid template
            note(6, "openid-ok", type_key="repairs.done"),  # no template configured
            note(7, "openid-ok", building="1号楼"),  # variable "when" missing
        ],
        deleted,
    )

    got = {o.message_id: (o.ok, o.retry) for o in outcomes if not o.ok}
    assert got == {
        1: (False, False),
        2: (False, True),
        3: (False, True),
        5: (False, False),
        6: (False, False),
        7: (False, False),
    }
    errors = {o.message_id: o.error for o in outcomes}
    assert "43004" in errors[1] and "40037" in errors[5]
    assert errors[6] == "no WeChat template for repairs.done"
    assert "when" in errors[7]
    assert [s["touser"] for s in wechat.sent] == ["openid-ok"]


async def test_missing_account_or_bad_secret(settings, wechat, redis, prefix, client):
    channel = WechatTemplateChannel(wx_settings(settings, wechat.url), redis, prefix, client)

    no_account = await channel.send([note(1, "openid-a")], make_config(app_id=""))
    bad_secret = await channel.send([note(2, "openid-a")], make_config(secret="wrong"))

    assert (no_account[0].ok, no_account[0].retry) == (False, False)
    assert wechat.token_requests == 1  # only the bad-secret attempt asked for a token
    assert (bad_secret[0].ok, bad_secret[0].retry) == (False, True)
    assert "40125" in (bad_secret[0].error or "")
    assert await redis.get(f"{prefix}:wechat-token:{APP_ID}") is None
    assert wechat.sent == []


async def test_exchange_oauth_code(settings, wechat, client):
    s = wx_settings(settings, wechat.url)
    wechat.oauth_codes["code-1"] = "openid-from-code"

    assert await exchange_oauth_code(s, client, APP_ID, APP_SECRET, "code-1") == "openid-from-code"
    with pytest.raises(AppError) as used_twice:
        await exchange_oauth_code(s, client, APP_ID, APP_SECRET, "code-1")
    assert used_twice.value.code == "WECHAT_CODE_INVALID"
    assert used_twice.value.message("zh-CN") != used_twice.value.message("en")


async def test_build_channels_picks_providers_and_shares_one_http_client(settings, redis, prefix):
    from wuye.notify.channels import build_channels, close_channels
    from wuye.notify.channels.base import LogChannel
    from wuye.notify.channels.email import SmtpEmailChannel
    from wuye.notify.channels.sms import AliyunSmsChannel

    logged = build_channels(settings, redis, prefix)
    assert {k: type(v) for k, v in logged.items()} == {
        "email": LogChannel,
        "sms": LogChannel,
        "wechat": LogChannel,
    }
    real = settings.model_copy(
        update={"email_provider": "smtp", "sms_provider": "aliyun", "wechat_provider": "wechat"}
    )
    channels = build_channels(real, redis, prefix)
    assert isinstance(channels["email"], SmtpEmailChannel)
    assert isinstance(channels["sms"], AliyunSmsChannel)
    assert isinstance(channels["wechat"], WechatTemplateChannel)
    assert channels["sms"].client is channels["wechat"].client
    await close_channels(channels)
    assert channels["sms"].client.is_closed
    with pytest.raises(ValueError, match="sms provider"):
        build_channels(settings.model_copy(update={"sms_provider": "twilio"}), redis, prefix)
