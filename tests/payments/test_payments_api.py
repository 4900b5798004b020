"""The online payments API through GraphQL (fake provider): residents pay their own bills
and read their payments, staff list them with notifications and refunds (no N+1), refunds
need billing.refund, credentials are write-only, ids never cross tenants or data scopes,
and everything is off with the billing module."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Api, count_statements, make_tenant
from kit import add_resident, add_staff, codes, ok, switch_module
from payments_kit import (
    FakeProvider,
    bill_for,
    bills,
    check_ledger,
    info_of,
    notify,
    pay_office,
    process_all,
    registered_fake,
)
from sqlalchemy import select

from wuye.graphql.ids import encode_id
from wuye.identity.models import AuditLog
from wuye.payments import service
from wuye.runtime import Runtime

PAY = """mutation($i: PayBillsInput!) { payBills(input: $i) {
  client payment { id status amountFen purpose provider method billIds outTradeNo } } }"""
TOP_UP = """mutation($i: TopUpOnlineInput!) { topUpOnline(input: $i) {
  client payment { id status amountFen purpose unitId } } }"""
ONE = """query($id: ID!) { onlinePayment(id: $id) { id status amountFen refundedFen
  refunds { amountFen status reason } } }"""
ONE_STAFF = """query($id: ID!) { onlinePayment(id: $id) { id status
  notifications { eventId kind receivedAt processedAt outcome } } }"""
MINE = """query { myOnlinePayments(first: 10) { totalCount edges { node { id status } } } }"""
METHODS = """query { paymentMethods { provider methods } }"""
LIST = """query($status: String) { onlinePayments(first: 50, status: $status) { totalCount
  edges { node { id status amountFen refundedFen
    refunds { id amountFen status reason }
    notifications { eventId kind receivedAt processedAt outcome } } } } }"""
REFUND = """mutation($i: RefundOnlinePaymentInput!) { refundOnlinePayment(input: $i) {
  id amountFen status reason } }"""
ACCOUNTS = """query { paymentAccounts { provider enabled methods credentialsSet updatedAt } }"""
SET_ACCOUNT = """mutation($i: SetPaymentAccountInput!) { setPaymentAccount(input: $i) {
  provider enabled methods credentialsSet } }"""
RECONCILE = """mutation($day: Date!) { reconcilePayments(day: $day) { day provider status
  providerLines ourLines mismatches { kind line ref outTradeNo ours theirs ledger } } }"""
REPORTS = """query($day: Date!) { paymentReconciliations(day: $day) { provider status
  mismatches { kind outTradeNo } } }"""
MY_BILLS = """query { myBills(first: 50) { edges { node { id state outstandingFen } } } }"""


fake = pytest.fixture(registered_fake)


def _pay_input(bill_ids: list[int], key: str = "k1") -> dict[str, Any]:
    return {
        "i": {
            "billIds": [encode_id("Bill", b) for b in bill_ids],
            "provider": "wechat",
            "method": "jsapi",
            "clientRequestId": key,
            "openid": "o-123",
        }
    }


def _paid(p: dict[str, Any], event: str, fen: int) -> dict[str, Any]:
    return {
        "event_id": event,
        "out_trade_no": p["outTradeNo"],
        "ref": f"fx_{p['outTradeNo']}",
        "state": "succeeded",
        "amount_fen": fen,
    }


async def _paid_payment(
    api: Api, runtime: Runtime, office: Any, fen: int = 25060, key: str = "k1"
) -> dict[str, Any]:
    """A resident's bill paid online through the API, its notification processed."""
    bill = await bill_for(runtime, office, fen=fen)
    t = office.tenant
    started = ok(
        await api(PAY, _pay_input([bill], key), tenant=t.slug, token=office.resident.token)
    )
    p = started["payBills"]["payment"]
    assert await notify(api, t.slug, _paid(p, f"ev-{key}", fen)) == 200
    assert await process_all(runtime, t.slug) == ["succeeded"]
    return p


async def test_resident_pays_two_bills_and_sees_them_paid(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    t, me = office.tenant, office.resident.token
    b1 = await bill_for(runtime, office)
    b2 = await bill_for(runtime, office, fen=1000)
    offered = ok(await api(METHODS, tenant=t.slug, token=me))["paymentMethods"]
    assert offered == [{"provider": "wechat", "methods": ["jsapi", "native"]}]

    started = ok(await api(PAY, _pay_input([b1, b2]), tenant=t.slug, token=me))["payBills"]
    p = started["payment"]
    assert started["client"] == {"prepay": "x"}
    assert p["status"] == "pending" and p["amountFen"] == 26060 and p["purpose"] == "bills"
    assert sorted(p["billIds"]) == sorted(encode_id("Bill", b) for b in (b1, b2))
    again = ok(await api(PAY, _pay_input([b1, b2]), tenant=t.slug, token=me))["payBills"]
    assert again["payment"]["id"] == p["id"] and again["client"] == {"prepay": "x"}
    assert len([c for c in fake.calls if c[0] == "create"]) == 1

    assert await notify(api, t.slug, _paid(p, "e-1", 26060)) == 200
    assert await process_all(runtime, t.slug) == ["succeeded"]
    one = ok(await api(ONE, {"id": p["id"]}, tenant=t.slug, token=me))["onlinePayment"]
    assert one["status"] == "succeeded" and one["refunds"] == []
    states = {
        e["node"]["id"]: e["node"]["state"]
        for e in ok(await api(MY_BILLS, tenant=t.slug, token=me))["myBills"]["edges"]
    }
    assert states == {encode_id("Bill", b1): "paid", encode_id("Bill", b2): "paid"}
    mine = ok(await api(MINE, tenant=t.slug, token=me))["myOnlinePayments"]
    assert mine["totalCount"] == 1 and mine["edges"][0]["node"]["status"] == "succeeded"
    # the provider's notifications are for staff
    assert codes(await api(ONE_STAFF, {"id": p["id"]}, tenant=t.slug, token=me)) == ["FORBIDDEN"]
    staff = ok(await api(ONE_STAFF, {"id": p["id"]}, tenant=t.slug, token=office.cashier.token))
    (n,) = staff["onlinePayment"]["notifications"]
    assert n["eventId"] == "e-1" and n["outcome"] == "succeeded" and n["processedAt"]
    # the neighbour sees neither the payment nor it in their list
    neighbour = office.neighbour.token
    assert codes(await api(ONE, {"id": p["id"]}, tenant=t.slug, token=neighbour)) == ["NOT_FOUND"]
    assert (
        ok(await api(MINE, tenant=t.slug, token=neighbour))["myOnlinePayments"]["totalCount"] == 0
    )
    await check_ledger(runtime, t)


async def test_top_up_online(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    i = {
        "unitId": encode_id("Unit", office.place.ids["A/1/101"]),
        "amountFen": 50000,
        "provider": "wechat",
        "method": "native",
        "clientRequestId": "t1",
    }
    started = ok(await api(TOP_UP, {"i": i}, tenant=t.slug, token=office.resident.token))
    p = started["topUpOnline"]["payment"]
    assert p["purpose"] == "topup" and p["amountFen"] == 50000 and p["status"] == "pending"
    # a unit the resident does not live in
    i |= {"unitId": encode_id("Unit", office.place.ids["A/1/102"]), "clientRequestId": "t2"}
    body = await api(TOP_UP, {"i": i}, tenant=t.slug, token=office.resident.token)
    assert codes(body) == ["NOT_FOUND"]
    # a method the tenant does not offer
    i |= {"unitId": encode_id("Unit", office.place.ids["A/1/101"]), "method": "h5"}
    body = await api(TOP_UP, {"i": i}, tenant=t.slug, token=office.resident.token)
    assert codes(body) == ["VALIDATION_FAILED"]


async def test_a_neighbours_bill_is_not_found(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    mine = await bill_for(runtime, office)
    theirs = await bill_for(runtime, office, room="A/1/102")
    for ids in ([theirs], [mine, theirs]):
        body = await api(PAY, _pay_input(ids), tenant=t.slug, token=office.resident.token)
        assert codes(body) == ["NOT_FOUND"]
    assert fake.calls == []
    assert (await bills(runtime, t, [theirs]))[theirs].status != "paid"


async def test_refunds_need_billing_refund(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    p = await _paid_payment(api, runtime, office)
    refund = {
        "i": {"paymentId": p["id"], "amountFen": 60, "reason": "多收", "clientRequestId": "r1"}
    }
    for who in (office.cashier, office.resident):
        assert codes(await api(REFUND, refund, tenant=t.slug, token=who.token)) == ["FORBIDDEN"]
    done = ok(await api(REFUND, refund, tenant=t.slug, token=office.manager.token))
    assert done["refundOnlinePayment"]["status"] == "succeeded"
    assert done["refundOnlinePayment"]["amountFen"] == 60
    same = ok(await api(REFUND, refund, tenant=t.slug, token=office.manager.token))
    assert same["refundOnlinePayment"]["id"] == done["refundOnlinePayment"]["id"]
    too_much = {"i": {**refund["i"], "amountFen": 25001, "clientRequestId": "r2"}}
    body = await api(REFUND, too_much, tenant=t.slug, token=office.manager.token)
    assert codes(body) == ["VALIDATION_FAILED"]
    # the payer sees the refund; staff see it in the list
    one = ok(await api(ONE, {"id": p["id"]}, tenant=t.slug, token=office.resident.token))
    assert one["onlinePayment"]["status"] == "partially_refunded"
    assert one["onlinePayment"]["refunds"] == [
        {"amountFen": 60, "status": "succeeded", "reason": "多收"}
    ]
    listed = ok(await api(LIST, tenant=t.slug, token=office.cashier.token))["onlinePayments"]
    (node,) = [e["node"] for e in listed["edges"]]
    assert node["refundedFen"] == 60 and len(node["refunds"]) == 1
    assert [n["kind"] for n in node["notifications"]] == ["payment"]
    assert (
        ok(await api(LIST, {"status": "succeeded"}, tenant=t.slug, token=office.cashier.token))[
            "onlinePayments"
        ]["totalCount"]
        == 0
    )
    assert codes(await api(LIST, tenant=t.slug, token=office.resident.token)) == ["FORBIDDEN"]
    async with runtime.db.tenant_session(t.schema) as s:
        audit = await s.scalar(select(AuditLog).where(AuditLog.action == "refundOnlinePayment"))
    assert audit is not None and audit.actor_id == office.manager.user_id
    await check_ledger(runtime, t)


async def test_credentials_are_write_only(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    t, manager = office.tenant, office.manager.token
    secret_words = ("hunter2-private", "merchant-9")
    creds = {"merchant": "merchant-9", "apiKey": "hunter2-private", "secret": "hunter2-private"}
    i = {"provider": "alipay", "enabled": True, "methods": ["app", "page"], "credentials": creds}
    answers = []
    r = await api.post(SET_ACCOUNT, {"i": i}, tenant=t.slug, token=manager)
    answers.append(r.text)
    assert r.json()["data"]["setPaymentAccount"] == {
        "provider": "alipay",
        "enabled": True,
        "methods": ["app", "page"],
        "credentialsSet": True,
    }
    # changed without credentials: they stay
    i = {"provider": "alipay", "enabled": True, "methods": ["app"]}
    r = await api.post(SET_ACCOUNT, {"i": i}, tenant=t.slug, token=manager)
    answers.append(r.text)
    assert r.json()["data"]["setPaymentAccount"]["credentialsSet"] is True
    r = await api.post(ACCOUNTS, tenant=t.slug, token=manager)
    answers.append(r.text)
    accounts = {a["provider"]: a for a in r.json()["data"]["paymentAccounts"]}
    assert accounts["alipay"]["credentialsSet"] is True and accounts["alipay"]["methods"] == ["app"]
    assert accounts["wechat"]["credentialsSet"] is True
    r = await api.post(METHODS, tenant=t.slug, token=office.resident.token)
    answers.append(r.text)
    assert {m["provider"] for m in r.json()["data"]["paymentMethods"]} == {"alipay", "wechat"}
    for text in answers:
        assert not any(word in text for word in secret_words)
    async with runtime.db.tenant_session(t.schema) as s:
        audits = list(
            await s.scalars(select(AuditLog).where(AuditLog.action == "setPaymentAccount"))
        )
        tenant = await info_of(runtime, t)
        _, stored = await service.account_of(s, runtime, tenant, "alipay")
    assert len(audits) == 2
    assert not any(word in json.dumps(a.detail) for a in audits for word in secret_words)
    assert stored["apiKey"] == "hunter2-private"  # kept, and readable by the service only
    # managing accounts needs billing.settings.manage
    for who in (office.cashier, office.resident):
        assert codes(await api(ACCOUNTS, tenant=t.slug, token=who.token)) == ["FORBIDDEN"]
        body = await api(SET_ACCOUNT, {"i": i}, tenant=t.slug, token=who.token)
        assert codes(body) == ["FORBIDDEN"]


async def test_ids_do_not_cross_tenants_or_scopes(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    a = await pay_office(api, runtime)
    b = await pay_office(api, runtime)
    p = await _paid_payment(api, runtime, a)
    theirs = await bill_for(runtime, a, fen=700)
    b_manager = b.manager.token
    assert codes(await api(ONE, {"id": p["id"]}, tenant=b.tenant.slug, token=b_manager)) == [
        "NOT_FOUND"
    ]
    refund = {"i": {"paymentId": p["id"], "amountFen": 1, "reason": "x", "clientRequestId": "x1"}}
    assert codes(await api(REFUND, refund, tenant=b.tenant.slug, token=b_manager)) == ["NOT_FOUND"]
    body = await api(PAY, _pay_input([theirs]), tenant=b.tenant.slug, token=b.resident.token)
    assert codes(body) == ["NOT_FOUND"]
    listed = ok(await api(LIST, tenant=b.tenant.slug, token=b_manager))["onlinePayments"]
    assert listed["totalCount"] == 0
    # staff of tenant A whose data scope is community B only
    outside = await add_staff(
        api,
        runtime,
        a.tenant,
        roles=("manager",),
        communities=(a.place.ids["B"],),
        all_communities=False,
    )
    token = outside.token
    assert codes(await api(ONE, {"id": p["id"]}, tenant=a.tenant.slug, token=token)) == [
        "NOT_FOUND"
    ]
    assert codes(await api(REFUND, refund, tenant=a.tenant.slug, token=token)) == ["NOT_FOUND"]
    listed = ok(await api(LIST, tenant=a.tenant.slug, token=token))["onlinePayments"]
    assert listed["totalCount"] == 0
    # a payment of community B: only it is theirs
    b_resident = await add_resident(api, runtime, a.tenant, a.place.ids["B/9/901"])
    b_bill = await bill_for(runtime, a, room="B/9/901", fen=900)
    body = await api(PAY, _pay_input([b_bill], "kb"), tenant=a.tenant.slug, token=b_resident.token)
    in_b = ok(body)["payBills"]["payment"]["id"]
    listed = ok(await api(LIST, tenant=a.tenant.slug, token=token))["onlinePayments"]
    assert [e["node"]["id"] for e in listed["edges"]] == [in_b]
    assert ok(await api(ONE, {"id": in_b}, tenant=a.tenant.slug, token=token))
    inside = await add_staff(
        api,
        runtime,
        a.tenant,
        roles=("cashier",),
        communities=(a.place.ids["A"],),
        all_communities=False,
    )
    listed = ok(await api(LIST, tenant=a.tenant.slug, token=inside.token))["onlinePayments"]
    assert [e["node"]["id"] for e in listed["edges"]] == [p["id"]]


async def test_reconcile_through_the_api(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    p = await _paid_payment(api, runtime, office)
    day = datetime.now(UTC).astimezone((await info_of(runtime, t)).zone).date().isoformat()
    fake.statement_lines = []
    assert codes(
        await api(RECONCILE, {"day": day}, tenant=t.slug, token=office.resident.token)
    ) == ["FORBIDDEN"]
    (report,) = ok(await api(RECONCILE, {"day": day}, tenant=t.slug, token=office.cashier.token))[
        "reconcilePayments"
    ]
    assert report["status"] == "mismatches" and report["ourLines"] == 1
    assert report["mismatches"] == [
        {
            "kind": "missing_there",
            "line": "payment",
            "ref": p["outTradeNo"],
            "outTradeNo": p["outTradeNo"],
            "ours": 25060,
            "theirs": None,
            "ledger": None,
        }
    ]
    stored = ok(await api(REPORTS, {"day": day}, tenant=t.slug, token=office.cashier.token))
    assert stored["paymentReconciliations"] == [
        {
            "provider": "wechat",
            "status": "mismatches",
            "mismatches": [{"kind": "missing_there", "outTradeNo": p["outTradeNo"]}],
        }
    ]


async def test_module_billing_off(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    p = await _paid_payment(api, runtime, office)
    bill = await bill_for(runtime, office, fen=300)
    await switch_module(runtime, t, "billing", enabled=False)
    resident, manager = office.resident.token, office.manager.token
    for query, variables, token in (
        (ONE, {"id": p["id"]}, resident),
        (MINE, None, resident),
        (METHODS, None, resident),
        (PAY, _pay_input([bill], "k-off"), resident),
        (LIST, None, manager),
        (ACCOUNTS, None, manager),
    ):
        assert codes(await api(query, variables, tenant=t.slug, token=token)) == ["MODULE_DISABLED"]
    # and a tenant that never had billing
    plain = await make_tenant(runtime)
    admin = await add_staff(api, runtime, plain, roles=("tenant_admin",))
    assert codes(await api(ACCOUNTS, tenant=plain.slug, token=admin.token)) == ["MODULE_DISABLED"]


async def test_statements_do_not_grow_with_payments(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    t = office.tenant
    tenant = await info_of(runtime, t)
    unit = office.place.ids["A/1/101"]
    counts = []
    have = 0
    for n in (3, 20):
        while have < n:
            p = await service.start_payment(
                runtime,
                tenant,
                payer_user_id=office.resident.user_id,
                purpose="topup",
                provider="wechat",
                method="jsapi",
                client_request_id=f"n{have}",
                unit_id=unit,
                amount_fen=100 + have,
            )
            payload = {
                "event_id": f"n-{have}",
                "out_trade_no": p.out_trade_no,
                "ref": p.provider_ref,
                "state": "succeeded",
                "amount_fen": p.amount_fen,
            }
            assert await notify(api, t.slug, payload) == 200
            have += 1
        await process_all(runtime, t.slug)
        with count_statements(runtime) as seen:
            data = ok(await api(LIST, tenant=t.slug, token=office.manager.token))
        edges = data["onlinePayments"]["edges"]
        assert len(edges) == n and all(len(e["node"]["notifications"]) == 1 for e in edges)
        counts.append(len(seen))
    assert counts[0] == counts[1]
