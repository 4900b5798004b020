"""The WeChat Pay v3 adapter against a local stand-in of the API (tests/payments/wechat_server.py)
that checks every request's signature, signs its answers and keeps orders per merchant."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from conftest import make_tenant
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from notify.channel_servers import ThreadedServer, free_port
from wechat_server import CST, FakeWechatPay, Fault, new_key, pem_private

from wuye.payments import registry, service
from wuye.payments.providers.base import (
    BadNotification,
    Create,
    Credentials,
    ProviderError,
    RefundRequest,
)
from wuye.payments.providers.wechat import (
    WechatPay,
    authorization,
    certificate_serial,
    merge_certificates,
    parse_trade_bill,
    platform_keys,
)

MCH_A, APP_A = "1900000101", "wx-app-a"
MCH_B, APP_B = "1900000202", "wx-app-b"


@pytest.fixture
def fake():
    server = FakeWechatPay()
    server.creds = {  # type: ignore[attr-defined]
        MCH_A: Credentials("wechat", server.add_merchant(MCH_A, APP_A)),
        MCH_B: Credentials("wechat", server.add_merchant(MCH_B, APP_B)),
    }
    with ThreadedServer(server.app) as http:
        server.url = http.url  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def pay(fake) -> WechatPay:
    return WechatPay(fake.url, timeout=2.0)


def creds(fake, mchid: str = MCH_A, **override: str) -> Credentials:
    base = fake.creds[mchid]
    return Credentials("wechat", {**base.values, **override})


def order(no: str, method: str = "jsapi", amount: int = 12_800, **kw) -> Create:
    return Create(
        out_trade_no=no,
        amount_fen=amount,
        description="2026年1月物业费 3号楼-1201",
        method=method,
        idempotency_key=f"idem-{no}",
        notify_url="https://acme.wuye.test/payments/notify/wechat",
        payer_openid="o-resident-1" if method == "jsapi" else "",
        **kw,
    )


def order_h5(no: str) -> Create:
    return dataclasses.replace(order(no, method="h5"), client_ip="203.0.113.7")


def refund_of(no: str, refund_no: str, amount: int, total: int = 12_800) -> RefundRequest:
    return RefundRequest(
        out_trade_no=no,
        provider_ref="",
        out_refund_no=refund_no,
        amount_fen=amount,
        total_fen=total,
        reason="多缴退回",
        idempotency_key=f"idem-{refund_no}",
    )


def now() -> datetime:
    return datetime.now(UTC)


# --- create ---------------------------------------------------------------------------------


async def test_jsapi_create_returns_params_signed_with_the_merchant_key(fake, pay):
    created = await pay.create(creds(fake), order("P-1001"))

    assert created.provider_ref.startswith("wx")
    client = created.client
    assert client["appId"] == APP_A
    assert client["package"] == f"prepay_id={created.provider_ref}"
    assert client["signType"] == "RSA"
    assert abs(int(client["timeStamp"]) - time.time()) < 60
    message = f"{APP_A}\n{client['timeStamp']}\n{client['nonceStr']}\n{client['package']}\n"
    merchant_public = fake.merchants[MCH_A].public_key
    merchant_public.verify(  # raises InvalidSignature if wrong
        base64.b64decode(client["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    sent = fake.orders[(MCH_A, "P-1001")]["request"]
    assert sent["amount"] == {"total": 12_800, "currency": "CNY"}
    assert sent["payer"] == {"openid": "o-resident-1"}
    assert sent["mchid"] == MCH_A and sent["appid"] == APP_A
    assert sent["notify_url"] == "https://acme.wuye.test/payments/notify/wechat"


async def test_repeated_create_returns_the_same_prepay_and_a_changed_one_is_refused(fake, pay):
    first = await pay.create(creds(fake), order("P-1002"))
    again = await pay.create(creds(fake), order("P-1002"))
    assert again.provider_ref == first.provider_ref
    assert len(fake.orders) == 1

    with pytest.raises(ProviderError) as err:
        await pay.create(creds(fake), order("P-1002", amount=99))
    assert err.value.code == "INVALID_REQUEST" and not err.value.temporary

    fake.pay(MCH_A, "P-1002")
    with pytest.raises(ProviderError) as err:
        await pay.create(creds(fake), order("P-1002"))
    assert err.value.code == "ORDERPAID"


async def test_native_gives_a_code_url_and_h5_needs_the_payer_ip(fake, pay):
    native = await pay.create(creds(fake), order("P-2001", method="native"))
    assert native.client["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert fake.orders[(MCH_A, "P-2001")]["trade_type"] == "NATIVE"

    with pytest.raises(ProviderError) as err:
        await pay.create(creds(fake), order("P-2002", method="h5"))
    assert err.value.code == "PARAM_ERROR"
    assert (MCH_A, "P-2002") not in fake.orders  # refused before any request

    h5 = await pay.create(creds(fake), order_h5("P-2003"))
    assert h5.client["h5_url"].startswith("https://wx.tenpay.com/")
    assert fake.orders[(MCH_A, "P-2003")]["request"]["scene_info"]["payer_client_ip"] == (
        "203.0.113.7"
    )


async def test_create_refuses_what_wechat_cannot_do(fake, pay):
    for bad in (
        order("P-3001", method="card"),
        order("P-3002", currency="usd"),
        order("P-3003", amount=0),
        dataclasses.replace(order("P-3004"), payer_openid=""),
    ):
        with pytest.raises(ProviderError):
            await pay.create(creds(fake), bad)
    assert fake.accepted == []


# --- query, close, refund -------------------------------------------------------------------


async def test_query_maps_trade_states(fake, pay):
    created = await pay.create(creds(fake), order("P-4001"))
    pending = await pay.query(creds(fake), "P-4001", created.provider_ref)
    assert (pending.state, pending.amount_fen, pending.paid_at) == ("pending", 12_800, None)
    assert pending.provider_ref == created.provider_ref  # no transaction_id yet

    paid = fake.pay(MCH_A, "P-4001")
    remote = await pay.query(creds(fake), "P-4001", created.provider_ref)
    assert remote.state == "succeeded"
    assert remote.provider_ref == paid["transaction_id"]
    assert remote.paid_at is not None and remote.paid_at.utcoffset() == timedelta(hours=8)
    assert fake.accepted[-1]["path"] == f"/v3/pay/transactions/out-trade-no/P-4001?mchid={MCH_A}"

    for trade_state, state in (
        ("USERPAYING", "pending"),
        ("PAYERROR", "failed"),
        ("REVOKED", "closed"),
        ("REFUND", "succeeded"),
    ):
        fake.orders[(MCH_A, "P-4001")]["trade_state"] = trade_state
        assert (await pay.query(creds(fake), "P-4001", "")).state == state

    with pytest.raises(ProviderError) as err:
        await pay.query(creds(fake), "P-missing", "")
    assert err.value.code == "ORDER_NOT_EXIST" and not err.value.temporary


async def test_close_an_unpaid_order_but_not_a_paid_one(fake, pay):
    await pay.create(creds(fake), order("P-5001", method="native"))
    await pay.close(creds(fake), "P-5001", "")
    assert (await pay.query(creds(fake), "P-5001", "")).state == "closed"

    await pay.create(creds(fake), order("P-5002"))
    fake.pay(MCH_A, "P-5002")
    with pytest.raises(ProviderError) as err:
        await pay.close(creds(fake), "P-5002", "")
    assert err.value.code == "ORDERPAID"


async def test_refund_is_idempotent_by_out_refund_no(fake, pay):
    await pay.create(creds(fake), order("P-6001"))
    fake.pay(MCH_A, "P-6001")

    result = await pay.refund(creds(fake), refund_of("P-6001", "R-6001-1", 2_800))
    assert result.state == "succeeded" and result.refund_ref.startswith("50000")
    again = await pay.refund(creds(fake), refund_of("P-6001", "R-6001-1", 2_800))
    assert again == result
    assert fake.orders[(MCH_A, "P-6001")]["refunded"] == 2_800

    with pytest.raises(ProviderError) as err:  # 2,800 + 10,001 > 12,800
        await pay.refund(creds(fake), refund_of("P-6001", "R-6001-2", 10_001))
    assert err.value.code == "INVALID_REQUEST" and not err.value.temporary

    fake.refunds[(MCH_A, "R-6001-1")]["status"] = "PROCESSING"
    assert (await pay.refund(creds(fake), refund_of("P-6001", "R-6001-1", 2_800))).state == (
        "pending"
    )
    fake.refunds[(MCH_A, "R-6001-1")]["status"] = "ABNORMAL"
    assert (await pay.refund(creds(fake), refund_of("P-6001", "R-6001-1", 2_800))).state == (
        "failed"
    )


async def test_query_refund(fake, pay):
    await pay.create(creds(fake), order("P-6101", amount=100_000_00))
    fake.pay(MCH_A, "P-6101")
    big = refund_of("P-6101", "R-6101", 100_000_00, total=100_000_00)  # this big: PROCESSING
    accepted = await pay.refund(creds(fake), big)
    assert accepted.state == "pending"
    assert await pay.query_refund(creds(fake), big, accepted.refund_ref) == accepted
    fake.refunds[(MCH_A, "R-6101")]["status"] = "SUCCESS"
    done = await pay.query_refund(creds(fake), big, accepted.refund_ref)
    assert done.state == "succeeded" and done.refund_ref == accepted.refund_ref
    with pytest.raises(ProviderError) as err:
        await pay.query_refund(creds(fake), refund_of("P-6101", "R-none", 1), "")
    assert err.value.code == "RESOURCE_NOT_EXISTS" and not err.value.temporary
    # another merchant cannot see it
    with pytest.raises(ProviderError) as err:
        await pay.query_refund(creds(fake, MCH_B), big, accepted.refund_ref)
    assert err.value.code == "RESOURCE_NOT_EXISTS"


# --- signatures on requests and answers ------------------------------------------------------


async def test_the_server_refuses_a_request_signed_with_another_key(fake, pay):
    other_key = pem_private(new_key())
    with pytest.raises(ProviderError) as err:
        await pay.create(creds(fake, private_key=other_key), order("P-7001"))
    assert err.value.code == "SIGN_ERROR" and not err.value.temporary
    assert fake.refused == [(401, "SIGN_ERROR")]
    assert fake.orders == {}

    # a correctly signed header does not cover another body
    c = creds(fake)
    signed_body = json.dumps({"mchid": MCH_A})
    header = authorization(c, "POST", "/v3/pay/transactions/out-trade-no/X/close", signed_body)
    async with httpx.AsyncClient(base_url=fake.url) as client:
        response = await client.post(
            "/v3/pay/transactions/out-trade-no/X/close",
            content=json.dumps({"mchid": MCH_B}),
            headers={"Authorization": header, "Content-Type": "application/json"},
        )
        assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"
        # nor another path, and an old timestamp is refused too
        old = authorization(c, "GET", "/v3/x", "", timestamp=int(time.time()) - 900)
        for h in (header, old):
            response = await client.get(
                f"/v3/pay/transactions/out-trade-no/X?mchid={MCH_A}",
                headers={"Authorization": h},
            )
            assert response.status_code == 401


@pytest.mark.parametrize("spoil", ["signature", "serial", "stale", "none", "body"])
async def test_an_answer_without_a_good_platform_signature_is_refused(fake, pay, spoil):
    await pay.create(creds(fake), order("P-8001"))
    fake.spoil = spoil
    with pytest.raises(ProviderError) as err:
        await pay.query(creds(fake), "P-8001", "")
    assert err.value.code == "RESPONSE_SIGNATURE" and not err.value.temporary
    with pytest.raises(ProviderError):
        await pay.create(creds(fake), order("P-8002"))


async def test_platform_key_comes_from_the_credentials(fake, pay):
    await pay.create(creds(fake), order("P-8101"))
    stranger = serialization.load_pem_private_key(pem_private(new_key()).encode(), None)
    wrong = stranger.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ProviderError) as err:
        await pay.query(creds(fake, platform_public_key=wrong.decode()), "P-8101", "")
    assert err.value.code == "RESPONSE_SIGNATURE"


def certificate_mode(fake, bundle: str = "", mchid: str = MCH_A) -> Credentials:
    """The merchant's credentials trusting platform certificates instead of the public key."""
    return creds(
        fake, mchid, platform_public_key="", platform_serial="", platform_certificates=bundle
    )


async def test_platform_certificates_downloaded_then_rotated(fake, pay):
    # trusting nothing yet, every signed answer is refused
    with pytest.raises(ProviderError) as err:
        await pay.create(certificate_mode(fake), order("P-7001"))
    assert err.value.code == "RESPONSE_SIGNATURE"
    # the first download needs no certificate: api_v3_key vouches for what it decrypts
    first = await pay.download_certificates(certificate_mode(fake))
    [cert] = x509.load_pem_x509_certificates(first.encode())
    assert certificate_serial(cert) == fake.platform_serial
    trusted = certificate_mode(fake, first)
    assert (await pay.create(trusted, order("P-7001"))).client
    old_serial = fake.platform_serial

    new_serial = fake.rotate()  # WeChat Pay signs with a new certificate from now on
    with pytest.raises(ProviderError) as err:
        await pay.query(trusted, "P-7001", "")
    assert err.value.code == "RESPONSE_SIGNATURE"
    listed = await pay.download_certificates(trusted)
    merged, new = merge_certificates(first, listed, datetime.now(UTC))
    assert new == 1
    rotated = certificate_mode(fake, merged)
    assert set(platform_keys(rotated)) == {old_serial, new_serial}
    assert (await pay.query(rotated, "P-7001", "")).state == "pending"
    # again: nothing new, the same bundle
    assert merge_certificates(
        merged, await pay.download_certificates(rotated), datetime.now(UTC)
    ) == (merged, 0)
    # an expired certificate is trusted no more, and dropped at the next merge
    later = datetime.now(UTC) + timedelta(days=400)
    assert platform_keys(rotated, now=later) == {}
    assert merge_certificates(merged, "", later) == ("", 0)


async def test_certificates_that_do_not_decrypt_or_verify_are_refused(fake, pay):
    other_key = "k" * 32  # not this merchant's api_v3_key: the AES-GCM tag fails
    with pytest.raises(ProviderError) as err:
        await pay.download_certificates(creds(fake, api_v3_key=other_key))
    assert err.value.code == "BAD_RESPONSE"
    fake.spoil = "signature"  # the list decrypts, but the answer is not signed by any of it
    with pytest.raises(ProviderError) as err:
        await pay.download_certificates(certificate_mode(fake))
    assert err.value.code == "RESPONSE_SIGNATURE"


async def test_refresh_keeps_each_tenants_certificates(fake, runtime):
    """The daily job's work: each tenant's account gets its own merchant's certificates,
    downloaded with its own credentials; a public-key account is left alone."""
    saved = registry.snapshot()
    registry.register(WechatPay(fake.url, timeout=2.0))
    try:
        a, b, c = [await make_tenant(runtime) for _ in range(3)]
        accounts = {a.slug: certificate_mode(fake), b.slug: certificate_mode(fake, mchid=MCH_B)}
        accounts[c.slug] = creds(fake)
        for t in (a, b, c):
            info = await runtime.directory.by_slug(t.slug)
            async with runtime.db.tenant_session(t.schema) as s:
                await service.set_account(
                    s,
                    runtime,
                    info,
                    actor_id=None,
                    provider="wechat",
                    enabled=True,
                    methods=["jsapi"],
                    credentials=dict(accounts[t.slug].values),
                )
                await s.commit()

        async def refresh(t) -> tuple[int, Credentials]:
            info = await runtime.directory.by_slug(t.slug)
            async with runtime.db.tenant_session(t.schema) as s:
                new = await service.refresh_wechat_certificates(s, runtime, info)
                await s.commit()
                _, stored = await service.account_of(s, runtime, info, "wechat")
            return new, stored

        before = len(fake.accepted)
        (new_a, stored_a), (new_b, stored_b) = await refresh(a), await refresh(b)
        assert (new_a, new_b) == (1, 1)
        assert [r["mchid"] for r in fake.accepted[before:]] == [MCH_A, MCH_B]
        for stored, mchid in ((stored_a, MCH_A), (stored_b, MCH_B)):
            assert set(platform_keys(stored)) == {fake.platform_serial}
            assert stored["mch_id"] == mchid  # the rest of the credentials unchanged
        assert await refresh(a) == (0, stored_a)
        fake.rotate()
        new_a, rotated_a = await refresh(a)
        assert new_a == 1 and len(platform_keys(rotated_a)) == 2
        assert (await refresh(b))[0] == 1  # B's own download, not A's
        assert await refresh(c) == (0, creds(fake))  # public-key mode: nothing to download
    finally:
        registry.restore(saved)


# --- notifications --------------------------------------------------------------------------


async def test_a_payment_notification_decrypts_and_parses(fake, pay):
    await pay.create(creds(fake), order("P-9001"))
    paid = fake.pay(MCH_A, "P-9001")
    headers, body = fake.payment_notification(MCH_A, "P-9001")

    note = pay.verify(creds(fake), headers, body, now())
    assert note.kind == "payment"
    assert note.event_id == json.loads(body)["id"]
    assert note.payment is not None
    assert note.payment.out_trade_no == "P-9001"
    assert note.payment.provider_ref == paid["transaction_id"]
    assert note.payment.state == "succeeded"
    assert note.payment.amount_fen == 12_800
    assert note.payment.paid_at == datetime.fromisoformat(paid["success_time"])
    assert note.raw["payer"]["openid"] == "o-resident-1"
    # header names arrive in any case
    lowered = {k.lower(): v for k, v in headers.items()}
    assert pay.verify(creds(fake), lowered, body, now()).event_id == note.event_id

    assert pay.acknowledge(True) == (200, {}, b"")
    status, _, answer = pay.acknowledge(False)
    assert status == 400 and json.loads(answer)["code"] == "FAIL"


async def test_a_refund_notification_parses(fake, pay):
    await pay.create(creds(fake), order("P-9101"))
    fake.pay(MCH_A, "P-9101")
    result = await pay.refund(creds(fake), refund_of("P-9101", "R-9101", 800))
    headers, body = fake.refund_notification(MCH_A, "R-9101")
    note = pay.verify(creds(fake), headers, body, now())
    assert (note.kind, note.refund_ref, note.refund_state) == (
        "refund",
        result.refund_ref,
        "succeeded",
    )
    assert note.payment is None and note.raw["out_refund_no"] == "R-9101"


async def test_bad_notifications_are_refused(fake, pay):
    await pay.create(creds(fake), order("P-9201"))
    fake.pay(MCH_A, "P-9201")
    good_headers, good_body = fake.payment_notification(MCH_A, "P-9201")
    pay.verify(creds(fake), good_headers, good_body, now())

    forged = fake.payment_notification(MCH_A, "P-9201", key=new_key())
    stale = fake.payment_notification(MCH_A, "P-9201", timestamp=int(time.time()) - 400)
    tampered = (good_headers, good_body.replace(b'"id": "EV-', b'"id": "EV-x'))
    wrong_serial = ({**good_headers, "Wechatpay-Serial": "ABC"}, good_body)
    unsigned = ({"Content-Type": "application/json"}, good_body)
    probe = (  # WeChat's own probe of whether merchants verify
        {**good_headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 20},
        good_body,
    )
    for headers, body in (forged, stale, tampered, wrong_serial, unsigned, probe):
        with pytest.raises(BadNotification):
            pay.verify(creds(fake), headers, body, now())

    # signed by WeChat, but sealed with another APIv3 key: decryption fails
    with pytest.raises(BadNotification, match="decrypt"):
        pay.verify(creds(fake, api_v3_key="k" * 32), good_headers, good_body, now())
    # a good one, judged ten minutes later
    with pytest.raises(BadNotification, match="stale"):
        pay.verify(creds(fake), good_headers, good_body, now() + timedelta(minutes=10))


# --- two merchants ----------------------------------------------------------------------------


async def test_two_merchants_are_never_mixed(fake, pay):
    await pay.create(creds(fake, MCH_A), order("P-10001"))
    fake.pay(MCH_A, "P-10001")

    with pytest.raises(ProviderError) as err:  # B cannot see A's order
        await pay.query(creds(fake, MCH_B), "P-10001", "")
    assert err.value.code == "ORDER_NOT_EXIST"
    with pytest.raises(ProviderError):
        await pay.refund(creds(fake, MCH_B), refund_of("P-10001", "R-10001", 100))

    # A's key and serial under B's merchant number: WeChat refuses the signature
    a = creds(fake, MCH_A).values
    mixed = creds(fake, MCH_B, private_key=a["private_key"], serial_no=a["serial_no"])
    with pytest.raises(ProviderError) as err:
        await pay.query(mixed, "P-10001", "")
    assert err.value.code == "SIGN_ERROR"
    # A's merchant with B's app id
    with pytest.raises(ProviderError) as err:
        await pay.create(creds(fake, MCH_A, app_id=APP_B), order("P-10002"))
    assert err.value.code == "APPID_MCHID_NOT_MATCH"

    # A's notification, checked with B's credentials (other APIv3 key; other mchid)
    headers, body = fake.payment_notification(MCH_A, "P-10001")
    with pytest.raises(BadNotification):
        pay.verify(creds(fake, MCH_B), headers, body, now())
    b_with_a_key = creds(fake, MCH_B, api_v3_key=a["api_v3_key"])
    with pytest.raises(BadNotification, match="another merchant"):
        pay.verify(b_with_a_key, headers, body, now())


# --- the bill ----------------------------------------------------------------------------------


async def test_statement_lists_the_days_payments_and_refunds(fake, pay):
    for no, amount in (("P-11001", 12_800), ("P-11002", 5_000)):
        await pay.create(creds(fake), order(no, amount=amount))
        fake.pay(MCH_A, no)
    refund = await pay.refund(creds(fake), refund_of("P-11001", "R-11001", 2_800))
    today = datetime.now(CST).date()

    lines = await pay.statement(creds(fake), today)
    assert lines is not None
    by_key = {(line.kind, line.out_trade_no): line for line in lines}
    assert len(lines) == 3
    p1 = by_key[("payment", "P-11001")]
    assert (p1.amount_fen, p1.fee_fen) == (12_800, 77)  # 0.6% of 128.00 = 0.76800 -> 0.77
    assert p1.provider_ref == fake.orders[(MCH_A, "P-11001")]["transaction_id"]
    assert by_key[("payment", "P-11002")].fee_fen == 30
    r = by_key[("refund", "P-11001")]
    assert (r.amount_fen, r.fee_fen, r.provider_ref) == (2_800, 17, refund.refund_ref)
    assert fake.accepted[-1]["path"].startswith("/v3/billdownload/file?token=")

    assert await pay.statement(creds(fake, MCH_B), today) == []  # NO_STATEMENT_EXIST
    assert await pay.statement(creds(fake), today - timedelta(days=3)) == []


async def test_statement_refuses_a_bill_whose_hash_does_not_match(fake, pay):
    await pay.create(creds(fake), order("P-11101"))
    fake.pay(MCH_A, "P-11101")
    fake.spoil = "bill"
    with pytest.raises(ProviderError) as err:
        await pay.statement(creds(fake), datetime.now(CST).date())
    assert err.value.code == "BAD_BILL"


WECHAT_BILL = (
    "\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2026-01-05 09:12:45,`wx-app-a,`1900000101,`0,`,`4200001234202601051234567890,`P-1,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`128.00,`0.00,`0,`0,"
    "`0.00,`0.00,`,`,`物业费,`,`0.77000,`0.60%,`128.00,`0.00,`\r\n"
    "`2026-01-05 10:00:01,`wx-app-a,`1900000101,`0,`,`4200001234202601051234567891,`P-2,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`ICBC_CREDIT,`CNY,`0.01,`0.00,`0,`0,"
    "`0.00,`0.00,`,`,`停车费,`,`0.00006,`0.60%,`0.01,`0.00,`\r\n"
    "`2026-01-05 11:30:00,`wx-app-a,`1900000101,`0,`,`4200001234202601051234567890,`P-1,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`CMB_DEBIT,`CNY,`0.00,`0.00,"
    "`50000000382019052709732678859,`R-1,`28.00,`0.00,`ORIGINAL,`SUCCESS,`物业费,`,"
    "`-0.17000,`0.60%,`0.00,`28.00,`\r\n"
    "`2026-01-05 12:00:00,`wx-app-a,`1900000101,`0,`,`4200001234202601051234567892,`P-3,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REVOKED,`CMB_DEBIT,`CNY,`0.00,`0.00,`0,`0,"
    "`0.00,`0.00,`,`,`物业费,`,`0.00000,`0.60%,`5.00,`0.00,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`4,`128.01,`28.00,`0.00,`0.60006,`133.01,`28.00\r\n"
)


async def test_a_hand_written_wechat_bill_is_parsed(fake, pay):
    lines = parse_trade_bill(WECHAT_BILL)
    assert [(x.kind, x.out_trade_no, x.amount_fen, x.fee_fen) for x in lines] == [
        ("payment", "P-1", 12_800, 77),
        ("payment", "P-2", 1, 0),
        ("refund", "P-1", 2_800, 17),
    ]
    assert lines[0].provider_ref == "4200001234202601051234567890"
    assert lines[2].provider_ref == "50000000382019052709732678859"

    day = datetime(2026, 1, 5).date()
    fake.bills[(MCH_A, day)] = WECHAT_BILL
    assert await pay.statement(creds(fake), day) == lines


# --- failures that may pass ---------------------------------------------------------------


async def test_timeouts_5xx_and_rate_limits_are_temporary_4xx_are_not(fake):
    pay = WechatPay(fake.url, timeout=0.3)
    c = creds(fake)
    fake.faults = [
        Fault(500, "SYSTEM_ERROR"),
        Fault(429, "FREQUENCY_LIMITED"),
        Fault(200, "-", delay_s=1.0),
        Fault(400, "PARAM_ERROR"),
    ]
    expected = [("SYSTEM_ERROR", True), ("FREQUENCY_LIMITED", True), ("TIMEOUT", True)]
    expected.append(("PARAM_ERROR", False))
    for code, temporary in expected:
        with pytest.raises(ProviderError) as err:
            await pay.create(c, order("P-12001"))
        assert (err.value.code, err.value.temporary) == (code, temporary)
    # nothing listens there
    with pytest.raises(ProviderError) as err:
        await WechatPay(f"http://127.0.0.1:{free_port()}").query(c, "P-12001", "")
    assert err.value.temporary and err.value.code == "NETWORK"
    # and after all that the order is created once
    first = await pay.create(c, order("P-12001"))
    assert (await pay.create(c, order("P-12001"))).provider_ref == first.provider_ref


def test_the_registry_factory_takes_the_base_url_from_settings():
    from wuye.payments.providers.wechat import create_adapter
    from wuye.settings import Settings

    settings = Settings(wechatpay_api_base="http://127.0.0.1:9/", payments_provider_timeout_s=3)
    adapter = create_adapter(settings)
    assert (adapter.name, adapter.api_base, adapter.timeout) == ("wechat", "http://127.0.0.1:9", 3)
