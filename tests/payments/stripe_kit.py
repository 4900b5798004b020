"""Local servers for the Stripe adapter's tests.

- ``LocalStripe``: a real localstripe process (a stateful Stripe API fake) on a free port,
  started from scratch and stopped at the end. It never writes ``/tmp/localstripe.pickle``
  (its store is kept in memory only, so parallel runs don't share one file).
- ``RecordingProxy``: sits between the adapter and localstripe and records every request
  (method, path, ``Authorization``, ``Idempotency-Key``, form parameters). It also gives
  what localstripe lacks: Stripe's idempotency (a repeated ``Idempotency-Key`` from the
  same key replays the first answer, with other parameters it is a 400
  ``idempotency_error``) and it drops parameters localstripe rejects (``description``)
  after recording them.
- ``FaultServer``: answers every request with a 500, or sleeps past the client's timeout.
- ``WebhookReceiver``: records the webhooks localstripe posts (signed with its own code).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

# localstripe's server, with its store never dumped to /tmp/localstripe.pickle
LAUNCH = (
    "import localstripe.resources as r; r.Store.dump_to_disk = lambda self: None; "
    "from localstripe.server import start; start()"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStripe:
    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    @contextlib.contextmanager
    def start(cls, timeout: float = 20.0) -> Iterator[LocalStripe]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "--port", str(port), "--from-scratch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"localstripe exited with {process.returncode}")
                try:
                    # any HTTP answer (401 without a key) means it is serving
                    httpx.get(f"{url}/v1/payment_intents", timeout=1.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("localstripe did not start") from None
                    time.sleep(0.1)
            yield cls(url, process)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def objects(self, secret_key: str, resource: str, **params: str) -> list[dict[str, Any]]:
        """Objects straight from localstripe (bypassing the adapter and the proxy)."""
        r = httpx.get(
            f"{self.url}/v1/{resource}",
            params=params,
            headers={"Authorization": f"Bearer {secret_key}"},
        )
        r.raise_for_status()
        return list(r.json()["data"])

    def register_webhook(self, url: str, secret: str, events: list[str]) -> None:
        r = httpx.post(
            f"{self.url}/_config/webhooks/wuye-test",
            json={"url": url, "secret": secret, "events": events},
        )
        r.raise_for_status()


class _Server:
    """A ThreadingHTTPServer on a free port in a daemon thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        outer = self

        class Handler(self.handler):  # type: ignore[name-defined,misc]
            server_owner = outer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    authorization: str
    idempotency_key: str
    params: dict[str, str]
    status: int
    replayed: bool = False

    @property
    def api_key(self) -> str:
        return self.authorization.removeprefix("Bearer ")


class _ProxyHandler(BaseHTTPRequestHandler):
    server_owner: RecordingProxy

    def do_GET(self) -> None:
        self.server_owner.forward(self, b"")

    def do_POST(self) -> None:
        self.server_owner.forward(self, _read_body(self))

    def do_DELETE(self) -> None:
        self.server_owner.forward(self, b"")


@dataclass
class RecordingProxy(_Server):
    upstream: str
    drop_params: tuple[str, ...] = ("description",)
    requests: list[Recorded] = field(default_factory=list)
    handler = _ProxyHandler

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._idempotent: dict[tuple[str, str], tuple[str, dict[str, str], int, bytes]] = {}
        self._client = httpx.Client(timeout=30)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._client.close()

    def forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        auth = h.headers.get("Authorization", "")
        idem = h.headers.get("Idempotency-Key", "")
        split = urlsplit(h.path)
        params = dict(parse_qsl(body.decode() if body else split.query, keep_blank_values=True))
        with self._lock:  # one request at a time per idempotency key (good enough here)
            cached = self._idempotent.get((auth, idem)) if idem else None
            if cached is not None:
                path, first_params, status, answer = cached
                if path != split.path or first_params != params:
                    status, answer = (
                        400,
                        json.dumps(
                            {
                                "error": {
                                    "type": "idempotency_error",
                                    "message": "Keys for "
                                    "idempotent requests can only be used with the same parameters",
                                }
                            }
                        ).encode(),
                    )
                    self._record(h, split.path, auth, idem, params, status)
                    return _answer(h, status, answer)
                self._record(h, split.path, auth, idem, params, status, replayed=True)
                return _answer(h, status, answer, Idempotent_Replayed="true")
            sent = [(k, v) for k, v in parse_qsl(body.decode()) if k not in self.drop_params]
            headers = {"Authorization": auth} if auth else {}
            if h.command == "POST":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            r = self._client.request(
                h.command,
                self.upstream + h.path,
                headers=headers,
                content=urlencode(sent).encode() if h.command == "POST" else None,
            )
            if idem and r.status_code < 500:
                self._idempotent[(auth, idem)] = (split.path, params, r.status_code, r.content)
            self._record(h, split.path, auth, idem, params, r.status_code)
        _answer(h, r.status_code, r.content)

    def _record(
        self,
        h: Any,
        path: str,
        auth: str,
        idem: str,
        params: dict[str, str],
        status: int,
        replayed: bool = False,
    ) -> None:
        self.requests.append(Recorded(h.command, path, auth, idem, params, status, replayed))


class _FaultHandler(BaseHTTPRequestHandler):
    server_owner: FaultServer

    def _fail(self) -> None:
        _read_body(self)
        self.server_owner.hits += 1
        if self.server_owner.mode == "sleep":
            time.sleep(self.server_owner.delay)
        with contextlib.suppress(OSError):
            _answer(self, 500, b'{"error": {"type": "api_error", "message": "boom"}}')

    do_GET = do_POST = _fail


@dataclass
class FaultServer(_Server):
    mode: str = "500"  # 500 | sleep
    delay: float = 3.0
    hits: int = 0
    handler = _FaultHandler

    def __post_init__(self) -> None:
        super().__init__()


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class _HookHandler(BaseHTTPRequestHandler):
    server_owner: WebhookReceiver

    def do_POST(self) -> None:
        body = _read_body(self)
        owner = self.server_owner
        with owner.arrived:
            owner.deliveries.append(Delivery(dict(self.headers.items()), body))
            owner.arrived.notify_all()
        _answer(self, 200, b'{"received": true}')


@dataclass
class WebhookReceiver(_Server):
    deliveries: list[Delivery] = field(default_factory=list)
    handler = _HookHandler

    def __post_init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    def wait_for(self, event_type: str, object_id: str, timeout: float = 10.0) -> Delivery:
        def found() -> Delivery | None:
            for d in self.deliveries:
                e = d.event
                if e.get("type") == event_type and e["data"]["object"].get("id") == object_id:
                    return d
            return None

        with self.arrived:
            if not self.arrived.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no {event_type} webhook for {object_id}")
        delivery = found()
        assert delivery is not None
        return delivery


def pay_as_client(
    api_url: str, secret_key: str, intent: str, payment_method: str
) -> httpx.Response:
    """What the app does with Stripe.js: attach a test payment method and confirm.

    (localstripe cannot take ``payment_method`` on ``confirm`` itself, so it is set first.)
    """
    auth = {"Authorization": f"Bearer {secret_key}"}
    r = httpx.post(
        f"{api_url}/v1/payment_intents/{intent}",
        data={"payment_method": payment_method},
        headers=auth,
    )
    r.raise_for_status()
    return httpx.post(f"{api_url}/v1/payment_intents/{intent}/confirm", headers=auth)
