"""Who reads and changes the yellow pages: residents, scoped staff, other tenants, the module
switch; and the resident directory costs a fixed number of statements."""

from __future__ import annotations

from conftest import count_statements
from directory_kit import (
    CREATE_CATEGORY,
    CREATE_ENTRY,
    DELETE_CATEGORY,
    DELETE_ENTRY,
    ENTRIES,
    ENTRY,
    UPDATE_ENTRY,
    YELLOW_PAGES,
    gid,
    make_site,
)

from wuye.modules.notices.models import YellowPageEntry


def _names(yellow_pages: list[dict]) -> dict[str, list[str]]:
    return {s["category"]["nameZh"]: [e["name"] for e in s["entries"]] for s in yellow_pages}


async def test_residents_see_their_communities_and_tenant_wide_entries(api, runtime):
    site = await make_site(runtime, api)
    a, b = await site.community("A"), await site.community("B")
    admin = site.admin
    emergency = await admin.category("紧急电话", sort=1)
    repairs = await admin.category("维修服务", sort=2)
    await admin.category("空分类", sort=3)
    await admin.entry(emergency, None, name="报警", phones=("110",))
    await admin.entry(repairs, a, name="A报修", sort=2)
    await admin.entry(repairs, a, name="A水电", sort=1)
    await admin.entry(repairs, a, name="A停用", active=False)
    await admin.entry(repairs, b, name="B报修")

    resident = await site.resident(a)
    pages = (await resident.ok(YELLOW_PAGES))["yellowPages"]
    assert _names(pages) == {"紧急电话": ["报警"], "维修服务": ["A水电", "A报修"]}
    assert pages[0]["entries"][0]["phones"] == [{"number": "110", "telUri": "tel:110"}]
    only_a = (await resident.ok(YELLOW_PAGES, {"c": gid("Community", a)}))["yellowPages"]
    assert _names(only_a) == _names(pages)
    # another community's directory does not exist for them, nor does its entry
    assert await resident.fails(YELLOW_PAGES, {"c": gid("Community", b)}) == ("NOT_FOUND", None)
    assert (await resident.fails(ENTRY, {"id": gid("YellowPageEntry", 1)}))[0] == "FORBIDDEN"

    both = await site.resident(a, b)
    assert _names((await both.ok(YELLOW_PAGES))["yellowPages"])["维修服务"] == [
        "B报修",  # sort 0
        "A水电",
        "A报修",
    ]
    nowhere = await site.resident()
    assert _names((await nowhere.ok(YELLOW_PAGES))["yellowPages"]) == {"紧急电话": ["报警"]}


async def test_staff_work_within_their_scope(api, runtime):
    site = await make_site(runtime, api)
    a, b = await site.community("A"), await site.community("B")
    admin = site.admin
    cat = await admin.category("维修服务")
    in_b = await admin.entry(cat, b, name="B报修")
    wide = await admin.entry(cat, None, name="报警", phones=("110",))
    staff = await site.staff(roles=("customer_service",), communities=(a,))
    mine = await staff.entry(cat, a, name="A报修")

    listed = (await staff.ok(ENTRIES))["yellowPageEntries"]
    assert {e["node"]["name"] for e in listed["edges"]} == {"A报修", "报警"}
    assert _names((await staff.ok(YELLOW_PAGES))["yellowPages"]) == {"维修服务": ["报警", "A报修"]}
    assert await staff.fails(YELLOW_PAGES, {"c": gid("Community", b)}) == ("NOT_FOUND", None)
    assert await staff.fails(ENTRIES, {"c": gid("Community", b)}) == ("NOT_FOUND", None)
    assert await staff.fails(ENTRY, {"id": in_b["id"]}) == ("NOT_FOUND", "id")

    put = {"categoryId": cat, "name": "x", "phones": ["110"]}
    # another community's entry: invisible, so NOT_FOUND, whether read, moved or deleted
    assert await staff.fails(
        UPDATE_ENTRY, {"i": {**put, "id": in_b["id"], "communityId": gid("Community", a)}}
    ) == ("NOT_FOUND", "id")
    assert await staff.fails(DELETE_ENTRY, {"i": {"id": in_b["id"]}}) == ("NOT_FOUND", "id")
    assert await staff.fails(CREATE_ENTRY, {"i": {**put, "communityId": gid("Community", b)}}) == (
        "NOT_FOUND",
        "communityId",
    )
    assert await staff.fails(
        UPDATE_ENTRY, {"i": {**put, "id": mine["id"], "communityId": gid("Community", b)}}
    ) == ("NOT_FOUND", "communityId")
    # tenant-wide entries and categories are shared by every community: read-only here
    assert (await staff.fails(CREATE_ENTRY, {"i": {**put, "communityId": None}}))[0] == "FORBIDDEN"
    assert (await staff.fails(DELETE_ENTRY, {"i": {"id": wide["id"]}}))[0] == "FORBIDDEN"
    assert (await staff.fails(UPDATE_ENTRY, {"i": {**put, "id": mine["id"], "communityId": None}}))[
        0
    ] == "FORBIDDEN"
    assert (await staff.fails(CREATE_CATEGORY, {"i": {"nameZh": "新分类"}}))[0] == "FORBIDDEN"
    assert (await staff.fails(DELETE_CATEGORY, {"i": {"id": cat}}))[0] == "FORBIDDEN"

    await staff.ok(DELETE_ENTRY, {"i": {"id": mine["id"]}})
    assert await site.count(YellowPageEntry) == 2
    assert (await admin.ok(ENTRY, {"id": in_b["id"]}))["yellowPageEntry"] == in_b


async def test_writes_need_the_directory_permission(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    cat = await site.admin.category("维修服务")
    entry = await site.admin.entry(cat, a)
    resident = await site.resident(a)
    plain_staff = await site.staff(roles=(), all_communities=True)
    put = {"categoryId": cat, "communityId": gid("Community", a), "name": "x", "phones": ["110"]}
    for caller in (resident, plain_staff):
        assert (await caller.fails(CREATE_CATEGORY, {"i": {"nameZh": "x"}}))[0] == "FORBIDDEN"
        assert (await caller.fails(CREATE_ENTRY, {"i": put}))[0] == "FORBIDDEN"
        assert (await caller.fails(UPDATE_ENTRY, {"i": {**put, "id": entry["id"]}}))[0] == (
            "FORBIDDEN"
        )
        assert (await caller.fails(DELETE_ENTRY, {"i": {"id": entry["id"]}}))[0] == "FORBIDDEN"
        assert (await caller.fails(ENTRIES))[0] == "FORBIDDEN"
    # reading the directory only needs a signed-in account
    assert _names((await plain_staff.ok(YELLOW_PAGES))["yellowPages"]) == {
        "维修服务": [entry["name"]]
    }
    anonymous = await api(YELLOW_PAGES, tenant=site.tenant.slug)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await site.count(YellowPageEntry) == 1


async def test_another_tenant_can_neither_read_nor_change_entries(api, runtime):
    one = await make_site(runtime, api)
    two = await make_site(runtime, api)
    cat = await two.admin.category("维修服务")
    entry = await two.admin.entry(cat, None, name="报警", phones=("110",))
    # tenant one's token on tenant two
    stolen = await api(YELLOW_PAGES, tenant=two.tenant.slug, token=one.admin.token)
    assert stolen["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # tenant two's ids inside tenant one: nothing there
    put = {"categoryId": cat, "name": "x", "phones": ["119"]}
    assert await one.admin.fails(ENTRY, {"id": entry["id"]}) == ("NOT_FOUND", "id")
    assert await one.admin.fails(UPDATE_ENTRY, {"i": {**put, "id": entry["id"]}}) == (
        "NOT_FOUND",
        "id",
    )
    assert await one.admin.fails(DELETE_ENTRY, {"i": {"id": entry["id"]}}) == ("NOT_FOUND", "id")
    assert await one.admin.fails(CREATE_ENTRY, {"i": put}) == ("NOT_FOUND", "categoryId")
    assert (await one.admin.ok(YELLOW_PAGES))["yellowPages"] == []
    assert (await two.admin.ok(ENTRY, {"id": entry["id"]}))["yellowPageEntry"] == entry


async def test_a_tenant_without_the_module_gets_module_disabled(api, runtime):
    site = await make_site(runtime, api, modules=())
    for q, v in (
        (YELLOW_PAGES, None),
        (ENTRIES, None),
        (CREATE_CATEGORY, {"i": {"nameZh": "维修"}}),
    ):
        assert (await site.admin.fails(q, v))[0] == "MODULE_DISABLED"


async def test_the_resident_directory_costs_the_same_statements_for_any_size(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    resident = await site.resident(a)
    cat = await site.admin.category("分类0")
    await site.admin.entry(cat, a)
    await resident.ok(YELLOW_PAGES)  # warm caches (schema, tenant, principal)
    with count_statements(runtime) as small:
        await resident.ok(YELLOW_PAGES)
    for i in range(1, 5):
        more = await site.admin.category(f"分类{i}")
        for _ in range(3):
            await site.admin.entry(more, a)
            await site.admin.entry(more, None)
    with count_statements(runtime) as large:
        pages = (await resident.ok(YELLOW_PAGES))["yellowPages"]
    assert sum(len(s["entries"]) for s in pages) == 25
    assert len(large) == len(small), large
    assert len([s for s in large if "yellow_page" in s]) == 1
