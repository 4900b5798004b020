"""Helpers for the real-time tests: a real uvicorn server (in this process, or a separate
API process), a graphql-transport-ws client on ``websockets``, and waiting until a process
has subscribed on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import IO, Any

import httpx
import uvicorn
from kit import until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wuye.app import create_app
from wuye.runtime import Runtime

PROTOCOL = "graphql-transport-ws"
INBOX_CHANGED = "subscription { inboxChanged { unreadCount reason messageId } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def in_process_server(runtime: Runtime) -> AsyncIterator[int]:
    """The app on ``runtime`` under a real uvicorn server on a free port (this loop)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 10)


class ApiProcess:
    """``uvicorn --factory wuye.app:create_app`` in a process of its own."""

    def __init__(self, env: dict[str, str], log: IO[bytes]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "wuye.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env={**os.environ, **env},
            cwd=tempfile.gettempdir(),  # no stray .env
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"API process exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("API process did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Socket:
    """A graphql-transport-ws client connection."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.conn.recv(), within))  # type: ignore[no-any-return]

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            message = await asyncio.wait_for(self.conn.recv(), seconds)
            raise AssertionError(f"expected nothing, got {message!r}")

    async def init(self, token: str | None, **payload: Any) -> dict[str, Any]:
        if token is not None:
            payload["Authorization"] = f"Bearer {token}"
        await self.send({"type": "connection_init", "payload": payload})
        return await self.recv()

    async def subscribe(self, op_id: str, query: str, **extra: Any) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, **extra}})

    async def closed_with(self, within: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; its close code and reason."""
        deadline = time.monotonic() + within
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(self.conn.recv(), deadline - time.monotonic())
        except ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
        raise AssertionError("the server did not close the socket")


@contextlib.asynccontextmanager
async def open_socket(
    port: int, tenant: str | None, *, protocol: str | None = PROTOCOL, host: str | None = None
) -> AsyncIterator[Socket]:
    """A socket to ``tenant`` (``X-Tenant``), or to ``host`` (sent as the Host header)."""
    headers = {"X-Tenant": tenant} if tenant is not None else {}
    async with connect(
        f"ws://{host or '127.0.0.1'}:{port}/graphql",
        host="127.0.0.1",  # connect here whatever the URI's (Host header) name
        port=port,
        subprotocols=[protocol] if protocol else None,  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=5,
    ) as conn:
        yield Socket(conn)


async def subscribers(runtime: Runtime, tenant: str, topic: str) -> int:
    """How many Redis connections (processes) listen to the topic now."""
    found = await runtime.redis.pubsub_numsub(runtime.broker.channel(tenant, topic))
    return int(found[0][1]) if found else 0


async def until_subscribed(runtime: Runtime, tenant: str, topic: str, n: int = 1) -> None:
    async def enough() -> bool:
        return await subscribers(runtime, tenant, topic) >= n

    await until(enough, f"{n} subscriber(s) of {tenant}/{topic}")
