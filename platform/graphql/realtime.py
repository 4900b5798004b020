"""Real-time events: a per-process broker on Redis pub/sub.

``publish(tenant, topic, payload)`` sends a JSON envelope ``{"tenant", "topic", "payload"}``
on channel ``<prefix>:rt:<tenant>:<topic>``; every API process that has a local listener
for that channel receives it. One Redis pub/sub connection per process carries every local
listener: channels are subscribed while at least one listener wants them (reference
counted) and a reader task hands each message to the listeners' bounded queues. A listener
that falls ``queue_size`` events behind is closed (``SlowListener``) rather than holding up
the others or growing without bound.

Delivery is at most once: an event published while a process is reconnecting to Redis is
lost for its listeners (clients refetch state after a reconnect anyway).

Service functions announce a change with ``publish_after_commit`` (or
``publish_many_after_commit``) inside their transaction, so a rolled-back change announces
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.db import after_commit

if TYPE_CHECKING:
    from wuye.runtime import Runtime

log = logging.getLogger(__name__)
DEFAULT_QUEUE_SIZE = 100
_PIPELINE_CHUNK = 1_000


@dataclass(frozen=True)
class Event:
    tenant: str
    topic: str
    payload: dict[str, Any]


class SlowListener(Exception):
    """The listener fell too far behind and was dropped."""


_OVERFLOW = object()
_CLOSED = object()


class Listener:
    """One local consumer of some channels: iterate it for ``Event``s."""

    def __init__(self, tenant: str, channels: Sequence[str], queue_size: int) -> None:
        self.tenant = tenant
        self.channels = tuple(dict.fromkeys(channels))
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._done = False

    def _offer(self, event: Event) -> None:
        if self._done:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._stop(_OVERFLOW)

    def _stop(self, marker: object) -> None:
        if self._done:
            return
        self._done = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(marker)

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if item is _OVERFLOW:
            raise SlowListener
        if item is _CLOSED:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]


class Broker:
    def __init__(
        self, redis: Any, *, prefix: str = "wuye", queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:rt"
        self.queue_size = queue_size
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = asyncio.Lock()  # orders SUBSCRIBE / UNSUBSCRIBE

    def channel(self, tenant: str, topic: str) -> str:
        if ":" in tenant:
            raise ValueError(f"not a tenant slug: {tenant!r}")
        return f"{self.prefix}:{tenant}:{topic}"

    # --- publishing ------------------------------------------------------------------------

    @staticmethod
    def _envelope(tenant: str, topic: str, payload: dict[str, Any]) -> str:
        return json.dumps(
            {"tenant": tenant, "topic": topic, "payload": payload}, separators=(",", ":")
        )

    async def publish(self, tenant: str, topic: str, payload: dict[str, Any]) -> None:
        await self.redis.publish(
            self.channel(tenant, topic), self._envelope(tenant, topic, payload)
        )

    async def publish_many(self, tenant: str, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Many (topic, payload) events of one tenant, pipelined (one round trip per 1,000)."""
        batch = list(events)
        for i in range(0, len(batch), _PIPELINE_CHUNK):
            pipe = self.redis.pipeline(transaction=False)
            for topic, payload in batch[i : i + _PIPELINE_CHUNK]:
                pipe.publish(self.channel(tenant, topic), self._envelope(tenant, topic, payload))
            await pipe.execute()

    # --- listening -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def listen(self, tenant: str, topics: Sequence[str]) -> AsyncIterator[Listener]:
        """``async with broker.listen(tenant, [topic, ...]) as events: async for e in events``

        The channels are subscribed on Redis when this returns (listen first, then read
        the state, and no change between the two is missed)."""
        listener = Listener(tenant, [self.channel(tenant, t) for t in topics], self.queue_size)
        await self._add(listener)
        try:
            yield listener
        finally:
            listener._stop(_CLOSED)
            await asyncio.shield(self._remove(listener))

    async def _add(self, listener: Listener) -> None:
        async with self._lock:
            new = [c for c in listener.channels if c not in self._listeners]
            for c in listener.channels:
                self._listeners.setdefault(c, set()).add(listener)
            if new:
                try:
                    if self._pubsub is None:
                        self._pubsub = self.redis.pubsub()
                    await self._pubsub.subscribe(*new)
                except BaseException:
                    self._discard(listener)
                    raise
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="realtime-broker")

    def _discard(self, listener: Listener) -> list[str]:
        emptied = []
        for c in listener.channels:
            found = self._listeners.get(c)
            if found is None:
                continue
            found.discard(listener)
            if not found:
                del self._listeners[c]
                emptied.append(c)
        return emptied

    async def _remove(self, listener: Listener) -> None:
        async with self._lock:
            emptied = self._discard(listener)
            if emptied and self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(*emptied)
                except Exception:  # reconnecting: on_connect resubscribes only what is left
                    log.warning("realtime: unsubscribe failed", exc_info=True)

    @property
    def channels(self) -> list[str]:
        """The channels this process listens to now."""
        return sorted(self._listeners)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=5.0
                )
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: the next read reconnects and resubscribes
                log.warning("realtime: lost the Redis pub/sub connection; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            self._dispatch(message["channel"], message["data"])

    def _dispatch(self, raw_channel: bytes | str, data: bytes | str) -> None:
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        listeners = self._listeners.get(channel)
        if not listeners:
            return
        try:
            doc = json.loads(data)
            event = Event(str(doc["tenant"]), str(doc["topic"]), dict(doc["payload"]))
        except (ValueError, KeyError, TypeError):
            log.warning("realtime: malformed event on %s", channel)
            return
        for listener in list(listeners):
            if event.tenant != listener.tenant:  # never another tenant's event
                log.error(
                    "realtime: event of tenant %r on a channel of %r dropped",
                    event.tenant,
                    listener.tenant,
                )
                continue
            listener._offer(event)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener._stop(_CLOSED)
        self._listeners.clear()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None


# --- announcing a change after commit -------------------------------------------------------


def publish_after_commit(
    session: AsyncSession, runtime: Runtime, tenant: str, topic: str, payload: dict[str, Any]
) -> None:
    """Publish once ``session``'s transaction has committed (a rollback publishes nothing)."""
    publish_many_after_commit(session, runtime, tenant, [(topic, payload)])


def publish_many_after_commit(
    session: AsyncSession,
    runtime: Runtime,
    tenant: str,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Many (topic, payload) events after commit, in one pipelined publish."""
    if not events:
        return
    batch = list(events)

    async def publish() -> None:
        try:
            await runtime.broker.publish_many(tenant, batch)
        except Exception:  # the change is committed; a lost event only delays a client
            log.warning("realtime: publishing %d event(s) failed", len(batch), exc_info=True)

    after_commit(session, publish)
