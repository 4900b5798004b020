"""The transactional outbox: after-commit relay, run-once jobs, the sweep's recoveries."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from arq import Retry
from conftest import build_runtime, make_tenant
from sqlalchemy import select
from starlette.requests import Request
from worker_support import (
    TESTMOD,
    drain,
    effects,
    flush_queue,
    intent,
    new_intent,
    queued,
    record_effect,
)

from wuye.graphql.context import Context, Surface
from wuye.outbox import OutboxIntent, enqueue_after_commit, outbox_job_id, relay
from wuye.runtime import Runtime
from wuye.tenancy import service as tenancy
from wuye.workers import run_outbox_intent, sweep_outbox

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.fixture(scope="module")
async def rt(settings, services) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings, services, modules=(TESTMOD,))
    yield runtime
    await runtime.close()


@pytest.fixture
async def tenant(rt):
    return await make_tenant(rt, modules=("testmod",))


def _intent_of(job_id: str) -> int:
    """The intent id in an outbox job id ``<queue>:outbox:<cluster>:<id>[:<tag>]``."""
    return int(job_id.split(":outbox:", 1)[1].split(":")[1])


async def _context(rt: Runtime, slug: str) -> Context:
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.1", 1234),
        }
    )
    return Context(
        runtime=rt,
        request=request,
        surface=Surface.TENANT,
        tenant=await rt.directory.by_slug(slug),
        lang="zh",
        request_id="req-1",
        claims=None,
    )


async def test_enqueue_after_commit_relays_only_once_the_request_commits(rt, tenant):
    marker = secrets.token_hex(4)
    # given a request that records an intent
    ctx = await _context(rt, tenant.slug)
    intent_id = await enqueue_after_commit(ctx, job=record_effect, args={"marker": marker})
    assert intent_id is not None
    job_id = outbox_job_id(rt.settings.queue_name, intent_id)
    assert job_id not in await queued(rt)  # nothing is enqueued before commit
    # when the request commits
    await ctx.finish(commit=True)
    # then the intent is enqueued, and the worker does it
    assert job_id in await queued(rt)
    assert (await intent(rt, intent_id)).enqueued_at is not None
    await drain(rt)
    assert await effects(rt, tenant.schema, marker) == 1
    assert (await intent(rt, intent_id)).done_at is not None


async def test_a_rolled_back_request_leaves_no_intent_and_no_job(rt, tenant):
    ctx = await _context(rt, tenant.slug)
    intent_id = await enqueue_after_commit(ctx, job="record_effect", args={"marker": "x"})
    await ctx.finish(commit=False)
    async with rt.db.shared_session() as s:
        assert await s.get(OutboxIntent, intent_id) is None
    assert outbox_job_id(rt.settings.queue_name, intent_id) not in await queued(rt)


async def test_dedup_key_records_an_intent_once(rt, tenant):
    key = f"dedup-{secrets.token_hex(4)}"
    ids = []
    for _ in range(2):
        ctx = await _context(rt, tenant.slug)
        ids.append(
            await enqueue_after_commit(ctx, job=record_effect, args={"marker": key}, dedup_key=key)
        )
        await ctx.finish(commit=True)
    assert ids[0] is not None and ids[1] is None
    await drain(rt)
    assert await effects(rt, tenant.schema, key) == 1


async def test_an_intent_run_twice_does_its_work_once(rt, tenant):
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    ctx = {"runtime": rt}
    assert await run_outbox_intent(ctx, intent_id) == "done"
    assert await run_outbox_intent(ctx, intent_id) == "not pending"
    assert await effects(rt, tenant.schema, marker) == 1

    # two runs at once: one does it, the other finds it locked or done
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    outcomes = await asyncio.gather(*(run_outbox_intent(ctx, intent_id) for _ in range(3)))
    assert sorted(outcomes) == ["done", "not pending", "not pending"]
    assert await effects(rt, tenant.schema, marker) == 1

    # two arq jobs for one intent (the relay's and a sweep's): both run, one effect
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    assert await relay(rt, intent_id)
    assert await sweep_outbox(rt, older_than_s=0) >= 1
    assert sum(_intent_of(j) == intent_id for j in await queued(rt)) == 2
    worker = await drain(rt)
    assert worker.jobs_complete >= 2
    assert await effects(rt, tenant.schema, marker) == 1


async def test_a_failed_run_records_the_attempt_and_retries(rt, tenant):
    marker = secrets.token_hex(4)
    intent_id = await new_intent(
        rt, tenant.schema, tenant.slug, "flaky_effect", marker=marker, fail_times=1
    )
    with pytest.raises(Retry):
        await run_outbox_intent({"runtime": rt, "job_try": 1}, intent_id)
    row = await intent(rt, intent_id)
    assert (row.attempts, row.done_at) == (1, None)
    assert "boom 1" in (row.last_error or "")
    assert await effects(rt, tenant.schema, marker) == 0  # the failed run rolled back
    assert await run_outbox_intent({"runtime": rt, "job_try": 2}, intent_id) == "done"
    assert await effects(rt, tenant.schema, marker) == 1


async def test_an_intent_for_a_suspended_tenant_is_skipped_and_closed(rt, tenant):
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    async with rt.db.shared_session() as s:
        await tenancy.set_status(s, slug=tenant.slug, status="suspended")
        await s.commit()
    assert await run_outbox_intent({"runtime": rt}, intent_id) == "skipped: tenant suspended"
    row = await intent(rt, intent_id)
    assert row.done_at is not None and row.last_error == "skipped: tenant suspended"
    assert await effects(rt, tenant.schema, marker) == 0


async def test_sweep_enqueues_an_intent_committed_but_never_relayed(rt, tenant):
    # given a request that committed its intent and died before the relay
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    await drain(rt)
    assert await effects(rt, tenant.schema, marker) == 0  # nobody knows about it
    # when the sweep runs
    assert await sweep_outbox(rt) >= 1
    # then the intent is queued again and the worker completes it
    assert [j for j in await queued(rt) if _intent_of(j) == intent_id]
    await drain(rt)
    assert await effects(rt, tenant.schema, marker) == 1
    assert (await intent(rt, intent_id)).done_at is not None


async def test_sweep_recovers_intents_lost_in_a_redis_flush(rt, tenant):
    marker = secrets.token_hex(4)
    intent_id = await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=marker)
    assert await relay(rt, intent_id)
    assert await flush_queue(rt) >= 1  # Redis forgets the queue and its jobs
    await drain(rt)
    assert await effects(rt, tenant.schema, marker) == 0
    # a fresh enqueue is left alone until outbox_sweep_after_s has passed ...
    await sweep_outbox(rt)
    assert not [j for j in await queued(rt) if _intent_of(j) == intent_id]
    # ... then the sweep enqueues it again
    assert await sweep_outbox(rt, older_than_s=0) >= 1
    await drain(rt)
    assert await effects(rt, tenant.schema, marker) == 1


async def test_concurrent_sweeps_enqueue_each_intent_once(rt, tenant):
    ids = [
        await new_intent(rt, tenant.schema, tenant.slug, "record_effect", marker=f"m{i}")
        for i in range(20)
    ]
    await asyncio.gather(*(sweep_outbox(rt) for _ in range(4)))
    per_intent = Counter(_intent_of(j) for j in await queued(rt))
    assert all(per_intent[i] == 1 for i in ids)
    await drain(rt)
    async with rt.db.shared_session() as s:
        pending = await s.scalars(
            select(OutboxIntent.id).where(OutboxIntent.id.in_(ids), OutboxIntent.done_at.is_(None))
        )
        assert list(pending) == []
