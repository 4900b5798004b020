"""The notice lists cost a fixed number of statements, whatever the page size (no N+1):
the staff list with targets and reach, the residents' list with read receipts."""

from __future__ import annotations

from conftest import Api, count_statements, login, make_tenant
from notices_kit import CREATE, PUBLISH, add_resident, drain, make_place, notice_input, ok

from wuye.runtime import Runtime

STAFF_LIST = """{ notices(first: 50) { edges { node { id targets { kind refId }
  reach { targeted read channels { channel sent } } } } } }"""
RESIDENT_LIST = """{ myNotices(first: 50) { edges { node { id readAt } } } }"""


async def _statements(runtime: Runtime, api: Api, query: str, slug: str, token: str) -> int:
    with count_statements(runtime) as seen:
        ok(await api(query, tenant=slug, token=token))
    return len(seen)


async def test_notice_lists_do_not_grow_with_the_page(runtime: Runtime, api: Api) -> None:
    tenant = await make_tenant(runtime, modules=("notices",))
    place = await make_place(runtime, tenant, {"A": {"1": ["101"]}})
    resident = await add_resident(api, runtime, tenant, place.ids["A/1/101"])
    admin = str((await login(api, tenant.slug, tenant.admin_phone))["accessToken"])

    async def publish(n: int) -> None:
        for _ in range(n):
            targets = [{"kind": "building", "refId": place.gid("A/1")}, {"kind": "tenant"}]
            created = ok(
                await api(CREATE, {"i": notice_input(targets)}, tenant=tenant.slug, token=admin)
            )["createNotice"]
            ok(await api(PUBLISH, {"id": created["id"]}, tenant=tenant.slug, token=admin))
        await drain(runtime)

    await publish(1)
    few = [
        await _statements(runtime, api, STAFF_LIST, tenant.slug, admin),
        await _statements(runtime, api, RESIDENT_LIST, tenant.slug, resident.token),
    ]
    await publish(6)
    many = [
        await _statements(runtime, api, STAFF_LIST, tenant.slug, admin),
        await _statements(runtime, api, RESIDENT_LIST, tenant.slug, resident.token),
    ]
    assert many == few
    body = ok(await api(STAFF_LIST, tenant=tenant.slug, token=admin))
    nodes = [e["node"] for e in body["notices"]["edges"]]
    assert len(nodes) == 7 and all(n["reach"]["targeted"] == 1 for n in nodes)
    assert all(len(n["targets"]) == 2 for n in nodes)
