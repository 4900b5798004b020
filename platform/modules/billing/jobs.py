"""Billing arq jobs (tenant jobs: the first argument is the tenant slug). Each is safe to
run twice: see the module that does the work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.billing import generation, late_fees, settlement
from wuye.workers.jobs import tenant_job

# --- generation ----------------------------------------------------------------------------


@tenant_job(module="billing")
async def run_bills(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, run_id: int
) -> dict[str, Any]:
    """Generate a queued bill run (an outbox intent written by ``generateBills``), then pay
    the new bills from prepaid balances where the tenant asks for it, in one transaction."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    if info is None:  # the wrapper checked it a moment ago
        return {"skipped": "unknown tenant"}
    result = await generation.run_job(session, runtime, info, run_id)
    if result is None:
        return {"skipped": "run already finished"}
    settled = await settlement.auto_settle(session, runtime, info, result.bill_ids)
    return {"created": result.created, "total_fen": result.total_fen, "settled": settled}


@tenant_job(module="billing")
async def generate_scheduled_bills(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> int:
    """Bill the previous month on the tenant's ``auto_generate_day`` (daily; ``now`` for
    tests); returns the bills created."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    if info is None:
        return 0
    done = await generation.generate_scheduled(session, info, now=now)
    if done is None:
        return 0
    await settlement.auto_settle(session, runtime, info, done[1].bill_ids)
    return done[1].created


# --- late fees -----------------------------------------------------------------------------


@tenant_job(module="billing")
async def accrue_late_fees(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> int:
    """Late fees up to the tenant's today (daily; a second run that day adds nothing)."""
    info = await ctx["runtime"].directory.by_slug(tenant)
    if info is None:
        return 0
    return await late_fees.accrue(session, today=info.today(now))
