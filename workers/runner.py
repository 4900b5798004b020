"""Assemble and run the arq worker: module jobs, cron fan-outs, the outbox job and sweep."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any, cast

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func
from arq.worker import create_worker as arq_create_worker

from wuye.modules.base import Module
from wuye.outbox import OUTBOX_JOB
from wuye.runtime import Runtime
from wuye.settings import Settings
from wuye.workers.core import CORE_CRON, CORE_JOBS
from wuye.workers.cron import fan_out_cron
from wuye.workers.jobs import tenant_jobs
from wuye.workers.outbox import run_outbox_intent, sweep_outbox_cron

log = logging.getLogger(__name__)


def redis_settings(settings: Settings, runtime: Runtime | None = None) -> RedisSettings:
    """arq's connection settings: from ``settings.redis_url`` (``redis://``, ``rediss://`` or
    ``unix:///path/redis.socket``), else the runtime's own connection (embedded Redis in
    ``wuye dev``, whose URL only the runtime knows)."""
    if settings.redis_url:
        return RedisSettings.from_dsn(settings.redis_url)
    if runtime is None:
        raise ValueError("set WUYE_REDIS_URL (or pass a runtime)")
    kw = runtime.redis.connection_pool.connection_kwargs
    return RedisSettings(
        host=kw.get("host", "localhost"),
        port=kw.get("port", 6379),
        unix_socket_path=kw.get("path"),
        database=kw.get("db", 0),
        username=kw.get("username"),
        password=kw.get("password"),
        ssl="ssl_cert_reqs" in kw,
    )


def worker_settings(
    settings: Settings, modules: Sequence[Module] | None = None, runtime: Runtime | None = None
) -> type:
    """An arq ``WorkerSettings`` class for these settings and modules (default: the
    registry, or the runtime's). Given a runtime the worker uses it; otherwise it builds
    one at start-up and closes it at shutdown. Nothing connects until the worker starts."""
    if modules is None:
        if runtime is not None:
            modules = runtime.modules
        else:
            from wuye.modules.registry import MODULES

            modules = MODULES
    modules = tuple(modules)
    if runtime is None and not settings.database_url:
        raise ValueError("set WUYE_DATABASE_URL (or pass a runtime)")
    queue = settings.queue_name

    jobs = tenant_jobs(modules, core=CORE_JOBS)
    if OUTBOX_JOB in jobs:
        raise ValueError(f"{OUTBOX_JOB!r} is reserved for the outbox")
    functions = [func(cast(Any, job), name=name) for name, job in jobs.items()]
    functions.append(func(run_outbox_intent, name=OUTBOX_JOB))
    # Cron names are prefixed with the queue: arq derives global job ids from them.
    cron_jobs = [cron(sweep_outbox_cron, name=f"{queue}:cron:outbox_sweep", minute=None)]
    cron_jobs += [fan_out_cron(queue, None, spec) for spec in CORE_CRON]
    cron_jobs += [fan_out_cron(queue, m.key, spec) for m in modules for spec in m.cron]
    names = [c.name for c in cron_jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"a job has two cron entries: {sorted(names)}")

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["runtime"] = runtime or Runtime.create(
            settings,
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            modules=modules,
        )

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if runtime is None and "runtime" in ctx:
            await ctx.pop("runtime").close()

    return type(
        "WorkerSettings",
        (),
        {
            "functions": functions,
            "cron_jobs": cron_jobs,
            "queue_name": queue,
            "redis_settings": redis_settings(settings, runtime),
            # arq's default of 10 caps a worker near 200 trivial jobs/s
            "max_jobs": settings.worker_max_jobs,
            "job_timeout": settings.worker_job_timeout_s,
            "on_startup": on_startup,
            "on_shutdown": on_shutdown,
        },
    )


def create_worker(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    modules: Sequence[Module] | None = None,
    **overrides: Any,
) -> Worker:
    """An arq ``Worker`` to run inside an existing event loop (tests: ``burst=True``).
    It installs no signal handlers unless ``handle_signals=True`` is passed."""
    cls = worker_settings(settings, modules, runtime)
    return arq_create_worker(cls, **{"handle_signals": False, **overrides})


async def run_worker(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    modules: Sequence[Module] | None = None,
    burst: bool = False,
) -> None:
    """Run a worker until cancelled (``wuye dev``, ``wuye worker``), or, with ``burst``,
    until the queue is empty. Cancelled jobs go back to the queue."""
    own = runtime is None
    if runtime is None:
        # Built here rather than in on_startup so it is closed even if arq's close fails.
        runtime = Runtime.create(
            settings,
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            modules=modules,
        )
    try:
        worker = create_worker(settings, runtime=runtime, modules=modules, burst=burst)
        try:
            await worker.async_run()
        finally:
            await worker.close()
    finally:
        if own:
            await runtime.close()


def main_sync(settings: Settings, *, modules: Sequence[Module] | None = None) -> None:
    """``wuye worker``: run until SIGINT or SIGTERM, then stop cleanly."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run_worker(settings, modules=modules)
        except asyncio.CancelledError:
            log.info("worker stopped")

    asyncio.run(main())
