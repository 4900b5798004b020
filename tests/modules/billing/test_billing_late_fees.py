"""Late fees: off unless the fee item turns them on; principal × daily rate × days after
the grace days, capped, half-up; they only grow, a second run the same day adds nothing,
and every increase is booked (receivable / late_fees)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing_kit import add_fee_item, check_ledger, make_office, posted_bill
from kit import codes, ok
from sqlalchemy import select, update

from wuye.modules.billing import late_fees
from wuye.modules.billing.jobs import accrue_late_fees
from wuye.modules.billing.models import Bill
from wuye.runtime import Runtime

DUE = date(2026, 10, 15)


async def _accrue(runtime: Runtime, schema: str, today: date) -> int:
    async with runtime.db.tenant_session(schema) as s:
        added = await late_fees.accrue(s, today=today)
        await s.commit()
        return added


async def _late_fee(runtime: Runtime, schema: str, bill_id: int) -> int:
    async with runtime.db.tenant_session(schema) as s:
        bill = await s.get(Bill, bill_id)
        assert bill is not None
        return bill.late_fee_fen


async def test_late_fees_accrue_after_grace_capped_and_never_twice(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    strict = await add_fee_item(
        runtime,
        t,
        late_fee_enabled=True,
        late_fee_daily_bp=5,  # 0.05 % a day
        late_fee_grace_days=5,
        late_fee_cap_bp=1000,  # at most 10 % of the bill
    )
    lenient = await add_fee_item(runtime, t)  # late fees off (the default)
    unit = office.place.ids["A/1/101"]
    bill = await posted_bill(
        runtime, t, unit_id=unit, fee_item_id=strict, amount_fen=100_000, due_on=DUE
    )
    other = await posted_bill(
        runtime, t, unit_id=unit, fee_item_id=lenient, amount_fen=100_000, due_on=DUE
    )

    assert await _accrue(runtime, t.schema, date(2026, 10, 20)) == 0  # within the grace days
    # 10 days after grace: 100,000 × 0.0005 × 10 = 500 fen
    assert await _accrue(runtime, t.schema, date(2026, 10, 30)) == 500
    assert await _accrue(runtime, t.schema, date(2026, 10, 30)) == 0  # same day again
    assert await _late_fee(runtime, t.schema, bill) == 500
    assert await _late_fee(runtime, t.schema, other) == 0

    # half-up: 33,333 × 0.0005 × 1 = 16.6665 -> 17 (a bill of its own)
    odd = await posted_bill(
        runtime,
        t,
        unit_id=unit,
        fee_item_id=strict,
        amount_fen=33_333,
        due_on=date(2026, 10, 24),
        period="2026-09",
    )
    await _accrue(runtime, t.schema, date(2026, 10, 30))
    assert await _late_fee(runtime, t.schema, odd) == 17

    # a payment of part of the principal never shrinks what has accrued
    async with runtime.db.tenant_session(t.schema) as s:
        await s.execute(
            update(Bill).where(Bill.id == bill).values(paid_fen=90_000, status="partial")
        )
        await s.commit()
    await _accrue(runtime, t.schema, date(2026, 11, 1))
    assert await _late_fee(runtime, t.schema, bill) == 500  # 10,000 × … × 12 = 60 < 500
    async with runtime.db.tenant_session(t.schema) as s:  # (undo: the ledger check below)
        await s.execute(update(Bill).where(Bill.id == bill).values(paid_fen=0, status="unpaid"))
        await s.commit()

    # the cap: 10 % of 100,000
    await _accrue(runtime, t.schema, date(2027, 6, 1))
    assert await _late_fee(runtime, t.schema, bill) == 10_000
    await check_ledger(runtime, t)


async def test_the_daily_job_uses_the_tenants_date_and_leaves_others_alone(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    other = await make_office(api, runtime)
    for o in (office, other):
        item = await add_fee_item(runtime, o.tenant, late_fee_enabled=True, late_fee_daily_bp=10)
        await posted_bill(
            runtime,
            o.tenant,
            unit_id=o.place.ids["A/1/101"],
            fee_item_id=item,
            amount_fen=10_000,
            due_on=DUE,
        )
    # 2026-10-25 16:30 UTC is 10-26 00:30 in Shanghai: 11 days late -> 10,000 × 0.001 × 11
    now = datetime(2026, 10, 25, 16, 30, tzinfo=UTC)
    assert await accrue_late_fees({"runtime": runtime}, office.tenant.slug, now=now) == 110
    assert await accrue_late_fees({"runtime": runtime}, office.tenant.slug, now=now) == 0
    async with runtime.db.tenant_session(other.tenant.schema) as s:
        assert {b.late_fee_fen for b in await s.scalars(select(Bill))} == {0}
    await check_ledger(runtime, office.tenant)


CHECK = """{ ledgerCheck { balanced unbalancedEntryIds totalDebit totalCredit
  accounts { account debit credit } } }"""


async def test_staff_see_the_ledger_check_and_trial_balance(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t, late_fee_enabled=True, late_fee_daily_bp=10)
    await posted_bill(
        runtime,
        t,
        unit_id=office.place.ids["A/1/101"],
        fee_item_id=item,
        amount_fen=10_000,
        due_on=DUE,
    )
    await _accrue(runtime, t.schema, date(2026, 10, 25))  # 10 days: 100 fen
    body = ok(await api(CHECK, tenant=t.slug, token=office.manager.token))["ledgerCheck"]
    assert body["balanced"] is True and body["unbalancedEntryIds"] == []
    assert body["totalDebit"] == body["totalCredit"] == "101.00"
    accounts = {a["account"]: (a["debit"], a["credit"]) for a in body["accounts"]}
    assert accounts["receivable"] == ("101.00", "0.00")
    assert accounts["late_fees"] == ("0.00", "1.00")
    assert codes(await api(CHECK, tenant=t.slug, token=office.resident.token)) == ["FORBIDDEN"]
