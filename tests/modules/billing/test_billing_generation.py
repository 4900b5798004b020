"""Bill generation: amounts and calc per method, rates, proration, vacancy, cycles,
idempotency, the run job, the ledger, access, tenancy and the statement count."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing_kit import (
    Office,
    add_fee_item,
    billing_tenant,
    cashier_actor,
    check_ledger,
    info_of,
    make_office,
    set_billing,
)
from conftest import Api, TenantFixture, count_statements
from kit import add_staff, codes, drain, make_place, ok
from sqlalchemy import func, select, text, update

from wuye.db import take_after_commit
from wuye.graphql.ids import encode_id
from wuye.identity.scope import DataScope
from wuye.modules.billing import generation, ledger, settlement
from wuye.modules.billing.config import config_of
from wuye.modules.billing.jobs import generate_scheduled_bills, run_bills
from wuye.modules.billing.models import Bill, BillRun, FeeRate, LedgerLine, MeterReading
from wuye.modules.billing.settlement import Actor
from wuye.modules.estate.models import Occupancy, Unit
from wuye.outbox import OutboxIntent
from wuye.outbox import relay as relay_intent
from wuye.runtime import Runtime

ADMIN = Actor(user_id=0, is_staff=True, permissions=frozenset({"*"}), scope=DataScope(True))


async def generate(
    runtime: Runtime, tenant: TenantFixture, period: str, *, twice: bool = False, **kw: Any
) -> int:
    """Start a run as the admin and let a worker run it through its outbox intent, as in
    production (``twice``: the job once more, as arq may); the run id."""
    info = await runtime.directory.by_slug(tenant.slug)
    assert info is not None
    async with runtime.db.tenant_session(tenant.schema) as s:
        actor = dataclasses.replace(ADMIN, user_id=tenant.admin_id)
        run = await generation.start_run(s, runtime, info, period=period, actor=actor, **kw)
        await s.commit()
        for relay in take_after_commit(s):
            await relay()
    await drain(runtime)
    if twice:
        await run_bills({"runtime": runtime}, tenant.slug, run_id=run.id)
    return run.id


async def bills(runtime: Runtime, tenant: TenantFixture, **where: Any) -> list[Bill]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        stmt = select(Bill).order_by(Bill.unit_id, Bill.fee_item_id, Bill.period)
        for key, value in where.items():
            stmt = stmt.where(getattr(Bill, key) == value)
        return list(await s.scalars(stmt))


async def live_since(
    runtime: Runtime, tenant: TenantFixture, when: date, status: str = "occupied"
) -> None:
    """Every current occupancy moved in on ``when``; every unit with one has ``status``."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(update(Occupancy).values(move_in_on=when))
        await s.execute(
            update(Unit).where(Unit.id.in_(select(Occupancy.unit_id))).values(status=status)
        )
        await s.commit()


async def office_living(api: Api, runtime: Runtime) -> Office:
    office = await make_office(api, runtime)
    await live_since(runtime, office.tenant, date(2020, 1, 1))
    return office


def unit(office: Office, key: str) -> int:
    return office.place.ids[key]


# --- amounts and calc ----------------------------------------------------------------------


async def test_area_fixed_and_one_off_amounts_and_calc(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    area = await add_fee_item(runtime, t, unit_price="280")
    fixed = await add_fee_item(
        runtime, t, name_zh="垃圾费", kind="garbage", method="fixed", unit_price="1000"
    )
    once = await add_fee_item(
        runtime,
        t,
        name_zh="装修押金",
        kind="custom",
        method="one_off",
        cycle="one_off",
        unit_price="20000",
    )
    await generate(runtime, t, "2026-10")
    b101 = {b.fee_item_id: b for b in await bills(runtime, t, unit_id=unit(office, "A/1/101"))}
    assert b101[area].amount_fen == 25060
    assert b101[area].calc == "89.50 m² × 2.80 元/m²/月 × 1 月 = 250.60 元"
    assert b101[fixed].amount_fen == 1000
    assert b101[fixed].calc == "10.00 元/月 × 1 月 = 10.00 元"
    assert b101[once].amount_fen == 20000
    assert b101[once].calc == "200.00 元 × 1 次 = 200.00 元"
    bill = b101[area]
    assert (bill.period, bill.period_start, bill.period_end, bill.due_on) == (
        "2026-10",
        date(2026, 10, 1),
        date(2026, 10, 31),
        date(2026, 11, 15),
    )
    assert bill.target_key == f"u:{bill.unit_id}" and bill.status == "unpaid"
    assert len(await bills(runtime, t)) == 4 * 3  # 4 units × 3 items
    # a one-off item bills once ever: the next month bills only the monthly ones
    await generate(runtime, t, "2026-11")
    assert len(await bills(runtime, t, fee_item_id=once)) == 4
    assert len(await bills(runtime, t, period="2026-11")) == 4 * 2


async def test_rounding_is_half_up_per_bill(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    half = await add_fee_item(runtime, t, unit_price="1")  # 89.50 × 1 fen = 89.5 -> 90
    under = await add_fee_item(runtime, t, unit_price="0.99")  # 88.605 -> 89
    below = await add_fee_item(runtime, t, unit_price="0.9944")  # 88.9988 -> 89
    low = await add_fee_item(runtime, t, unit_price="0.9441")  # 84.49695 -> 84
    await generate(runtime, t, "2026-10")
    got = {b.fee_item_id: b for b in await bills(runtime, t, unit_id=unit(office, "A/1/101"))}
    assert got[half].amount_fen == 90
    assert got[half].calc == "89.50 m² × 0.01 元/m²/月 × 1 月 = 0.90 元"
    assert got[under].amount_fen == 89
    assert got[under].calc == "89.50 m² × 0.0099 元/m²/月 × 1 月 = 0.89 元"
    assert got[below].amount_fen == 89
    assert got[low].amount_fen == 84


async def test_metered_flat_and_tiered(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    tiers = [{"up_to": 180, "unit_price": "496"}, {"up_to": None, "unit_price": "745"}]
    water = await add_fee_item(
        runtime,
        t,
        name_zh="水费",
        kind="water",
        method="metered",
        meter_type="water",
        unit_price="496",
        tiers=tiers,
    )
    power = await add_fee_item(
        runtime,
        t,
        name_zh="电费",
        kind="electricity",
        method="metered",
        meter_type="electricity",
        unit_price="60",
    )
    u101, u102, u103 = (unit(office, f"A/1/{r}") for r in ("101", "102", "103"))
    community = office.place.ids["A"]
    async with runtime.db.tenant_session(t.schema) as s:

        def reading(u: int, kind: str, on: date, usage: str, status: str = "accepted") -> None:
            s.add(
                MeterReading(
                    community_id=community,
                    unit_id=u,
                    meter_type=kind,
                    read_on=on,
                    reading=Decimal(usage),
                    usage=Decimal(usage),
                    status=status,
                )
            )

        reading(u101, "water", date(2026, 10, 10), "150")
        reading(u101, "water", date(2026, 10, 31), "50")  # 200 in all: 180 + 20
        reading(u102, "water", date(2026, 10, 31), "12.5")  # first tier only
        reading(u103, "water", date(2026, 10, 20), "99", status="held")  # not billed
        reading(u101, "electricity", date(2026, 10, 31), "12.5")
        reading(u102, "water", date(2026, 11, 30), "7")  # next period
        await s.commit()
    await generate(runtime, t, "2026-10")
    got = {(b.unit_id, b.fee_item_id): b for b in await bills(runtime, t)}
    assert set(got) == {(u101, water), (u102, water), (u101, power)}
    assert got[u101, water].amount_fen == 180 * 496 + 20 * 745 == 104180
    assert got[u101, water].calc == "180 吨 × 4.96 元/吨 + 20 吨 × 7.45 元/吨 = 1041.80 元"
    assert got[u102, water].amount_fen == 6200
    assert got[u102, water].calc == "12.5 吨 × 4.96 元/吨 = 62.00 元"
    assert got[u101, power].amount_fen == 750
    assert got[u101, power].calc == "12.5 度 × 0.60 元/度 = 7.50 元"
    async with runtime.db.tenant_session(t.schema) as s:
        marked = dict((await s.execute(select(MeterReading.id, MeterReading.billed_bill_id))).all())
        billed = [b for b in marked.values() if b is not None]
    assert sorted(set(billed)) == sorted(
        {got[u101, water].id, got[u102, water].id, got[u101, power].id}
    )
    assert len(billed) == 4  # the held and the November readings are not billed
    await generate(runtime, t, "2026-10")  # again: nothing new, readings billed once
    assert len(await bills(runtime, t)) == 3
    await generate(runtime, t, "2026-11")
    nov = await bills(runtime, t, period="2026-11")
    assert [(b.unit_id, b.amount_fen) for b in nov] == [(u102, 7 * 496)]


# --- rates ---------------------------------------------------------------------------------


async def test_rate_history_keeps_issued_bills(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t, unit_price="280")
    await generate(runtime, t, "2026-09")
    async with runtime.db.tenant_session(t.schema) as s:
        s.add(FeeRate(fee_item_id=item, effective_from=date(2026, 10, 1), unit_price=300))
        await s.commit()
    await generate(runtime, t, "2026-09")
    await generate(runtime, t, "2026-10")
    u = unit(office, "A/1/101")
    by_period = {b.period: b.amount_fen for b in await bills(runtime, t, unit_id=u)}
    assert by_period == {"2026-09": 25060, "2026-10": 26850}


async def test_the_most_specific_rate_applies(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t, unit_price="280")  # tenant-wide
    ids = office.place.ids
    async with runtime.db.tenant_session(t.schema) as s:
        await s.execute(update(Unit).where(Unit.id == ids["A/1/103"]).values(property_type="shop"))
        old = date(2021, 1, 1)
        for community, building, ptype, price in (
            (ids["A"], None, None, 300),
            (ids["A"], ids["A/1"], None, 320),
            (ids["A"], ids["A/1"], "shop", 500),
            (ids["B"], None, "residential", 310),
            (ids["B"], None, "shop", 900),
            (None, None, "residential", 290),
        ):
            s.add(
                FeeRate(
                    fee_item_id=item,
                    community_id=community,
                    building_id=building,
                    property_type=ptype,
                    effective_from=old,
                    unit_price=price,
                )
            )
        # a later community rate does not beat the building's
        s.add(
            FeeRate(
                fee_item_id=item,
                community_id=ids["A"],
                effective_from=date(2026, 1, 1),
                unit_price=330,
            )
        )
        await s.commit()
    await generate(runtime, t, "2026-10")
    price = {b.unit_id: b.amount_fen for b in await bills(runtime, t)}
    area = Decimal("89.50")
    assert price[ids["A/1/101"]] == round(area * 320)
    assert price[ids["A/1/103"]] == round(area * 500)
    assert price[ids["B/9/901"]] == round(area * 310)


# --- proration, vacancy, cycles ------------------------------------------------------------


async def test_move_in_mid_period_is_prorated_by_day(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    await add_fee_item(runtime, t, unit_price="280")
    u101 = unit(office, "A/1/101")
    async with runtime.db.tenant_session(t.schema) as s:
        await s.execute(
            update(Occupancy).where(Occupancy.unit_id == u101).values(move_in_on=date(2026, 10, 15))
        )
        await s.commit()
    await generate(runtime, t, "2026-10")
    [bill] = await bills(runtime, t, unit_id=u101)
    assert bill.amount_fen == 13743  # 25060 × 17/31 = 13742.58
    assert bill.calc == "89.50 m² × 2.80 元/m²/月 × 1 月 × 17/31 天 = 137.43 元"
    [full] = await bills(runtime, t, unit_id=unit(office, "A/1/102"))
    assert full.amount_fen == 25060


async def test_vacancy_discount(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    discounted = await add_fee_item(runtime, t, unit_price="280", vacancy_discount_pct=50)
    full = await add_fee_item(runtime, t, unit_price="280")
    await generate(runtime, t, "2026-10")
    got = {(b.unit_id, b.fee_item_id): b for b in await bills(runtime, t)}
    u103, u101 = unit(office, "A/1/103"), unit(office, "A/1/101")
    assert got[u103, discounted].amount_fen == 12530
    assert got[u103, discounted].calc == (
        "89.50 m² × 2.80 元/m²/月 × 1 月 × (1 − 50% 空置) = 125.30 元"
    )
    assert got[u103, full].amount_fen == 25060  # no discount set: the full fee
    assert got[u101, discounted].amount_fen == 25060  # lived in


async def test_quarterly_and_yearly_items_bill_at_cycle_end(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    quarterly = await add_fee_item(runtime, t, unit_price="280", cycle="quarterly", due_day=20)
    yearly = await add_fee_item(runtime, t, unit_price="100", cycle="yearly", method="fixed")
    await generate(runtime, t, "2026-10")
    await generate(runtime, t, "2026-11")
    assert await bills(runtime, t) == []
    await generate(runtime, t, "2026-12")
    got = {b.fee_item_id: b for b in await bills(runtime, t, unit_id=unit(office, "A/1/101"))}
    q = got[quarterly]
    assert (q.period, q.period_start, q.period_end, q.due_on) == (
        "2026-12",
        date(2026, 10, 1),
        date(2026, 12, 31),
        date(2027, 1, 20),
    )
    assert q.amount_fen == 75180
    assert q.calc == "89.50 m² × 2.80 元/m²/月 × 3 月 = 751.80 元"
    assert got[yearly].amount_fen == 1200
    assert got[yearly].period_start == date(2026, 1, 1)
    assert generation.cycle_of("quarterly", "2026-09") is not None
    assert generation.cycle_of("quarterly", "2026-08") is None


async def test_parking_space_bills(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    item = await add_fee_item(
        runtime,
        t,
        name_zh="车位费",
        kind="parking",
        method="fixed",
        target="parking_space",
        unit_price="15000",
    )
    community, u101 = office.place.ids["A"], unit(office, "A/1/101")
    async with runtime.db.tenant_session(t.schema) as s:
        lot = (
            await s.execute(
                text(
                    "INSERT INTO parking_lots (community_id, name) VALUES (:c, 'P1') RETURNING id"
                ),
                {"c": community},
            )
        ).scalar_one()
        spaces = []
        for number, rent in (("1", 30000), ("2", None), ("3", None)):
            spaces.append(
                (
                    await s.execute(
                        text(
                            "INSERT INTO parking_spaces (community_id, lot_id, number, "
                            "monthly_rent_fen) VALUES (:c, :l, :n, :r) RETURNING id"
                        ),
                        {"c": community, "l": lot, "n": number, "r": rent},
                    )
                ).scalar_one()
            )
        for space in spaces[:2]:  # space 3 is not assigned: nobody to bill
            await s.execute(
                text(
                    "INSERT INTO parking_assignments (community_id, space_id, unit_id, starts_on) "
                    "VALUES (:c, :s, :u, '2025-01-01')"
                ),
                {"c": community, "s": space, "u": u101},
            )
        await s.commit()
    await generate(runtime, t, "2026-10")
    got = {b.space_id: b for b in await bills(runtime, t, fee_item_id=item)}
    assert set(got) == set(spaces[:2])
    assert got[spaces[0]].amount_fen == 30000  # the space's own rent
    assert got[spaces[0]].target_key == f"s:{spaces[0]}" and got[spaces[0]].unit_id == u101
    assert got[spaces[1]].amount_fen == 15000  # the fee rate
    assert got[spaces[1]].calc == "150.00 元/月 × 1 月 = 150.00 元"


# --- idempotency, the run, the ledger ------------------------------------------------------


async def test_runs_and_jobs_create_nothing_twice(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    await add_fee_item(runtime, t, unit_price="280")
    await add_fee_item(runtime, t, method="fixed", unit_price="500")
    first = await generate(runtime, t, "2026-10", twice=True)  # arq ran the job twice
    second = await generate(runtime, t, "2026-10")  # a second run of the same period
    assert len(await bills(runtime, t)) == 8
    async with runtime.db.tenant_session(t.schema) as s:
        runs = {r.id: r for r in await s.scalars(select(BillRun))}
        entries = await s.scalar(text("SELECT count(*) FROM ledger_entries"))
    assert (runs[first].status, runs[first].progress, runs[first].created_count) == ("done", 100, 8)
    assert runs[first].total_fen == 4 * (25060 + 500)
    assert runs[first].finished_at is not None
    assert (runs[second].status, runs[second].created_count, runs[second].total_fen) == (
        "done",
        0,
        0,
    )
    assert entries == 2  # one per (run, fee item) that created bills


async def test_ledger_is_balanced_after_a_run(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    item = await add_fee_item(runtime, t, code="property", unit_price="280")
    run_id = await generate(runtime, t, "2026-10")
    async with runtime.db.tenant_session(t.schema) as s:
        assert await ledger.unbalanced_entries(s) == []
        balance = await ledger.trial_balance(s)
        lines = list(await s.scalars(select(LedgerLine).order_by(LedgerLine.id)))
        entry = (await s.execute(text("SELECT kind, ref_type, ref_id FROM ledger_entries"))).one()
    assert tuple(entry) == ("bill_run", "bill_run", run_id)
    assert balance["receivable"] == (4 * 25060, 0)
    assert balance["income:property"] == (0, 4 * 25060)
    credits = [ln for ln in lines if ln.credit_fen]
    assert sorted((ln.community_id, ln.credit_fen) for ln in credits) == sorted(
        [(office.place.ids["A"], 3 * 25060), (office.place.ids["B"], 25060)]
    )
    debits = [ln for ln in lines if ln.debit_fen]
    assert all(ln.bill_id and ln.unit_id and ln.fee_item_id == item for ln in debits)


async def test_scheduled_generation_on_the_configured_day(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    await add_fee_item(runtime, t, unit_price="280")
    info = await runtime.directory.by_slug(t.slug)
    assert info is not None
    # off without the config: the job does nothing
    assert (
        await generate_scheduled_bills(
            {"runtime": runtime}, t.slug, now=datetime(2026, 11, 5, 3, tzinfo=UTC)
        )
        == 0
    )
    config = dataclasses.replace(
        info, modules={**info.modules, "billing": {"auto_generate_day": 5}}
    )
    for when in (
        datetime(2026, 11, 4, 3, tzinfo=UTC),
        datetime(2026, 11, 5, 3, tzinfo=UTC),
        datetime(2026, 11, 5, 9, tzinfo=UTC),
    ):
        async with runtime.db.tenant_session(t.schema) as s:
            await generation.generate_scheduled(s, config, now=when)
            await s.commit()
    async with runtime.db.tenant_session(t.schema) as s:
        runs = list(await s.scalars(select(BillRun)))
    assert [(r.period, r.scheduled, r.status, r.created_count) for r in runs] == [
        ("2026-10", True, "done", 4)
    ]
    assert config_of(dataclasses.replace(info, modules={})).auto_generate_day is None


# --- API, access, tenancy ------------------------------------------------------------------

GENERATE = """mutation($i: GenerateBillsInput!) { generateBills(input: $i) {
  id status period progress createdCount totalFen } }"""
RUN = """query($id: ID!) { billRun(id: $id) { status progress createdCount totalFen scheduled } }"""
BILLS = """query($c: ID, $p: String) { bills(communityId: $c, period: $p, first: 50) {
  totalCount edges { node { amountFen calc dueOn status outstandingFen } } } }"""


async def test_api_generates_through_the_outbox(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    await add_fee_item(runtime, t, unit_price="280")
    cashier = office.cashier.token
    body = await api(GENERATE, {"i": {"period": "2026-10"}}, tenant=t.slug, token=cashier)
    assert codes(body) == ["FORBIDDEN"]
    body = await api(
        GENERATE,
        {"i": {"period": "2026-10", "communityId": office.place.gid("A")}},
        tenant=t.slug,
        token=office.manager.token,
    )
    run = ok(body)["generateBills"]
    assert run["status"] == "QUEUED"
    await drain(runtime)
    got = ok(await api(RUN, {"id": run["id"]}, tenant=t.slug, token=office.manager.token))
    assert got["billRun"] == {
        "status": "DONE",
        "progress": 100,
        "createdCount": 3,
        "totalFen": 3 * 25060,
        "scheduled": False,
    }
    listed = ok(
        await api(BILLS, {"c": office.place.gid("A"), "p": "2026-10"}, tenant=t.slug, token=cashier)
    )["bills"]
    assert listed["totalCount"] == 3
    assert listed["edges"][0]["node"] == {
        "amountFen": 25060,
        "calc": "89.50 m² × 2.80 元/m²/月 × 1 月 = 250.60 元",
        "dueOn": "2026-11-15",
        "status": "unpaid",
        "outstandingFen": 25060,
    }
    assert len(await bills(runtime, t, community_id=office.place.ids["B"])) == 0
    body = await api(
        GENERATE, {"i": {"period": "2026-13"}}, tenant=t.slug, token=office.manager.token
    )
    assert codes(body) == ["VALIDATION_FAILED"]


async def test_staff_generate_only_in_their_data_scope(api: Api, runtime: Runtime) -> None:
    office = await office_living(api, runtime)
    t = office.tenant
    await add_fee_item(runtime, t, unit_price="280")
    ids = office.place.ids
    limited = await add_staff(
        api, runtime, t, roles=("manager",), communities=(ids["B"],), all_communities=False
    )
    for variables in (
        {"period": "2026-10", "communityId": office.place.gid("A")},
        {"period": "2026-10", "buildingId": office.place.gid("A/1")},
    ):
        body = await api(GENERATE, {"i": variables}, tenant=t.slug, token=limited.token)
        assert codes(body) == ["NOT_FOUND"]
    body = await api(GENERATE, {"i": {"period": "2026-10"}}, tenant=t.slug, token=limited.token)
    assert codes(body) == ["FORBIDDEN"]  # the whole tenant is more than their scope
    body = await api(
        GENERATE,
        {"i": {"period": "2026-10", "communityId": office.place.gid("B")}},
        tenant=t.slug,
        token=limited.token,
    )
    run = ok(body)["generateBills"]
    await drain(runtime)
    assert [b.community_id for b in await bills(runtime, t)] == [ids["B"]]
    # another's whole-tenant run is not theirs to see; their own is
    other = await generate(runtime, t, "2026-11")
    body = await api(RUN, {"id": encode_id("BillRun", other)}, tenant=t.slug, token=limited.token)
    assert codes(body) == ["NOT_FOUND"]
    ok(await api(RUN, {"id": run["id"]}, tenant=t.slug, token=limited.token))
    body = await api(BILLS, {"c": office.place.gid("A")}, tenant=t.slug, token=limited.token)
    assert codes(body) == ["NOT_FOUND"]


async def test_a_run_leaves_other_tenants_alone(api: Api, runtime: Runtime) -> None:
    a = await office_living(api, runtime)
    b = await office_living(api, runtime)
    await add_fee_item(runtime, a.tenant, unit_price="280")
    await add_fee_item(runtime, b.tenant, unit_price="280")
    await generate(runtime, a.tenant, "2026-10")
    assert len(await bills(runtime, a.tenant)) == 4
    assert await bills(runtime, b.tenant) == []
    async with runtime.db.tenant_session(b.tenant.schema) as s:
        assert await s.scalar(select(func.count()).select_from(LedgerLine)) == 0


# --- set-based: the statement count does not grow with the units ---------------------------


async def test_generation_statements_do_not_grow_with_units(runtime: Runtime) -> None:
    counts = []
    for n in (10, 200):
        tenant = await billing_tenant(runtime)
        await make_place(runtime, tenant, {"C": {"1": [str(i) for i in range(n)]}})
        await add_fee_item(runtime, tenant, unit_price="280")
        await add_fee_item(runtime, tenant, method="fixed", unit_price="500")
        info = await runtime.directory.by_slug(tenant.slug)
        assert info is not None
        async with runtime.db.tenant_session(tenant.schema) as s:
            run = await generation.start_run(
                s,
                runtime,
                info,
                period="2026-10",
                actor=dataclasses.replace(ADMIN, user_id=tenant.admin_id),
            )
            await s.commit()
        async with runtime.db.tenant_session(tenant.schema) as s:
            with count_statements(runtime) as seen:
                result = await generation.run_job(s, runtime, info, run.id)
                await s.commit()
        await _close_intents(runtime, tenant)
        assert result is not None and result.created == 2 * n
        assert len(result.bill_ids) == 2 * n
        counts.append(len(seen))
    assert counts[0] == counts[1]


async def test_new_bills_are_paid_from_prepaid_balances_when_the_tenant_asks(
    api: Api, runtime: Runtime
) -> None:
    office = await office_living(api, runtime)
    await add_fee_item(runtime, office.tenant, code="property")  # 89.50 m² × 2.80 = 250.60
    await set_billing(runtime, office.tenant, {"auto_settle_from_balance": True})
    info = await info_of(runtime, office.tenant)
    rich = unit(office, "A/1/101")
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        await settlement.top_up(
            s,
            runtime,
            info,
            cashier_actor(office),
            unit_id=rich,
            amount_fen=30000,
            method="cash",
            client_request_id="topup-rich",
        )
        await s.commit()
    await generate(runtime, office.tenant, "2026-10", twice=True)
    by_unit = {b.unit_id: b for b in await bills(runtime, office.tenant)}
    assert by_unit[rich].status == "paid" and by_unit[rich].paid_fen == 25060
    assert by_unit[unit(office, "A/1/102")].status == "unpaid"  # no balance: stays open
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        assert (await ledger.prepaid_balances(s, [rich]))[rich] == 30000 - 25060
    await check_ledger(runtime, office.tenant)


async def _close_intents(runtime: Runtime, tenant: TenantFixture) -> None:
    """Let the worker take the intents of runs a test ran by hand (each finds its run done),
    so no intent is left for another test's outbox sweep."""
    async with runtime.db.shared_session() as s:
        pending = list(
            await s.scalars(
                select(OutboxIntent.id).where(
                    OutboxIntent.tenant_slug == tenant.slug, OutboxIntent.done_at.is_(None)
                )
            )
        )
    for intent_id in pending:
        await relay_intent(runtime, intent_id)
    await drain(runtime)
