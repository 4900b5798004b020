"""Benchmark: publish one notice to every resident of a tenant (20,000 by default).

Seeds a tenant with ``--residents`` resident accounts, each living in a unit of its own and
reachable on WeChat (an openid each), then publishes one tenant-wide notice through the
GraphQL API while one arq worker runs in this process. It prints the time until every
inbox row exists and until every push has been handed to its channel (the ``log``
provider: the figure is the platform's own cost, not WeChat's), and rows/s. Goal: under
20 s on a 2-core machine with one worker.

Uses its own fresh database (``WUYE_BENCH_DATABASE_URL`` / ``WUYE_BENCH_REDIS_URL``, or
embedded servers), dropped at the end. The last line printed is one JSON object.

    .venv/bin/python bench/notice_fanout.py [--residents 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

import httpx
from _common import (
    BENCH_ADMIN_PHONE,
    BENCH_PASSWORD,
    FAST_PASSWORDS,
    Services,
    bench_settings,
    emit_json,
    note,
    run_async,
    services,
    tenant_with_admin,
)
from sqlalchemy import text

from wuye.app import create_app
from wuye.runtime import Runtime
from wuye.workers.runner import create_worker

GOAL_S = 20.0
SLUG = "bench-notices"
UNITS_PER_BUILDING = 500
LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken } }"""
CREATE = """mutation($i: NoticeInput!) { createNotice(input: $i) { id } }"""
PUBLISH = """mutation($id: ID!) { publishNotice(id: $id) { status } }"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--residents", type=int, default=20_000, help="residents (20,000)")
    a = p.parse_args()
    if a.residents < 1:
        p.error("--residents must be positive")
    return a


SEED = [
    "INSERT INTO communities (name) VALUES ('基准小区')",
    """INSERT INTO buildings (community_id, name, floors)
       SELECT 1, b || '号楼', 25 FROM generate_series(1, :buildings) b""",
    """INSERT INTO units (community_id, building_id, floor, room_no, building_area)
       SELECT 1, (i - 1) / :per + 1, ((i - 1) % :per) / 20 + 1, 'R' || i, 90
       FROM generate_series(1, :n) i""",
    """INSERT INTO users (kind, name, phone, is_active, locale)
       SELECT 'resident', '住户' || i, '+86137' || lpad(i::text, 8, '0'), true,
              CASE WHEN i % 10 = 0 THEN 'en' ELSE 'zh-CN' END
       FROM generate_series(1, :n) i""",
    """INSERT INTO people (name, user_id, phone, phone_last4)
       SELECT name, id, phone, right(phone, 4) FROM users WHERE kind = 'resident'""",
    """INSERT INTO occupancies (community_id, unit_id, person_id, relation, is_primary)
       SELECT 1, p.id - (SELECT min(id) FROM people) + 1, p.id, 'owner', true FROM people p""",
    """INSERT INTO notify_addresses (user_id, channel, address)
       SELECT id, 'wechat', 'openid-' || id FROM users WHERE kind = 'resident'""",
]


async def seed(runtime: Runtime, schema: str, n: int) -> None:
    params = {"n": n, "per": UNITS_PER_BUILDING, "buildings": -(-n // UNITS_PER_BUILDING)}
    async with runtime.db.tenant_session(schema) as s:
        for stmt in SEED:
            await s.execute(text(stmt), params)
        await s.commit()


async def count(runtime: Runtime, schema: str) -> tuple[int, int, int]:
    """(inbox rows, pushes handed to a channel, pushes still waiting)."""
    async with runtime.db.tenant_session(schema) as s:
        row = (
            await s.execute(
                text(
                    """SELECT count(*) FILTER (WHERE channel = 'inbox'),
                              count(*) FILTER (WHERE channel <> 'inbox'
                                               AND status NOT IN ('queued', 'sending')),
                              count(*) FILTER (WHERE channel <> 'inbox'
                                               AND status IN ('queued', 'sending'))
                       FROM messages"""
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def publish(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def call(query: str, variables: dict[str, Any], token: str = "") -> Any:
            headers = {"x-tenant": SLUG, **({"authorization": f"Bearer {token}"} if token else {})}
            body = (
                await client.post(
                    "/graphql", headers=headers, json={"query": query, "variables": variables}
                )
            ).json()
            if "errors" in body:
                raise SystemExit(f"GraphQL error: {body['errors']}")
            return body["data"]

        login = {"i": {"identifier": BENCH_ADMIN_PHONE, "password": BENCH_PASSWORD}}
        token = (await call(LOGIN, login))["login"]["accessToken"]
        notice = {
            "title": "停水通知 / Water cut",
            "body": "因管道维修，明天 9:00-12:00 全小区停水，请提前储水。",
            "targets": [{"kind": "tenant"}],
            "channels": ["wechat"],
        }
        created = (await call(CREATE, {"i": notice}, token))["createNotice"]
        await call(PUBLISH, {"id": created["id"]}, token)


async def run(svc: Services, args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(statement_timeout_ms=120_000, worker_job_timeout_s=600)
    runtime = Runtime.create(
        settings, database_url=svc.database_url, redis_url=svc.redis_url, passwords=FAST_PASSWORDS
    )
    worker = create_worker(settings, runtime=runtime, poll_delay=0.05)
    try:
        schema = await tenant_with_admin(runtime, SLUG, modules=("notices",))
        t0 = time.perf_counter()
        await seed(runtime, schema, args.residents)
        note(f"seeded {args.residents:,} residents in {time.perf_counter() - t0:.1f} s")
        worker_task = asyncio.create_task(worker.async_run())
        started = time.perf_counter()
        await publish(runtime)
        published = time.perf_counter() - started
        inbox_done = handed_done = None
        while time.perf_counter() - started < 300:
            inbox, handed, waiting = await count(runtime, schema)
            elapsed = time.perf_counter() - started
            if inbox_done is None and inbox >= args.residents:
                inbox_done = elapsed
            if inbox_done is not None and handed >= args.residents and waiting == 0:
                handed_done = elapsed
                break
            await asyncio.sleep(0.1)
        worker_task.cancel()
        await asyncio.gather(worker_task, return_exceptions=True)
        if inbox_done is None or handed_done is None:
            raise SystemExit(f"not done after 300 s: inbox {inbox}, handed {handed}")
        rows = inbox + handed
        figures = {
            "residents": args.residents,
            "publish_ms": round(published * 1000, 1),
            "inbox_s": round(inbox_done, 2),
            "handed_to_channels_s": round(handed_done, 2),
            "rows": rows,
            "rows_per_s": round(rows / handed_done),
            "goal_s": GOAL_S,
        }
        note(f"publish mutation (draft -> published, outbox intent): {figures['publish_ms']} ms")
        note(f"all {inbox:,} inbox rows written after {inbox_done:.2f} s")
        note(
            f"all {handed:,} WeChat pushes handed to the channel after {handed_done:.2f} s "
            f"({'within' if handed_done <= GOAL_S else 'OVER'} the {GOAL_S:.0f} s goal)"
        )
        note(f"{rows:,} message rows, {figures['rows_per_s']:,} rows/s end to end")
        return figures
    finally:
        await worker.close()
        await runtime.close()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    with services() as svc:
        figures = run_async(lambda: run(svc, args))
    emit_json(figures)


if __name__ == "__main__":
    main()
