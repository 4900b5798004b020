"""Benchmark: one month of bills for a large company (100,000 units × 3 fee items).

1. Provisions a tenant with billing and builds its estate set-based (``INSERT ... SELECT
   generate_series``): ``--units`` units (100,000 by default) in 4 communities, 500 per
   building, areas 50–150 m²; 90 % of the units lived in (one occupant each, 2 % of them
   moved in mid-month, so their bills are prorated), the rest vacant; 3 fee items: 物业费 by
   area (30 % vacancy discount), 垃圾费 fixed, 水费 metered with two tiers and one accepted
   reading per unit.
2. Generates the month end to end through the same service functions the API and the job
   use (``generation.start_run`` + ``generation.run_job``, commit included; not through
   arq) and prints bills/s (goal: over 20,000 bills/s, i.e. the 100k-unit company billed in
   about 15 s) and a per-item breakdown; then runs it again (nothing new: the unique key).
3. Times, at that size, what a resident's bill screen loads (``accounts.totals`` and a page
   of overdue bills, as ``myBillSummary``/``myBills`` do) and the staff arrears report
   (``arrears.arrears``: the first page of units by amount owed, with 0–30/31–90/91–180/
   180+ day buckets, over every open bill).

Uses its own fresh database (``WUYE_BENCH_DATABASE_URL`` / ``WUYE_BENCH_REDIS_URL``, or
embedded servers), dropped at the end. The last line printed is one JSON object.

    .venv/bin/python bench/billing.py [--units 100000]
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import date
from typing import Any

from _common import (
    FAST_PASSWORDS,
    Services,
    bench_settings,
    emit_json,
    mean,
    note,
    percentile,
    run_async,
    services,
    tenant_with_admin,
)
from sqlalchemy import select, text

from wuye.identity.scope import DataScope
from wuye.modules.billing import accounts, arrears, generation, ledger
from wuye.modules.billing.models import Bill
from wuye.modules.billing.settlement import Actor
from wuye.runtime import Runtime
from wuye.settings import Settings

GOAL_BILLS_PER_S = 20_000
SLUG = "bench-billing"
PERIOD = "2026-10"
UNITS_PER_BUILDING = 500
COMMUNITIES = 4
LIST_SAMPLES = 200


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--units", type=int, default=100_000, help="units (100,000)")
    a = p.parse_args()
    if a.units < UNITS_PER_BUILDING:
        p.error(f"--units must be at least {UNITS_PER_BUILDING}")
    return a


SEED = [
    """INSERT INTO communities (name) SELECT '小区' || c FROM generate_series(1, :communities) c""",
    """INSERT INTO buildings (community_id, name, floors)
       SELECT (SELECT id FROM communities ORDER BY id OFFSET (b % :communities) LIMIT 1),
              b || '号楼', 30
       FROM generate_series(1, :buildings) b""",
    """INSERT INTO units (community_id, building_id, floor, room_no, building_area, status)
       SELECT b.community_id, b.id, 1 + (n % 30), (n + 1)::text,
              50 + ((b.id * 7919 + n * 104729) % 10001) / 100.0,
              CASE WHEN n % 10 = 9 THEN 'vacant' ELSE 'occupied' END
       FROM buildings b, generate_series(0, :per_building - 1) n""",
    """INSERT INTO people (name) SELECT '住户' || u.id FROM units u WHERE u.status = 'occupied'""",
    """INSERT INTO occupancies (community_id, unit_id, person_id, relation, is_primary,
                                move_in_on)
       SELECT u.community_id, u.id, p.id, 'owner', true,
              CASE WHEN u.id % 50 = 0 THEN DATE '2026-10-01' + (u.id % 30)::int
                   ELSE DATE '2020-01-01' END
       FROM units u JOIN people p ON p.name = '住户' || u.id""",
    """INSERT INTO fee_items (code, name_zh, kind, method, vacancy_discount_pct, sort)
       VALUES ('property', '物业费', 'property', 'area', 30, 1)""",
    """INSERT INTO fee_items (code, name_zh, kind, method, sort)
       VALUES ('garbage', '垃圾费', 'garbage', 'fixed', 2)""",
    """INSERT INTO fee_items (code, name_zh, kind, method, meter_type, sort)
       VALUES ('water', '水费', 'water', 'metered', 'water', 3)""",
    """INSERT INTO fee_rates (fee_item_id, effective_from, unit_price, tiers)
       SELECT id, DATE '2020-01-01',
              CASE code WHEN 'property' THEN 280 WHEN 'garbage' THEN 1000 ELSE 496 END,
              CASE code WHEN 'water' THEN
                '[{"up_to": 15, "unit_price": "496"}, {"up_to": null, "unit_price": "745"}]'
                ::jsonb ELSE '[]'::jsonb END
       FROM fee_items""",
    # one community pays more for property (a more specific rate to resolve)
    """INSERT INTO fee_rates (fee_item_id, community_id, effective_from, unit_price)
       SELECT f.id, (SELECT min(id) FROM communities), DATE '2024-01-01', 320
       FROM fee_items f WHERE f.code = 'property'""",
    """INSERT INTO meter_readings (community_id, unit_id, meter_type, read_on, reading,
                                   previous, usage, status)
       SELECT u.community_id, u.id, 'water', DATE '2026-10-28', 1000 + (u.id % 37),
              1000, 1 + (u.id % 37), 'accepted'
       FROM units u WHERE u.status = 'occupied'""",
]


async def seed(runtime: Runtime, schema: str, units: int) -> dict[str, int]:
    buildings = units // UNITS_PER_BUILDING
    params = {
        "communities": COMMUNITIES,
        "buildings": buildings,
        "per_building": UNITS_PER_BUILDING,
    }
    async with runtime.db.tenant_session(schema) as s:
        await s.execute(text("SET LOCAL statement_timeout = 0"))
        for sql in SEED:
            await s.execute(text(sql), params)
        await s.commit()
    async with runtime.db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text(
                f"ANALYZE {schema}.units, {schema}.occupancies, "
                f"{schema}.meter_readings, {schema}.bills"
            )
        )
    async with runtime.db.tenant_session(schema) as s:
        row = (
            await s.execute(
                text(
                    "SELECT (SELECT count(*) FROM units), (SELECT count(*) FROM occupancies), "
                    "(SELECT count(*) FROM meter_readings)"
                )
            )
        ).one()
    return {"units": int(row[0]), "occupancies": int(row[1]), "readings": int(row[2])}


async def generate(runtime: Runtime, slug: str) -> tuple[float, generation.RunResult, float]:
    """One run end to end: start (committed), the job's work, commit. (elapsed s, result,
    seconds spent in the job's transaction)."""
    info = await runtime.directory.by_slug(slug)
    assert info is not None
    actor = Actor(user_id=1, is_staff=True, permissions=frozenset({"*"}), scope=DataScope(True))
    started = time.perf_counter()
    async with runtime.db.tenant_session(info.schema) as s:
        run = await generation.start_run(s, runtime, info, period=PERIOD, actor=actor)
        await s.commit()
    job_started = time.perf_counter()
    async with runtime.db.tenant_session(info.schema) as s:
        await s.execute(text("SET LOCAL statement_timeout = 0"))
        result = await generation.run_job(s, runtime, info, run.id)
        await s.commit()
    done = time.perf_counter()
    assert result is not None
    return done - started, result, done - job_started


async def timings(runtime: Runtime, slug: str, schema: str) -> dict[str, float]:
    """p50/p99 ms of what a resident's bill screen loads (``accounts.totals`` and a page of
    open bills, as ``myBillSummary``/``myBills`` do), and of the staff arrears report
    (``arrears.arrears``: first page of units by amount owed, aged in buckets)."""
    info = await runtime.directory.by_slug(slug)
    assert info is not None
    today = date(2027, 1, 20)  # every generated bill is overdue by then
    async with runtime.db.tenant_session(schema) as s:
        unit_ids = list(
            (
                await s.execute(
                    text(f"SELECT id FROM units ORDER BY random() LIMIT {LIST_SAMPLES}")
                )
            ).scalars()
        )
    lists: list[float] = []
    reports: list[float] = []
    rows = 0
    async with runtime.db.tenant_session(schema) as s:
        for u in unit_ids:
            t0 = time.perf_counter()
            await accounts.totals(s, info, [u])
            page = await s.scalars(
                select(Bill)
                .where(Bill.unit_id == u, accounts.state_filter("overdue", today))
                .order_by(Bill.due_on.desc(), Bill.id.desc())
                .limit(20)
            )
            rows += len(list(page))
            lists.append((time.perf_counter() - t0) * 1000)
        for _ in range(5):
            t0 = time.perf_counter()
            report = await arrears.arrears(
                s, arrears.ArrearsFilters(), scope=DataScope(all_communities=True), today=today
            )
            reports.append((time.perf_counter() - t0) * 1000)
    assert rows > 0 and report.rows
    return {
        "bill_list_p50_ms": round(percentile(lists, 50), 2),
        "bill_list_p99_ms": round(percentile(lists, 99), 2),
        "arrears_report_ms": round(mean(reports), 1),
        "arrears_report_p99_ms": round(percentile(reports, 99), 1),
    }


async def run(svc: Services, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    runtime = Runtime.create(
        settings, database_url=svc.database_url, redis_url=svc.redis_url, passwords=FAST_PASSWORDS
    )
    try:
        schema = await tenant_with_admin(runtime, SLUG, modules=("billing",))
        t0 = time.perf_counter()
        sizes = await seed(runtime, schema, args.units)
        note(
            f"seeded {sizes['units']:,} units, {sizes['occupancies']:,} occupants, "
            f"{sizes['readings']:,} water readings, 3 fee items in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        elapsed, result, job_s = await generate(runtime, SLUG)
        rate = result.created / elapsed
        note(
            f"generated {result.created:,} bills ({result.total_fen / 100:,.2f} 元) in "
            f"{elapsed:.2f} s end to end ({job_s:.2f} s in the job): {rate:,.0f} bills/s "
            f"(goal > {GOAL_BILLS_PER_S:,})"
        )
        note("  per fee item: " + ", ".join(f"#{k}: {v:,}" for k, v in result.per_item.items()))
        again_s, again, _ = await generate(runtime, SLUG)
        note(f"the same period again: {again.created} new bills in {again_s:.2f} s")
        async with runtime.db.tenant_session(schema) as s:
            unbalanced = await ledger.unbalanced_entries(s)
            lines = int(await s.scalar(text("SELECT count(*) FROM ledger_lines")) or 0)
        note(f"ledger: {lines:,} lines, {len(unbalanced)} unbalanced entries")
        async with runtime.db.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f"ANALYZE {schema}.bills"))
        times = await timings(runtime, SLUG, schema)
        note(
            f"a resident's bill screen (summary + open bills, {LIST_SAMPLES} units): "
            f"p50 {times['bill_list_p50_ms']} ms, p99 {times['bill_list_p99_ms']} ms"
        )
        note(
            f"arrears report over {result.created:,} open bills (first page by amount): "
            f"{times['arrears_report_ms']} ms mean, p99 {times['arrears_report_p99_ms']} ms"
        )
        return {
            "bench": "billing",
            "units": sizes["units"],
            "fee_items": 3,
            "bills": result.created,
            "seconds": round(elapsed, 2),
            "job_seconds": round(job_s, 2),
            "bills_per_s": round(rate),
            "goal_bills_per_s": GOAL_BILLS_PER_S,
            "ok": rate > GOAL_BILLS_PER_S and again.created == 0 and not unbalanced,
            "rerun_created": again.created,
            "rerun_seconds": round(again_s, 2),
            "ledger_lines": lines,
            **times,
        }
    finally:
        await runtime.close()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    with services() as svc:
        figures = run_async(lambda: run(svc, bench_settings(), args))
    emit_json(figures)


if __name__ == "__main__":
    main()
