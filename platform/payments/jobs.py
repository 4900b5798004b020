"""Payment jobs: processing a stored notification (enqueued after the acknowledgement),
the sweep (every 5 minutes), the daily reconciliation and the daily refresh of WeChat Pay
platform certificates."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.base import CronSpec
from wuye.payments import reconcile, service
from wuye.workers.jobs import enqueue, job_id, tenant_job

log = logging.getLogger(__name__)


@tenant_job()
async def process_payment_notification(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, notification_id: int
) -> str:
    """Not gated on the billing module: money that moved is always booked."""
    runtime = ctx["runtime"]
    info = await runtime.directory.fresh(tenant)
    try:
        return await service.process_notification(session, runtime, info, notification_id)
    except LookupError as exc:  # a refund's notification before its refund id: the sweep
        return f"later: {exc}"


@tenant_job()
async def sweep_online_payments(ctx: dict[str, Any], tenant: str, *, session: AsyncSession) -> Any:
    runtime = ctx["runtime"]
    info = await runtime.directory.fresh(tenant)
    return await service.sweep(session, runtime, info)


@tenant_job(module="billing")
async def reconcile_payments_daily(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession
) -> Any:
    runtime = ctx["runtime"]
    info = await runtime.directory.fresh(tenant)
    yesterday = datetime.now(UTC).astimezone(info.zone).date() - timedelta(days=1)
    reports = await reconcile.reconcile_day(session, runtime, info, yesterday)
    return {r.provider: r.status for r in reports}


@tenant_job()
async def refresh_wechat_certificates(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession
) -> int:
    """Daily: a WeChat Pay account in certificate mode trusts a rotated platform certificate
    before WeChat Pay signs with it (it lists the new one days ahead)."""
    runtime = ctx["runtime"]
    info = await runtime.directory.fresh(tenant)
    return await service.refresh_wechat_certificates(session, runtime, info)


async def enqueue_processing(runtime: Any, tenant: str, notification_id: int) -> None:
    """After the acknowledgement; never raises (the sweep processes what was missed)."""
    try:
        await enqueue(
            runtime,
            process_payment_notification,
            tenant,
            notification_id=notification_id,
            _job_id=job_id(runtime, "payntf", tenant, notification_id),
        )
    except Exception:
        log.warning("notification %s not enqueued; the sweep will process it", notification_id)


JOBS = (
    process_payment_notification,
    sweep_online_payments,
    reconcile_payments_daily,
    refresh_wechat_certificates,
)
CRON = (
    CronSpec(sweep_online_payments, minute=set(range(2, 60, 5))),
    CronSpec(reconcile_payments_daily, hour=4, minute=17),
    CronSpec(refresh_wechat_certificates, hour=3, minute=41),
)
