"""The demo yellow pages and articles: written once, searchable, dialable."""

from __future__ import annotations

from directory_kit import ARTICLES, YELLOW_PAGES, make_site

from wuye.modules.notices import knowledge, yellowpages
from wuye.modules.notices.models import KbArticle, YellowPageCategory, YellowPageEntry


async def test_demo_rows_are_seeded_once(api, runtime):
    site = await make_site(runtime, api)
    for _ in range(2):
        async with runtime.db.tenant_session(site.tenant.schema) as s:
            await yellowpages.seed_directory_demo(s)
            await knowledge.seed_directory_demo(s)
            await s.commit()
    assert await site.count(YellowPageCategory) == 7
    assert await site.count(YellowPageEntry) == 12
    assert await site.count(KbArticle) == 5

    resident = await site.resident()
    pages = (await resident.ok(YELLOW_PAGES))["yellowPages"]
    assert pages[0]["category"]["nameZh"] == "物业服务中心"
    emergency = {e["name"]: e["phones"][0]["telUri"] for e in pages[-1]["entries"]}
    assert emergency["报警"] == "tel:110" and emergency["急救"] == "tel:120"

    found = await resident.ok(ARTICLES, {"s": "维修基金"})
    titles = [e["node"]["title"] for e in found["kbArticles"]["edges"]]
    assert titles[0] == "专项维修基金使用办法"
