"""The Alipay adapter against a local Alipay gateway that checks every signature."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from alipay_server import (
    CST,
    FakeAlipay,
    ThreadedServer,
    content_to_sign,
    free_port,
    new_key_pair,
    rsa_check,
)

from wuye.payments import registry
from wuye.payments.providers.alipay import (
    AlipayProvider,
    create_adapter,
    fen_to_yuan,
    parse_bill,
    split_response,
    yuan_to_fen,
)
from wuye.payments.providers.base import (
    BadNotification,
    Create,
    Credentials,
    ProviderError,
    RefundRequest,
)
from wuye.settings import Settings

APP_A, APP_B = "2021000000000001", "2021000000000002"


@dataclass
class Tenant:
    app_id: str
    private: str
    public: str


@dataclass
class Env:
    fake: FakeAlipay
    url: str
    a: Tenant
    b: Tenant

    def creds(self, t: Tenant, **override: str) -> Credentials:
        values = {
            "app_id": t.app_id,
            "private_key": t.private,
            "alipay_public_key": self.fake.public_pem,
        }
        return Credentials("alipay", values | override)

    def provider(self, **kw: float) -> AlipayProvider:
        return AlipayProvider(self.url + "/gateway.do", timeout_s=kw.get("timeout_s", 5.0))


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    a = Tenant(APP_A, *new_key_pair())
    b = Tenant(APP_B, *new_key_pair())
    fake = FakeAlipay({a.app_id: a.public, b.app_id: b.public})
    with ThreadedServer(fake.app) as server:
        fake.base_url = server.url
        yield Env(fake, server.url, a, b)


_seq = iter(range(1, 10**6))


def order(method: str = "page", amount_fen: int = 25060, **kw: str) -> Create:
    no = kw.pop("out_trade_no", f"P{datetime.now(UTC):%H%M%S}{next(_seq):05d}")
    return Create(
        out_trade_no=no,
        amount_fen=amount_fen,
        description="物业费 2026年1月 / 3-1-201",
        method=method,
        idempotency_key=f"idem-{no}",
        notify_url="https://pay.wuye.example/payments/notify/alipay/acme",
        return_url="https://acme.wuye.example/pay/done" if method == "page" else "",
        **kw,
    )


async def open_trade(env: Env, tenant: Tenant, amount_fen: int = 25060) -> str:
    """Create a page-pay trade and open its cashier: Alipay now knows it."""
    created = await env.provider().create(env.creds(tenant), order(amount_fen=amount_fen))
    page = await browse(created.client["url"])
    assert "收银台" in page, page
    return created.provider_ref


async def browse(url: str) -> str:
    """What the buyer's browser sees at a page-pay URL."""
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text


def notify_body(form: dict[str, str]) -> bytes:
    return FakeAlipay.encode(form)


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "yuan"), [(1, "0.01"), (25060, "250.60"), (9999999, "99999.99"), (0, "0.00")]
)
def test_yuan_fen_exact(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


def test_yuan_fen_round_trip_and_rejects() -> None:
    for fen in [*range(0, 100_000, 7), 10**10, 10**10 + 99, 29, 57, 115]:
        assert yuan_to_fen(fen_to_yuan(fen)) == fen
    assert yuan_to_fen("0.29") == 29  # int(0.29 * 100) == 28 with floats
    assert yuan_to_fen("250.6") == 25060
    assert yuan_to_fen("100") == 10000
    assert yuan_to_fen("-0.06", signed=True) == -6
    for bad in ["", " ", "1.001", "1e2", "-1", "+1", "0x10", "1,00", "1.", ".5", "NaN", "１"]:
        with pytest.raises(ValueError):
            yuan_to_fen(bad)
    for bad_fen in [-1, 1.5, True]:
        with pytest.raises(ValueError):
            fen_to_yuan(bad_fen)  # type: ignore[arg-type]


# --- create ---------------------------------------------------------------------------------


def check_signed(params: dict[str, str], public_pem: str) -> None:
    assert params["sign_type"] == "RSA2"
    assert rsa_check(public_pem, content_to_sign(params, {"sign"}), params["sign"])


async def test_page_create_is_a_signed_gateway_url(env: Env) -> None:
    request = order("page", 25060)
    created = await env.provider().create(env.creds(env.a), request)
    assert created.provider_ref == request.out_trade_no
    url = created.client["url"]
    assert url.startswith(env.url + "/gateway.do?")
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    params = dict(pairs)
    assert len(params) == len(pairs)
    check_signed(params, env.a.public)
    assert not rsa_check(env.b.public, content_to_sign(params, {"sign"}), params["sign"])
    assert params["app_id"] == APP_A
    assert params["method"] == "alipay.trade.page.pay"
    assert (params["format"], params["charset"], params["version"]) == ("JSON", "utf-8", "1.0")
    assert params["notify_url"] == request.notify_url
    assert params["return_url"] == request.return_url
    stamp = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == request.out_trade_no
    assert biz["total_amount"] == "250.60"
    assert biz["product_code"] == "FAST_INSTANT_TRADE_PAY"
    assert biz["subject"] == request.description
    # the browser follows it: the gateway accepts it and opens the cashier
    page = await browse(url)
    assert "收银台" in page and "¥250.60" in page
    assert env.fake.trades[(APP_A, request.out_trade_no)].total_amount == "250.60"


async def test_app_create_is_a_signed_order_string(env: Env) -> None:
    request = order("app", 1)
    created = await env.provider().create(env.creds(env.a), request)
    assert created.provider_ref == request.out_trade_no
    order_string = created.client["order_string"]
    params = dict(parse_qsl(order_string, strict_parsing=True))
    check_signed(params, env.a.public)
    assert params["method"] == "alipay.trade.app.pay"
    assert "return_url" not in params
    biz = json.loads(params["biz_content"])
    assert biz["product_code"] == "QUICK_MSECURITY_PAY"
    assert biz["total_amount"] == "0.01"
    assert "收银台" in env.fake.open_app_order(order_string)
    # a changed amount breaks the signature
    tampered = order_string.replace("0.01", "0.02")
    assert env.fake.open_app_order(tampered) == "错误代码 isv.invalid-signature"


@pytest.mark.parametrize(("fen", "yuan"), [(1, "0.01"), (25060, "250.60"), (9999999, "99999.99")])
async def test_amounts_reach_the_gateway_exactly(env: Env, fen: int, yuan: str) -> None:
    no = await open_trade(env, env.a, fen)
    assert env.fake.trades[(APP_A, no)].total_amount == yuan
    remote = await env.provider().query(env.creds(env.a), no, no)
    assert remote.amount_fen == fen


async def test_create_refuses_what_alipay_cannot_do(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    for bad, code in [
        (order("jsapi"), "unsupported_method"),
        (order(currency="usd"), "unsupported_currency"),
        (order(amount_fen=0), "bad_amount"),
        (order(out_trade_no="x" * 65), "bad_request"),
    ]:
        with pytest.raises(ProviderError) as e:
            await p.create(creds, bad)
        assert e.value.code == code and not e.value.temporary
    with pytest.raises(ProviderError) as e:
        await p.create(Credentials("wechat", creds.values), order())
    assert e.value.code == "bad_credentials"
    with pytest.raises(ProviderError) as e:
        await p.create(env.creds(env.a, private_key="not a key"), order())
    assert e.value.code == "bad_key"


async def test_bare_base64_keys_as_alipay_hands_them_out(env: Env) -> None:
    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    creds = env.creds(
        env.a, private_key=bare(env.a.private), alipay_public_key=bare(env.fake.public_pem)
    )
    no = await open_trade(env, env.a)
    remote = await env.provider().query(creds, no, no)
    assert remote.state == "pending"


# --- query / close / refund ------------------------------------------------------------------


async def test_query_follows_the_trade(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a, 25060)
    remote = await p.query(creds, no, no)
    trade = env.fake.trades[(APP_A, no)]
    assert (remote.out_trade_no, remote.provider_ref) == (no, trade.trade_no)
    assert (remote.state, remote.amount_fen, remote.paid_at) == ("pending", 25060, None)
    paid = datetime(2026, 1, 5, 10, 30, 5, tzinfo=CST)
    env.fake.pay(APP_A, no, paid)
    remote = await p.query(creds, no, trade.trade_no)
    assert remote.state == "succeeded"
    assert remote.paid_at == paid
    assert remote.paid_at.tzinfo is not None
    last = env.fake.accepted[-1]
    assert last["method"] == "alipay.trade.query" and last["app_id"] == APP_A


async def test_query_of_an_unknown_trade(env: Env) -> None:
    with pytest.raises(ProviderError) as e:
        await env.provider().query(env.creds(env.a), "never-opened", "never-opened")
    assert e.value.code == "ACQ.TRADE_NOT_EXIST" and not e.value.temporary


async def test_close(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a)
    await p.close(creds, no, no)
    assert (await p.query(creds, no, no)).state == "closed"
    await p.close(creds, "never-opened", "never-opened")  # nothing to close
    paid = await open_trade(env, env.a)
    env.fake.pay(APP_A, paid)
    with pytest.raises(ProviderError) as e:
        await p.close(creds, paid, paid)
    assert e.value.code == "ACQ.TRADE_STATUS_ERROR" and not e.value.temporary


def refund_of(
    no: str, out_refund_no: str, amount_fen: int, total_fen: int = 25060
) -> RefundRequest:
    return RefundRequest(
        out_trade_no=no,
        provider_ref=no,
        out_refund_no=out_refund_no,
        amount_fen=amount_fen,
        total_fen=total_fen,
        reason="多收物业费",
        idempotency_key=f"idem-{out_refund_no}",
    )


async def test_refunds_are_idempotent_by_out_request_no(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a, 25060)
    with pytest.raises(ProviderError) as e:  # not paid yet
        await p.refund(creds, refund_of(no, f"{no}-R1", 10000))
    assert e.value.code == "ACQ.TRADE_STATUS_ERROR"
    env.fake.pay(APP_A, no)
    result = await p.refund(creds, refund_of(no, f"{no}-R1", 10000))
    assert (result.refund_ref, result.state) == (f"{no}-R1", "succeeded")
    sent = json.loads(env.fake.accepted[-1]["biz_content"])
    assert sent["refund_amount"] == "100.00" and sent["out_request_no"] == f"{no}-R1"
    again = await p.refund(creds, refund_of(no, f"{no}-R1", 10000))  # a retry
    assert again == result
    trade = env.fake.trades[(APP_A, no)]
    assert trade.refunds == {f"{no}-R1": "100.00"}
    with pytest.raises(ProviderError) as e:  # more than is left
        await p.refund(creds, refund_of(no, f"{no}-R2", 20000))
    assert e.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" and not e.value.temporary
    await p.refund(creds, refund_of(no, f"{no}-R3", 15060))  # the rest: Alipay closes it
    assert trade.status == "TRADE_CLOSED"
    remote = await p.query(creds, no, no)
    assert remote.state == "succeeded"  # paid, then fully refunded: not "closed"


async def test_query_refund(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a, 25060)
    env.fake.pay(APP_A, no)
    asked = refund_of(no, f"{no}-R1", 10000)
    assert (await p.query_refund(creds, asked, asked.out_refund_no)).state == "pending"
    await p.refund(creds, asked)
    found = await p.query_refund(creds, asked, asked.out_refund_no)
    assert (found.refund_ref, found.state) == (f"{no}-R1", "succeeded")
    sent = json.loads(env.fake.accepted[-1]["biz_content"])
    assert sent == {"out_trade_no": no, "out_request_no": f"{no}-R1"}
    with pytest.raises(ProviderError) as e:  # another app's credentials: not its trade
        await p.query_refund(env.creds(env.b), asked, asked.out_refund_no)
    assert e.value.code == "ACQ.TRADE_NOT_EXIST"


# --- the gateway checks signatures; the adapter checks the gateway's ---------------------------


async def test_wrong_app_key_is_refused_by_the_gateway(env: Env) -> None:
    no = await open_trade(env, env.a)
    wrong = env.creds(env.a, private_key=env.b.private)  # A's app id, B's key
    with pytest.raises(ProviderError) as e:
        await env.provider().query(wrong, no, no)
    assert e.value.code == "isv.invalid-signature" and not e.value.temporary
    created = await env.provider().create(wrong, order())
    assert "isv.invalid-signature" in await browse(created.client["url"])
    assert (APP_A, created.provider_ref) not in env.fake.trades


@pytest.mark.parametrize("fault", ["forge", "unsigned"])
async def test_answers_without_alipays_signature_are_not_believed(env: Env, fault: str) -> None:
    no = await open_trade(env, env.a)
    env.fake.pay(APP_A, no)
    env.fake.faults["alipay.trade.query"] = fault
    with pytest.raises(ProviderError) as e:
        await env.provider().query(env.creds(env.a), no, no)
    assert (
        e.value.code == {"forge": "invalid_response_sign", "unsigned": "unsigned_response"}[fault]
    )
    env.fake.faults["alipay.trade.refund"] = "forge"
    with pytest.raises(ProviderError) as e:
        await env.provider().refund(env.creds(env.a), refund_of(no, f"{no}-R", 100))
    assert e.value.code == "invalid_response_sign"
    # the tenant configured another Alipay public key: nothing verifies
    other = env.creds(env.a, alipay_public_key=env.b.public)
    with pytest.raises(ProviderError) as e:
        await env.provider().query(other, no, no)
    assert e.value.code == "invalid_response_sign"


async def test_temporary_and_permanent_failures(env: Env) -> None:
    creds = env.creds(env.a)
    no = await open_trade(env, env.a)
    method = "alipay.trade.query"
    cases: list[tuple[object, str, bool]] = [
        (502, "http_502", True),
        ("garbage", "bad_response", True),
        (("20000", "isp.unknow-error"), "isp.unknow-error", True),
        (("40004", "ACQ.SYSTEM_ERROR"), "ACQ.SYSTEM_ERROR", True),
        (("40004", "ACQ.TRADE_NOT_EXIST"), "ACQ.TRADE_NOT_EXIST", False),
        (("40002", "isv.invalid-app-id"), "isv.invalid-app-id", False),
    ]
    for fault, code, temporary in cases:
        env.fake.faults[method] = fault  # type: ignore[assignment]
        with pytest.raises(ProviderError) as e:
            await env.provider().query(creds, no, no)
        assert (e.value.code, e.value.temporary) == (code, temporary), fault
    env.fake.faults[method] = "timeout"
    env.fake.delay_s = 1.0
    with pytest.raises(ProviderError) as e:
        await env.provider(timeout_s=0.3).query(creds, no, no)
    assert e.value.temporary and e.value.code == "timeout"
    nobody = AlipayProvider(f"http://127.0.0.1:{free_port()}/gateway.do", timeout_s=2)
    with pytest.raises(ProviderError) as e:
        await nobody.query(creds, no, no)
    assert e.value.temporary
    assert (await env.provider().query(creds, no, no)).state == "pending"  # and it recovers


async def test_two_tenants_keys_and_trades_never_mix(env: Env) -> None:
    p = env.provider()
    shared = f"SAME-{next(_seq)}"
    url_a = (await p.create(env.creds(env.a), order(amount_fen=100, out_trade_no=shared))).client
    url_b = (await p.create(env.creds(env.b), order(amount_fen=200, out_trade_no=shared))).client
    params_a = dict(parse_qsl(urlsplit(url_a["url"]).query))
    params_b = dict(parse_qsl(urlsplit(url_b["url"]).query))
    check_signed(params_a, env.a.public)
    check_signed(params_b, env.b.public)
    assert params_a["app_id"] == APP_A and params_b["app_id"] == APP_B
    await browse(url_a["url"])
    await browse(url_b["url"])
    assert (await p.query(env.creds(env.a), shared, shared)).amount_fen == 100
    assert (await p.query(env.creds(env.b), shared, shared)).amount_fen == 200
    env.fake.pay(APP_B, shared)
    assert (await p.query(env.creds(env.a), shared, shared)).state == "pending"
    form = env.fake.notify_form(APP_B, shared)
    assert p.verify(env.creds(env.b), {}, notify_body(form), datetime.now(UTC)).payment
    with pytest.raises(BadNotification):  # B's notification delivered to A's endpoint
        p.verify(env.creds(env.a), {}, notify_body(form), datetime.now(UTC))


# --- notifications ---------------------------------------------------------------------------


async def test_payment_notification(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a, 9999999)
    paid = datetime(2026, 1, 5, 10, 30, 5, tzinfo=CST)
    trade = env.fake.pay(APP_A, no, paid)
    form = env.fake.notify_form(APP_A, no)
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    n = p.verify(creds, headers, notify_body(form), datetime.now(UTC))
    assert (n.event_id, n.kind) == (form["notify_id"], "payment")
    assert n.payment is not None
    assert (n.payment.out_trade_no, n.payment.provider_ref) == (no, trade.trade_no)
    assert (n.payment.state, n.payment.amount_fen, n.payment.paid_at) == (
        "succeeded",
        9999999,
        paid,
    )
    assert n.raw["subject"] == trade.subject
    assert p.acknowledge(True) == (200, {"content-type": "text/plain; charset=utf-8"}, b"success")
    assert p.acknowledge(False)[0::2] == (200, b"failure")


async def test_refund_notification(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a, 25060)
    env.fake.pay(APP_A, no)
    await p.refund(creds, refund_of(no, f"{no}-R1", 25060))
    form = env.fake.notify_form(APP_A, no, refund_no=f"{no}-R1")
    assert form["trade_status"] == "TRADE_CLOSED"
    n = p.verify(creds, {}, notify_body(form), datetime.now(UTC))
    assert (n.kind, n.refund_ref, n.refund_state) == ("refund", f"{no}-R1", "succeeded")
    assert n.payment is not None and n.payment.state == "succeeded"
    assert n.raw["refund_fee"] == "250.60"


async def test_notification_freshness(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.a)
    no = await open_trade(env, env.a)
    env.fake.pay(APP_A, no)
    now = datetime.now(UTC)
    for age, ok in [
        (timedelta(hours=24, minutes=30), True),  # Alipay's last retries
        (timedelta(hours=47), True),
        (timedelta(hours=49), False),
        (-timedelta(minutes=5), True),  # clock skew
        (-timedelta(hours=1), False),
    ]:
        body = notify_body(env.fake.notify_form(APP_A, no, notify_time=now - age))
        if ok:
            assert p.verify(creds, {}, body, now).event_id
        else:
            with pytest.raises(BadNotification):
                p.verify(creds, {}, body, now)
    naive = now.replace(tzinfo=None)  # a naive "now" is taken as UTC
    assert p.verify(creds, {}, notify_body(env.fake.notify_form(APP_A, no)), naive)


async def test_bad_notifications(env: Env) -> None:
    p, creds, now = env.provider(), env.creds(env.a), datetime.now(UTC)
    no = await open_trade(env, env.a, 25060)
    env.fake.pay(APP_A, no)
    fake = env.fake
    good = fake.notify_form(APP_A, no)
    p.verify(creds, {}, notify_body(good), now)

    forged = fake.notify_form(APP_A, no, sign_with=new_key_pair()[0])
    tampered = good | {"total_amount": "2.51"}
    other_app = fake.notify_form(APP_A, no, app_id=APP_B)  # correctly signed, wrong app
    unknown_status = fake.notify_form(APP_A, no, trade_status="TRADE_PENDING")
    bad_amount = fake.notify_form(APP_A, no, total_amount="250.601")
    no_id = fake.notify_form(APP_A, no, notify_id="")
    rsa1 = good | {"sign_type": "RSA"}
    gbk = fake.notify_form(APP_A, no, charset="gbk")
    bodies = [
        notify_body(forged),
        notify_body(tampered),
        notify_body(other_app),
        notify_body(unknown_status),
        notify_body(bad_amount),
        notify_body(no_id),
        notify_body(rsa1),
        notify_body(gbk),
        notify_body({k: v for k, v in good.items() if k != "sign"}),
        notify_body(good | {"sign": "not base64!"}),
        notify_body(good) + b"&total_amount=0.01",  # a second amount after the signed one
        b"",
        b"\xff\xfe\x00",
        b"this is not a form",
        json.dumps(good).encode(),
    ]
    for body in bodies:
        with pytest.raises(BadNotification):
            p.verify(creds, {}, body, now)


# --- statement -------------------------------------------------------------------------------


async def test_statement(env: Env) -> None:
    p, creds = env.provider(), env.creds(env.b)
    day = (datetime.now(CST) - timedelta(days=3)).date()
    paid_at = datetime.combine(day, datetime.min.time(), CST) + timedelta(hours=9)
    one = await open_trade(env, env.b, 25060)
    two = await open_trade(env, env.b, 1)
    env.fake.pay(APP_B, one, paid_at)
    env.fake.pay(APP_B, two, paid_at)
    await p.refund(creds, refund_of(one, f"{one}-R1", 10000))  # refunded today
    lines = await p.statement(creds, day)
    assert lines is not None
    by_no = {line.out_trade_no: line for line in lines}
    assert set(by_no) == {one, two}
    trade = env.fake.trades[(APP_B, one)]
    assert (by_no[one].provider_ref, by_no[one].kind) == (trade.trade_no, "payment")
    assert (by_no[one].amount_fen, by_no[one].fee_fen) == (25060, 150)  # 0.6%
    assert (by_no[two].amount_fen, by_no[two].fee_fen) == (1, 0)
    today = datetime.now(CST).date()
    refunds = await p.statement(creds, today)
    assert refunds is not None
    mine = [r for r in refunds if r.out_trade_no in (one, two)]  # other tests pay today
    assert [(r.out_trade_no, r.provider_ref, r.kind, r.amount_fen, r.fee_fen) for r in mine] == [
        (one, f"{one}-R1", "refund", 10000, -60)  # a refund's ref: its out_request_no
    ]
    # no trades: an empty day once the bill must exist, "not yet" before
    assert await p.statement(creds, date(2025, 1, 1)) == []
    with pytest.raises(ProviderError) as e:
        await p.statement(env.creds(env.a), today + timedelta(days=1))
    assert e.value.temporary and e.value.code == "isp.bill_not_exist"


def test_parse_bill_plain_csv_and_junk() -> None:
    csv_text = (
        "#支付宝业务明细查询\n"
        "支付宝交易号,商户订单号,业务类型,订单金额（元）,服务费（元）\n"
        "2026010522001\t,A-1\t,交易,99999.99,-600.00\n"
        "2026010522002\t,A-2\t,退款,-0.01,0.00\n"
        "2026010522003\t,A-3\t,其他,1.00,0.00\n"
        "#业务明细列表结束\n"
    )
    lines = parse_bill(csv_text.encode("utf-8"))
    assert [(x.out_trade_no, x.provider_ref, x.kind, x.amount_fen, x.fee_fen) for x in lines] == [
        ("A-1", "2026010522001", "payment", 9999999, 60000),
        ("A-2", "2026010522002", "refund", 1, 0),  # no request-no column: the trade_no
    ]
    assert parse_bill(csv_text.encode("gbk")) == lines
    for junk in [b"", b"PK\x03\x04broken", "支付宝交易号,商户订单号\n".encode()]:
        with pytest.raises(ProviderError):
            parse_bill(junk)


def test_split_response_takes_the_exact_text() -> None:
    inner = '{"code":"10000","url":"https:\\/\\/x","n":{"a":[1, 2]}}'
    text = f' {{ "alipay_trade_query_response" : {inner} ,\n "sign" : "c2ln" }} '
    assert split_response(text, "alipay_trade_query_response") == (inner, "c2ln")
    assert split_response('{"sign":"x"}', "k") == (None, "x")
    for bad in ['{"k":1,"k":2}', '{"k":1} x', "[1]", '{"k":1', '{"k" 1}', ""]:
        with pytest.raises(ValueError):
            split_response(bad, "k")


def test_bare_signature_round_trip() -> None:
    # the adapter's signature is what Alipay's own rule verifies (no URL-encoding, sorted)
    from wuye.payments.providers.alipay import rsa2_sign, sign_content

    private, public = new_key_pair()
    params = {"b": "2", "a": "x y&z=1", "empty": "", "sign": "old"}
    assert sign_content(params) == "a=x y&z=1&b=2"
    signature = rsa2_sign(sign_content(params), private)
    assert rsa_check(public, content_to_sign(params, {"sign"}), signature)
    assert base64.b64decode(signature)
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", signature)


async def test_the_registry_builds_it_from_settings(env: Env, settings: Settings) -> None:
    local = settings.model_copy(
        update={
            "alipay_gateway": env.url + "/gateway.do",
            "payments_provider_timeout_s": 3.0,
            "payments_expire_after_s": 1800,
        }
    )
    saved = registry.snapshot()
    try:
        registry.unregister("alipay")
        adapter = registry.get("alipay", local)
    finally:
        registry.restore(saved)
    assert isinstance(adapter, AlipayProvider)
    assert (adapter.gateway_url, adapter.timeout_s) == (env.url + "/gateway.do", 3.0)
    created = await adapter.create(env.creds(env.a), order("app"))
    biz = json.loads(dict(parse_qsl(created.client["order_string"]))["biz_content"])
    assert biz["timeout_express"] == "30m"  # Alipay closes it when the core gives up on it
    assert create_adapter(settings).gateway_url == "https://openapi.alipay.com/gateway.do"
