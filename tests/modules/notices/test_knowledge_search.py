"""Knowledge-base search: Chinese words via jieba, English and mixed text, ranking, and
queries that look like tsquery syntax."""

from __future__ import annotations

import threading

import pytest
from directory_kit import ARTICLES, UPDATE_ARTICLE, make_site

from wuye.modules.notices import search


def _titles(data: dict) -> list[str]:
    return [e["node"]["title"] for e in data["kbArticles"]["edges"]]


def test_the_index_holds_dictionary_words_inside_longer_words():
    words = search.tokens("专项维修基金使用办法").split()
    assert {"专项维修基金", "维修基金", "维修", "基金", "办法"} <= set(words)
    assert search.query_terms("维修基金") == ["维修基金"]
    assert search.query_terms("业委会") == ["业主委员会"]  # one form for synonyms
    assert search.query_terms("  Property FEE, 物业费! ") == ["property", "fee", "物业费"]
    assert search.query_terms("a & | ! :* 'x' \\") == ["a", "x"]


def test_the_tokenizer_is_built_once_across_threads():
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(search.tokenizer())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(t) for t in seen}) == 1


@pytest.fixture
async def library(api, runtime):
    site = await make_site(runtime, api)
    admin = site.admin
    await admin.article(
        "专项维修基金使用办法",
        "住宅专项维修资金专项用于共用部位、共用设施设备保修期满后的维修和更新。",
        category="policy",
    )
    await admin.article(
        "业主大会与业主委员会",
        "业委会由业主大会选举产生，可以申请使用维修基金。",
        category="policy",
    )
    await admin.article(
        "收费标准（价格公示）",
        "物业费 2.50 元/平方米·月。Property fee: CNY 2.50 per m² per month.",
        category="price",
    )
    await admin.article("报修流程", "在 App 中提交报修，维修人员上门。", category="process")
    await admin.article("维修基金草稿", "维修基金", publish=False)
    return site


async def test_a_part_of_a_long_word_finds_the_article(library):
    resident = await library.resident()
    data = await resident.ok(ARTICLES, {"s": "维修基金"})
    titles = _titles(data)
    assert titles[0] == "专项维修基金使用办法"  # the title hit ranks first
    assert set(titles) == {"专项维修基金使用办法", "业主大会与业主委员会"}  # no draft
    assert "维修基金草稿" in _titles(await library.admin.ok(ARTICLES, {"s": "维修基金"}))


async def test_every_word_must_match(library):
    resident = await library.resident()
    assert _titles(await resident.ok(ARTICLES, {"s": "维修基金 选举"})) == ["业主大会与业主委员会"]
    assert _titles(await resident.ok(ARTICLES, {"s": "维修基金 电梯"})) == []
    assert _titles(await resident.ok(ARTICLES, {"s": "业委会"})) == ["业主大会与业主委员会"]


async def test_english_and_mixed_queries(library):
    resident = await library.resident()
    assert _titles(await resident.ok(ARTICLES, {"s": "PROPERTY Fee"})) == ["收费标准（价格公示）"]
    assert _titles(await resident.ok(ARTICLES, {"s": "物业费 fee"})) == ["收费标准（价格公示）"]
    assert _titles(await resident.ok(ARTICLES, {"s": "app报修"})) == ["报修流程"]


async def test_ranking_puts_title_hits_first_then_denser_text(api, runtime):
    site = await make_site(runtime, api)
    admin = site.admin
    long_body = (
        "小区的停车场位于地下一层，业主凭门禁卡进出，访客需要在岗亭登记，"
        "临时停车按小时收费，夜间保安巡逻，请勿占用消防通道。"
    )
    await admin.article("停车指南", "报修 报修 报修")  # ranks higher by ts_rank alone
    await admin.article("报修须知", long_body)
    await admin.article("装修须知", long_body + "装修前请先报修。")
    titles = _titles(await admin.ok(ARTICLES, {"s": "报修"}))
    assert titles == ["报修须知", "停车指南", "装修须知"]


async def test_odd_queries_do_not_fail(library):
    resident = await library.resident()
    for query in ("a & | ! :*", "!!!", "'", "\\", "维修基金 | 停车", "(维修", "<->", "&&&"):
        body = await resident.raw(ARTICLES, {"s": query})
        assert "errors" not in body, (query, body)
    assert _titles(await resident.ok(ARTICLES, {"s": "维修基金 | ! :*"})) == _titles(
        await resident.ok(ARTICLES, {"s": "维修基金"})
    )
    for blank in ("", "   ", "\n"):
        assert await resident.fails(ARTICLES, {"s": blank}) == ("VALIDATION_FAILED", "search")
    assert await resident.fails(ARTICLES, {"s": "长" * 101}) == ("VALIDATION_FAILED", "search")


async def test_an_update_reindexes(library):
    admin = library.admin
    found = (await admin.ok(ARTICLES, {"s": "报修"}))["kbArticles"]["edges"][0]["node"]
    await admin.ok(
        UPDATE_ARTICLE,
        {"i": {"id": found["id"], "category": "process", "title": "投诉流程", "body": "先电话"}},
    )
    assert _titles(await admin.ok(ARTICLES, {"s": "报修"})) == []
    assert _titles(await admin.ok(ARTICLES, {"s": "投诉"})) == ["投诉流程"]
