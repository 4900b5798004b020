"""A worker killed mid-job: the sweep hands the intent to another worker, the effect
happens exactly once, and the killed worker's job, when it comes back, does nothing."""

from __future__ import annotations

import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest
from arq.constants import in_progress_key_prefix
from arq.jobs import Job
from conftest import build_runtime, make_tenant
from kit import start_worker_process, until
from worker_support import TESTMOD, effects, intent, new_intent

from wuye.outbox import outbox_job_id, relay
from wuye.runtime import Runtime
from wuye.workers import sweep_outbox

HERE = Path(__file__).resolve().parent
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


@pytest.fixture
def worker_log(tmp_path) -> Iterator[IO[bytes]]:
    """Both workers' output, printed if the test fails."""
    with open(tmp_path / "workers.log", "w+b") as log:
        yield log


async def test_killed_worker_mid_job_effect_happens_exactly_once(rt, worker_log):
    tenant = await make_tenant(rt, modules=("testmod",))
    marker = secrets.token_hex(4)
    prefix, queue = rt.settings.redis_prefix, rt.settings.queue_name
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "slow_effect", marker=marker)
    assert await relay(rt, intent_id)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        # given a worker in the middle of the job (its effect written, not committed)
        workers.append(start_worker_process(rt.settings, HERE / "worker_proc.py", worker_log))
        # (generous waits: a worker process imports the whole platform before its first job)
        await until(lambda: rt.redis.exists(f"{prefix}:started:{marker}"), "job start", within=60)
        # when it is killed
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(5)
        assert await effects(rt, tenant.schema, marker) == 0  # rolled back with it
        await rt.redis.set(f"{prefix}:gate:{marker}", 1, ex=60)  # later runs finish

        # then the sweep re-enqueues it (once its enqueue is 1 s old and the dead
        # connection's row lock is gone) and another worker completes it
        await until(lambda: sweep_outbox(rt), "the sweep to re-enqueue the intent", within=30)
        workers.append(start_worker_process(rt.settings, HERE / "worker_proc.py", worker_log))
        await until(lambda: _done(rt, intent_id), "the intent to be done", within=60)

        # and the killed worker's job, once arq lets it run again, does nothing
        original = outbox_job_id(queue, intent_id)
        await rt.redis.delete(in_progress_key_prefix + original)  # as if its TTL passed
        result = await Job(original, rt.redis, _queue_name=queue).result(timeout=10)
        assert result == "not pending"
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(10) == 0  # main_sync stops cleanly
        assert await effects(rt, tenant.schema, marker) == 1
    except BaseException:
        worker_log.seek(0)
        print(worker_log.read().decode(errors="replace")[-5000:])
        raise
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


async def _done(rt: Runtime, intent_id: int) -> bool:
    return (await intent(rt, intent_id)).done_at is not None
