"""The delivery job, kicked after each ``notify`` commit and swept every minute per tenant
(retries, messages held by quiet hours, a kick that was lost)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.base import CronSpec
from wuye.notify.delivery import Delivery
from wuye.workers.jobs import tenant_job


@tenant_job()
async def deliver_messages(ctx: dict[str, Any], tenant: str, *, session: AsyncSession) -> Any:
    runtime = ctx["runtime"]
    info = await runtime.directory.by_slug(tenant)
    return await Delivery(runtime, info, session).run()


JOBS = (deliver_messages,)
CRON = (CronSpec(deliver_messages, minute=None),)
