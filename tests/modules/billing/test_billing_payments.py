"""Offline payments, reversals, idempotency, online settlement, receipts, cross-tenant.

Also the shared helpers of the settlement tests: bills posted to the ledger, the ledger
invariants, a cashier actor and the tenant's billing config."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from typing import Any

import pypdf
import pytest
from billing_kit import (
    Office,
    add_fee_item,
    bid,
    bills,
    cashier_actor,
    check_ledger,
    info_of,
    make_office,
    posted_bill,
    set_billing,
)
from conftest import Api
from kit import codes, ok
from sqlalchemy import func, select

from wuye.errors import AppError
from wuye.modules.billing import ledger, settlement
from wuye.modules.billing.models import Payment
from wuye.modules.billing.receipts import capital
from wuye.runtime import Runtime


async def test_multi_bill_payment_exact_amount_and_receipt(api: Api, runtime: Runtime) -> None:
    office, _, ids = await setup(api, runtime)
    t = office.tenant
    body = await api(RECORD, pay_input(ids, 50000, "k1"), tenant=t.slug, token=office.cashier.token)
    assert codes(body) == ["VALIDATION_FAILED"]  # partial payments are off
    body = await api(RECORD, pay_input(ids, 50121, "k1"), tenant=t.slug, token=office.cashier.token)
    assert codes(body) == ["VALIDATION_FAILED"]  # more than due
    p = ok(
        await api(
            RECORD,
            pay_input(ids, 50120, "k1", payerName="李雷", method="transfer", reference="TX1"),
            tenant=t.slug,
            token=office.cashier.token,
        )
    )["recordPayment"]
    assert p["amountFen"] == 50120 and p["kind"] == "payment" and p["method"] == "transfer"
    assert re.fullmatch(r"R\d{8}\d{8}", p["receiptNo"])
    assert p["place"] == "A 1 101"
    found = await bills(runtime, t, ids)
    assert all(b.status == "paid" and b.paid_fen == 25060 and b.paid_at for b in found.values())
    await check_ledger(runtime, t)
    # already paid: a new payment is refused
    body = await api(RECORD, pay_input(ids, 50120, "k2"), tenant=t.slug, token=office.cashier.token)
    assert codes(body) == ["INVALID_TRANSITION"]
    receipt = ok(await api(RECEIPT, {"p": p["id"]}, tenant=t.slug, token=office.resident.token))
    r = receipt["receipt"]
    assert r["totalFen"] == 50120 and r["totalCapital"] == "伍佰零壹元贰角整"
    assert [x["period"] for x in r["lines"]] == ["2026-09", "2026-10"]
    text = pdf_text(
        ok(await api(PDF, {"p": p["id"]}, tenant=t.slug, token=office.cashier.token))["receiptPdf"]
    )
    for expected in (p["receiptNo"], "物业费", "2026-10", "501.20", "伍佰零壹元贰角整", "李雷"):
        assert expected in text, expected
    # the neighbour sees neither the payment nor its receipt
    body = await api(RECEIPT, {"p": p["id"]}, tenant=t.slug, token=office.neighbour.token)
    assert codes(body) == ["NOT_FOUND"]


RECORD = """mutation($i: RecordPaymentInput!) { recordPayment(input: $i) {
  id receiptNo kind method amountFen payerName unitId place } }"""
REVERSE = """mutation($i: ReversePaymentInput!) { reversePayment(input: $i) {
  id receiptNo kind amountFen reversalOfId } }"""
RECEIPT = """query($p: ID!) { receipt(paymentId: $p) { receiptNo kind reversal
  reversesReceiptNo payer place totalFen totalCapital lines { feeItem period amountFen } } }"""
PDF = """query($p: ID!) { receiptPdf(paymentId: $p) { filename contentType base64 } }"""


def pay_input(ids: list[int], amount: int, key: str, **kw: Any) -> dict[str, Any]:
    return {
        "i": {
            "billIds": [bid(i) for i in ids],
            "method": kw.pop("method", "cash"),
            "amountFen": amount,
            "clientRequestId": key,
            **kw,
        }
    }


def pdf_text(data: dict[str, Any]) -> str:
    raw = base64.b64decode(data["base64"])
    return str(pypdf.PdfReader(io.BytesIO(raw)).pages[0].extract_text())


async def setup(api: Api, runtime: Runtime) -> tuple[Office, int, list[int]]:
    office = await make_office(api, runtime)
    item = await add_fee_item(runtime, office.tenant, name_zh="物业费")
    unit = office.place.ids["A/1/101"]
    ids = [
        await posted_bill(
            runtime,
            office.tenant,
            unit_id=unit,
            fee_item_id=item,
            amount_fen=fen,
            period=period,
            due_on=due,
        )
        for fen, period, due in (
            (25060, "2026-09", __import__("datetime").date(2026, 10, 15)),
            (25060, "2026-10", __import__("datetime").date(2026, 11, 15)),
        )
    ]
    return office, item, ids


# --- tests ---------------------------------------------------------------------------------


def test_capital_numerals() -> None:
    assert capital(25060) == "贰佰伍拾元陆角整"
    assert capital(50120) == "伍佰零壹元贰角整"
    assert capital(100005) == "壹仟元零伍分"
    assert capital(0) == "零元整"
    assert capital(1_000_000_00) == "壹佰万元整"
    assert capital(10_010_000) == "壹拾万零壹佰元整"
    assert capital(-100) == "负壹元整"


async def test_bills_of_two_units_are_refused(api: Api, runtime: Runtime) -> None:
    office, item, ids = await setup(api, runtime)
    other = await posted_bill(
        runtime, office.tenant, unit_id=office.place.ids["A/1/102"], fee_item_id=item, amount_fen=1
    )
    body = await api(
        RECORD,
        pay_input([ids[0], other], 25061, "k"),
        tenant=office.tenant.slug,
        token=office.cashier.token,
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    assert body["errors"][0]["extensions"]["field"] == "billIds"


async def test_partial_payments_when_enabled_go_to_the_oldest_first(
    api: Api, runtime: Runtime
) -> None:
    office, _, ids = await setup(api, runtime)
    await set_billing(runtime, office.tenant, {"allow_partial": True})
    ok(
        await api(
            RECORD,
            pay_input(ids, 30000, "part"),
            tenant=office.tenant.slug,
            token=office.cashier.token,
        )
    )
    found = await bills(runtime, office.tenant, ids)
    assert (found[ids[0]].status, found[ids[0]].paid_fen) == ("paid", 25060)
    assert (found[ids[1]].status, found[ids[1]].paid_fen) == ("partial", 4940)
    await check_ledger(runtime, office.tenant)


async def test_same_request_twice_records_once(api: Api, runtime: Runtime) -> None:
    office, _, ids = await setup(api, runtime)
    t = office.tenant
    first = ok(
        await api(RECORD, pay_input(ids, 50120, "same"), tenant=t.slug, token=office.cashier.token)
    )
    again = ok(
        await api(RECORD, pay_input(ids, 50120, "same"), tenant=t.slug, token=office.cashier.token)
    )
    assert first == again
    async with runtime.db.tenant_session(t.schema) as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 1
    await check_ledger(runtime, t)


async def test_concurrent_same_request_records_once(api: Api, runtime: Runtime) -> None:
    office, _, ids = await setup(api, runtime)
    t = office.tenant
    info = await info_of(runtime, t)

    async def pay() -> int:
        async with runtime.db.tenant_session(t.schema) as s:
            p = await settlement.record_payment(
                s,
                runtime,
                info,
                cashier_actor(office),
                bill_ids=ids,
                method="cash",
                amount_fen=50120,
                client_request_id="twin",
            )
            await s.commit()
            return p.id

    a, b = await asyncio.gather(pay(), pay())
    assert a == b
    async with runtime.db.tenant_session(t.schema) as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 1
    await check_ledger(runtime, t)


async def test_reversal_once_reopens_bills_and_says_so(api: Api, runtime: Runtime) -> None:
    office, _, ids = await setup(api, runtime)
    t = office.tenant
    p = ok(
        await api(RECORD, pay_input(ids, 50120, "r1"), tenant=t.slug, token=office.cashier.token)
    )
    rev_input = {
        "i": {
            "paymentId": p["recordPayment"]["id"],
            "reason": "收错房号",
            "clientRequestId": "rev1",
        }
    }
    body = await api(REVERSE, rev_input, tenant=t.slug, token=office.resident.token)
    assert codes(body) == ["FORBIDDEN"]
    rev = ok(await api(REVERSE, rev_input, tenant=t.slug, token=office.cashier.token))[
        "reversePayment"
    ]
    assert rev["kind"] == "reversal" and rev["amountFen"] == -50120
    assert rev["reversalOfId"] == p["recordPayment"]["id"]
    # the same request again answers the same reversal; another one is refused
    again = ok(await api(REVERSE, rev_input, tenant=t.slug, token=office.cashier.token))
    assert again["reversePayment"] == rev
    rev_input["i"]["clientRequestId"] = "rev2"
    body = await api(REVERSE, rev_input, tenant=t.slug, token=office.cashier.token)
    assert codes(body) == ["CONFLICT"]
    rev_input["i"]["paymentId"] = rev["id"]
    body = await api(REVERSE, rev_input, tenant=t.slug, token=office.cashier.token)
    assert codes(body) == ["INVALID_TRANSITION"]
    found = await bills(runtime, t, ids)
    assert all(
        b.status == "unpaid" and b.paid_fen == 0 and b.paid_at is None for b in found.values()
    )
    await check_ledger(runtime, t)
    r = ok(await api(RECEIPT, {"p": rev["id"]}, tenant=t.slug, token=office.cashier.token))[
        "receipt"
    ]
    assert r["reversal"] and r["reversesReceiptNo"] == p["recordPayment"]["receiptNo"]
    assert r["totalCapital"] == "负伍佰零壹元贰角整"
    text = pdf_text(
        ok(await api(PDF, {"p": rev["id"]}, tenant=t.slug, token=office.cashier.token))[
            "receiptPdf"
        ]
    )
    assert "冲正" in text and "Reversal" in text and p["recordPayment"]["receiptNo"] in text
    # paid again after the correction
    ok(await api(RECORD, pay_input(ids, 50120, "r3"), tenant=t.slug, token=office.cashier.token))
    await check_ledger(runtime, t)


async def test_settle_online(api: Api, runtime: Runtime) -> None:
    office, item, ids = await setup(api, runtime)
    t = office.tenant
    info = await info_of(runtime, t)
    neighbours = await posted_bill(
        runtime, t, unit_id=office.place.ids["A/1/102"], fee_item_id=item, amount_fen=100
    )

    async def settle(bill_ids: list[int], amount: int, ref: str) -> Payment:
        async with runtime.db.tenant_session(t.schema) as s:
            p = await settlement.settle_online(
                s,
                runtime,
                info,
                payer_user_id=office.resident.user_id,
                bill_ids=bill_ids,
                amount_fen=amount,
                provider="wechat",
                provider_ref=ref,
            )
            await s.commit()
            return p

    with pytest.raises(AppError) as e:
        await settle([neighbours], 100, "wx-n")
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(AppError) as e:
        await settle(ids, 50000, "wx-short")
    assert e.value.code == "VALIDATION_FAILED"
    a, b = await asyncio.gather(settle(ids, 50120, "wx-1"), settle(ids, 50120, "wx-1"))
    assert a.id == b.id and a.method == "online" and a.provider_ref == "wx-1"
    again = await settle(ids, 50120, "wx-1")
    assert again.id == a.id
    async with runtime.db.tenant_session(t.schema) as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 1
        lines = await ledger.lines_of(
            s,
            await s.scalar(
                select(ledger.LedgerEntry.id).where(
                    ledger.LedgerEntry.ref_type == "payment", ledger.LedgerEntry.ref_id == a.id
                )
            ),
        )
        assert {(x.account, x.debit) for x in lines if x.debit} == {("online_clearing", 50120)}
    await check_ledger(runtime, t)


async def test_cross_tenant(api: Api, runtime: Runtime) -> None:
    office, _, ids = await setup(api, runtime)
    other, _, _ = await setup(api, runtime)
    # tenant B's cashier cannot touch A's bill ids (they are B's ids, or none)
    body = await api(
        RECORD,
        pay_input(ids, 50120, "x"),
        tenant=other.tenant.slug,
        token=other.cashier.token,
    )
    del body  # the same numbers are B's own bills there (schemas have their own sequences)
    found = await bills(runtime, office.tenant, ids)
    assert all(b.status == "unpaid" for b in found.values())
    # A's token on B
    body = await api(
        RECORD, pay_input(ids, 50120, "y"), tenant=other.tenant.slug, token=office.cashier.token
    )
    assert codes(body) in (["UNAUTHENTICATED"], ["TOKEN_EXPIRED"])
