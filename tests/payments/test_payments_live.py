"""A payer follows their payment live (graphql-transport-ws): the result arrives once the
provider's notification is processed, then the refund; a neighbour and another tenant's
resident with the same user id hear nothing; with billing off the field is refused."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Api
from kit import switch_module
from payments_kit import (
    FakeProvider,
    bill_for,
    info_of,
    notify,
    pay_office,
    process_all,
    registered_fake,
    start_payment,
)
from realtime_kit import in_process_server, open_socket, until_subscribed

from wuye.graphql.ids import gid
from wuye.identity.scope import DataScope
from wuye.modules.billing import settlement
from wuye.payments import realtime, service
from wuye.runtime import Runtime

CHANGED = """subscription { myOnlinePaymentChanged { paymentId status
  payment { id status amountFen refundedFen } } }"""
fake = pytest.fixture(registered_fake)


def _change(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "next", message
    return dict(message["payload"]["data"]["myOnlinePaymentChanged"])


def _paid(p: Any, event: str) -> dict[str, Any]:
    return {
        "event_id": event,
        "out_trade_no": p.out_trade_no,
        "ref": p.provider_ref,
        "state": "succeeded",
        "amount_fen": p.amount_fen,
    }


async def test_the_payer_hears_the_result_and_nobody_else(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    other = await pay_office(api, runtime)
    slug = office.tenant.slug
    p = await start_payment(runtime, office, [await bill_for(runtime, office)])
    async with (
        in_process_server(runtime) as port,
        open_socket(port, slug) as payer,
        open_socket(port, slug) as neighbour,
        open_socket(port, other.tenant.slug) as foreign,
    ):
        assert (await payer.init(office.resident.token))["type"] == "connection_ack"
        await neighbour.init(office.neighbour.token)
        await foreign.init(other.resident.token)
        for socket in (payer, neighbour, foreign):
            await socket.subscribe("1", CHANGED)
        await until_subscribed(runtime, slug, realtime.payer_topic(office.resident.user_id))
        await until_subscribed(runtime, slug, realtime.payer_topic(office.neighbour.user_id))
        await until_subscribed(
            runtime, other.tenant.slug, realtime.payer_topic(other.resident.user_id)
        )

        assert await notify(api, slug, _paid(p, "live-1")) == 200
        await payer.nothing_within(0.3)  # stored, not processed: nothing to tell yet
        assert await process_all(runtime, slug) == ["succeeded"]
        change = _change(await payer.recv())
        assert change["paymentId"] == gid("OnlinePayment", p.id)
        assert change["status"] == "succeeded"
        assert change["payment"]["amountFen"] == p.amount_fen

        # the same notification again changes nothing, so says nothing
        assert await notify(api, slug, _paid(p, "live-1")) == 200
        await process_all(runtime, slug)
        await payer.nothing_within(0.3)

        tenant = await info_of(runtime, office.tenant)
        staff = settlement.Actor(office.manager.user_id, True, frozenset({"*"}), DataScope(True))
        await service.refund_payment(
            runtime,
            tenant,
            staff,
            payment_id=p.id,
            amount_fen=1000,
            reason="多收",
            client_request_id="live-r1",
        )
        refunded = _change(await payer.recv())
        assert refunded["status"] == "partially_refunded"
        assert refunded["payment"]["refundedFen"] == 1000

        await neighbour.nothing_within(0.3)
        await foreign.nothing_within(0.3)


async def test_billing_off_refuses_the_subscription(
    api: Api, runtime: Runtime, fake: FakeProvider
) -> None:
    office = await pay_office(api, runtime)
    await switch_module(runtime, office.tenant, "billing", enabled=False)
    async with in_process_server(runtime) as port, open_socket(port, office.tenant.slug) as ws:
        await ws.init(office.resident.token)
        await ws.subscribe("1", CHANGED)
        message = await ws.recv()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "MODULE_DISABLED"
