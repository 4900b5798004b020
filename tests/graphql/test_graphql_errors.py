"""Errors: stable codes, zh-CN / en messages, masked internals, timeouts."""

from __future__ import annotations

import logging

import httpx
import pytest
from conftest import make_tenant
from graphql_kit import LEAK, api_for, codes, kit_runtime
from sqlalchemy import func, select

from wuye.app import create_app
from wuye.errors import AppError, pick_language
from wuye.identity.models import AuditLog


def test_language_choice():
    assert pick_language(None) == "zh-CN"
    assert pick_language("") == "zh-CN"
    assert pick_language("en") == "en"
    assert pick_language("en-US,en;q=0.9") == "en"
    assert pick_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert pick_language("en;q=0.5, zh-TW") == "zh-CN"
    assert pick_language("fr-FR") == "zh-CN"
    assert pick_language("fr, en;q=0.3") == "en"


def test_app_errors_need_a_catalogued_code_or_both_texts():
    with pytest.raises(ValueError):
        AppError("NO_SUCH_CODE")
    err = AppError("NO_SUCH_CODE", "中文", "English")
    assert err.message("zh-CN") == "中文" and err.message("en") == "English"
    assert err.http_status == 400


async def test_messages_follow_accept_language_and_codes_do_not(api, tenant):
    cases = [
        # (query, tenant, expected code, zh message, en message)
        ("{ me { id } }", tenant.slug, "UNAUTHENTICATED", "请先登录", "Please sign in first"),
        (
            "{ tenant { slug } }",
            "no-such-tenant-q",
            "TENANT_NOT_FOUND",
            "未找到该物业公司",
            "No property company at this address",
        ),
    ]
    for q, slug, code, zh, en in cases:
        default = (await api.post(q, tenant=slug)).json()
        chinese = (
            await api.post(q, tenant=slug, headers={"accept-language": "zh-CN,zh;q=0.9"})
        ).json()
        english = (
            await api.post(q, tenant=slug, headers={"accept-language": "en-GB,en;q=0.8"})
        ).json()
        assert codes(default) == codes(chinese) == codes(english) == [code]
        assert default["errors"][0]["message"] == chinese["errors"][0]["message"] == zh
        assert english["errors"][0]["message"] == en


async def test_error_parameters_reach_the_message_and_extensions(
    api, tenant, admin_token, settings
):
    q = "{ users(first: 100000) { totalCount } }"
    en = (
        await api.post(q, tenant=tenant.slug, token=admin_token, headers={"accept-language": "en"})
    ).json()
    zh = (await api.post(q, tenant=tenant.slug, token=admin_token)).json()
    assert codes(en) == codes(zh) == ["VALIDATION_FAILED"]
    assert en["errors"][0]["extensions"]["field"] == "first"
    assert str(settings.graphql_max_page_size) in en["errors"][0]["message"]
    assert en["errors"][0]["message"] != zh["errors"][0]["message"]
    assert en["errors"][0]["path"] == ["users"]


async def test_internal_errors_are_masked_in_production(settings, services, caplog):
    # given a production runtime with a resolver that fails unexpectedly
    async with kit_runtime(settings, services, debug=False, env="production") as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            # when it is called
            with caplog.at_level(logging.ERROR, logger="wuye.graphql"):
                response = await api.post("{ kitBoom }", tenant=tenant.slug)
                en = await api.post(
                    "{ kitBoom }", tenant=tenant.slug, headers={"accept-language": "en"}
                )
            # then the client learns nothing of the cause
            assert response.status_code == 200
            body = response.json()
            assert codes(body) == codes(en.json()) == ["INTERNAL_SERVER_ERROR"]
            assert body["errors"][0]["message"] == "服务器内部错误"
            assert en.json()["errors"][0]["message"] == "Internal server error"
            assert LEAK not in response.text and LEAK not in en.text
            assert "RuntimeError" not in response.text
            # but the log has it
            assert any(r.exc_info and LEAK in str(r.exc_info[1]) for r in caplog.records)
            # while expected errors still come through as themselves
            refused = await api("{ kitRefuse }", tenant=tenant.slug)
            assert codes(refused) == ["CONFLICT"]
            # and GraphiQL is not served
            page = await api.client.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 404


async def test_internal_errors_are_shown_in_debug(settings, services):
    async with kit_runtime(settings, services) as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            body = await api("{ kitBoom }", tenant=tenant.slug)
    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert LEAK in body["errors"][0]["message"]


async def test_statement_timeout(settings, services):
    # given a runtime whose statements may run 100 ms
    async with kit_runtime(settings, services, statement_timeout_ms=100) as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            # when a resolver's query runs a second
            body = await api("{ kitSleep(seconds: 1) }", tenant=tenant.slug)
            en = await api(
                "{ kitSleep(seconds: 1) }", tenant=tenant.slug, headers={"accept-language": "en"}
            )
            # then the request times out, and the connection is fit for the next request
            assert codes(body) == codes(en) == ["TIMEOUT"]
            assert en["errors"][0]["message"] == "The request took too long"
            ok = await api("{ kitSleep(seconds: 0) }", tenant=tenant.slug)
            assert ok["data"] == {"kitSleep": 1}


async def test_request_timeout(settings, services):
    # given a runtime that gives a whole request 0.3 s
    async with kit_runtime(settings, services, request_timeout_s=0.3) as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            # when a request takes longer
            response = await api.post("{ kitSleep(seconds: 2) }", tenant=tenant.slug)
            # then it is cut off with 504
            assert response.status_code == 504
            assert codes(response.json()) == ["TIMEOUT"]
            # and the next request is served normally
            ok = await api("{ kitSleep(seconds: 0) }", tenant=tenant.slug)
            assert ok["data"] == {"kitSleep": 1}


async def test_a_failing_commit_is_a_graphql_error_and_leaves_nothing(settings, services):
    # given a mutation whose writes fail only when the request commits
    async with kit_runtime(settings, services, debug=False, env="production") as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            # when it runs
            response = await api.post(
                "mutation { kitBadCommit }",
                tenant=tenant.slug,
                headers={"x-request-id": "commit-fails"},
            )
        async with rt.db.tenant_session(tenant.schema) as s:
            audited = await s.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "kitBadCommit")
            )
    # then the client gets a GraphQL error, with the request id, and nothing was written
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "commit-fails"
    assert codes(response.json()) == ["INTERNAL_SERVER_ERROR"]
    assert response.json()["errors"][0]["message"] == "服务器内部错误"
    assert audited == 0


async def test_even_a_crash_carries_the_request_id(runtime):
    async def crash(request):
        raise RuntimeError("bug")

    app = create_app(runtime)
    app.add_route("/crash", crash)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/crash", headers={"x-request-id": "crash-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "crash-1"


async def test_a_failing_after_commit_hook_does_not_fail_a_committed_request(runtime, tenant):
    """Given a mutation whose after-commit hook fails (e.g. Redis is briefly down),
    when the request commits, then the change stays, the hook error is only logged."""
    from sqlalchemy import select
    from starlette.requests import Request

    from wuye.graphql.context import Context, Surface
    from wuye.identity.models import AuditLog

    info = await runtime.directory.by_slug(tenant.slug)
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.1", 1),
        }
    )
    ctx = Context(
        runtime=runtime,
        request=request,
        surface=Surface.TENANT,
        tenant=info,
        lang="en",
        request_id="hook-test",
        claims=None,
    )
    ctx.session.add(AuditLog(actor_kind="system", action="hookTest", object_id="kept"))
    ran = []

    async def failing() -> None:
        ran.append(True)
        raise ConnectionError("redis down")

    ctx.after_commit(failing)
    await ctx.finish(commit=True)
    assert ran == [True]
    async with runtime.db.tenant_session(tenant.schema) as s:
        assert await s.scalar(select(AuditLog.object_id).where(AuditLog.action == "hookTest"))
