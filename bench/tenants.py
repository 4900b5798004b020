"""Benchmark: tenant provisioning and tenant migrations.

1. Provisions N tenants (``--tenants``, 200 by default) one after another, each with its
   first admin and in its own transaction, as the operators' ``createTenant`` does; prints
   seconds per tenant (mean, p50, p95).
2. Times ``migrate_tenants`` while every tenant is at head (the no-op ``wuye migrate`` after
   a deploy without tenant migrations), and projects it to 1,000 tenants (goal: < 10 s).
3. Empties ``--behind`` tenant schemas and times ``migrate_tenants`` bringing them from
   nothing to head (a real Alembic upgrade per tenant).

Uses its own fresh database (``WUYE_BENCH_DATABASE_URL`` or embedded PostgreSQL), dropped at
the end. The last line printed is one JSON object of the figures.

    .venv/bin/python bench/tenants.py [--tenants 200] [--noop-runs 3] [--behind 20]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import Services, emit_json, mean, note, percentile, run_async, services
from sqlalchemy import text

from wuye.db import DEFAULT_CLUSTER, Database
from wuye.modules.registry import MODULES
from wuye.tenancy import migrate
from wuye.tenancy.provisioning import NewTenant, create_tenant, tenant_ddl

GOAL_NOOP_1000_S = 10.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tenants", type=int, default=200, help="tenants to provision (200)")
    p.add_argument(
        "--noop-runs", type=int, default=3, help="no-op migrate runs; the median is reported (3)"
    )
    p.add_argument(
        "--behind",
        type=int,
        default=20,
        help="tenants to put behind and migrate to head; 0 skips it (20)",
    )
    p.add_argument(
        "--parallelism",
        type=int,
        default=4,
        help="migrate_tenants parallelism, as `wuye migrate` uses (4)",
    )
    a = p.parse_args()
    if a.tenants < 1 or a.noop_runs < 1 or a.behind < 0 or a.parallelism < 1:
        p.error("sizes must be positive")
    a.behind = min(a.behind, a.tenants)
    return a


async def provision(svc: Services, n: int) -> tuple[list[float], list[str]]:
    db = Database({DEFAULT_CLUSTER: svc.database_url}, pool_size=2, max_overflow=0)
    tenant_ddl()  # compiled once per process; keep it out of the first tenant's time
    migrate.head("tenant")
    times: list[float] = []
    schemas: list[str] = []
    try:
        for i in range(n):
            slug = f"bench-{i:05d}"
            started = time.perf_counter()
            async with db.shared_session() as s:
                done = await create_tenant(
                    s,
                    NewTenant(
                        slug=slug,
                        name_zh=f"基准物业{i}",
                        name_en=f"Bench {i}",
                        admin_name="管理员",
                        admin_phone=f"+86139{i:08d}",
                    ),
                    modules=MODULES,
                    changed_by="bench",
                    invite_ttl_s=3600,
                )
                await s.commit()
            times.append(time.perf_counter() - started)
            schemas.append(done.schema)
            if (i + 1) % 100 == 0 and i + 1 < n:
                note(f"  ... {i + 1} tenants, {mean(times):.3f} s each so far")
    finally:
        await db.dispose()
    return times, schemas


def put_behind(svc: Services, schemas: list[str]) -> None:
    """Empty each schema: no tables, no version table -> migrate upgrades it from base."""
    engine = migrate.sync_engine(svc.database_url)
    try:
        with engine.begin() as conn:
            for schema in schemas:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            conn.execute(
                text(
                    "UPDATE shared.tenants SET schema_revision = NULL WHERE schema_name = ANY(:s)"
                ),
                {"s": schemas},
            )
    finally:
        engine.dispose()


def main() -> None:
    args = parse_args()
    figures: dict[str, Any] = {}
    with services(need_redis=False) as svc:
        urls = {DEFAULT_CLUSTER: svc.database_url}

        note(f"provisioning {args.tenants} tenants (one transaction each) ...")
        t0 = time.perf_counter()
        times, schemas = run_async(lambda: provision(svc, args.tenants))
        total = time.perf_counter() - t0
        figures.update(
            tenants=args.tenants,
            provision_total_s=round(total, 2),
            provision_s_mean=round(mean(times), 4),
            provision_s_p50=round(percentile(times, 50), 4),
            provision_s_p95=round(percentile(times, 95), 4),
            provision_s_max=round(max(times), 4),
        )
        note(f"provisioned {args.tenants} tenants in {total:.1f} s")
        note(
            f"  seconds per tenant: mean {figures['provision_s_mean']:.4f}  "
            f"p50 {figures['provision_s_p50']:.4f}  p95 {figures['provision_s_p95']:.4f}  "
            f"max {figures['provision_s_max']:.4f}"
        )

        note(f"no-op migrate_tenants ({args.noop_runs} runs, all {args.tenants} at head) ...")
        noop: list[float] = []
        for run in range(args.noop_runs):
            report = migrate.migrate_tenants(urls, parallelism=args.parallelism)
            if report.migrated or report.failed or report.at_head != args.tenants:
                raise SystemExit(f"expected a no-op migrate, got {report}")
            noop.append(report.seconds)
            note(f"  run {run + 1}: {report.seconds:.3f} s ({report.at_head} at head)")
        noop_s = percentile(noop, 50)
        projected = noop_s * 1000 / args.tenants  # linear: fixed costs scale too (pessimistic)
        figures.update(
            migrate_noop_s=round(noop_s, 3),
            migrate_noop_s_min=round(min(noop), 3),
            migrate_noop_ms_per_tenant=round(noop_s * 1000 / args.tenants, 3),
            migrate_noop_projected_1000_s=round(projected, 2),
            migrate_noop_goal_1000_s=GOAL_NOOP_1000_S,
        )
        verdict = "meets" if projected < GOAL_NOOP_1000_S else "MISSES"
        note(
            f"no-op migrate of {args.tenants} tenants: {noop_s:.3f} s (median), "
            f"{figures['migrate_noop_ms_per_tenant']:.2f} ms per tenant"
        )
        note(
            f"  {'measured' if args.tenants == 1000 else 'projected'} for 1,000 tenants: "
            f"{projected:.2f} s "
            f"({verdict} the goal of < {GOAL_NOOP_1000_S:.0f} s)"
        )

        if args.behind:
            behind = schemas[:: max(1, len(schemas) // args.behind)][: args.behind]
            put_behind(svc, behind)
            note(
                f"migrate_tenants with {len(behind)} of {args.tenants} tenants behind "
                "(empty schema -> head) ..."
            )
            report = migrate.migrate_tenants(urls, parallelism=args.parallelism)
            if report.failed or len(report.migrated) != len(behind):
                raise SystemExit(f"migrating the tenants behind failed: {report}")
            figures.update(
                migrate_behind_tenants=len(behind),
                migrate_behind_s=round(report.seconds, 3),
                migrate_behind_s_per_tenant=round(report.seconds / len(behind), 4),
            )
            note(
                f"  {len(report.migrated)} migrated, {report.at_head} at head, in "
                f"{report.seconds:.2f} s ({report.seconds / len(behind):.3f} s per tenant "
                f"behind, parallelism {args.parallelism})"
            )
            again = migrate.migrate_tenants(urls, parallelism=args.parallelism)
            if again.migrated or again.failed or again.at_head != args.tenants:
                raise SystemExit(f"tenants still behind after migrating: {again}")

    emit_json(figures)


if __name__ == "__main__":
    main()
