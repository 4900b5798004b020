"""Yellow pages: categories and entries written and read back; bad input writes nothing."""

from __future__ import annotations

import pytest
from directory_kit import (
    CATEGORIES,
    CREATE_CATEGORY,
    DELETE_CATEGORY,
    DELETE_ENTRY,
    ENTRIES,
    ENTRY,
    UPDATE_CATEGORY,
    UPDATE_ENTRY,
    gid,
    make_site,
)

from wuye.modules.notices import yellowpages as yp
from wuye.modules.notices.models import YellowPageCategory, YellowPageEntry


@pytest.mark.parametrize(
    ("raw", "number", "uri"),
    [
        ("13805710001", "13805710001", "tel:+8613805710001"),
        ("+86 138 0571 0001", "13805710001", "tel:+8613805710001"),
        ("138-0571-0001", "13805710001", "tel:+8613805710001"),
        ("0571-88886666", "0571-88886666", "tel:+86-571-88886666"),
        ("0571 8888 6666", "0571-88886666", "tel:+86-571-88886666"),
        ("010-6552 9988", "010-65529988", "tel:+86-10-65529988"),
        ("+86 21 5888 1234", "021-58881234", "tel:+86-21-58881234"),
        ("400 800 1234", "400-800-1234", "tel:4008001234"),
        ("110", "110", "tel:110"),
        ("12345", "12345", "tel:12345"),
        ("95598", "95598", "tel:95598"),
        ("88886666", "88886666", "tel:88886666"),
        ("+852 2123 4567", "+85221234567", "tel:+85221234567"),
    ],
)
def test_phone_numbers_are_normalised_and_dialable(raw: str, number: str, uri: str) -> None:
    assert yp.normalise_phone(raw) == number
    assert yp.tel_uri(number) == uri


@pytest.mark.parametrize(
    "raw", ["", "abc", "138-0571-000a", "12", "+", "0571-0888666", "1380571000", "tel:110", "1+1"]
)
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(Exception) as caught:
        yp.normalise_phone(raw)
    assert getattr(caught.value, "code", None) == "VALIDATION_FAILED"


async def test_categories_and_entries_round_trip(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    admin = site.admin
    cat = await admin.category("维修服务", sort=5)
    entry = await admin.entry(
        cat,
        a,
        name="水电维修",
        phones=("+86 138 0571 0001", "0571 8888 6666", "13805710001"),
        hours="08:00-18:00",
        address="会所一楼",
        notes="自带材料",
        sort=3,
    )
    assert entry["communityId"] == gid("Community", a)
    assert entry["phones"] == [  # normalised, duplicates dropped, order kept
        {"number": "13805710001", "telUri": "tel:+8613805710001"},
        {"number": "0571-88886666", "telUri": "tel:+86-571-88886666"},
    ]
    assert (entry["hours"], entry["address"], entry["notes"], entry["sort"]) == (
        "08:00-18:00",
        "会所一楼",
        "自带材料",
        3,
    )
    assert (await admin.ok(ENTRY, {"id": entry["id"]}))["yellowPageEntry"] == entry

    wide = await admin.entry(cat, None, name="报警", phones=("110",))
    assert wide["communityId"] is None

    updated = (
        await admin.ok(
            UPDATE_ENTRY,
            {
                "i": {
                    "id": entry["id"],
                    "categoryId": cat,
                    "communityId": gid("Community", a),
                    "name": "水电维修（张师傅）",
                    "phones": ["13805710002"],
                    "active": False,
                }
            },
        )
    )["updateYellowPageEntry"]
    assert updated["name"] == "水电维修（张师傅）"
    assert [p["number"] for p in updated["phones"]] == ["13805710002"]
    assert updated["active"] is False and updated["hours"] == ""

    listed = (await admin.ok(ENTRIES, {"cat": cat}))["yellowPageEntries"]
    assert listed["totalCount"] == 2  # inactive ones too, for staff
    only_a = (await admin.ok(ENTRIES, {"c": gid("Community", a)}))["yellowPageEntries"]
    assert [e["node"]["id"] for e in only_a["edges"]] == [entry["id"]]

    renamed = (
        await admin.ok(UPDATE_CATEGORY, {"i": {"id": cat, "nameZh": "维修", "nameEn": "Repairs"}})
    )["updateYellowPageCategory"]
    assert (renamed["nameZh"], renamed["nameEn"], renamed["sort"]) == ("维修", "Repairs", 0)

    assert (await admin.ok(DELETE_ENTRY, {"i": {"id": entry["id"]}}))["deleteYellowPageEntry"]
    assert await admin.fails(ENTRY, {"id": entry["id"]}) == ("NOT_FOUND", "id")
    assert await admin.fails(DELETE_CATEGORY, {"i": {"id": cat}}) == ("CONFLICT", None)
    await admin.ok(DELETE_ENTRY, {"i": {"id": wide["id"]}})
    assert (await admin.ok(DELETE_CATEGORY, {"i": {"id": cat}}))["deleteYellowPageCategory"]
    assert (await admin.ok(CATEGORIES))["yellowPageCategories"] == []


async def test_categories_are_listed_in_sort_order_and_names_are_unique(api, runtime):
    site = await make_site(runtime, api)
    admin = site.admin
    second = await admin.category("家政保洁", sort=20)
    first = await admin.category("紧急电话", sort=10)
    cats = (await admin.ok(CATEGORIES))["yellowPageCategories"]
    assert [c["id"] for c in cats] == [first, second]
    code = await admin.fails(CREATE_CATEGORY, {"i": {"nameZh": " 家政保洁 "}})
    assert code == ("CONFLICT", "nameZh")
    assert await site.count(YellowPageCategory) == 2


async def test_bad_input_writes_nothing(api, runtime):
    site = await make_site(runtime, api)
    a = await site.community("A")
    admin = site.admin
    cat = await admin.category("物业服务中心")
    entry = await admin.entry(cat, a, name="前台", phones=("0571-88886666",))
    good = {"categoryId": cat, "communityId": gid("Community", a), "name": "x", "phones": ["110"]}
    create = "mutation($i: CreateYellowPageEntryInput!) { createYellowPageEntry(input: $i) { id } }"
    cases = [
        ({"phones": ["110", "call me"]}, ("VALIDATION_FAILED", "phones")),
        ({"phones": []}, ("VALIDATION_FAILED", "phones")),
        ({"phones": ["110"] * 1 + [f"1380571000{i}" for i in range(5)]}, None),
        ({"name": "   "}, ("VALIDATION_FAILED", "name")),
        ({"name": "名" * 101}, ("VALIDATION_FAILED", "name")),
        ({"notes": "注" * 501}, ("VALIDATION_FAILED", "notes")),
        ({"sort": 10**7}, ("VALIDATION_FAILED", "sort")),
        ({"categoryId": gid("YellowPageCategory", 999999)}, ("NOT_FOUND", "categoryId")),
        ({"categoryId": gid("KbArticle", 1)}, ("NOT_FOUND", "categoryId")),
        ({"communityId": gid("Community", 999999)}, ("NOT_FOUND", "communityId")),
    ]
    for change, expected in cases:
        body = await admin.raw(create, {"i": {**good, **change}})
        if expected is None:  # six distinct numbers: more than allowed
            expected = ("VALIDATION_FAILED", "phones")
        assert (
            body["errors"][0]["extensions"]["code"],
            body["errors"][0]["extensions"].get("field"),
        ) == expected, change
    assert await site.count(YellowPageEntry) == 1

    body = await admin.raw(
        UPDATE_ENTRY, {"i": {**good, "id": entry["id"], "name": "改名", "phones": ["bad"]}}
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
    assert (await admin.ok(ENTRY, {"id": entry["id"]}))["yellowPageEntry"] == entry

    body = await admin.raw(UPDATE_CATEGORY, {"i": {"id": cat, "nameZh": ""}})
    assert body["errors"][0]["extensions"]["field"] == "nameZh"
    cats = (await admin.ok(CATEGORIES))["yellowPageCategories"]
    assert [c["nameZh"] for c in cats] == ["物业服务中心"]
