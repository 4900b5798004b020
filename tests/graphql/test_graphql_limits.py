"""Query limits (depth, aliases, tokens, page size), the document cache, introspection,
and connection paging."""

from __future__ import annotations

import pytest
from conftest import make_tenant, new_phone
from graphql_kit import KIT, api_for, codes, kit_runtime

from wuye.graphql.executor import Executor
from wuye.graphql.pagination import decode_cursor, encode_cursor
from wuye.graphql.schema import build_tenant_schema
from wuye.identity import service as identity


def _below(depth: int) -> str:
    """Selections ``depth`` fields deep below a KitNode: child { ... { level } }."""
    inner = "level"
    for _ in range(depth - 1):
        inner = f"child {{ {inner} }}"
    return inner


def _tree(depth: int) -> str:
    """A query ``depth`` fields deep: kitTree { child { ... { level } } }."""
    return f"{{ kitTree {{ {_below(depth - 1)} }} }}"


@pytest.fixture(scope="module")
async def kit(settings, services):
    async with kit_runtime(settings, services) as rt:
        tenant = await make_tenant(rt)
        async with api_for(rt) as api:
            yield rt, api, tenant


async def test_depth_limit(kit, settings):
    _, api, tenant = kit
    limit = settings.graphql_max_depth
    # a query exactly at the limit runs
    ok = await api(_tree(limit), tenant=tenant.slug)
    assert "errors" not in ok, ok
    # one level deeper is refused before anything runs
    deep = await api.post(_tree(limit + 1), tenant=tenant.slug)
    assert deep.status_code == 400
    assert codes(deep.json()) == ["QUERY_TOO_COMPLEX"]
    assert deep.json()["errors"][0]["extensions"]["limit"] == "depth"
    # fragments do not hide depth
    fragment = f"{{ kitTree {{ ...F }} }} fragment F on KitNode {{ {_below(limit)} }}"
    assert codes((await api.post(fragment, tenant=tenant.slug)).json()) == ["QUERY_TOO_COMPLEX"]


async def test_alias_limit(kit, settings):
    _, api, tenant = kit
    limit = settings.graphql_max_aliases

    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: tenant {{ slug }}" for i in range(n)) + " }"

    ok = await api(aliased(limit), tenant=tenant.slug)
    assert "errors" not in ok and len(ok["data"]) == limit
    too_many = await api.post(aliased(limit + 1), tenant=tenant.slug)
    assert too_many.status_code == 400
    assert codes(too_many.json()) == ["QUERY_TOO_COMPLEX"]
    assert too_many.json()["errors"][0]["extensions"]["limit"] == "aliases"


async def test_token_limit(api, tenant, settings):
    # a document with more tokens than allowed is refused by the parser
    q = "{ tenant { " + "slug " * settings.graphql_max_tokens + "} }"
    response = await api.post(q, tenant=tenant.slug)
    assert response.status_code == 400
    assert codes(response.json()) == ["GRAPHQL_PARSE_FAILED"]


async def test_page_size_and_cursor_are_checked(api, tenant, admin_token, settings):
    for args in (
        f"first: {settings.graphql_max_page_size + 1}",
        "first: -1",
        'after: "not-a-cursor"',
        f'after: "{encode_cursor(0)[:-2]}x"',
    ):
        body = await api(
            f"{{ users({args}) {{ totalCount }} }}", tenant=tenant.slug, token=admin_token
        )
        assert codes(body) == ["VALIDATION_FAILED"], args
    body = await api(
        f"{{ users(first: {settings.graphql_max_page_size}) {{ totalCount }} }}",
        tenant=tenant.slug,
        token=admin_token,
    )
    assert "errors" not in body


def test_cursors_round_trip():
    assert decode_cursor(encode_cursor(0)) == 0
    assert decode_cursor(encode_cursor(12345)) == 12345


async def test_the_document_cache(runtime):
    q = "{ tenant { slug } }"
    first = runtime.tenant_api.prepare(q)
    # a repeated query is a cache hit: the very same prepared object
    assert runtime.tenant_api.prepare(q) is first
    assert first.errors == () and first.document is not None
    # failures are cached too
    bad = "{ tenant { "
    assert runtime.tenant_api.prepare(bad) is runtime.tenant_api.prepare(bad)
    assert runtime.tenant_api.prepare(bad).parse_failed


def test_the_document_cache_is_bounded():
    executor = Executor(
        build_tenant_schema([KIT]),
        max_depth=12,
        max_aliases=30,
        max_tokens=1000,
        cache_size=2,
        introspection=True,
    )
    a, b, c = "{ tenant { slug } }", "{ kitTree { level } }", "{ kitSleep }"
    prepared_a = executor.prepare(a)
    executor.prepare(b)
    assert executor.prepare(a) is prepared_a  # a is now the most recent
    executor.prepare(c)  # evicts b, the least recently used
    assert executor.prepare(a) is prepared_a
    assert len(executor._cache) == 2 and b not in executor._cache


async def test_introspection_only_outside_production(api, tenant, settings, services):
    q = "{ __schema { queryType { name } } }"
    allowed = await api(q, tenant=tenant.slug)
    assert allowed["data"]["__schema"]["queryType"]["name"] == "Query"
    async with kit_runtime(settings, services, env="production", debug=False) as rt:
        async with api_for(rt) as prod:
            refused = await prod.post(q, tenant=tenant.slug)
            typename = await prod.post('{ __type(name: "User") { name } }', tenant=tenant.slug)
    assert refused.status_code == 400
    assert set(codes(refused.json())) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in refused.json()["errors"][0]["message"].lower()
    assert typename.status_code == 400


async def test_users_connection_pages_through_everyone(api, runtime, tenant, admin_token):
    # given five users (the admin and four staff)
    async with runtime.db.tenant_session(tenant.schema) as s:
        for i in range(4):
            await identity.create_user(s, kind="staff", name=f"员工{i}", phone=new_phone())
        await s.commit()
    q = """query($after: String) { users(first: 2, after: $after) { totalCount
        edges { cursor node { id name } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
    seen, after, pages = [], None, []
    while True:
        page = (await api(q, {"after": after}, tenant=tenant.slug, token=admin_token))["data"][
            "users"
        ]
        pages.append(page)
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["totalCount"] == 5
        if page["edges"]:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then three pages of 2, 2 and 1 came back, in order, each user once
    assert [len(p["edges"]) for p in pages] == [2, 2, 1]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert len(seen) == len(set(seen)) == 5
    # and a page size equal to the total has no next page
    whole = await api(
        "{ users(first: 5) { pageInfo { hasNextPage } edges { cursor } } }",
        tenant=tenant.slug,
        token=admin_token,
    )
    assert whole["data"]["users"]["pageInfo"]["hasNextPage"] is False
    # and phones are masked in lists
    phones = await api(
        "{ users(first: 1) { edges { node { phone } } } }", tenant=tenant.slug, token=admin_token
    )
    assert "****" in phones["data"]["users"]["edges"][0]["node"]["phone"]
