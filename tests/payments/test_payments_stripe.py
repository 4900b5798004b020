"""The Stripe adapter against a real localstripe process (through a recording proxy), and
its webhook verification with payloads signed the way Stripe (and localstripe) sign them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stripe
from stripe_kit import (
    FaultServer,
    LocalStripe,
    RecordingProxy,
    WebhookReceiver,
    free_port,
    pay_as_client,
)

from wuye.payments import registry
from wuye.payments.providers.base import (
    BadNotification,
    Create,
    Credentials,
    Provider,
    ProviderError,
    RefundRequest,
)
from wuye.payments.providers.stripe import StripeProvider, signature_header
from wuye.settings import Settings

KEY_A, KEY_B = "sk_test_tenant_a_" + "a" * 24, "sk_test_tenant_b_" + "b" * 24
HOOK_A, HOOK_B = "whsec_tenant_a_secret", "whsec_tenant_b_secret"
TENANT_A = Credentials("stripe", {"secret_key": KEY_A, "webhook_secret": HOOK_A})
TENANT_B = Credentials("stripe", {"secret_key": KEY_B, "webhook_secret": HOOK_B})
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use .content=:DeprecationWarning"  # the SDK hands httpx its form body as data=
)
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    with LocalStripe.start() as server:
        yield server


@pytest.fixture
def proxy(localstripe: LocalStripe) -> Iterator[RecordingProxy]:
    with RecordingProxy(localstripe.url) as p:
        yield p


@pytest.fixture
def provider(proxy: RecordingProxy) -> StripeProvider:
    return StripeProvider(proxy.url)


def new_create(amount: int = 12_345, method: str = "card", **kw: Any) -> Create:
    ref = "P" + secrets.token_hex(6)
    return Create(
        out_trade_no=kw.pop("out_trade_no", ref),
        amount_fen=amount,
        description=kw.pop("description", "物业费 2025-03 1-101"),
        method=method,
        idempotency_key=kw.pop("idempotency_key", f"create-{ref}"),
        notify_url="https://wuye.example/payments/notify/stripe/acme",
        **kw,
    )


def test_is_a_provider() -> None:
    p: Provider = StripeProvider()
    assert p.name == "stripe"


def test_registry_builds_it_from_settings(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"stripe_api_base": "http://127.0.0.1:9/", "payments_provider_timeout_s": 2.5}
    )
    registry.unregister("stripe")
    try:
        adapter = registry.get("stripe", settings)
        assert isinstance(adapter, StripeProvider)
        assert adapter.api_base == "http://127.0.0.1:9"
        assert adapter.timeout == 2.5
        assert adapter.max_network_retries == 0  # the core retries
    finally:
        registry.unregister("stripe")


# --- the API against localstripe --------------------------------------------------------


async def test_create_confirm_query_succeeded(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    req = new_create(currency="hkd", return_url="https://app.example/paid")
    created = await provider.create(TENANT_A, req)

    assert created.provider_ref.startswith("pi_")
    assert str(created.client["client_secret"]).startswith(created.provider_ref + "_secret_")
    assert created.client["next_action"] is None
    assert created.client["return_url"] == "https://app.example/paid"
    [sent] = proxy.requests
    assert (sent.method, sent.path, sent.status) == ("POST", "/v1/payment_intents", 200)
    assert sent.authorization == f"Bearer {KEY_A}"
    assert sent.idempotency_key == req.idempotency_key
    assert sent.params == {
        "amount": "12345",
        "currency": "hkd",
        "payment_method_types[0]": "card",
        "metadata[out_trade_no]": req.out_trade_no,
        "description": req.description,
    }

    pending = await provider.query(TENANT_A, req.out_trade_no, created.provider_ref)
    assert (pending.state, pending.amount_fen, pending.paid_at) == ("pending", 12_345, None)
    assert pending.out_trade_no == req.out_trade_no

    assert pay_as_client(localstripe.url, KEY_A, created.provider_ref, "pm_card_visa").is_success
    paid = await provider.query(TENANT_A, req.out_trade_no, created.provider_ref)
    assert paid.state == "succeeded"
    assert paid.provider_ref == created.provider_ref
    assert paid.amount_fen == 12_345
    assert paid.fee_fen == 0  # localstripe books no fees; the expanded balance transaction
    assert paid.paid_at is not None and abs(time.time() - paid.paid_at.timestamp()) < 60
    assert proxy.requests[-1].params == {"expand[0]": "latest_charge.balance_transaction"}


@pytest.mark.parametrize("method", ["wechat_pay", "alipay"])
async def test_wallet_methods(provider: StripeProvider, proxy: RecordingProxy, method: str) -> None:
    req = new_create(method=method)
    created = await provider.create(TENANT_A, req)
    assert proxy.requests[0].params["payment_method_types[0]"] == method
    assert proxy.requests[0].params["currency"] == "cny"
    assert created.client["payment_method_types"] == [method]
    remote = await provider.query(TENANT_A, req.out_trade_no, created.provider_ref)
    assert remote.state == "pending"


async def test_unknown_method_is_refused_before_calling(
    provider: StripeProvider, proxy: RecordingProxy
) -> None:
    with pytest.raises(ProviderError) as e:
        await provider.create(TENANT_A, new_create(method="jsapi"))
    assert not e.value.temporary and e.value.code == "method"
    assert proxy.requests == []


async def test_declined_card_is_failed(provider: StripeProvider, localstripe: LocalStripe) -> None:
    req = new_create()
    created = await provider.create(TENANT_A, req)
    answer = pay_as_client(
        localstripe.url,
        KEY_A,
        created.provider_ref,
        "pm_card_chargeCustomerFail",  # declines the charge
    )
    assert answer.status_code == 402
    remote = await provider.query(TENANT_A, req.out_trade_no, created.provider_ref)
    assert (remote.state, remote.paid_at) == ("failed", None)


async def test_query_checks_the_payment_is_ours(provider: StripeProvider) -> None:
    created = await provider.create(TENANT_A, new_create())
    with pytest.raises(ProviderError) as e:
        await provider.query(TENANT_A, "SOMEONE-ELSE", created.provider_ref)
    assert e.value.code == "mismatch" and not e.value.temporary


async def test_query_unknown_intent_is_a_permanent_error(provider: StripeProvider) -> None:
    with pytest.raises(ProviderError) as e:
        await provider.query(TENANT_A, "P1", "pi_doesnotexist")
    assert not e.value.temporary


async def test_idempotency_key_reuse_returns_the_same_intent(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    req = new_create()
    first = await provider.create(TENANT_A, req)
    again = await provider.create(TENANT_A, req)
    assert again.provider_ref == first.provider_ref
    assert again.client["client_secret"] == first.client["client_secret"]
    assert [r.replayed for r in proxy.requests] == [False, True]
    assert {r.idempotency_key for r in proxy.requests} == {req.idempotency_key}

    # the same key with other parameters is refused, not retried
    with pytest.raises(ProviderError) as e:
        await provider.create(TENANT_A, new_create(amount=1, idempotency_key=req.idempotency_key))
    assert not e.value.temporary

    # localstripe itself holds one intent for this out_trade_no
    listed = localstripe.objects(KEY_A, "payment_intents")
    ours = [pi for pi in listed if pi["metadata"].get("out_trade_no") == req.out_trade_no]
    assert [pi["id"] for pi in ours] == [first.provider_ref]


async def test_refund(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    req = new_create(amount=10_000)
    created = await provider.create(TENANT_A, req)
    assert pay_as_client(localstripe.url, KEY_A, created.provider_ref, "pm_card_visa").is_success

    refund = RefundRequest(
        out_trade_no=req.out_trade_no,
        provider_ref=created.provider_ref,
        out_refund_no="R" + req.out_trade_no,
        amount_fen=2_500,
        total_fen=10_000,
        reason="多收了一个月",
        idempotency_key="refund-" + req.out_trade_no,
    )
    result = await provider.refund(TENANT_A, refund)
    assert result.refund_ref.startswith("re_") and result.state == "succeeded"
    sent = proxy.requests[-1]
    assert (sent.path, sent.authorization, sent.idempotency_key) == (
        "/v1/refunds",
        f"Bearer {KEY_A}",
        refund.idempotency_key,
    )
    assert sent.params == {
        "payment_intent": created.provider_ref,
        "amount": "2500",
        "metadata[out_trade_no]": req.out_trade_no,
        "metadata[out_refund_no]": refund.out_refund_no,
        "metadata[reason]": "多收了一个月",
    }

    # a retried refund (same key) is the same refund; localstripe holds only one
    again = await provider.refund(TENANT_A, refund)
    assert again == result
    refunds = localstripe.objects(KEY_A, "refunds", payment_intent=created.provider_ref)
    assert [(r["id"], r["amount"]) for r in refunds] == [(result.refund_ref, 2_500)]

    # where it stands, read back from Stripe (and only as the refund it claims to be)
    assert await provider.query_refund(TENANT_A, refund, result.refund_ref) == result
    assert proxy.requests[-1].path == f"/v1/refunds/{result.refund_ref}"
    other = dataclasses.replace(refund, out_refund_no="R-someone-else")
    with pytest.raises(ProviderError) as err:
        await provider.query_refund(TENANT_A, other, result.refund_ref)
    assert err.value.code == "mismatch"


async def test_refund_of_a_failed_payment_is_refused(
    provider: StripeProvider, localstripe: LocalStripe
) -> None:
    # (a canceled intent without a charge would do too, but localstripe answers that with
    # a 500 of its own instead of Stripe's 400)
    req = new_create()
    created = await provider.create(TENANT_A, req)
    pay_as_client(localstripe.url, KEY_A, created.provider_ref, "pm_card_chargeCustomerFail")
    with pytest.raises(ProviderError) as e:
        await provider.refund(
            TENANT_A,
            RefundRequest(req.out_trade_no, created.provider_ref, "R1", 1, 1, "", "refund-x"),
        )
    assert not e.value.temporary


async def test_close(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    req = new_create()
    created = await provider.create(TENANT_A, req)
    await provider.close(TENANT_A, req.out_trade_no, created.provider_ref)
    assert proxy.requests[-1].path == f"/v1/payment_intents/{created.provider_ref}/cancel"
    remote = await provider.query(TENANT_A, req.out_trade_no, created.provider_ref)
    assert remote.state == "closed"
    # closing twice is fine
    await provider.close(TENANT_A, req.out_trade_no, created.provider_ref)

    # a paid intent cannot be closed
    paid = new_create()
    ref = (await provider.create(TENANT_A, paid)).provider_ref
    assert pay_as_client(localstripe.url, KEY_A, ref, "pm_card_visa").is_success
    with pytest.raises(ProviderError) as e:
        await provider.close(TENANT_A, paid.out_trade_no, ref)
    assert (e.value.code, e.value.temporary) == ("succeeded", False)


async def test_statement_from_balance_transactions(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    """Today's charges and refunds made through Wuye, from the balance transactions with
    their sources and PaymentIntents expanded; a charge made outside Wuye is not listed."""
    paid = []
    for amount in (10_000, 2_345):
        req = new_create(amount=amount)
        created = await provider.create(TENANT_A, req)
        assert pay_as_client(
            localstripe.url, KEY_A, created.provider_ref, "pm_card_visa"
        ).is_success
        paid.append((req.out_trade_no, created.provider_ref, amount))
    (no, ref, _), _ = paid
    refund = await provider.refund(
        TENANT_A, RefundRequest(no, ref, "R" + no, 2_500, 10_000, "", "refund-" + no)
    )
    outside = stripe.StripeClient(KEY_A, base_addresses={"api": localstripe.url})
    pi = outside.v1.payment_intents.create({"amount": 777, "currency": "cny"})
    assert pay_as_client(localstripe.url, KEY_A, pi.id, "pm_card_visa").is_success

    zone = ZoneInfo("Asia/Shanghai")
    today = datetime.now(zone).date()
    lines = await provider.statement(TENANT_A, today, zone)
    assert lines is not None
    mine = {o for o, _, _ in paid}
    listed = sorted(
        (line.kind, line.out_trade_no, line.provider_ref, line.amount_fen, line.fee_fen)
        for line in lines
        if line.out_trade_no in mine
    )
    assert listed == sorted(
        [("payment", o, r, a, 0) for o, r, a in paid]
        + [("refund", no, refund.refund_ref, 2_500, 0)]
    )
    assert all(line.out_trade_no for line in lines)  # the outside charge is not ours
    assert proxy.requests[-1].path == "/v1/balance_transactions"
    assert proxy.requests[-1].params["expand[0]"] == "data.source.payment_intent"
    # another day has none of them
    yesterday = await provider.statement(TENANT_A, today - timedelta(days=1), zone)
    assert yesterday is not None and not {x.out_trade_no for x in yesterday} & mine


async def test_bad_or_missing_key(provider: StripeProvider, proxy: RecordingProxy) -> None:
    with pytest.raises(ProviderError) as e:
        await provider.create(
            Credentials("stripe", {"secret_key": "rk_not_a_secret"}), new_create()
        )
    assert not e.value.temporary  # localstripe's 401
    with pytest.raises(ProviderError) as e:
        await provider.create(Credentials("stripe", {"webhook_secret": HOOK_A}), new_create())
    assert e.value.code == "credentials"
    assert [r.status for r in proxy.requests] == [401]


# --- failures that may be retried --------------------------------------------------------


async def test_server_errors_are_temporary() -> None:
    with FaultServer(mode="500") as fault:
        provider = StripeProvider(fault.url)
        for call in (
            provider.create(TENANT_A, new_create()),
            provider.query(TENANT_A, "P1", "pi_1"),
            provider.close(TENANT_A, "P1", "pi_1"),
            provider.refund(TENANT_A, RefundRequest("P1", "pi_1", "R1", 1, 1, "", "k")),
        ):
            with pytest.raises(ProviderError) as e:
                await call
            assert e.value.temporary
        assert fault.hits == 4  # no retries inside the adapter by default


async def test_network_retries_are_optional() -> None:
    with FaultServer(mode="500") as fault:
        provider = StripeProvider(fault.url, max_network_retries=1)
        with pytest.raises(ProviderError) as e:
            await provider.query(TENANT_A, "P1", "pi_1")
        assert e.value.temporary and fault.hits == 2


async def test_timeouts_and_refused_connections_are_temporary() -> None:
    with FaultServer(mode="sleep", delay=3.0) as slow:
        provider = StripeProvider(slow.url, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(ProviderError) as e:
            await provider.create(TENANT_A, new_create())
        assert e.value.temporary and time.monotonic() - started < 2.5

    closed = StripeProvider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError) as e:
        await closed.query(TENANT_A, "P1", "pi_1")
    assert e.value.temporary


# --- tenants ------------------------------------------------------------------------------


async def test_two_tenants_keys_are_never_mixed(
    provider: StripeProvider, proxy: RecordingProxy, localstripe: LocalStripe
) -> None:
    """localstripe keeps one store for every key, so isolation is shown on the wire: every
    request carries the key of the tenant whose payment it concerns, with both tenants'
    calls running at once in worker threads over the shared HTTP client."""
    assert stripe.api_key is None
    tenants = {KEY_A: TENANT_A, KEY_B: TENANT_B}
    owner: dict[str, str] = {}  # out_trade_no and intent id -> the tenant's key

    async def one_payment(key: str) -> None:
        creds = tenants[key]
        req = new_create(amount=100 + len(owner))
        owner[req.out_trade_no] = key
        created = await provider.create(creds, req)
        owner[created.provider_ref] = key
        await asyncio.to_thread(
            pay_as_client, localstripe.url, key, created.provider_ref, "pm_card_visa"
        )
        assert (await provider.query(creds, req.out_trade_no, created.provider_ref)).state == (
            "succeeded"
        )
        await provider.refund(
            creds,
            RefundRequest(
                req.out_trade_no,
                created.provider_ref,
                "R" + req.out_trade_no,
                50,
                req.amount_fen,
                "",
                "refund-" + req.out_trade_no,
            ),
        )

    await asyncio.gather(*(one_payment(key) for _ in range(6) for key in (KEY_A, KEY_B)))

    assert len(proxy.requests) == 12 * 3
    for r in proxy.requests:
        refs = [r.params.get("metadata[out_trade_no]"), r.params.get("payment_intent")]
        refs += [part for part in r.path.split("/") if part.startswith("pi_")]
        [ref, *_] = [x for x in refs if x]
        assert r.api_key == owner[ref], r
    assert {r.api_key for r in proxy.requests} == {KEY_A, KEY_B}
    # nothing leaked into the SDK's module-level configuration
    assert stripe.api_key is None and stripe.api_base == "https://api.stripe.com"


# --- webhooks -----------------------------------------------------------------------------


def intent(status: str = "succeeded", **kw: Any) -> dict[str, Any]:
    return {
        "id": "pi_3Pabc",
        "object": "payment_intent",
        "amount": 12_345,
        "amount_received": 12_345 if status == "succeeded" else 0,
        "currency": "cny",
        "status": status,
        "metadata": {"out_trade_no": "P20250301-1"},
        "latest_charge": "ch_3Pabc",
        "last_payment_error": None,
        **kw,
    }


def event(kind: str, obj: dict[str, Any], created: datetime = NOW) -> dict[str, Any]:
    return {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(created.timestamp()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def signed(
    evt: dict[str, Any], secret: str = HOOK_A, at: datetime = NOW
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(evt, indent=2).encode()
    return {"Stripe-Signature": signature_header(secret, body, int(at.timestamp()))}, body


def test_signature_matches_stripes_own_code() -> None:
    """Ours signs as the SDK verifies, and verifies what the SDK's algorithm signs."""
    headers, body = signed(event("payment_intent.succeeded", intent()), at=datetime.now(UTC))
    stripe.WebhookSignature.verify_header(
        body.decode(), headers["Stripe-Signature"], HOOK_A, tolerance=300
    )
    t = int(NOW.timestamp())
    theirs = stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}", HOOK_A)
    n = StripeProvider().verify(TENANT_A, {"Stripe-Signature": f"t={t},v1={theirs}"}, body, NOW)
    assert n.kind == "payment"


def test_payment_events() -> None:
    p = StripeProvider()
    charge = {
        "id": "ch_3Pabc",
        "object": "charge",
        "created": int(NOW.timestamp()) - 5,
        "balance_transaction": {"id": "txn_1", "object": "balance_transaction", "fee": 432},
    }
    evt = event("payment_intent.succeeded", intent(latest_charge=charge))
    headers, body = signed(evt)
    n = p.verify(TENANT_A, headers, body, NOW)
    assert (n.event_id, n.kind) == (evt["id"], "payment")
    assert n.payment is not None
    assert (n.payment.out_trade_no, n.payment.provider_ref) == ("P20250301-1", "pi_3Pabc")
    assert (n.payment.state, n.payment.amount_fen, n.payment.fee_fen) == ("succeeded", 12_345, 432)
    assert n.payment.paid_at == NOW - timedelta(seconds=5)
    assert n.raw["id"] == evt["id"]

    # an unexpanded charge (what Stripe sends): no fee
    n = p.verify(TENANT_A, *signed(event("payment_intent.succeeded", intent())), NOW)
    assert n.payment is not None and n.payment.fee_fen is None

    failed = intent(
        "requires_payment_method",
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    n = p.verify(TENANT_A, *signed(event("payment_intent.payment_failed", failed)), NOW)
    assert n.payment is not None and n.payment.state == "failed" and n.payment.paid_at is None

    n = p.verify(TENANT_A, *signed(event("payment_intent.canceled", intent("canceled"))), NOW)
    assert n.payment is not None and n.payment.state == "closed"


def refund_obj(status: str = "succeeded", **kw: Any) -> dict[str, Any]:
    return {
        "id": "re_3Pabc",
        "object": "refund",
        "amount": 2_500,
        "charge": "ch_3Pabc",
        "created": int(NOW.timestamp()),
        "currency": "cny",
        "metadata": {"out_trade_no": "P20250301-1", "out_refund_no": "R1"},
        "payment_intent": "pi_3Pabc",
        "status": status,
        **kw,
    }


def test_refund_events() -> None:
    p = StripeProvider()
    for status, ours in (("succeeded", "succeeded"), ("pending", "pending"), ("failed", "failed")):
        evt = event("charge.refund.updated", refund_obj(status))
        n = p.verify(TENANT_A, *signed(evt), NOW)
        assert (n.event_id, n.kind, n.refund_ref, n.refund_state) == (
            evt["id"],
            "refund",
            "re_3Pabc",
            ours,
        )
        assert n.payment is not None
        assert (n.payment.out_trade_no, n.payment.provider_ref) == ("P20250301-1", "pi_3Pabc")

    older = refund_obj(id="re_older", created=int(NOW.timestamp()) - 600)
    charge = {
        "id": "ch_3Pabc",
        "object": "charge",
        "amount": 12_345,
        "amount_refunded": 5_000,
        "metadata": {},
        "payment_intent": "pi_3Pabc",
        "refunds": {"object": "list", "data": [older, refund_obj()]},
    }
    n = p.verify(TENANT_A, *signed(event("charge.refunded", charge)), NOW)
    assert (n.kind, n.refund_ref, n.refund_state) == ("refund", "re_3Pabc", "succeeded")
    assert n.payment is not None
    assert (n.payment.out_trade_no, n.payment.provider_ref, n.payment.amount_fen) == (
        "P20250301-1",
        "pi_3Pabc",
        12_345,
    )


@pytest.mark.parametrize(
    "case",
    [
        "wrong secret",
        "other tenant's secret",
        "stale",
        "future",
        "tampered body",
        "missing header",
        "empty header",
        "no v1",
        "no t",
        "bad t",
        "not json",
        "unexpected event type",
        "no webhook secret",
    ],
)
def test_bad_notifications(case: str) -> None:
    p = StripeProvider()
    creds = TENANT_A
    evt = event("payment_intent.succeeded", intent())
    headers, body = signed(evt)
    t = int(NOW.timestamp())
    if case == "wrong secret":
        headers, body = signed(evt, secret="whsec_guess")
    elif case == "other tenant's secret":
        headers, body = signed(evt, secret=HOOK_B)
    elif case == "stale":
        headers, body = signed(evt, at=NOW - timedelta(seconds=301))
    elif case == "future":
        headers, body = signed(evt, at=NOW + timedelta(seconds=301))
    elif case == "tampered body":
        body = body.replace(b"12345", b"1")
    elif case == "missing header":
        headers = {}
    elif case == "empty header":
        headers = {"Stripe-Signature": ""}
    elif case == "no v1":
        headers = {"Stripe-Signature": f"t={t},v0=abc"}
    elif case == "no t":
        headers = {"Stripe-Signature": headers["Stripe-Signature"].split(",", 1)[1]}
    elif case == "bad t":
        headers = {"Stripe-Signature": "t=soon," + headers["Stripe-Signature"].split(",", 1)[1]}
    elif case == "not json":
        body = b"not json"
        headers = {"Stripe-Signature": signature_header(HOOK_A, body, t)}
    elif case == "unexpected event type":
        headers, body = signed(event("customer.created", {"id": "cus_1", "object": "customer"}))
    elif case == "no webhook secret":
        creds = Credentials("stripe", {"secret_key": KEY_A})
    with pytest.raises(BadNotification):
        p.verify(creds, headers, body, NOW)


def test_signature_edges_that_pass() -> None:
    p = StripeProvider()
    evt = event("payment_intent.succeeded", intent())
    assert p.verify(TENANT_A, *signed(evt, at=NOW - timedelta(seconds=300)), NOW)  # 300 s is in
    headers, body = signed(evt)
    # header names in any case (raw ASGI headers are lower-case)
    lower = {"stripe-signature": headers["Stripe-Signature"]}
    assert p.verify(TENANT_A, lower, body, NOW).event_id == evt["id"]
    # several v1 entries (Stripe's secret rolling): one valid is enough
    t = int(NOW.timestamp())
    rolled = (
        signature_header("whsec_old", body, t)
        + ","
        + headers["Stripe-Signature"].split(",", 1)[1].replace(" ", "")
    )
    assert p.verify(TENANT_A, {"Stripe-Signature": rolled}, body, NOW).event_id == evt["id"]


def test_acknowledge() -> None:
    p = StripeProvider()
    status, headers, body = p.acknowledge(True)
    assert (status, json.loads(body)) == (200, {"received": True})
    assert headers["Content-Type"] == "application/json"
    status, _, body = p.acknowledge(False)
    assert status == 400


async def test_webhook_signed_by_localstripe(
    provider: StripeProvider, localstripe: LocalStripe
) -> None:
    """localstripe posts a real payment_intent.succeeded, signed with its own code."""
    with WebhookReceiver() as receiver:
        localstripe.register_webhook(receiver.url, HOOK_A, ["payment_intent.succeeded"])
        req = new_create(amount=777)
        created = await provider.create(TENANT_A, req)
        assert pay_as_client(
            localstripe.url, KEY_A, created.provider_ref, "pm_card_visa"
        ).is_success
        delivery = await asyncio.to_thread(
            receiver.wait_for, "payment_intent.succeeded", created.provider_ref
        )

    n = provider.verify(TENANT_A, delivery.headers, delivery.body, datetime.now(UTC))
    assert n.kind == "payment" and n.event_id == delivery.event["id"]
    assert n.payment is not None
    assert (n.payment.out_trade_no, n.payment.provider_ref, n.payment.state) == (
        req.out_trade_no,
        created.provider_ref,
        "succeeded",
    )
    assert n.payment.amount_fen == 777 and n.payment.paid_at is not None
    with pytest.raises(BadNotification):
        provider.verify(TENANT_B, delivery.headers, delivery.body, datetime.now(UTC))
    with pytest.raises(BadNotification):  # replayed much later
        provider.verify(
            TENANT_A, delivery.headers, delivery.body, datetime.now(UTC) + timedelta(minutes=6)
        )
