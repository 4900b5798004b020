"""Collection arq jobs (tenant jobs: the first argument is the tenant slug).

``send_bill_reminders`` runs every hour at :05 for every tenant with billing on and acts
from 09:00 in the tenant's time zone (``reminders.SEND_FROM_HOUR``): the first run at or
after 09:00 sends the day's reminders and dunning, later runs that day find everything
recorded (``bill_reminders``) and send nothing; a run missed at 09:00 is made up at 10:05.
Safe to run twice or in two workers at once: see ``reminders``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.billing import reminders
from wuye.workers.jobs import tenant_job


@tenant_job(module="billing")
async def send_bill_reminders(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, now: datetime | None = None
) -> dict[str, int]:
    """Reminders and dunning due today (``now`` for tests)."""
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    if info is None:
        return {"messages": 0, "bills": 0}
    local = (now or datetime.now(UTC)).astimezone(info.zone)
    if local.hour < reminders.SEND_FROM_HOUR:
        return {"messages": 0, "bills": 0}
    sent = await reminders.send_due(session, runtime, info, today=local.date())
    return {"messages": len(sent), "bills": sum(len(s.bill_ids) for s in sent)}
