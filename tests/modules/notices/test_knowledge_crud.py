"""Knowledge base: articles written, published, taken back and deleted; bad input writes
nothing; HTML is sanitised."""

from __future__ import annotations

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
from sqlalchemy import select

from wuye.modules.notices.models import KbArticle


async def test_an_article_from_draft_to_published_and_back(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    admin = site.admin
    draft = await admin.article(
        "报修流程", "1. 在 App 中**提交报修**\n2. 等待派单", category="process", publish=False
    )
    assert (draft["status"], draft["publishedAt"], draft["communityId"]) == ("draft", None, None)
    assert "<strong>提交报修</strong>" in draft["bodyHtml"]
    assert "提交报修" in draft["summary"] and "<" not in draft["summary"]
    assert draft["bodySource"].startswith("1. 在 App 中")

    published = (await admin.ok(PUBLISH, {"i": {"id": draft["id"]}}))["publishKbArticle"]
    assert published["status"] == "published" and published["publishedAt"]

    updated = (
        await admin.ok(
            UPDATE_ARTICLE,
            {
                "i": {
                    "id": draft["id"],
                    "category": "faq",
                    "communityId": gid("Community", a),
                    "title": "如何报修",
                    "body": "<p>拨打热线</p>",
                    "bodyFormat": "html",
                }
            },
        )
    )["updateKbArticle"]
    assert (updated["title"], updated["category"], updated["status"]) == (
        "如何报修",
        "faq",
        "published",
    )
    assert updated["communityId"] == gid("Community", a)
    assert updated["bodyHtml"] == "<p>拨打热线</p>"

    back = (await admin.ok(UNPUBLISH, {"i": {"id": draft["id"]}}))["unpublishKbArticle"]
    assert (back["status"], back["publishedAt"]) == ("draft", None)
    assert (await admin.ok(ARTICLE, {"id": draft["id"]}))["kbArticle"]["title"] == "如何报修"

    assert (await admin.ok(DELETE_ARTICLE, {"i": {"id": draft["id"]}}))["deleteKbArticle"]
    assert await admin.fails(ARTICLE, {"id": draft["id"]}) == ("NOT_FOUND", "id")
    assert await site.count(KbArticle) == 0


async def test_html_bodies_are_sanitised(api, runtime):
    site = await make_site(runtime, api)
    article = await site.admin.article(
        "公告",
        '<p onclick="x()">你好<script>alert(1)</script><a href="javascript:alert(1)">链接</a></p>',
        body_format="html",
    )
    html = article["bodyHtml"]
    assert "script" not in html and "onclick" not in html and "javascript" not in html
    assert "你好" in html


async def test_listing_filters_by_category_and_status(api, runtime):
    site = await make_site(runtime, api)
    admin = site.admin
    await admin.article("价格公示", category="price")
    await admin.article("服务标准", category="service_item")
    await admin.article("草稿", category="price", publish=False)
    prices = (await admin.ok(ARTICLES, {"cat": "price"}))["kbArticles"]
    assert {e["node"]["title"] for e in prices["edges"]} == {"价格公示", "草稿"}
    drafts = (await admin.ok(ARTICLES, {"status": "draft"}))["kbArticles"]
    assert [e["node"]["title"] for e in drafts["edges"]] == ["草稿"]
    assert await admin.fails(ARTICLES, {"cat": "news"}) == ("VALIDATION_FAILED", "category")
    assert await admin.fails(ARTICLES, {"status": "gone"}) == ("VALIDATION_FAILED", "status")
    page = (await admin.ok(ARTICLES, {"first": 2}))["kbArticles"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    rest = (await admin.ok(ARTICLES, {"first": 2, "after": page["pageInfo"]["endCursor"]}))[
        "kbArticles"
    ]
    seen = [e["node"]["id"] for e in page["edges"] + rest["edges"]]
    assert len(set(seen)) == 3


async def test_bad_input_writes_nothing(api, runtime):
    site = await make_site(runtime, api)
    admin = site.admin
    article = await admin.article("物业服务标准", "原文", category="service_item")
    good = {"category": "faq", "title": "标题", "body": "正文", "bodyFormat": "markdown"}
    cases = [
        ({"category": "news"}, ("VALIDATION_FAILED", "category")),
        ({"title": "  "}, ("VALIDATION_FAILED", "title")),
        ({"title": "长" * 201}, ("VALIDATION_FAILED", "title")),
        ({"bodyFormat": "docx"}, ("VALIDATION_FAILED", "bodyFormat")),
        ({"body": "x" * 100_001}, ("VALIDATION_FAILED", "body")),
        ({"communityId": gid("Community", 999999)}, ("NOT_FOUND", "communityId")),
        ({"communityId": gid("Unit", 1)}, ("NOT_FOUND", "communityId")),
    ]
    for change, expected in cases:
        assert await admin.fails(CREATE_ARTICLE, {"i": {**good, **change}}) == expected, change
        body = await admin.raw(UPDATE_ARTICLE, {"i": {**good, **change, "id": article["id"]}})
        ext = body["errors"][0]["extensions"]
        assert (ext["code"], ext.get("field")) == expected, change
    assert await site.count(KbArticle) == 1
    assert (await admin.ok(ARTICLE, {"id": article["id"]}))["kbArticle"] == article
    async with runtime.db.tenant_session(site.tenant.schema) as s:
        tokens = await s.scalar(select(KbArticle.search_tokens))
    assert "原文" in (tokens or "") and "标题" not in (tokens or "")
