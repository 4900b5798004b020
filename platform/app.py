"""Starlette application: GraphQL surfaces, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from wuye.graphql.context import Surface
from wuye.graphql.http import graphql_endpoint
from wuye.graphql.ws import tenant_graphql_ws
from wuye.observability import metrics_payload, request_id_var, tenant_var
from wuye.payments.routes import ROUTES as PAYMENT_ROUTES
from wuye.runtime import Runtime
from wuye.settings import Settings, get_settings
from wuye.storage.routes import ROUTES as STORAGE_ROUTES

log = logging.getLogger("wuye.http")


class RequestContextMiddleware:
    """Request id (from ``X-Request-ID`` or new) in logs and the response; one access log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        rid_token = request_id_var.set(rid)
        tenant_token = tenant_var.set("")
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Any) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not response_started:  # answer here so even a crash carries the request id
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send_with_id)
            raise
        finally:
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )
            request_id_var.reset(rid_token)
            tenant_var.reset(tenant_token)


async def tenant_graphql(request: Request) -> Response:
    return await graphql_endpoint(request, Surface.TENANT)


async def admin_graphql(request: Request) -> Response:
    return await graphql_endpoint(request, Surface.ADMIN)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}
    try:
        async with runtime.db.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(runtime.redis.ping(), 2)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    body, content_type = metrics_payload()
    return Response(body, media_type=content_type)


def create_app(runtime: Runtime | None = None, settings: Settings | None = None) -> Starlette:
    """The ASGI app. Given a runtime (tests, ``wuye dev``) it uses it; otherwise it builds one
    from settings at start-up and closes it at shutdown."""
    settings = settings or (runtime.settings if runtime else get_settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = runtime is None
        rt = runtime or Runtime.create(
            settings, database_url=settings.database_url, redis_url=settings.redis_url
        )
        app.state.runtime = rt
        listener = asyncio.create_task(rt.directory.listen_for_invalidation())
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            if own:
                await rt.close()

    app = Starlette(
        debug=False,
        routes=[
            Route("/graphql", tenant_graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", tenant_graphql_ws),  # subscriptions (graphql-transport-ws)
            Route("/admin/graphql", admin_graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *STORAGE_ROUTES,  # the local storage backend's upload and download URLs
            *PAYMENT_ROUTES,  # provider notifications: /payments/notify/<provider>/<tenant>
        ],
        lifespan=lifespan,
    )
    if runtime is not None:
        app.state.runtime = runtime  # usable without running the lifespan (tests)
    app.add_middleware(RequestContextMiddleware)
    return app
