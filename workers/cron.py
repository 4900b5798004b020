"""Cron fan-out: a module's ``CronSpec`` becomes one arq cron entry that enqueues one job
per active tenant with the module enabled.

Each fanned-out job id is ``<queue>:<job>:<tenant>:<scheduled minute, UTC>``, so a second
fan-out for the same minute (two workers, a retried cron run) enqueues nothing new while
arq still keeps the first job or its result (``keep_result``, an hour by default).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from arq.cron import CronJob, cron

from wuye.modules.base import CronSpec
from wuye.workers.jobs import enqueue, gather_chunked, job_id, spec_of

if TYPE_CHECKING:
    from wuye.runtime import Runtime

log = logging.getLogger(__name__)


def fan_out_job_id(runtime: Runtime, job: str, tenant: str, scheduled: datetime) -> str:
    return job_id(runtime, job, tenant, scheduled.astimezone(UTC).strftime("%Y%m%d%H%M"))


async def fan_out(
    runtime: Runtime, job: str, *, module: str | None, scheduled: datetime
) -> list[str]:
    """Enqueue ``job`` for every active tenant with ``module`` enabled (None: core jobs, for
    every active tenant); returns the ids of
    the jobs enqueued now (ids already present are left alone)."""
    tenants = [
        t
        for t in await runtime.directory.all_active()
        if module is None or runtime.module_enabled(t, module)
    ]

    async def one(slug: str) -> str | None:
        jid = fan_out_job_id(runtime, job, slug, scheduled)
        return jid if await enqueue(runtime, job, slug, _job_id=jid) is not None else None

    enqueued = [jid for jid in await gather_chunked(one, [t.slug for t in tenants]) if jid]
    log.info("cron %s: %d of %d tenants enqueued", job, len(enqueued), len(tenants))
    return enqueued


def scheduled_time(ctx: dict[str, Any]) -> datetime:
    """The time this cron run was scheduled for: the same in every worker, unlike the clock
    when it happens to run. arq names a unique cron run ``<name>:<scheduled unix ms>``."""
    try:
        ms = int(str(ctx["job_id"]).rsplit(":", 1)[1])
    except (KeyError, IndexError, ValueError):
        ms = int(ctx.get("score") or datetime.now(UTC).timestamp() * 1000)
    return datetime.fromtimestamp(ms / 1000, UTC)


def fan_out_cron(queue_name: str, module: str | None, spec: CronSpec) -> CronJob:
    """The arq cron entry for one module ``CronSpec`` (times in the worker's time zone)."""
    job = spec_of(spec.job).name

    async def fan_out_now(ctx: dict[str, Any]) -> int:
        return len(await fan_out(ctx["runtime"], job, module=module, scheduled=scheduled_time(ctx)))

    # The queue name prefixes the cron name because arq derives the cron run's job id
    # from it, and job ids are global in Redis.
    return cron(
        fan_out_now,
        name=f"{queue_name}:cron:{job}",
        minute=spec.minute,
        hour=spec.hour,
        day=spec.day,
        weekday=spec.weekday,
    )
