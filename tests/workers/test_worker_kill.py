"""A worker killed mid-job: the sweep hands the intent to another worker, the effect
happens exactly once, and the killed worker's job, when it comes back, does nothing."""

from __future__ import annotations

import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix
from arq.jobs import Job
from conftest import build_runtime, make_tenant
from kit import until, worker_processes
from worker_support import TESTMOD, effects, intent, new_intent

from wuye.outbox import outbox_job_id, relay
from wuye.runtime import Runtime
from wuye.workers import sweep_outbox

WORKER = Path(__file__).resolve().parent / "worker_proc.py"
pytestmark = pytest.mark.slow


@pytest.fixture
async def rt(settings, services) -> AsyncIterator[Runtime]:
    # A queue of its own (no other test's jobs) and a sweep that waits 1 s, not 2 min.
    own = settings.model_copy(
        update={
            "queue_name": f"{settings.queue_name}:kill",
            "outbox_sweep_after_s": 1,
            "database_url": services.database_url,
            "redis_url": services.redis_url,
        }
    )
    runtime = build_runtime(own, services, modules=(TESTMOD,))
    yield runtime
    await runtime.close()


async def test_killed_worker_mid_job_effect_happens_exactly_once(rt, tmp_path):
    tenant = await make_tenant(rt, modules=("testmod",))
    marker = secrets.token_hex(4)
    prefix, queue = rt.settings.redis_prefix, rt.settings.queue_name
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "slow_effect", marker=marker)
    assert await relay(rt, intent_id)
    with worker_processes(tmp_path) as workers:
        # given a worker in the middle of the job (its effect written, not committed)
        first = workers.start(rt.settings, WORKER)
        # (generous waits: a worker process imports the whole platform before its first job)
        await until(lambda: rt.redis.exists(f"{prefix}:started:{marker}"), "job start", within=60)
        # when it is killed
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        assert await effects(rt, tenant.schema, marker) == 0  # rolled back with it
        await rt.redis.set(f"{prefix}:gate:{marker}", 1, ex=60)  # later runs finish

        # then the sweep re-enqueues it (once its enqueue is 1 s old and the dead
        # connection's row lock is gone) and another worker completes it
        await until(lambda: sweep_outbox(rt), "the sweep to re-enqueue the intent", within=30)
        second = workers.start(rt.settings, WORKER)
        await until(lambda: _done(rt, intent_id), "the intent to be done", within=60)

        # and the killed worker's job, once arq lets it run again, does nothing
        original = outbox_job_id(queue, intent_id)
        await rt.redis.delete(in_progress_key_prefix + original)  # as if its TTL passed
        result = await Job(original, rt.redis, _queue_name=queue).result(timeout=10)
        assert result == "not pending"
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0  # main_sync stops cleanly
        assert await effects(rt, tenant.schema, marker) == 1


async def _done(rt: Runtime, intent_id: int) -> bool:
    return (await intent(rt, intent_id)).done_at is not None
