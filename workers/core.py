"""Core's own tenant jobs and cron entries (every active tenant, whatever its modules):
notification delivery, thumbnails, online payments. The worker registers them and the
outbox may run them, like module jobs."""

from __future__ import annotations

from wuye.notify.jobs import CRON as NOTIFY_CRON
from wuye.notify.jobs import JOBS as NOTIFY_JOBS
from wuye.payments.jobs import CRON as PAYMENT_CRON
from wuye.payments.jobs import JOBS as PAYMENT_JOBS
from wuye.storage.jobs import JOBS as STORAGE_JOBS

CORE_JOBS = (*NOTIFY_JOBS, *STORAGE_JOBS, *PAYMENT_JOBS)
CORE_CRON = (*NOTIFY_CRON, *PAYMENT_CRON)
