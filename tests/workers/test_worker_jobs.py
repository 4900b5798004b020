"""Tenant jobs run routed to their tenant and re-check it; cron fans out once per minute."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq.jobs import Job
from conftest import build_runtime, make_tenant
from worker_support import (
    TESTMOD,
    TICK,
    drain,
    effects,
    flaky_effect,
    queued,
    record_effect,
    tick_marker,
)

from wuye.outbox import OUTBOX_JOB
from wuye.runtime import Runtime
from wuye.settings import Settings
from wuye.tenancy import service as tenancy
from wuye.workers import enqueue, fan_out, run_worker, worker_settings

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture(scope="module")
async def rt(settings, services) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, services, modules=(TESTMOD,))
    yield runtime
    await runtime.close()


async def _result(rt: Runtime, job: Job | None) -> object:
    assert job is not None
    return await Job(job.job_id, rt.redis, _queue_name=rt.settings.queue_name).result(timeout=5)


async def test_tenant_job_writes_only_into_its_tenants_schema(rt):
    # given two tenants with the module
    a = await make_tenant(rt, modules=("testmod",))
    b = await make_tenant(rt, modules=("testmod",))
    marker = secrets.token_hex(4)
    # when a job for A runs in a worker
    job = await enqueue(rt, record_effect, a.slug, marker=marker)
    await drain(rt)
    # then the effect is in A's schema only
    assert await _result(rt, job) == marker
    assert await effects(rt, a.schema, marker) == 1
    assert await effects(rt, b.schema, marker) == 0


async def test_tenant_job_rolls_back_on_error(rt):
    a = await make_tenant(rt, modules=("testmod",))
    marker = secrets.token_hex(4)
    with pytest.raises(RuntimeError, match="boom"):
        await flaky_effect({"runtime": rt}, a.slug, marker=marker, fail_times=1)
    assert await effects(rt, a.schema, marker) == 0


async def test_job_for_a_suspended_tenant_does_nothing_even_with_a_warm_cache(rt):
    a = await make_tenant(rt, modules=("testmod",))
    assert (await rt.directory.by_slug(a.slug)).active  # the directory cache says active
    async with rt.db.shared_session() as s:
        await tenancy.set_status(s, slug=a.slug, status="suspended")
        await s.commit()  # no invalidation: the job must not trust the cache
    marker = secrets.token_hex(4)
    job = await enqueue(rt, record_effect, a.slug, marker=marker)
    await drain(rt)
    assert await _result(rt, job) == {"skipped": "tenant suspended"}
    assert await effects(rt, a.schema, marker) == 0


async def test_job_with_its_module_disabled_does_nothing(rt):
    never = await make_tenant(rt)  # never had the module
    switched = await make_tenant(rt, modules=("testmod",))
    await rt.directory.by_slug(switched.slug)
    async with rt.db.shared_session() as s:
        await tenancy.set_module(
            s,
            slug=switched.slug,
            key="testmod",
            enabled=False,
            config=None,
            changed_by="tests",
            modules=rt.modules,
        )
        await s.commit()
    marker = secrets.token_hex(4)
    jobs = [await enqueue(rt, record_effect, t.slug, marker=marker) for t in (never, switched)]
    await drain(rt)
    for job, t in zip(jobs, (never, switched), strict=True):
        assert await _result(rt, job) == {"skipped": "module testmod disabled"}
        assert await effects(rt, t.schema, marker) == 0
    unknown = await record_effect({"runtime": rt}, "no-such-tenant", marker=marker)
    assert unknown == {"skipped": "unknown tenant"}


async def test_cron_fan_out_enqueues_one_job_per_enabled_tenant_once_per_minute(rt):
    # given tenants with and without the module, and a suspended one
    a = await make_tenant(rt, modules=("testmod",))
    b = await make_tenant(rt, modules=("testmod",))
    without = await make_tenant(rt)
    suspended = await make_tenant(rt, modules=("testmod",))
    async with rt.db.shared_session() as s:
        await tenancy.set_status(s, slug=suspended.slug, status="suspended")
        await s.commit()
    expected = {t.slug for t in await rt.directory.all_active() if rt.module_enabled(t, "testmod")}
    assert {a.slug, b.slug} <= expected
    assert not {without.slug, suspended.slug} & expected
    minute = datetime(2031, 5, 4, 8, 30, tzinfo=UTC)

    # when the fan-out runs, then runs again for the same minute
    first = await fan_out(rt, "cron_tick", module="testmod", scheduled=minute)
    again = await fan_out(
        rt, "cron_tick", module="testmod", scheduled=minute + timedelta(seconds=20)
    )

    # then one job per enabled tenant, and nothing new the second time
    assert {jid.split(":")[-2] for jid in first} == expected
    assert len(first) == len(expected)
    assert again == []
    assert set(first) <= set(await queued(rt))

    # the arq cron entry does the same, deriving the minute from arq's cron job id
    cls = worker_settings(rt.settings, runtime=rt)
    entry = next(c for c in cls.cron_jobs if c.name.endswith(":cron:cron_tick"))
    ms = int((minute + timedelta(minutes=1)).timestamp() * 1000)
    ctx = {"runtime": rt, "job_id": f"{entry.name}:{ms}"}
    assert await entry.coroutine(ctx) == len(expected)
    assert await entry.coroutine(ctx) == 0

    # and each tenant's job ran once per minute
    await drain(rt)
    for scheduled in (minute, minute + timedelta(minutes=1)):
        marker = tick_marker(f"{scheduled:%Y%m%d%H%M}")
        assert await effects(rt, a.schema, marker, TICK) == 1
        assert await effects(rt, without.schema, marker, TICK) == 0
        assert await effects(rt, suspended.schema, marker, TICK) == 0


async def test_run_worker_as_a_task_until_cancelled_leaves_the_runtime_open(rt):
    # what `wuye dev` does: the worker runs beside the API on the API's runtime
    a = await make_tenant(rt, modules=("testmod",))
    marker = secrets.token_hex(4)
    task = asyncio.create_task(run_worker(rt.settings, runtime=rt))
    await enqueue(rt, record_effect, a.slug, marker=marker)
    for _ in range(100):
        if await effects(rt, a.schema, marker):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await effects(rt, a.schema, marker) == 1
    assert await rt.redis.ping()  # the runtime is the caller's: still open


def test_worker_settings_from_settings_without_connecting(settings):
    s = settings.model_copy(
        update={
            "redis_url": "unix:///nowhere/redis.socket",
            "worker_max_jobs": 123,
            "worker_job_timeout_s": 45,
            "database_url": "postgresql+psycopg://nobody@/nowhere",
        }
    )
    cls = worker_settings(s, modules=(TESTMOD,))
    assert cls.max_jobs == 123 and cls.job_timeout == 45
    assert cls.queue_name == s.queue_name
    assert cls.redis_settings.unix_socket_path == "/nowhere/redis.socket"
    assert {f.name for f in cls.functions} == {
        "record_effect",
        "flaky_effect",
        "slow_effect",
        "cron_tick",
        "deliver_messages",  # core: notification delivery, for every tenant
        "make_thumbnail",  # core: photo thumbnails (storage)
        # core: online payments (notifications, the sweep, reconciliation, certificates)
        "process_payment_notification",
        "sweep_online_payments",
        "reconcile_payments_daily",
        "refresh_wechat_certificates",
        OUTBOX_JOB,
    }
    assert {c.name for c in cls.cron_jobs} == {
        f"{s.queue_name}:cron:outbox_sweep",
        f"{s.queue_name}:cron:deliver_messages",
        f"{s.queue_name}:cron:sweep_online_payments",
        f"{s.queue_name}:cron:reconcile_payments_daily",
        f"{s.queue_name}:cron:refresh_wechat_certificates",
        f"{s.queue_name}:cron:cron_tick",
    }
    tcp = worker_settings(
        Settings(
            redis_url="redis://cache.internal:6380/2", database_url="postgresql+psycopg://x@/y"
        ),
        modules=(),
    )
    rs = tcp.redis_settings
    assert (rs.host, rs.port, rs.database, rs.unix_socket_path) == ("cache.internal", 6380, 2, None)
