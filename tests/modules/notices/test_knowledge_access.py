"""Who reads and changes knowledge-base articles: residents, scoped staff, staff without the
permission, other tenants, the module switch; and the list's statement count."""

from __future__ import annotations

from conftest import count_statements
from directory_kit import (
    ARTICLE,
    ARTICLES,
    CREATE_ARTICLE,
    DELETE_ARTICLE,
    PUBLISH,
    UNPUBLISH,
    UPDATE_ARTICLE,
    gid,
    make_site,
)

from wuye.modules.notices.models import KbArticle


def _titles(data: dict) -> set[str]:
    return {e["node"]["title"] for e in data["kbArticles"]["edges"]}


async def test_residents_read_published_articles_of_their_communities(api, runtime):
    site = await make_site(runtime, api)
    a, b = await site.community("A"), await site.community("B")
    admin = site.admin
    await admin.article("全局文章")
    in_a = await admin.article("A小区停车收费", community=a)
    in_b = await admin.article("B小区停车收费", community=b)
    draft = await admin.article("草稿文章", publish=False)

    resident = await site.resident(a)
    assert _titles(await resident.ok(ARTICLES)) == {"全局文章", "A小区停车收费"}
    assert _titles(await resident.ok(ARTICLES, {"s": "停车收费"})) == {"A小区停车收费"}
    assert _titles(await resident.ok(ARTICLES, {"status": "draft"})) == set()
    got = (await resident.ok(ARTICLE, {"id": in_a["id"]}))["kbArticle"]
    assert got["bodySource"] is None and got["bodyHtml"]
    for hidden in (in_b, draft):
        assert await resident.fails(ARTICLE, {"id": hidden["id"]}) == ("NOT_FOUND", "id")
    assert await resident.fails(ARTICLES, {"c": gid("Community", b)}) == ("NOT_FOUND", None)

    # unpublishing hides it again
    await admin.ok(UNPUBLISH, {"i": {"id": in_a["id"]}})
    assert await resident.fails(ARTICLE, {"id": in_a["id"]}) == ("NOT_FOUND", "id")
    assert _titles(await resident.ok(ARTICLES)) == {"全局文章"}


async def test_staff_read_within_scope_and_only_editors_see_drafts(api, runtime):
    site = await make_site(runtime, api)
    a, b = await site.community("A"), await site.community("B")
    admin = site.admin
    await admin.article("全局草稿", publish=False)
    in_b = await admin.article("B文章", community=b)
    editor = await site.staff(roles=("customer_service",), communities=(a,))
    reader = await site.staff(roles=(), communities=(a,))
    mine = await editor.article("A草稿", community=a, publish=False)

    assert _titles(await editor.ok(ARTICLES)) == {"全局草稿", "A草稿"}
    assert _titles(await reader.ok(ARTICLES)) == set()
    assert await reader.fails(ARTICLE, {"id": mine["id"]}) == ("NOT_FOUND", "id")
    await editor.ok(PUBLISH, {"i": {"id": mine["id"]}})
    seen = (await reader.ok(ARTICLE, {"id": mine["id"]}))["kbArticle"]
    assert seen["title"] == "A草稿" and seen["bodySource"] is None
    assert await editor.fails(ARTICLE, {"id": in_b["id"]}) == ("NOT_FOUND", "id")

    put = {"category": "faq", "title": "t", "body": "b"}
    assert await editor.fails(UPDATE_ARTICLE, {"i": {**put, "id": in_b["id"]}}) == (
        "NOT_FOUND",
        "id",
    )
    assert await editor.fails(DELETE_ARTICLE, {"i": {"id": in_b["id"]}}) == ("NOT_FOUND", "id")
    assert await editor.fails(
        CREATE_ARTICLE, {"i": {**put, "communityId": gid("Community", b)}}
    ) == ("NOT_FOUND", "communityId")
    # tenant-wide articles are for every community: only all-communities staff write them
    assert (await editor.fails(CREATE_ARTICLE, {"i": put}))[0] == "FORBIDDEN"
    assert (
        await editor.fails(UPDATE_ARTICLE, {"i": {**put, "id": mine["id"], "communityId": None}})
    )[0] == "FORBIDDEN"
    assert await site.count(KbArticle) == 3


async def test_writes_need_the_directory_permission(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    article = await site.admin.article("文章", community=a)
    resident = await site.resident(a)
    plain_staff = await site.staff(roles=(), all_communities=True)
    put = {"category": "faq", "title": "t", "body": "b"}
    for caller in (resident, plain_staff):
        for q, v in (
            (CREATE_ARTICLE, {"i": put}),
            (UPDATE_ARTICLE, {"i": {**put, "id": article["id"]}}),
            (PUBLISH, {"i": {"id": article["id"]}}),
            (UNPUBLISH, {"i": {"id": article["id"]}}),
            (DELETE_ARTICLE, {"i": {"id": article["id"]}}),
        ):
            assert (await caller.fails(q, v))[0] == "FORBIDDEN", q
    assert (await site.admin.ok(ARTICLE, {"id": article["id"]}))["kbArticle"] == article
    anonymous = await api(ARTICLES, tenant=site.tenant.slug)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_another_tenant_can_neither_read_nor_change_articles(api, runtime):
    one = await make_site(runtime, api)
    two = await make_site(runtime, api)
    article = await two.admin.article("专项维修基金使用办法", "维修基金")
    stolen = await api(ARTICLES, tenant=two.tenant.slug, token=one.admin.token)
    assert stolen["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    put = {"category": "faq", "title": "t", "body": "b", "id": article["id"]}
    assert await one.admin.fails(ARTICLE, {"id": article["id"]}) == ("NOT_FOUND", "id")
    assert await one.admin.fails(UPDATE_ARTICLE, {"i": put}) == ("NOT_FOUND", "id")
    assert await one.admin.fails(UNPUBLISH, {"i": {"id": article["id"]}}) == ("NOT_FOUND", "id")
    assert await one.admin.fails(DELETE_ARTICLE, {"i": {"id": article["id"]}}) == (
        "NOT_FOUND",
        "id",
    )
    assert _titles(await one.admin.ok(ARTICLES, {"s": "维修基金"})) == set()
    assert (await two.admin.ok(ARTICLE, {"id": article["id"]}))["kbArticle"] == article


async def test_a_tenant_without_the_module_gets_module_disabled(api, runtime):
    site = await make_site(runtime, api, modules=())
    for q, v in (
        (ARTICLES, None),
        (ARTICLE, {"id": gid("KbArticle", 1)}),
        (CREATE_ARTICLE, {"i": {"category": "faq", "title": "t", "body": "b"}}),
    ):
        assert (await site.admin.fails(q, v))[0] == "MODULE_DISABLED"


async def test_listing_costs_the_same_statements_for_any_size(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    resident = await site.resident(a)
    await site.admin.article("文章0")
    query = ARTICLES.replace("totalCount ", "")  # the count is one more statement, asked or not
    await resident.ok(query)
    with count_statements(runtime) as small:
        await resident.ok(query, {"s": "文章"})
    for i in range(1, 8):
        await site.admin.article(f"文章{i}", community=a if i % 2 else None)
    with count_statements(runtime) as large:
        data = await resident.ok(query, {"s": "文章"})
    assert len(data["kbArticles"]["edges"]) == 8
    assert len(large) == len(small), large
    assert len([s for s in large if "kb_articles" in s]) == 1
