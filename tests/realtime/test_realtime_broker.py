"""The broker: one Redis pub/sub connection multiplexing many local listeners, refcounted
channels, tenant-checked dispatch, and a slow listener dropped without holding up others."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from realtime_kit import until

from wuye.graphql.realtime import Broker, SlowListener


@pytest.fixture
async def broker(services) -> AsyncIterator[Broker]:
    redis = ArqRedis.from_url(services.redis_url)
    b = Broker(redis, prefix=f"wuye:test:{secrets.token_hex(4)}", queue_size=5)
    yield b
    await b.close()
    await redis.aclose()


async def test_many_listeners_share_one_subscription(broker):
    async with contextlib_stack(broker, "t1", ["inbox:1"], 200) as listeners:
        channel = broker.channel("t1", "inbox:1")
        assert (await broker.redis.pubsub_numsub(channel))[0][1] == 1
        await broker.publish("t1", "inbox:1", {"n": 1})
        got = await asyncio.gather(*(asyncio.wait_for(anext(x), 5) for x in listeners))
        assert {(e.tenant, e.topic, e.payload["n"]) for e in got} == {("t1", "inbox:1", 1)}
    # the last listener gone: unsubscribed
    assert broker.channels == []

    async def none_left() -> bool:
        return (await broker.redis.pubsub_numsub(channel))[0][1] == 0

    await until(none_left, "the UNSUBSCRIBE")


async def test_publish_many_and_tenant_mismatch_is_dropped(broker):
    async with broker.listen("t1", ["a", "b"]) as events:
        await broker.publish_many("t1", [("a", {"n": 1}), ("b", {"n": 2}), ("c", {"n": 3})])
        # a forged envelope naming another tenant on t1's channel never reaches t1
        forged = json.dumps({"tenant": "t2", "topic": "a", "payload": {"n": 9}})
        await broker.redis.publish(broker.channel("t1", "a"), forged)
        await broker.publish("t1", "a", {"n": 4})
        got = [(await asyncio.wait_for(anext(events), 5)).payload["n"] for _ in range(3)]
        assert got == [1, 2, 4]


async def test_a_slow_listener_is_dropped_not_the_others(broker):
    async with broker.listen("t1", ["x"]) as slow, broker.listen("t1", ["x"]) as fast:
        seen = []
        for n in range(12):  # the queue holds 5
            await broker.publish("t1", "x", {"n": n})
            seen.append((await asyncio.wait_for(anext(fast), 5)).payload["n"])
        assert seen == list(range(12))
        with pytest.raises(SlowListener):
            await asyncio.wait_for(anext(slow), 5)


def contextlib_stack(broker: Broker, tenant: str, topics: list[str], n: int):
    import contextlib

    @contextlib.asynccontextmanager
    async def stack() -> AsyncIterator[list]:
        async with contextlib.AsyncExitStack() as es:
            yield [await es.enter_async_context(broker.listen(tenant, topics)) for _ in range(n)]

    return stack()
