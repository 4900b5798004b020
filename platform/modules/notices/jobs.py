"""Notices arq jobs (tenant jobs: the first argument is the tenant slug)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.notices import notices, periodic
from wuye.workers.jobs import tenant_job

# --- notices -------------------------------------------------------------------------------


@tenant_job(module="notices")
async def deliver_notice(
    ctx: dict[str, Any],
    tenant: str,
    *,
    session: AsyncSession,
    notice_id: int,
    push: int,
    channels: list[str],
    repush: bool = False,
) -> int:
    """One push of a notice (an outbox intent written when it went live or was re-pushed)."""
    return await notices.deliver(
        session,
        ctx["runtime"],
        tenant,
        notice_id=notice_id,
        push=push,
        channels=channels,
        repush=repush,
    )


@tenant_job(module="notices")
async def publish_due_notices(ctx: dict[str, Any], tenant: str, *, session: AsyncSession) -> int:
    """Publish scheduled notices whose time has come (every minute)."""
    runtime = ctx["runtime"]
    return await notices.publish_due(session, runtime, await runtime.directory.by_slug(tenant))


# --- periodic messages ---------------------------------------------------------------------


@tenant_job(module="notices")
async def send_periodic_messages(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> int:
    """Send the tenant's due periodic messages (every minute; ``now`` for tests). Safe to
    run twice or in two workers at once: see ``periodic.run_due``."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    sent = await periodic.run_due(
        session,
        runtime=runtime,
        tenant=tenant,
        time_zone=info.time_zone,
        now=now or datetime.now(UTC),
    )
    return len(sent)
