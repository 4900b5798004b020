"""Work-order arq jobs (tenant jobs: the first argument is the tenant slug). Both are
cron fan-outs and safe to run twice or in two workers at once: see ``sla``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.workorders import sla
from wuye.workers.jobs import tenant_job


@tenant_job(module="workorders")
async def check_work_order_deadlines(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> dict[str, int]:
    """Flag overdue orders and escalate the ones still late (every 5 minutes; ``now`` for
    tests)."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    if info is None:  # the wrapper checked it a moment ago
        return {"overdue": 0, "escalated": 0}
    result = await sla.sweep(session, runtime, info, now=now)
    return {"overdue": result.overdue, "escalated": result.escalated}


@tenant_job(module="workorders")
async def close_unrated_work_orders(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> int:
    """Close completed orders nobody rated within ``auto_close_days`` (hourly)."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    if info is None:
        return 0
    return len(await sla.close_unrated(session, runtime, info, now=now))
