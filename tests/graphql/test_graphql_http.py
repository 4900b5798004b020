"""GraphQL over HTTP: status codes, content negotiation, malformed requests."""

from __future__ import annotations

import json

import pytest
from graphql_kit import codes

GQL = "application/graphql-response+json"
JSON = "application/json"
PARSE_ERROR = "{ tenant { slug "
INVALID = "{ tenant { noSuchField } }"


def _media(response) -> str:
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("query", "code"),
    [(PARSE_ERROR, "GRAPHQL_PARSE_FAILED"), (INVALID, "GRAPHQL_VALIDATION_FAILED")],
)
async def test_request_errors_are_4xx_for_graphql_response_clients(api, tenant, query, code):
    # when a client that speaks application/graphql-response+json sends a bad document
    strict = await api.post(query, tenant=tenant.slug)
    # then it gets 400 and no data
    assert strict.status_code == 400
    assert _media(strict) == GQL
    assert codes(strict.json()) == [code]
    assert "data" not in strict.json()
    # when a legacy application/json client sends the same
    legacy = await api.post(query, tenant=tenant.slug, headers={"accept": JSON})
    # then it gets 200 with the same error
    assert legacy.status_code == 200
    assert _media(legacy) == JSON
    assert codes(legacy.json()) == [code]


async def test_request_errors_on_the_admin_surface(admin_api):
    strict = await admin_api.post(PARSE_ERROR.replace("tenant", "modules"))
    assert strict.status_code == 400 and codes(strict.json()) == ["GRAPHQL_PARSE_FAILED"]
    legacy = await admin_api.post("{ nope }", headers={"accept": JSON})
    assert legacy.status_code == 200 and codes(legacy.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_variables_that_do_not_fit_are_a_request_error(api, tenant):
    q = "query($n: Int!) { users(first: $n) { totalCount } }"
    strict = await api.post(q, {"n": "many"}, tenant=tenant.slug)
    assert strict.status_code == 400
    assert codes(strict.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "data" not in strict.json()
    missing = await api.post(q, {}, tenant=tenant.slug, headers={"accept": JSON})
    assert missing.status_code == 200
    assert codes(missing.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_get_runs_queries_but_not_mutations(http, tenant):
    headers = {"x-tenant": tenant.slug, "accept": GQL}
    # a query over GET works
    ok = await http.get("/graphql", params={"query": "{ tenant { slug } }"}, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["data"]["tenant"]["slug"] == tenant.slug
    # with variables too
    ok = await http.get(
        "/graphql",
        params={
            "query": "query($s: Boolean!) { tenant { slug @include(if: $s) } }",
            "variables": json.dumps({"s": True}),
        },
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json()["data"]["tenant"]["slug"] == tenant.slug
    # a mutation over GET is refused, and nothing runs
    refused = await http.get(
        "/graphql",
        params={"query": 'mutation { logout(input: {refreshToken: "x"}) }'},
        headers=headers,
    )
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, POST"
    assert _media(refused) == GQL
    assert "data" not in refused.json()
    assert refused.json()["errors"][0]["message"].startswith("GET 只能执行查询")


async def test_content_negotiation(api, tenant):
    q = "{ tenant { slug } }"
    cases = {
        GQL: GQL,
        JSON: JSON,
        "*/*": JSON,
        "application/*": JSON,
        f"{GQL}, {JSON};q=0.9": GQL,
        f"{JSON}, {GQL}": JSON,
        f"{JSON};q=0.5, {GQL}": GQL,
        f"{GQL};q=0, {JSON}": JSON,
        f"text/html, {GQL};q=0.8": GQL,
    }
    for accept, expected in cases.items():
        response = await api.post(q, tenant=tenant.slug, headers={"accept": accept})
        assert response.status_code == 200, accept
        assert _media(response) == expected, accept
        assert response.json()["data"]["tenant"]["slug"] == tenant.slug
    # no Accept at all: application/json
    response = await api.client.post(
        "/graphql", json={"query": q}, headers={"x-tenant": tenant.slug}
    )
    assert response.status_code == 200 and _media(response) == JSON
    # nothing acceptable: 406
    for accept in ("text/plain", "application/xml, text/html", f"{GQL};q=0"):
        response = await api.post(q, tenant=tenant.slug, headers={"accept": accept})
        assert response.status_code == 406, accept
        assert codes(response.json()) == ["BAD_REQUEST"]


async def test_malformed_requests(api, http, tenant):
    headers = {"x-tenant": tenant.slug, "accept": GQL}
    bad_bodies = {
        "invalid JSON": b'{"query": ',
        "JSON that is no object": b'["{ tenant { slug } }"]',
        "no query": b'{"variables": {}}',
        "empty query": b'{"query": "   "}',
        "variables not an object": b'{"query": "{ tenant { slug } }", "variables": [1]}',
    }
    for name, body in bad_bodies.items():
        response = await http.post(
            "/graphql", content=body, headers={**headers, "content-type": JSON}
        )
        assert response.status_code == 400, name
        assert codes(response.json()) == ["BAD_REQUEST"], name
        assert _media(response) == GQL, name
    # a body in an unknown format
    response = await http.post(
        "/graphql", content=b"query=1", headers={**headers, "content-type": "text/plain"}
    )
    assert response.status_code == 415
    # a named operation that is not in the document
    response = await http.post(
        "/graphql",
        json={"query": "query A { tenant { slug } }", "operationName": "B"},
        headers=headers,
    )
    assert response.status_code == 400 and codes(response.json()) == ["BAD_REQUEST"]
    # while application/graphql bodies are understood
    response = await http.post(
        "/graphql",
        content=b"{ tenant { slug } }",
        headers={**headers, "content-type": "application/graphql"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["tenant"]["slug"] == tenant.slug


async def test_unknown_tenant(api):
    response = await api.post("{ tenant { slug } }", tenant="no-such-tenant-xyz")
    assert response.status_code == 404
    assert codes(response.json()) == ["TENANT_NOT_FOUND"]


async def test_graphiql_page_in_debug(http):
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "GraphiQL" in response.text
