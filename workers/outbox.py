"""The worker side of the transactional outbox (see ``wuye.outbox``).

``run_outbox_intent`` locks the intent row, runs its tenant job routed to the tenant's
schema, and marks the intent done, all in one transaction: if arq runs it twice, or a
sweep enqueued it again, the second run finds it done (or locked) and does nothing.
``sweep_outbox`` re-enqueues intents that were never done: a crash between commit and
enqueue, a Redis flush, a worker killed mid-job.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from arq import Retry
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.db import DEFAULT_CLUSTER, take_after_commit
from wuye.observability import tenant_var
from wuye.outbox import OUTBOX_JOB, OutboxIntent, outbox_job_id, relay
from wuye.tenancy.directory import TenantInfo
from wuye.tenancy.provisioning import route_to
from wuye.workers.core import CORE_JOBS
from wuye.workers.jobs import (
    fresh_tenant,
    gather_chunked,
    load_tenant,
    skip_reason,
    spec_of,
    tenant_jobs,
)

if TYPE_CHECKING:
    from wuye.runtime import Runtime

__all__ = ["MAX_ATTEMPTS", "relay", "run_outbox_intent", "sweep_outbox", "sweep_outbox_cron"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 25  # failed runs after which the sweep leaves an intent for an operator
SWEEP_BATCH = 500


async def run_outbox_intent(
    ctx: dict[str, Any], intent_id: int, cluster: str = DEFAULT_CLUSTER
) -> str:
    runtime: Runtime = ctx["runtime"]
    try:
        async with runtime.db.shared_session(cluster) as session:
            intent = await session.scalar(
                select(OutboxIntent)
                .where(OutboxIntent.id == intent_id, OutboxIntent.done_at.is_(None))
                .with_for_update(skip_locked=True)
            )
            if intent is None:
                return "not pending"  # done already, or another worker is running it now
            outcome = await _perform(ctx, runtime, session, intent, cluster)
            intent.done_at = func.now()
            await session.commit()  # the job's effect and "done" commit together
            callbacks = take_after_commit(session)
        for callback in callbacks:
            await callback()
        return outcome
    except asyncio.CancelledError:
        # A job timeout (or shutdown) counts as an attempt too, so an intent that always
        # times out stops being swept after MAX_ATTEMPTS.
        await asyncio.shield(
            _record_failure(
                runtime, intent_id, cluster, TimeoutError("cancelled: timeout or shutdown")
            )
        )
        raise
    except Exception as exc:
        log.exception("outbox intent %s failed", intent_id)
        await _record_failure(runtime, intent_id, cluster, exc)
        # arq retries only on Retry; after max_tries the sweep takes over.
        raise Retry(defer=min(2 ** int(ctx.get("job_try", 1)), 60)) from exc


async def _perform(
    ctx: dict[str, Any], runtime: Runtime, session: AsyncSession, intent: OutboxIntent, cluster: str
) -> str:
    registered = tenant_jobs(runtime.modules, core=CORE_JOBS).get(intent.job)
    if registered is None:
        # Perhaps enqueued by a newer release during a rolling deploy: fail, retry later.
        raise LookupError(f"no tenant job named {intent.job!r} in this worker")
    job = spec_of(registered)
    info = await _tenant(runtime, session, cluster, intent.tenant_slug)
    reason = skip_reason(runtime, info, job.module)
    if reason is not None:
        log.info("outbox intent %s (%s) skipped: %s", intent.id, intent.job, reason)
        intent.last_error = f"skipped: {reason}"
        return f"skipped: {reason}"
    assert info is not None
    if info.cluster != cluster:
        raise RuntimeError(
            f"intent {intent.id} is on cluster {cluster!r}, its tenant on "
            f"{info.cluster!r}: write intents in the tenant's own session"
        )
    await route_to(session, info.schema)  # SET LOCAL: this transaction only
    token = tenant_var.set(info.slug)
    try:
        await job.fn(ctx, info.slug, session=session, **intent.args)
    finally:
        tenant_var.reset(token)
    return "done"


async def _tenant(
    runtime: Runtime, session: AsyncSession, cluster: str, slug: str
) -> TenantInfo | None:
    if cluster == DEFAULT_CLUSTER:
        # The registry is in this very database: read it in this transaction rather than
        # wait for a second pooled connection while holding the first.
        return await load_tenant(session, slug)
    return await fresh_tenant(runtime, slug)


async def _record_failure(
    runtime: Runtime, intent_id: int, cluster: str, exc: BaseException
) -> None:
    async with runtime.db.shared_session(cluster) as session:
        await session.execute(
            update(OutboxIntent)
            .where(OutboxIntent.id == intent_id)
            .values(
                attempts=OutboxIntent.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        )
        await session.commit()


async def sweep_outbox(runtime: Runtime, *, older_than_s: float | None = None) -> int:
    """Re-enqueue intents not done whose last enqueue is missing or older than
    ``older_than_s`` (default ``settings.outbox_sweep_after_s``); returns how many.

    Safe concurrently and twice: the UPDATE claims rows with SKIP LOCKED (so concurrent
    sweeps take disjoint rows, and rows a job is running now are skipped) and stamps
    ``enqueued_at``, so the next sweep within the window leaves them alone. The new job id
    carries that stamp because arq refuses an id whose result it still keeps.
    """
    age = timedelta(
        seconds=runtime.settings.outbox_sweep_after_s if older_than_s is None else older_than_s
    )
    queue = runtime.settings.queue_name
    total = 0
    for cluster in runtime.db.engines:
        try:
            while True:
                async with runtime.db.shared_session(cluster) as session:
                    stale = (
                        select(OutboxIntent.id)
                        .where(
                            OutboxIntent.done_at.is_(None),
                            OutboxIntent.attempts < MAX_ATTEMPTS,
                            or_(
                                OutboxIntent.enqueued_at.is_(None),
                                OutboxIntent.enqueued_at < func.now() - age,
                            ),
                        )
                        .order_by(OutboxIntent.created_at)
                        .limit(SWEEP_BATCH)
                        .with_for_update(skip_locked=True)
                    )
                    claimed = (
                        await session.execute(
                            update(OutboxIntent)
                            .where(OutboxIntent.id.in_(stale))
                            .values(enqueued_at=func.now())
                            .returning(OutboxIntent.id, OutboxIntent.enqueued_at)
                        )
                    ).all()
                    await session.commit()

                async def requeue(row: Any, cluster: str = cluster) -> None:
                    tag = str(int(row.enqueued_at.timestamp() * 1000))
                    await runtime.redis.enqueue_job(
                        OUTBOX_JOB,
                        row.id,
                        cluster,
                        _queue_name=queue,
                        _job_id=outbox_job_id(queue, row.id, cluster, tag),
                    )

                await gather_chunked(requeue, claimed)
                total += len(claimed)
                if len(claimed) < SWEEP_BATCH:
                    break
        except Exception:  # one unreachable cluster must not stop the others' sweep
            log.exception("outbox sweep failed on cluster %s", cluster)
    if total:
        log.info("outbox sweep re-enqueued %d intents", total)
    return total


async def sweep_outbox_cron(ctx: dict[str, Any]) -> int:
    return await sweep_outbox(ctx["runtime"])
