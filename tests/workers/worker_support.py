"""A test-only module ("testmod") whose jobs leave visible effects, and worker helpers.

Not a conftest (the root one is imported as ``conftest``): test files and the worker
subprocess (``worker_proc.py``) import it by name, so it must not import ``conftest``.
An effect is an ``audit_log`` row in the tenant's schema with a distinct action and the
test's marker as object id, so it shows which schema a job wrote to.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from wuye.identity.models import AuditLog
from wuye.modules.base import CronSpec, Module
from wuye.outbox import OutboxIntent, add_intent
from wuye.runtime import Runtime
from wuye.workers import create_worker, tenant_job

EFFECT = "testmod.effect"
TICK = "testmod.tick"


def _effect(session: Any, tenant: str, marker: str, action: str = EFFECT) -> None:
    session.add(
        AuditLog(
            actor_kind="system",
            action=action,
            object_type="test",
            object_id=marker,
            detail={"tenant": tenant},
        )
    )


@tenant_job(module="testmod")
async def record_effect(ctx: dict[str, Any], tenant: str, *, session: Any, marker: str) -> str:
    _effect(session, tenant, marker)
    return marker


@tenant_job(module="testmod")
async def cron_tick(ctx: dict[str, Any], tenant: str, *, session: Any) -> None:
    # marked with the minute it was scheduled for (the end of a fanned-out job id), so a
    # test can tell its own runs from those of the real every-minute cron entry that any
    # worker draining across a minute boundary may fire
    _effect(session, tenant, tick_marker(str(ctx.get("job_id", ""))), TICK)


def tick_marker(job_id: str) -> str:
    return "tick:" + job_id.rsplit(":", 1)[-1]


@tenant_job(module="testmod")
async def flaky_effect(
    ctx: dict[str, Any], tenant: str, *, session: Any, marker: str, fail_times: int
) -> str:
    """Writes its effect, then fails on its first ``fail_times`` runs (counted in Redis)."""
    _effect(session, tenant, marker)
    await session.flush()
    runtime: Runtime = ctx["runtime"]
    runs = await runtime.redis.incr(f"{runtime.settings.redis_prefix}:flaky:{marker}")
    if runs <= fail_times:
        raise RuntimeError(f"boom {runs}")
    return marker


@tenant_job(module="testmod")
async def slow_effect(ctx: dict[str, Any], tenant: str, *, session: Any, marker: str) -> str:
    """Writes its effect (uncommitted), says so in Redis, then waits for the gate key."""
    _effect(session, tenant, marker)
    await session.flush()
    runtime: Runtime = ctx["runtime"]
    prefix = runtime.settings.redis_prefix
    await runtime.redis.set(f"{prefix}:started:{marker}", 1, ex=120)
    for _ in range(600):
        if await runtime.redis.exists(f"{prefix}:gate:{marker}"):
            return marker
        await asyncio.sleep(0.05)
    raise TimeoutError("the gate never opened")


TESTMOD = Module(
    key="testmod",
    title_zh="测试模块",
    title_en="Test module",
    jobs=(record_effect, flaky_effect, slow_effect),
    cron=(CronSpec(cron_tick, minute=None),),
)


# --- helpers -------------------------------------------------------------------------------


async def effects(runtime: Runtime, schema: str, marker: str, action: str = EFFECT) -> int:
    """Effect rows with ``marker`` in ``schema`` (read through a routed session)."""
    async with runtime.db.tenant_session(schema) as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == action, AuditLog.object_id == marker)
            )
            or 0
        )


async def new_intent(runtime: Runtime, schema: str, tenant: str, job: str, **args: Any) -> int:
    """An intent committed in a tenant transaction, as a request would (no relay)."""
    async with runtime.db.tenant_session(schema) as s:
        intent_id = await add_intent(s, tenant=tenant, job=job, args=args)
        await s.commit()
    assert intent_id is not None
    return intent_id


async def intent(runtime: Runtime, intent_id: int) -> OutboxIntent:
    async with runtime.db.shared_session() as s:
        row = await s.get(OutboxIntent, intent_id)
    assert row is not None
    return row


async def drain(runtime: Runtime) -> Any:
    """Run an in-process burst worker until this runtime's queue is empty."""
    worker = create_worker(runtime.settings, runtime=runtime, burst=True, poll_delay=0.05)
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker


async def queued(runtime: Runtime) -> list[str]:
    """Job ids waiting in this runtime's queue."""
    ids = await runtime.redis.zrange(runtime.settings.queue_name, 0, -1)
    return [i.decode() for i in ids]


async def flush_queue(runtime: Runtime) -> int:
    """What a Redis flush does to this run: its queue and every arq key of its jobs gone
    (their ids start with the queue name). Other runs' keys stay."""
    queue = runtime.settings.queue_name
    keys = [queue, *[k async for k in runtime.redis.scan_iter(match=f"arq:*:{queue}:*")]]
    return int(await runtime.redis.delete(*keys))
