"""The payment core with a fake provider: state machine, notifications (once, shuffled,
before create returned), faults (timeout during create, a worker killed mid-settlement),
cross-tenant isolation, refunds, the sweep and reconciliation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Api
from payments_kit import (
    FakeProvider,
    bill_for,
    bills,
    check_ledger,
    info_of,
    notify,
    pay_office,
    process_all,
    registered_fake,
    start_payment,
)
from sqlalchemy import select, update

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.billing import ledger, settlement
from wuye.payments import reconcile, service
from wuye.payments.models import OnlinePayment, PaymentNotification
from wuye.payments.providers.base import StatementLine
from wuye.runtime import Runtime

fake = pytest.fixture(registered_fake)


async def _ledger(runtime: Runtime, schema: str) -> dict[str, tuple[int, int]]:
    async with runtime.db.tenant_session(schema) as s:
        return await ledger.trial_balance(s)


async def _payment(runtime: Runtime, schema: str, pk: int) -> OnlinePayment:
    async with runtime.db.tenant_session(schema) as s:
        found = await s.get(OnlinePayment, pk)
        assert found is not None
        return found


def _paid(p: Any, event: str, state: str = "succeeded", **kw: Any) -> dict[str, Any]:
    return {
        "event_id": event,
        "out_trade_no": p.out_trade_no,
        "ref": p.provider_ref or "",
        "state": state,
        "amount_fen": p.amount_fen,
        **kw,
    }


async def test_success_three_shuffled_notifications_settle_once(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    slug, schema = office.tenant.slug, office.tenant.schema
    b1 = await bill_for(runtime, office)
    b2 = await bill_for(runtime, office, fen=1000)
    p = await start_payment(runtime, office, [b1, b2])
    assert p.status == "pending" and p.amount_fen == 26060 and p.out_trade_no.startswith("P")
    events = [
        _paid(p, "e-pending", "pending"),
        _paid(p, "e-paid", fee_fen=156),
        _paid(p, "e-closed", "closed"),
    ] * 3
    random.Random(7).shuffle(events)
    for e in events:
        assert await notify(api, slug, e) == 200
    async with runtime.db.tenant_session(schema) as s:
        stored = list(await s.scalars(select(PaymentNotification.event_id)))
    assert sorted(stored) == ["e-closed", "e-paid", "e-pending"]
    await process_all(runtime, slug)
    after = await _ledger(runtime, schema)
    paid = await _payment(runtime, schema, p.id)
    assert paid.status == "succeeded" and paid.fee_fen == 156 and paid.billing_payment_id
    assert {b.status for b in (await bills(runtime, office.tenant, [b1, b2])).values()} == {"paid"}
    assert after["online_clearing"] == (26060, 156) and after["provider_fees"] == (156, 0)
    # again, and again: nothing changes
    for e in events:
        await notify(api, slug, e)
    await process_all(runtime, slug)
    assert await _ledger(runtime, schema) == after
    await check_ledger(runtime, office.tenant)


async def test_notification_before_create_returned(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    slug = office.tenant.slug
    bill = await bill_for(runtime, office)

    async def early(request: Any) -> None:
        payload = {
            "event_id": "early-1",
            "out_trade_no": request.out_trade_no,
            "ref": f"fx_{request.out_trade_no}",
            "state": "succeeded",
            "amount_fen": request.amount_fen,
        }
        assert await notify(api, slug, payload) == 200
        assert await process_all(runtime, slug) == ["succeeded"]

    fake.on_create = early
    p = await start_payment(runtime, office, [bill])
    assert p.status == "succeeded" and p.client == {"prepay": "x"}
    await check_ledger(runtime, office.tenant)


async def test_timeout_during_create_then_retry_and_sweep(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    bill = await bill_for(runtime, office)
    fake.fail_creates = 99
    p = await start_payment(runtime, office, [bill], key="retry-me")
    assert p.status == "created" and "unavailable" in p.error
    again = await start_payment(runtime, office, [bill], key="retry-me")
    assert again.id == p.id and again.status == "created"
    # the provider got the order all along; the resident paid; no notification ever came
    fake.pay(f"m-{tenant.slug}", p.out_trade_no)
    async with runtime.db.tenant_session(tenant.schema) as s:
        counts = await service.sweep(s, runtime, tenant, older_than_s=0)
        await s.commit()
    assert counts["resolved"] == 1
    assert (await _payment(runtime, tenant.schema, p.id)).status == "succeeded"
    assert (await bills(runtime, office.tenant, [bill]))[bill].status == "paid"
    await check_ledger(runtime, office.tenant)


async def test_worker_killed_mid_settlement_ledger_identical(
    api: Api, runtime: Runtime, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = await pay_office(api, runtime)
    slug, schema = office.tenant.slug, office.tenant.schema
    bill = await bill_for(runtime, office)
    p = await start_payment(runtime, office, [bill])
    assert await notify(api, slug, _paid(p, "k-1", fee_fen=10)) == 200
    before = await _ledger(runtime, schema)
    for stage in ("after_state_change", "after_settlement"):

        async def killed(at: str, stage: str = stage) -> None:
            if at == stage:
                raise RuntimeError("worker killed")

        monkeypatch.setattr(service, "checkpoint", killed)
        with pytest.raises(RuntimeError):
            await process_all(runtime, slug)
        assert await _ledger(runtime, schema) == before
        assert (await _payment(runtime, schema, p.id)).status == "pending"
    monkeypatch.undo()
    assert await process_all(runtime, slug) == ["succeeded"]
    done = await _ledger(runtime, schema)
    assert done["online_clearing"] == (25060, 10)
    await process_all(runtime, slug)
    assert await _ledger(runtime, schema) == done
    await check_ledger(runtime, office.tenant)


async def test_cross_tenant_notification_and_credentials(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    a = await pay_office(api, runtime)
    b = await pay_office(api, runtime)
    bill = await bill_for(runtime, a)
    p = await start_payment(runtime, a, [bill])
    before_a = await _ledger(runtime, a.tenant.schema)
    before_b = await _ledger(runtime, b.tenant.schema)
    # B's URL, A's payment: signed with B's secret it verifies but matches nothing in B
    assert await notify(api, b.tenant.slug, _paid(p, "x-1")) == 400
    # B's URL signed with A's secret: fails verification with B's credentials
    assert await notify(api, b.tenant.slug, _paid(p, "x-2"), secret_of=a.tenant.slug) == 400
    async with runtime.db.tenant_session(b.tenant.schema) as s:
        assert list(await s.scalars(select(PaymentNotification))) == []
    assert await _ledger(runtime, a.tenant.schema) == before_a
    assert await _ledger(runtime, b.tenant.schema) == before_b
    assert (await _payment(runtime, a.tenant.schema, p.id)).status == "pending"
    # each tenant's calls went to its own merchant only
    assert {m for _, m in fake.calls} == {f"m-{a.tenant.slug}"}
    # A's ciphertext does not open under B's key
    ta, tb = await info_of(runtime, a.tenant), await info_of(runtime, b.tenant)
    async with runtime.db.tenant_session(a.tenant.schema) as s:
        account, creds = await service.account_of(s, runtime, ta, "wechat")
        assert creds["merchant"] == f"m-{ta.slug}"
        with pytest.raises(ValueError):
            service.decrypt_credentials(runtime, tb, account)


async def test_resident_cannot_pay_a_neighbours_bill(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    theirs = await bill_for(runtime, office, room="A/1/102")
    with pytest.raises(AppError) as err:
        await start_payment(runtime, office, [theirs])
    assert err.value.code == "NOT_FOUND"
    assert fake.calls == []


async def test_refunds_partial_then_full(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    bill = await bill_for(runtime, office)
    p = await start_payment(runtime, office, [bill])
    await notify(api, tenant.slug, _paid(p, "r-1"))
    await process_all(runtime, tenant.slug)
    staff = settlement.Actor(office.manager.user_id, True, frozenset({"*"}), DataScope(True))
    r1 = await service.refund_payment(
        runtime,
        tenant,
        staff,
        payment_id=p.id,
        amount_fen=60,
        reason="多收",
        client_request_id="r1",
    )
    assert r1.status == "succeeded"
    same = await service.refund_payment(
        runtime,
        tenant,
        staff,
        payment_id=p.id,
        amount_fen=60,
        reason="多收",
        client_request_id="r1",
    )
    assert same.id == r1.id
    assert (await _payment(runtime, tenant.schema, p.id)).status == "partially_refunded"
    with pytest.raises(AppError) as err:
        await service.refund_payment(
            runtime,
            tenant,
            staff,
            payment_id=p.id,
            amount_fen=25001,
            reason="x",
            client_request_id="r2",
        )
    assert err.value.code == "VALIDATION_FAILED"
    fake.refund_state = "pending"
    r3 = await service.refund_payment(
        runtime,
        tenant,
        staff,
        payment_id=p.id,
        amount_fen=25000,
        reason="退",
        client_request_id="r3",
    )
    assert r3.status == "pending"
    event = {
        "event_id": "rf-1",
        "kind": "refund",
        "refund_ref": r3.refund_ref,
        "refund_state": "succeeded",
    }
    event_with_payment = {**event, "out_trade_no": p.out_trade_no, "amount_fen": p.amount_fen}
    assert await notify(api, tenant.slug, event_with_payment) == 200
    await process_all(runtime, tenant.slug)
    paid = await _payment(runtime, tenant.schema, p.id)
    assert paid.status == "refunded" and paid.refunded_fen == 25060
    tb = await _ledger(runtime, tenant.schema)
    assert tb["refunds"] == (25060, 0) and tb["online_clearing"] == (25060, 25060)
    await check_ledger(runtime, office.tenant)


async def test_sweep_asks_about_a_pending_refund(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    """A refund the provider left pending and whose notification never came: the sweep
    asks the provider (not before it is old enough) and books it once it succeeded."""
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    p = await start_payment(runtime, office, [await bill_for(runtime, office)])
    await notify(api, tenant.slug, _paid(p, "q-1"))
    await process_all(runtime, tenant.slug)
    staff = settlement.Actor(office.manager.user_id, True, frozenset({"*"}), DataScope(True))
    fake.refund_state = "pending"
    r = await service.refund_payment(
        runtime,
        tenant,
        staff,
        payment_id=p.id,
        amount_fen=5000,
        reason="退",
        client_request_id="q1",
    )
    assert r.status == "pending" and r.refund_ref
    before = await _ledger(runtime, tenant.schema)

    async def sweep(**kw: Any) -> dict[str, int]:
        async with runtime.db.tenant_session(tenant.schema) as s:
            counts = await service.sweep(s, runtime, tenant, **kw)
            await s.commit()
        return counts

    assert (await sweep())["refunds"] == 0  # too young to ask about
    assert ("query_refund", f"m-{tenant.slug}") not in fake.calls
    assert (await sweep(older_than_s=0))["refunds"] == 0  # asked: still pending
    assert fake.calls.count(("query_refund", f"m-{tenant.slug}")) == 1
    assert await _ledger(runtime, tenant.schema) == before
    fake.refunds[(f"m-{tenant.slug}", r.out_refund_no)]["state"] = "succeeded"
    assert (await sweep(older_than_s=0))["refunds"] == 1
    paid = await _payment(runtime, tenant.schema, p.id)
    assert paid.status == "partially_refunded" and paid.refunded_fen == 5000
    assert (await sweep(older_than_s=0))["refunds"] == 0  # settled: never asked again
    assert fake.calls.count(("query_refund", f"m-{tenant.slug}")) == 2
    tb = await _ledger(runtime, tenant.schema)
    assert tb["refunds"] == (before.get("refunds", (0, 0))[0] + 5000, 0)
    await check_ledger(runtime, office.tenant)


async def test_sweep_closes_expired_unpaid(api: Api, runtime: Runtime, fake: FakeProvider) -> None:
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    p = await start_payment(runtime, office, [await bill_for(runtime, office)])
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(
            update(OnlinePayment)
            .where(OnlinePayment.id == p.id)
            .values(created_at=datetime.now(UTC) - timedelta(hours=3))
        )
        counts = await service.sweep(s, runtime, tenant)
        await s.commit()
    assert counts["closed"] == 1
    assert (await _payment(runtime, tenant.schema, p.id)).status == "closed"
    assert fake.payments[(f"m-{tenant.slug}", p.out_trade_no)]["state"] == "closed"


async def test_reconciliation_lists_mismatches(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    p1 = await start_payment(runtime, office, [await bill_for(runtime, office)], key="a")
    p2 = await start_payment(runtime, office, [await bill_for(runtime, office, fen=500)], key="b")
    for i, p in enumerate((p1, p2)):
        await notify(api, tenant.slug, _paid(p, f"rc-{i}"))
    await process_all(runtime, tenant.slug)
    fake.statement_lines = [
        StatementLine(p1.out_trade_no, p1.provider_ref or "", "payment", p1.amount_fen),
        StatementLine("P-ELSEWHERE", "fx_other", "payment", 100),
    ]
    day = datetime.now(UTC).astimezone(tenant.zone).date()
    async with runtime.db.tenant_session(tenant.schema) as s:
        (report,) = await reconcile.reconcile_day(s, runtime, tenant, day)
        await s.commit()
    assert report.status == "mismatches"
    kinds = sorted((m["kind"], m.get("outTradeNo")) for m in report.mismatches)
    assert kinds == [("missing_here", "P-ELSEWHERE"), ("missing_there", p2.out_trade_no)]
    fake.statement_lines = [
        StatementLine(p1.out_trade_no, "", "payment", p1.amount_fen),
        StatementLine(p2.out_trade_no, "", "payment", 499),
    ]
    async with runtime.db.tenant_session(tenant.schema) as s:
        (report,) = await reconcile.reconcile_day(s, runtime, tenant, day)
        await s.commit()
    assert [m["kind"] for m in report.mismatches] == ["amount_differs"]
