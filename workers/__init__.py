"""arq workers: module jobs and cron fan-out from the registry, the transactional outbox.

``wuye worker`` calls ``main_sync(settings)``; ``wuye dev`` runs ``run_worker(settings,
runtime=...)`` as a task beside the API. ``arq wuye.workers.WorkerSettings`` also works:
the class is built from ``get_settings()`` on first access, so importing this package
connects nowhere.
"""

from __future__ import annotations

from typing import Any

from wuye.outbox import enqueue_after_commit, relay
from wuye.workers.cron import fan_out
from wuye.workers.jobs import enqueue, tenant_job
from wuye.workers.outbox import run_outbox_intent, sweep_outbox
from wuye.workers.runner import (
    create_worker,
    main_sync,
    redis_settings,
    run_worker,
    worker_settings,
)

__all__ = [
    "WorkerSettings",
    "create_worker",
    "enqueue",
    "enqueue_after_commit",
    "fan_out",
    "main_sync",
    "redis_settings",
    "relay",
    "run_outbox_intent",
    "run_worker",
    "sweep_outbox",
    "tenant_job",
    "worker_settings",
]


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        from wuye.settings import get_settings

        cls = worker_settings(get_settings())
        globals()["WorkerSettings"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
