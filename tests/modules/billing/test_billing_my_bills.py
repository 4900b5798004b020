"""Residents' bill views: own units only, states and totals, constant statement count;
waivers with permissions and audit rows."""

from __future__ import annotations

from datetime import timedelta

from billing_kit import add_fee_item, bid, check_ledger, info_of, make_office, posted_bill
from conftest import Api, count_statements
from kit import codes, ok
from sqlalchemy import select

from wuye.identity.models import AuditLog
from wuye.runtime import Runtime

MY = """query { myBills(first: 100) { totalCount edges { node { id state feeItem place
  outstandingFen } } } myBillSummary { dueFen overdueFen notYetDueFen paidFen units { place } } }"""
WAIVE = """mutation($i: WaiveBillInput!) { waiveBill(input: $i) { id kind amountFen } }"""


async def test_resident_sees_own_bills_with_states(api: Api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    today = (await info_of(runtime, t)).today()
    item = await add_fee_item(runtime, t)
    unit = office.place.ids["A/1/101"]
    for fen, due in (
        (100, today - timedelta(days=1)),
        (200, today),
        (300, today + timedelta(days=40)),
    ):
        await posted_bill(
            runtime,
            t,
            unit_id=unit,
            fee_item_id=item,
            amount_fen=fen,
            due_on=due,
            period=f"20{fen // 100 + 10}-01",
        )
    await posted_bill(
        runtime, t, unit_id=office.place.ids["A/1/102"], fee_item_id=item, amount_fen=9
    )
    data = ok(await api(MY, tenant=t.slug, token=office.resident.token))
    assert data["myBills"]["totalCount"] == 3
    states = {e["node"]["outstandingFen"]: e["node"]["state"] for e in data["myBills"]["edges"]}
    assert states[100] == "overdue" and states[200] == "due"
    assert states[300] in ("not_yet_due", "due")
    s = data["myBillSummary"]
    assert s["overdueFen"] == 100 and s["dueFen"] + s["notYetDueFen"] == 500
    assert s["units"] == [{"place": "A 1 101"}]


async def test_statements_do_not_grow_with_bills(api: Api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t)
    unit = office.place.ids["A/1/101"]
    counts = []
    for n in (5, 50):
        while True:
            data = ok(await api(MY, tenant=t.slug, token=office.resident.token))
            have = data["myBills"]["totalCount"]
            if have >= n:
                break
            await posted_bill(
                runtime, t, unit_id=unit, fee_item_id=item, amount_fen=1, period=f"{2000 + have}-01"
            )
        with count_statements(runtime) as seen:
            ok(await api(MY, tenant=t.slug, token=office.resident.token))
        counts.append(len(seen))
    assert counts[0] == counts[1]


async def test_waive_needs_permission_and_is_audited(api: Api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t)
    bill = await posted_bill(
        runtime, t, unit_id=office.place.ids["A/1/101"], fee_item_id=item, amount_fen=1000
    )
    waive = {"i": {"billId": bid(bill), "amountFen": 1000, "reason": "困难户减免"}}
    assert codes(await api(WAIVE, waive, tenant=t.slug, token=office.cashier.token)) == [
        "FORBIDDEN"
    ]
    waive["i"]["amountFen"] = 1001
    assert codes(await api(WAIVE, waive, tenant=t.slug, token=office.manager.token)) == [
        "VALIDATION_FAILED"
    ]
    waive["i"]["amountFen"] = 1000
    ok(await api(WAIVE, waive, tenant=t.slug, token=office.manager.token))
    data = ok(await api(MY, tenant=t.slug, token=office.resident.token))
    assert data["myBills"]["edges"][0]["node"]["state"] == "paid"
    async with runtime.db.tenant_session(t.schema) as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "waiveBill"))
    assert row is not None and row.actor_id == office.manager.user_id
    assert row.object_type == "BillAdjustment"
    await check_ledger(runtime, t)
