"""The Aliyun SMS channel: signing, and a local Dysms stand-in that checks every request."""

from __future__ import annotations

import json

import httpx
import pytest
from channel_servers import FakeAliyun, ThreadedServer, free_port

from wuye.notify.channels.base import Outgoing, TenantChannelConfig
from wuye.notify.channels.sms import AliyunSmsChannel, aliyun_phone, percent_encode, sign_rpc
from wuye.settings import Settings

KEY_ID, SECRET = "LTAI-test-key", "test-secret/with+chars"
CONFIG = TenantChannelConfig(
    tenant="acme",
    sender_name="阳光物业",
    sms_sign_name="阳光物业",
    sms_templates={"notices.notice": "SMS_100001"},
)


def sms_settings(settings: Settings, endpoint: str, **kw: object) -> Settings:
    return settings.model_copy(
        update={
            "sms_provider": "aliyun",
            "aliyun_sms_endpoint": endpoint,
            "aliyun_access_key_id": KEY_ID,
            "aliyun_access_key_secret": SECRET,
            "aliyun_sms_region": "cn-hangzhou",
            **kw,
        }
    )


def sms(message_id: int, phone: str, type_key: str = "notices.notice", **variables) -> Outgoing:
    return Outgoing(
        message_id=message_id,
        tenant="acme",
        user_id=1,
        type_key=type_key,
        address=phone,
        subject="停水通知",
        body="rendered text the provider does not use",
        locale="zh-CN",
        variables=variables or {"title": "停水 通知*", "count": 3},
    )


@pytest.fixture
def aliyun():
    fake = FakeAliyun(KEY_ID, SECRET)
    with ThreadedServer(fake.app) as server:
        fake.url = server.url + "/"
        yield fake


@pytest.fixture
async def client():
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


# --- the pure parts -------------------------------------------------------------------------


def test_sign_rpc_matches_aliyuns_published_examples():
    # The SendSms example of Aliyun's "HTTP protocol and signature" document (GET).
    send_sms = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert sign_rpc(send_sms, "testSecret", method="GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    # The RPC signature document's DescribeRegions example.
    regions = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert sign_rpc(regions, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    # A Signature already in the parameters is not itself signed; the method is.
    assert sign_rpc({**regions, "Signature": "x"}, "testsecret", "GET") == sign_rpc(
        regions, "testsecret", "GET"
    )
    assert sign_rpc(regions, "testsecret", "POST") != sign_rpc(regions, "testsecret", "GET")


def test_percent_encoding_is_rfc3986():
    assert percent_encode("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert percent_encode("阳") == "%E9%98%B3"


def test_phone_numbers_in_aliyun_form():
    assert aliyun_phone("+8613912345678") == "13912345678"
    assert aliyun_phone("+85291234567") == "0085291234567"
    assert aliyun_phone("13912345678") == "13912345678"


# --- against the stand-in -------------------------------------------------------------------


async def test_sends_a_signed_request_with_every_parameter(settings, aliyun, client):
    channel = AliyunSmsChannel(sms_settings(settings, aliyun.url), client)

    outcomes = await channel.send(
        [sms(71, "+8613912345678"), sms(72, "+85291234567", name="王 先生")], CONFIG
    )

    assert [o.ok for o in outcomes] == [True, True]
    assert {o.provider_id for o in outcomes} == {"biz-1000", "biz-1001"}
    forms = {f["OutId"]: f for f in aliyun.accepted}  # the fake verified each signature
    assert forms.keys() == {"71", "72"}
    first = forms["71"]
    assert first["PhoneNumbers"] == "13912345678"
    assert forms["72"]["PhoneNumbers"] == "0085291234567"
    assert first["SignName"] == "阳光物业"
    assert first["TemplateCode"] == "SMS_100001"
    assert first["RegionId"] == "cn-hangzhou"
    assert json.loads(first["TemplateParam"]) == {"title": "停水 通知*", "count": "3"}
    assert "停水" in first["TemplateParam"]  # ensure_ascii=False: readable, shorter
    assert json.loads(forms["72"]["TemplateParam"]) == {"name": "王 先生"}
    assert first["SignatureNonce"] != forms["72"]["SignatureNonce"]


async def test_a_wrong_secret_is_refused_like_aliyun_does(settings, aliyun, client):
    channel = AliyunSmsChannel(
        sms_settings(settings, aliyun.url, aliyun_access_key_secret="not-the-secret"), client
    )

    [outcome] = await channel.send([sms(81, "+8613900000001")], CONFIG)

    assert not outcome.ok and outcome.retry is True
    assert (outcome.error or "").startswith("SignatureDoesNotMatch")
    assert aliyun.requests == 1 and aliyun.accepted == []


async def test_provider_codes_decide_retry(settings, aliyun, client):
    script = {
        "13900000001": (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "bad number"}),
        "13900000002": (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "limit"}),
        "13900000003": (400, {"Code": "Throttling.User", "Message": "slow down"}),
        "13900000004": (200, {"Code": "isv.SMS_TEMPLATE_ILLEGAL"}),
        "13900000005": (500, {"Code": "InternalError"}),
        "13900000006": (200, {"Code": "isv.DENY_IP_RANGE"}),
    }
    aliyun.script.update(script)
    channel = AliyunSmsChannel(sms_settings(settings, aliyun.url), client)
    batch = [sms(90 + i, "+86" + phone) for i, phone in enumerate(script, 1)]
    batch.append(sms(99, "+8613900000009"))

    outcomes = {o.message_id: o for o in await channel.send(batch, CONFIG)}

    assert {mid: (o.ok, o.retry) for mid, o in outcomes.items() if not o.ok} == {
        91: (False, False),
        92: (False, True),
        93: (False, True),
        94: (False, False),
        95: (False, True),
        96: (False, False),
    }
    assert outcomes[99].ok
    assert (outcomes[91].error or "").startswith("isv.MOBILE_NUMBER_ILLEGAL")


async def test_missing_template_fails_without_a_request(settings, aliyun, client):
    channel = AliyunSmsChannel(sms_settings(settings, aliyun.url), client)

    [outcome] = await channel.send([sms(101, "+8613900000001", type_key="bills.due")], CONFIG)

    assert (outcome.ok, outcome.retry, outcome.error) == (
        False,
        False,
        "no SMS template for bills.due",
    )
    assert aliyun.requests == 0


async def test_timeouts_and_a_down_endpoint_are_retried(settings, aliyun):
    aliyun.delay_s["13900000001"] = 1.0
    async with httpx.AsyncClient(timeout=0.3) as short:
        slow = AliyunSmsChannel(sms_settings(settings, aliyun.url), short)
        [timed_out] = await slow.send([sms(111, "+8613900000001")], CONFIG)
    down = AliyunSmsChannel(sms_settings(settings, f"http://127.0.0.1:{free_port()}/"))
    try:
        [refused] = await down.send([sms(112, "+8613900000001")], CONFIG)
    finally:
        await down.aclose()

    assert (timed_out.ok, timed_out.retry) == (False, True)
    assert "Timeout" in (timed_out.error or "")
    assert (refused.ok, refused.retry) == (False, True)


async def test_a_batch_is_sent_concurrently_but_bounded(settings, aliyun, client):
    phones = [f"+86139000001{i:02d}" for i in range(25)]
    for phone in phones:
        aliyun.delay_s[phone[3:]] = 0.1
    channel = AliyunSmsChannel(sms_settings(settings, aliyun.url), client)

    outcomes = await channel.send([sms(200 + i, p) for i, p in enumerate(phones)], CONFIG)

    assert all(o.ok for o in outcomes)
    assert [o.message_id for o in outcomes] == list(range(200, 225))  # order kept
    assert aliyun.max_in_flight == 10
