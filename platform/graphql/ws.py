"""GraphQL subscriptions over WebSocket: the ``graphql-transport-ws`` protocol on the tenant
surface (``/graphql``).

The tenant is resolved at the handshake exactly like HTTP (``X-Tenant``, else ``Host``);
the client signs in with ``connection_init`` (``{"Authorization": "Bearer <access
token>"}``), verified for this tenant's audience. Only subscription operations run here;
queries and mutations stay on HTTP. Every event is re-checked before it is sent: it must be
this tenant's, the tenant still active, the token not expired (else close 4401 and the
client reconnects with a fresh token) and the subscription's module still on. An event is
resolved with a short-lived database session, released once it is sent.

Close codes: 4400 invalid message, 4401 subscribe before ``connection_ack`` or token
expired, 4403 refused ``connection_init`` (no / bad / other tenant's token, disabled
account) or tenant suspended, 4404 unknown tenant, 4406 subprotocol not offered, 4408 no
``connection_init`` in time, 4409 duplicate subscription id, 4429 a second
``connection_init``, 4500 internal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import jwt
from starlette.websockets import WebSocket, WebSocketState

from graphql import ExecutionResult, OperationType
from wuye.errors import AppError, pick_language
from wuye.graphql.context import Context, Surface
from wuye.graphql.http import app_error_json, format_error
from wuye.graphql.realtime import SlowListener
from wuye.identity.models import User
from wuye.identity.tokens import AccessClaims, tenant_audience
from wuye.observability import request_id_var, tenant_var
from wuye.tenancy.directory import TenantInfo

log = logging.getLogger("wuye.graphql.ws")
PROTOCOL = "graphql-transport-ws"
CONNECTION_INIT_TIMEOUT_S = 10.0
MAX_SUBSCRIPTIONS = 50  # per socket


class CloseConnection(Exception):
    """Raised anywhere in a subscription to close the whole socket."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _too_slow() -> AppError:
    return AppError(
        "SUBSCRIPTION_TOO_SLOW",
        "接收太慢，订阅已结束，请重新订阅",
        "Events were not read fast enough; subscribe again",
    )


def _only_subscriptions() -> AppError:
    return AppError(
        "BAD_REQUEST",
        "WebSocket 只接受订阅，查询和变更请用 HTTP",
        "Only subscriptions over WebSocket; send queries and mutations over HTTP",
    )


class SubscriptionContext(Context):
    """The context of one subscription: its own session, opened only while it starts or
    resolves an event (a socket never holds a database connection while it waits)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(
            runtime=conn.runtime,
            request=cast(Any, conn.ws),  # headers and client, like a request
            surface=Surface.TENANT,
            tenant=conn.tenant,
            lang=conn.lang,
            request_id=conn.request_id,
            claims=conn.claims,
        )
        self.connection = conn
        self.modules: set[str] = set()  # filled by SubscriptionAccess: re-checked per event

    async def release(self) -> None:
        """Give the database connection back (the principal stays loaded)."""
        self.loaders.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()  # ends the transaction; loaded objects stay usable

    async def events(self, *topics: str) -> AsyncIterator[dict[str, Any]]:
        """The payloads published on ``topics`` of this tenant, each re-checked first.

        ``async for payload in ctx.events(topic): ... yield SomeType(...)``
        """
        await self.release()
        assert self.tenant is not None
        async with self.runtime.broker.listen(self.tenant.slug, topics) as listener:
            async for event in listener:
                if event.tenant != self.tenant.slug:  # the broker filters too
                    log.error(
                        "event of tenant %r on a socket of %r dropped",
                        event.tenant,
                        self.tenant.slug,
                    )
                    continue
                await self.connection.check_still_allowed(self.modules)
                yield event.payload


class Connection:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.runtime = ws.app.state.runtime
        self.lang = pick_language(ws.headers.get("accept-language"))
        self.request_id = ws.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        self.tenant: TenantInfo | None = None
        self.claims: AccessClaims | None = None
        self.expires_at = 0.0
        self.init_received = False
        self.acked = False
        self.closed = False
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    # --- transport -------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            if not self.closed:
                await self.ws.send_text(json.dumps(message, separators=(",", ":"), default=str))

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason)
        current = asyncio.current_task()
        for task in list(self.tasks.values()):
            if task is not current:
                task.cancel()

    # --- the socket ------------------------------------------------------------------------

    async def serve(self) -> None:
        request_id_var.set(self.request_id)
        if PROTOCOL not in (self.ws.scope.get("subprotocols") or []):
            await self.ws.accept()
            await self.close(4406, "Subprotocol not acceptable")
            return
        try:
            self.tenant = await self.runtime.directory.for_request(self.ws.headers)
        except AppError as err:
            await self.ws.accept(subprotocol=PROTOCOL)
            await self.close(4404 if err.code == "TENANT_NOT_FOUND" else 4403, err.message("en"))
            return
        tenant_var.set(self.tenant.slug)
        await self.ws.accept(subprotocol=PROTOCOL)
        timer = asyncio.create_task(self._init_timeout())
        try:
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    await self.close(4400, "Invalid message received")
                    break
                await self._handle(text)
        except Exception:
            log.exception("websocket failed")
            await self.close(4500, "Internal server error")
        finally:
            self.closed = True
            timer.cancel()
            tasks = list(self.tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(timer, *tasks, return_exceptions=True)
            if self.ws.application_state is not WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close(1000)

    async def _init_timeout(self) -> None:
        await asyncio.sleep(CONNECTION_INIT_TIMEOUT_S)
        if not self.init_received:
            await self.close(4408, "Connection initialisation timeout")

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(kind, str):
            await self.close(4400, "Invalid message received")
        elif kind == "connection_init":
            if self.init_received:
                await self.close(4429, "Too many initialisation requests")
                return
            self.init_received = True
            await self._connection_init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.tasks.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self.close(4400, f"Invalid message type {kind[:40]!r}")

    # --- sign-in ---------------------------------------------------------------------------

    async def _connection_init(self, payload: Any) -> None:
        assert self.tenant is not None
        token = _token_of(payload)
        if token is None:
            await self.close(4403, "Forbidden")
            return
        try:
            claims = self.runtime.tokens.verify_access(token, tenant_audience(self.tenant.slug))
            expires_at = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (AppError, jwt.PyJWTError, KeyError, TypeError, ValueError):
            await self.close(4403, "Forbidden")
            return
        async with self.runtime.db.tenant_session(self.tenant.schema, self.tenant.cluster) as s:
            user = await s.get(User, claims.subject_id)
            active = user is not None and user.is_active
        if not active:
            await self.close(4403, "Forbidden")
            return
        self.claims, self.expires_at, self.acked = claims, expires_at, True
        await self.send({"type": "connection_ack"})

    async def check_still_allowed(self, modules: set[str]) -> None:
        """Before each event: the tenant still active, the token unexpired, modules on."""
        assert self.tenant is not None
        if time.time() >= self.expires_at:
            raise CloseConnection(4401, "Token expired")
        info = await self.runtime.directory.by_slug(self.tenant.slug)
        if info is None or not info.active:
            raise CloseConnection(4403, "Tenant suspended")
        for key in modules:
            if not self.runtime.module_enabled(info, key):
                raise AppError("MODULE_DISABLED", module=key)

    # --- operations ------------------------------------------------------------------------

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acked:
            await self.close(4401, "Unauthorized")
            return
        op_id, payload = message.get("id"), message.get("payload")
        if (
            not isinstance(op_id, str)
            or not op_id
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("operationName") or "", str)
        ):
            await self.close(4400, "Invalid message received")
            return
        if op_id in self.tasks:
            await self.close(4409, f"Subscriber for {op_id[:40]} already exists")
            return
        if len(self.tasks) >= MAX_SUBSCRIPTIONS:
            err = AppError(
                "BAD_REQUEST",
                f"每个连接最多{MAX_SUBSCRIPTIONS}个订阅",
                f"At most {MAX_SUBSCRIPTIONS} subscriptions per connection",
            )
            await self._error(op_id, [app_error_json(err, self.lang)])
            return
        self.tasks[op_id] = asyncio.create_task(self._run(op_id, payload))

    async def _error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        await self.send({"id": op_id, "type": "error", "payload": errors})

    def _format(self, result: ExecutionResult) -> list[dict[str, Any]]:
        debug = self.runtime.settings.debug
        return [format_error(e, self.lang, debug=debug) for e in result.errors or []]

    async def _run(self, op_id: str, payload: dict[str, Any]) -> None:
        ctx = SubscriptionContext(self)
        try:
            await self._execute(op_id, payload, ctx)
        except CloseConnection as close:
            await self.close(close.code, close.reason)
        except SlowListener:
            await self._error(op_id, [app_error_json(_too_slow(), self.lang)])
        except AppError as err:
            await self._error(op_id, [app_error_json(err, self.lang)])
        except asyncio.CancelledError:
            pass  # the client completed it, or the socket closed
        except Exception:
            log.exception("subscription failed")
            await self._error(op_id, [app_error_json(AppError("INTERNAL_SERVER_ERROR"), self.lang)])
        finally:
            with contextlib.suppress(Exception):
                await ctx.release()
            if self.tasks.get(op_id) is asyncio.current_task():
                del self.tasks[op_id]

    async def _execute(self, op_id: str, payload: dict[str, Any], ctx: SubscriptionContext) -> None:
        assert self.tenant is not None
        current = await self.runtime.directory.by_slug(self.tenant.slug)  # modules as of now
        if current is None or not current.active:
            raise CloseConnection(4403, "Tenant suspended")
        ctx.tenant = current
        executor = self.runtime.tenant_api
        prepared = executor.prepare(payload["query"])
        if prepared.errors:
            debug = self.runtime.settings.debug
            errors = [
                format_error(e, self.lang, debug=debug, parse_failed=prepared.parse_failed)
                for e in prepared.errors
            ]
            await self._error(op_id, errors)
            return
        operation_name = payload.get("operationName") or None
        operation = prepared.operation(operation_name)
        if operation is None:
            err = AppError("BAD_REQUEST", "未找到要执行的操作", "Operation not found")
            await self._error(op_id, [app_error_json(err, self.lang)])
            return
        if operation.operation is not OperationType.SUBSCRIPTION:
            await self._error(op_id, [app_error_json(_only_subscriptions(), self.lang)])
            return
        stream = await executor.subscribe(
            prepared,
            variables=payload.get("variables"),
            operation_name=operation_name,
            context=ctx,
        )
        await ctx.release()
        if isinstance(stream, ExecutionResult):
            await self._error(op_id, self._format(stream))
            return
        try:
            async for result in stream:
                await ctx.release()
                body: dict[str, Any] = {"data": result.data}
                if result.errors:
                    body["errors"] = self._format(result)
                await self.send({"id": op_id, "type": "next", "payload": body})
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        await self.send({"id": op_id, "type": "complete"})


def _token_of(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in ("Authorization", "authorization", "token"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            scheme, _, rest = value.strip().partition(" ")
            return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value.strip()
    return None


async def tenant_graphql_ws(websocket: WebSocket) -> None:
    await Connection(websocket).serve()
