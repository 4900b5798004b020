"""Prepaid balance: top-ups, paying from it (resident or cashier), automatic settlement,
refunds (billing.refund) with audit rows."""

from __future__ import annotations

from datetime import date

from billing_kit import (
    add_fee_item,
    bid,
    bills,
    check_ledger,
    info_of,
    make_office,
    posted_bill,
    set_billing,
)
from conftest import Api
from kit import codes, ok
from sqlalchemy import select

from wuye.graphql.ids import encode_id
from wuye.identity.models import AuditLog
from wuye.modules.billing import ledger, settlement
from wuye.runtime import Runtime

TOP_UP = """mutation($i: TopUpInput!) { topUp(input: $i) { id kind amountFen receiptNo } }"""
PAY = """mutation($i: PayFromBalanceInput!) { payFromBalance(input: $i) { id method amountFen } }"""
REFUND = """mutation($i: RefundBalanceInput!) { refundBalance(input: $i) { id kind amountFen } }"""
ACCOUNT = """query($u: ID!) { unitAccount(unitId: $u) { summary { prepaidBalanceFen overdueFen }
  payments { edges { node { kind amountFen method } } } } }"""


async def test_top_up_pay_from_balance_and_refund(api: Api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    unit = office.place.ids["A/1/101"]
    item = await add_fee_item(runtime, t)
    bill = await posted_bill(runtime, t, unit_id=unit, fee_item_id=item, amount_fen=25060)
    neighbours = await posted_bill(
        runtime, t, unit_id=office.place.ids["A/1/102"], fee_item_id=item, amount_fen=100
    )
    top = {
        "i": {
            "unitId": encode_id("Unit", unit),
            "amountFen": 30000,
            "method": "cash",
            "clientRequestId": "t1",
        }
    }
    p = ok(await api(TOP_UP, top, tenant=t.slug, token=office.cashier.token))["topUp"]
    assert p["kind"] == "topup"
    assert ok(await api(TOP_UP, top, tenant=t.slug, token=office.cashier.token))["topUp"] == p
    # the resident pays their own bill from it; not the neighbour's
    body = await api(
        PAY, {"i": {"billIds": [bid(neighbours)]}}, tenant=t.slug, token=office.resident.token
    )
    assert codes(body) == ["NOT_FOUND"]
    paid = ok(
        await api(PAY, {"i": {"billIds": [bid(bill)]}}, tenant=t.slug, token=office.resident.token)
    )["payFromBalance"]
    assert paid["method"] == "balance" and paid["amountFen"] == 25060
    account = ok(
        await api(
            ACCOUNT, {"u": encode_id("Unit", unit)}, tenant=t.slug, token=office.cashier.token
        )
    )["unitAccount"]
    assert account["summary"]["prepaidBalanceFen"] == 4940
    assert len(account["payments"]["edges"]) == 2
    # refunds: the cashier lacks billing.refund; the manager not more than the balance
    refund = {
        "i": {
            "unitId": encode_id("Unit", unit),
            "amountFen": 5000,
            "method": "cash",
            "reason": "搬走",
            "clientRequestId": "rf1",
        }
    }
    assert codes(await api(REFUND, refund, tenant=t.slug, token=office.cashier.token)) == [
        "FORBIDDEN"
    ]
    assert codes(await api(REFUND, refund, tenant=t.slug, token=office.manager.token)) == [
        "VALIDATION_FAILED"
    ]
    refund["i"]["amountFen"] = 4940
    done = ok(await api(REFUND, refund, tenant=t.slug, token=office.manager.token))
    assert done["refundBalance"]["kind"] == "refund"
    async with runtime.db.tenant_session(t.schema) as s:
        assert (await ledger.prepaid_balances(s, [unit]))[unit] == 0
        actions = set(
            await s.scalars(
                select(AuditLog.action).where(
                    AuditLog.actor_id.in_(
                        [office.manager.user_id, office.cashier.user_id, office.resident.user_id]
                    )
                )
            )
        )
    assert {"topUp", "payFromBalance", "refundBalance"} <= actions
    await check_ledger(runtime, t)


async def test_auto_settle_oldest_first_and_idempotent(api: Api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    unit, poor = office.place.ids["A/1/101"], office.place.ids["A/1/103"]
    item = await add_fee_item(runtime, t)
    old = await posted_bill(
        runtime,
        t,
        unit_id=unit,
        fee_item_id=item,
        amount_fen=10000,
        period="2026-09",
        due_on=date(2026, 10, 15),
    )
    new = await posted_bill(runtime, t, unit_id=unit, fee_item_id=item, amount_fen=10000)
    other = await posted_bill(runtime, t, unit_id=poor, fee_item_id=item, amount_fen=10000)
    for u, fen, key in ((unit, 15000, "a"), (poor, 100, "b")):
        ok(
            await api(
                TOP_UP,
                {
                    "i": {
                        "unitId": encode_id("Unit", u),
                        "amountFen": fen,
                        "method": "cash",
                        "clientRequestId": key,
                    }
                },
                tenant=t.slug,
                token=office.cashier.token,
            )
        )
    info = await info_of(runtime, t)
    async with runtime.db.tenant_session(t.schema) as s:
        assert await settlement.auto_settle(s, runtime, info, [old, new, other]) == 0  # off
    await set_billing(runtime, t, {"auto_settle_from_balance": True})
    info = await info_of(runtime, t)
    for expected in (1, 0):
        async with runtime.db.tenant_session(t.schema) as s:
            assert await settlement.auto_settle(s, runtime, info, [old, new, other]) == expected
            await s.commit()
    found = await bills(runtime, t, [old, new, other])
    assert [found[i].status for i in (old, new, other)] == ["paid", "unpaid", "unpaid"]
    async with runtime.db.tenant_session(t.schema) as s:
        assert await ledger.prepaid_balances(s, [unit, poor]) == {unit: 5000, poor: 100}
    await check_ledger(runtime, t)
    # with partial payments on, the rest of the balance goes to the next bill
    await set_billing(runtime, t, {"auto_settle_from_balance": True, "allow_partial": True})
    info = await info_of(runtime, t)
    async with runtime.db.tenant_session(t.schema) as s:
        assert await settlement.auto_settle(s, runtime, info, [old, new, other]) == 2
        await s.commit()
    found = await bills(runtime, t, [new, other])
    assert (found[new].status, found[new].paid_fen) == ("partial", 5000)
    assert (found[other].status, found[other].paid_fen) == ("partial", 100)
    await check_ledger(runtime, t)
