"""GraphQL over HTTP for the tenant and admin surfaces.

Follows the GraphQL-over-HTTP spec: a client that accepts
``application/graphql-response+json`` gets 4xx for requests that fail to parse or
validate; one that accepts only ``application/json`` gets the legacy 200. A request either
commits all its writes (a mutation without errors) or none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from graphql import GraphQLError, OperationType
from wuye.errors import AppError, pick_language
from wuye.graphql.context import Context, Surface
from wuye.identity.tokens import ADMIN_AUDIENCE, tenant_audience
from wuye.observability import observe, request_id_var, tenant_var

log = logging.getLogger("wuye.graphql")
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str | None:
    """The response media type, or None when the client accepts neither (406)."""
    if not accept:
        return JSON
    best, best_q = None, 0.0
    for part in accept.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        offer = (
            GRAPHQL_RESPONSE
            if media == GRAPHQL_RESPONSE
            else JSON
            if media in (JSON, "application/*", "*/*")
            else None
        )
        if offer is not None and q > best_q:  # q=0 means "not acceptable"; ties: first wins
            best, best_q = offer, q
    return best


class _Reply(Exception):
    def __init__(
        self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.errors = errors
        self.headers = headers


def _bad_request(status: int, lang: str, zh: str, en: str, **headers: str) -> _Reply:
    error = app_error_json(AppError("BAD_REQUEST", zh, en), lang)
    return _Reply(status, [error], {k.replace("_", "-"): v for k, v in headers.items()} or None)


def app_error_json(err: AppError, lang: str) -> dict[str, Any]:
    return {"message": err.message(lang), "extensions": {"code": err.code, **err.params}}


def _timed_out(exc: BaseException | None) -> bool:
    orig = getattr(exc, "orig", None)
    return type(orig).__name__ == "QueryCanceled"


def format_error(
    error: GraphQLError, lang: str, *, debug: bool, parse_failed: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = error.path
    original = error.original_error
    if isinstance(original, AppError):
        out.update(app_error_json(original, lang))
    elif original is None or (isinstance(original, GraphQLError) and not error.path):
        # parse/validation failures, and variables that cannot be coerced
        default = "GRAPHQL_PARSE_FAILED" if parse_failed else "GRAPHQL_VALIDATION_FAILED"
        out["extensions"] = {"code": default, **(error.extensions or {})}
    elif _timed_out(original):
        out.update(app_error_json(AppError("TIMEOUT"), lang))
    else:
        log.error("unhandled error in resolver", exc_info=original)
        internal = AppError("INTERNAL_SERVER_ERROR")
        out.update(app_error_json(internal, lang))
        if debug:
            out["message"] = f"{type(original).__name__}: {original}"
    return out


async def _read_params(request: Request, lang: str) -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        if "variables" in params:
            try:
                params["variables"] = json.loads(params["variables"])
            except ValueError:
                raise AppError("BAD_REQUEST") from None
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type == "application/graphql":
        return {"query": body.decode()}
    if content_type not in ("application/json", ""):
        raise _bad_request(
            415,
            lang,
            "请使用 application/json 或 application/graphql",
            "Send application/json or application/graphql",
        )
    try:
        params = json.loads(body)
    except ValueError:
        raise AppError("BAD_REQUEST") from None
    if not isinstance(params, dict):
        raise AppError("BAD_REQUEST")
    return params


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def graphql_endpoint(request: Request, surface: Surface) -> Response:
    runtime = request.app.state.runtime
    started = time.perf_counter()
    lang = pick_language(request.headers.get("accept-language"))
    if (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    ):
        if runtime.settings.debug:
            return HTMLResponse(_GRAPHIQL)
        return JSONResponse({"errors": [app_error_json(AppError("NOT_FOUND"), lang)]}, 404)
    media = negotiate(request.headers.get("accept"))
    if media is None:
        return JSONResponse({"errors": [app_error_json(AppError("BAD_REQUEST"), lang)]}, 406)
    strict = media == GRAPHQL_RESPONSE
    operation_name = None
    try:
        params = await _read_params(request, lang)
        query, operation_name = params.get("query"), params.get("operationName")
        variables = params.get("variables")
        if (
            not isinstance(query, str)
            or not query.strip()
            or (variables is not None and not isinstance(variables, dict))
        ):
            raise AppError("BAD_REQUEST")
        tenant, audience, executor = None, ADMIN_AUDIENCE, runtime.admin_api
        if surface is Surface.TENANT:
            tenant = await runtime.directory.for_request(request.headers)
            tenant_var.set(tenant.slug)
            audience, executor = tenant_audience(tenant.slug), runtime.tenant_api
        token = _bearer(request)
        claims, token_error = None, None
        if token:
            try:
                claims = runtime.tokens.verify_access(token, audience)
            except AppError as err:
                token_error = err

        prepared = executor.prepare(query)
        if prepared.errors:
            errors = [
                format_error(
                    e, lang, debug=runtime.settings.debug, parse_failed=prepared.parse_failed
                )
                for e in prepared.errors
            ]
            raise _Reply(400 if strict else 200, errors)
        operation = prepared.operation(operation_name)
        if operation is None:
            raise _bad_request(
                400 if strict else 200,
                lang,
                "未找到要执行的操作（请检查 operationName）",
                "Operation not found (check operationName)",
            )
        if operation_name is None and operation.name:
            operation_name = operation.name.value  # the document's only operation, for metrics
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise _bad_request(
                405,
                lang,
                "GET 只能执行查询，变更请用 POST",
                "Only queries over GET; POST mutations",
                Allow="GET, POST",
            )
        if token_error is not None and not (
            token_error.code == "TOKEN_EXPIRED" and executor.only_public_fields(operation)
        ):
            raise token_error  # only a genuine but expired token may still refresh / log in
        ctx = Context(
            runtime=runtime,
            request=request,
            surface=surface,
            tenant=tenant,
            lang=lang,
            request_id=request_id_var.get(),
            claims=claims,
        )
        result = None
        try:
            # asyncio.timeout, unlike wait_for, runs the work in this task: no extra task
            async with asyncio.timeout(runtime.settings.request_timeout_s):
                result = await executor.execute(
                    prepared, variables=variables, operation_name=operation_name, context=ctx
                )
        except TimeoutError:
            raise AppError("TIMEOUT") from None
        finally:
            commit = (
                result is not None
                and not result.errors
                and operation.operation is OperationType.MUTATION
            )
            await ctx.finish(commit=commit)
    except AppError as err:
        observe(surface, operation_name, err.code, started)
        return JSONResponse(
            {"errors": [app_error_json(err, lang)]}, err.http_status, media_type=media
        )
    except _Reply as reply:
        observe(surface, operation_name, "rejected", started)
        return JSONResponse(
            {"errors": reply.errors}, reply.status, headers=reply.headers, media_type=media
        )
    except Exception as exc:  # e.g. the commit failed: still a GraphQL-shaped answer
        failure = AppError("TIMEOUT") if _timed_out(exc) else AppError("INTERNAL_SERVER_ERROR")
        log.error("request failed outside the resolvers", exc_info=exc)
        observe(surface, operation_name, failure.code, started)
        return JSONResponse(
            {"errors": [app_error_json(failure, lang)]}, failure.http_status, media_type=media
        )

    if result.data is None and result.errors and all(not e.path for e in result.errors):
        # a request error (e.g. variables that do not fit): nothing executed, so no data
        observe(surface, operation_name, "rejected", started)
        errors = [format_error(e, lang, debug=runtime.settings.debug) for e in result.errors]
        return JSONResponse({"errors": errors}, 400 if strict else 200, media_type=media)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [
            format_error(e, lang, debug=runtime.settings.debug) for e in result.errors
        ]
    observe(surface, operation_name, "error" if result.errors else "ok", started)
    return JSONResponse(body, media_type=media)


_GRAPHIQL = """<!doctype html><html><head><meta charset="utf-8"><title>Wuye GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="g" style="height:100vh"></div>
<script src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>const f=GraphiQL.createFetcher({url:location.pathname,
headers:{"X-Tenant":new URLSearchParams(location.search).get("tenant")||""}});
ReactDOM.createRoot(document.getElementById("g")).render(React.createElement(GraphiQL,{fetcher:f}));
</script></body></html>"""
