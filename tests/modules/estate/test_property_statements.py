"""No N+1 in the unit list: building, community, residents and history come in batches."""

from __future__ import annotations

from conftest import count_statements, make_tenant
from property_kit import UNITS, ok, seed_estate, staff


async def _list_all(api, runtime, tenant, token: str) -> tuple[list[int], list[dict]]:
    """Page through every unit (100 a page, the cap); the statements of each request."""
    await api(UNITS, {"first": 1}, tenant=tenant.slug, token=token)  # warm caches
    per_request, nodes, after = [], [], None
    while True:
        with count_statements(runtime) as seen:
            body = await api(UNITS, {"first": 100, "after": after}, tenant=tenant.slug, token=token)
        page = ok(body)["units"]
        per_request.append(len(seen))
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return per_request, nodes
        after = page["pageInfo"]["endCursor"]


async def test_listing_units_with_building_community_and_residents_is_constant(api, runtime):
    # given a tenant with 20 units and one with 200, each unit with two residents, read by a
    # scoped agent who may see residents (so the scope is read from the database too)
    few_tenant, many_tenant = await make_tenant(runtime), await make_tenant(runtime)
    few = await seed_estate(runtime, few_tenant, units=20, residents_per_unit=2)
    many = await seed_estate(runtime, many_tenant, units=200, residents_per_unit=2)
    few_token = await staff(
        api, runtime, few_tenant, roles=("customer_service",), communities=(few.community_id,)
    )
    many_token = await staff(
        api, runtime, many_tenant, roles=("customer_service",), communities=(many.community_id,)
    )
    # when every unit is listed with its building, community, residents and history
    few_counts, few_nodes = await _list_all(api, runtime, few_tenant, few_token)
    many_counts, many_nodes = await _list_all(api, runtime, many_tenant, many_token)
    # then all of them came back, complete
    assert len(few_nodes) == 20 and len(many_nodes) == 200
    assert all(len(n["residents"]) == 2 and n["building"]["name"] for n in many_nodes)
    assert all(n["community"]["id"] == many.community for n in many_nodes)
    # and every request (20 units, or 100 of 200) ran the same small number of statements
    assert len(many_counts) == 2
    assert set(many_counts) == set(few_counts), (few_counts, many_counts)
    # routing, principal, scope, page, count, buildings, communities, residents, history
    assert few_counts[0] <= 10, few_counts
