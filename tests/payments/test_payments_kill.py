"""A worker process killed (SIGKILL) in the middle of settling an online payment: nothing
of the half-done settlement survives, the job runs again in another worker and settles
once, and running it yet again changes nothing. The ledger ends as if nothing had died."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.constants import in_progress_key_prefix
from arq.jobs import Job
from conftest import Api, build_runtime
from kit import until, worker_processes
from payments_kit import (
    FakeProvider,
    bill_for,
    bills,
    check_ledger,
    creds_for,
    info_of,
    pay_office,
    registered_fake,
    signed,
    start_payment,
)
from sqlalchemy import select

from wuye.modules.billing import ledger
from wuye.payments import jobs, service
from wuye.payments.models import OnlinePayment, PaymentNotification
from wuye.runtime import Runtime
from wuye.workers.jobs import job_id

HERE = Path(__file__).resolve().parent
WORKER = HERE / "payment_worker_proc.py"
pytestmark = pytest.mark.slow
fake = pytest.fixture(registered_fake)


@pytest.fixture
async def rt(settings, services) -> AsyncIterator[Runtime]:
    """The same database, a queue of its own: no other test's jobs reach these workers."""
    own = settings.model_copy(
        update={
            "queue_name": f"{settings.queue_name}:paykill",
            "database_url": services.database_url,
            "redis_url": services.redis_url,
        }
    )
    runtime = build_runtime(own, services)
    yield runtime
    await runtime.close()


async def _state(rt: Runtime, schema: str, payment_id: int) -> dict[str, Any]:
    async with rt.db.tenant_session(schema) as s:
        payment = await s.get(OnlinePayment, payment_id)
        assert payment is not None
        processed = list(await s.scalars(select(PaymentNotification.processed_at)))
        return {
            "status": payment.status,
            "ledger": await ledger.trial_balance(s),
            "processed": [p is not None for p in processed],
        }


async def test_worker_killed_mid_settlement(
    api: Api, runtime: Runtime, rt: Runtime, fake: FakeProvider, tmp_path: Path
) -> None:
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    bill = await bill_for(runtime, office, fen=25060)
    p = await start_payment(runtime, office, [bill])
    # the provider's notification arrives and is stored; its processing is enqueued
    payload = {
        "event_id": "ev-kill",
        "out_trade_no": p.out_trade_no,
        "ref": p.provider_ref,
        "state": "succeeded",
        "amount_fen": 25060,
        "fee_fen": 15,
    }
    body, headers = signed(creds_for(tenant.slug)["secret"], payload)
    acknowledged, stored, _ = await service.receive_notification(
        rt, tenant, "wechat", headers, body
    )
    assert acknowledged and stored is not None
    await jobs.enqueue_processing(rt, tenant.slug, stored)
    before = await _state(rt, tenant.schema, p.id)
    assert before["status"] == "pending" and before["processed"] == [False]

    prefix, queue = rt.settings.redis_prefix, rt.settings.queue_name
    with worker_processes(tmp_path) as workers:
        # a worker stops inside the job's transaction, the settlement written, not committed
        first = workers.start(rt.settings, WORKER, WUYE_TEST_PAUSE_AT="after_settlement")
        await until(
            lambda: rt.redis.exists(f"{prefix}:paused:after_settlement"),
            "the worker to reach the settlement",
            within=60,
        )
        # and is killed there
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        assert await _state(rt, tenant.schema, p.id) == before  # nothing of it survived
        assert (await bills(runtime, office.tenant, [bill]))[bill].status != "paid"

        # arq runs the job again once the dead worker's claim expires (here: at once)
        job = job_id(rt, "payntf", tenant.slug, stored)
        await rt.redis.delete(in_progress_key_prefix + job)
        second = workers.start(rt.settings, WORKER)
        assert await Job(job, rt.redis, _queue_name=queue).result(timeout=60) == "succeeded"
        after = await _state(rt, tenant.schema, p.id)
        assert after["status"] == "succeeded" and after["processed"] == [True]
        assert after["ledger"]["online_clearing"] == (25060, 15)
        assert (await bills(runtime, office.tenant, [bill]))[bill].status == "paid"

        # the same job once more (arq may run a job twice) and the sweep: nothing changes
        await jobs.enqueue_processing(rt, tenant.slug, stored)  # same job id: refused
        async with rt.db.tenant_session(tenant.schema) as s:
            assert await service.process_notification(s, rt, tenant, stored) == "done"
            await service.sweep(s, rt, tenant, older_than_s=0)
            await s.commit()
        assert await _state(rt, tenant.schema, p.id) == after
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        await check_ledger(runtime, office.tenant)
