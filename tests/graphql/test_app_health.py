"""Health, readiness, metrics and the request id every response carries."""

from __future__ import annotations

import re
import secrets

from prometheus_client.parser import text_string_to_metric_families

from wuye.observability import operation_label


async def test_healthz(http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_redis(http):
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def _requests_total(text: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "wuye_graphql_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name.endswith("_total")
                and all(s.labels.get(k) == v for k, v in labels.items())
            )
    return 0.0


async def test_metrics_count_graphql_requests(api, http, tenant):
    before = _requests_total(
        (await http.get("/metrics")).text, surface="tenant", operation="HealthProbe", outcome="ok"
    )
    # when a named operation runs twice, and one request is refused
    for _ in range(2):
        body = await api("query HealthProbe { tenant { slug } }", tenant=tenant.slug)
        assert "errors" not in body
    await api("query HealthProbe { me { id } }", tenant=tenant.slug)
    # then the counter says so, by surface, operation and outcome
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "wuye_graphql_requests_total" in response.text
    assert "wuye_graphql_request_seconds_bucket" in response.text
    after = _requests_total(response.text, surface="tenant", operation="HealthProbe", outcome="ok")
    assert after == before + 2
    assert (
        _requests_total(response.text, surface="tenant", operation="HealthProbe", outcome="error")
        >= 1
    )


def test_operation_labels_stay_bounded():
    assert operation_label(None) == "anonymous"
    assert operation_label("ListUsers") == "ListUsers"
    assert operation_label("x" * 200) == "other"
    assert operation_label("drop table; --") == "other"


async def test_every_response_carries_a_request_id(http, api, tenant):
    # a request id sent by the client is echoed
    sent = f"client-{secrets.token_hex(6)}"
    for response in (
        await http.get("/healthz", headers={"x-request-id": sent}),
        await api.post("{ tenant { slug } }", tenant=tenant.slug, headers={"x-request-id": sent}),
        await api.post("{ nope", tenant=tenant.slug, headers={"x-request-id": sent}),
        await http.get("/no-such-page", headers={"x-request-id": sent}),
    ):
        assert response.headers["x-request-id"] == sent
    # otherwise each response gets a fresh one
    ids = {(await http.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    # and an overlong one is cut to 64 characters
    long = await http.get("/healthz", headers={"x-request-id": "r" * 500})
    assert long.headers["x-request-id"] == "r" * 64
