"""Arrears: per-unit aging buckets exact at their boundaries in the tenant's time zone,
sorting and filters, data scope, the dunning letter PDF, and publication (off by default,
permission-gated, masked, readable only by the community's residents); cross-tenant."""

from __future__ import annotations

import base64
import io
from datetime import date, timedelta
from typing import Any

import pypdf
from billing_kit import Office, add_bill, add_fee_item, make_office, today_in
from conftest import TenantFixture
from kit import add_resident, add_staff, codes, ok, set_module_config
from sqlalchemy import update

from wuye.modules.billing.arrears import mask_name
from wuye.modules.billing.models import Bill
from wuye.runtime import Runtime
from wuye.tenancy.models import Tenant

ZONE = "Pacific/Kiritimati"  # UTC+14: its date is ahead of UTC's for most of the day

ARREARS = """query($c: ID, $b: ID, $m: String, $s: ArrearsSort, $f: Int, $a: String) {
  arrears(communityId: $c, buildingId: $b, minAmount: $m, sort: $s, first: $f, after: $a) {
    asOf totalCount pageInfo { hasNextPage endCursor }
    nodes { unitId place payers total oldestDays bills
            buckets { days0To30 days31To90 days91To180 over180 } } } }"""
LETTERS = """mutation($i: DunningLettersInput!) { dunningLetters(input: $i) {
  filename contentType base64 } }"""
PUBLISH = """mutation($i: PublishArrearsInput!) { publishArrears(input: $i) {
  id note total items { place name amount days } } }"""
NOTICES = """query($c: ID!) { arrearsNotices(communityId: $c) {
  note total items { place name amount days } } }"""


async def set_zone(runtime: Runtime, tenant: TenantFixture, zone: str) -> None:
    async with runtime.db.shared_session() as s:
        await s.execute(update(Tenant).where(Tenant.slug == tenant.slug).values(time_zone=zone))
        await s.commit()
    runtime.directory.clear_local()


async def set_config(runtime: Runtime, tenant: TenantFixture, config: dict[str, Any]) -> None:
    await set_module_config(runtime, tenant, "billing", config)


async def owing(
    runtime: Runtime, office: Office, unit: str, item: int, *ages: tuple[int, int]
) -> list[int]:
    """Bills of ``unit`` (amount fen, days overdue as of the tenant's today)."""
    today = today_in(ZONE)
    ids = []
    for n, (amount, days) in enumerate(ages):
        ids.append(
            await add_bill(
                runtime,
                office.tenant,
                unit_id=office.place.ids[unit],
                fee_item_id=item,
                amount_fen=amount,
                period=f"20{10 + n}-0{1 + n % 9}",
                due_on=today - timedelta(days=days),
            )
        )
    return ids


async def fixture(api: Any, runtime: Runtime) -> tuple[Office, int]:
    office = await make_office(api, runtime)
    await set_zone(runtime, office.tenant, ZONE)
    item = await add_fee_item(runtime, office.tenant)
    return office, item


def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(ok(body)["arrears"]["nodes"])


async def test_buckets_are_exact_at_their_boundaries(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    # 101: one bill on each side of every boundary; due today / tomorrow are not overdue
    await owing(
        runtime, office, "A/1/101", item,
        (100, 1), (200, 30), (400, 31), (800, 90), (1600, 91), (3200, 180), (6400, 181),
        (12800, 0), (25600, -1),
    )  # fmt: skip
    body = await api(ARREARS, tenant=office.tenant.slug, token=office.manager.token)
    found = rows(body)
    assert ok(body)["arrears"]["asOf"] == today_in(ZONE).isoformat()
    assert len(found) == 1
    unit = found[0]
    assert unit["buckets"] == {
        "days0To30": "3.00",
        "days31To90": "12.00",
        "days91To180": "48.00",
        "over180": "64.00",
    }
    assert unit["total"] == "127.00"
    assert unit["oldestDays"] == 181 and unit["bills"] == 7
    assert unit["place"] == "A 1 101" and unit["payers"] == "李雷"


async def test_partly_paid_waived_and_paid_bills(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    partial, paid, waived = await owing(
        runtime, office, "A/1/101", item, (10000, 10), (5000, 10), (3000, 10)
    )
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        await s.execute(
            update(Bill).where(Bill.id == partial).values(paid_fen=2500, status="partial")
        )
        await s.execute(update(Bill).where(Bill.id == paid).values(paid_fen=5000, status="paid"))
        await s.execute(
            update(Bill).where(Bill.id == waived).values(waived_fen=3000, status="waived")
        )
        await s.commit()
    found = rows(await api(ARREARS, tenant=office.tenant.slug, token=office.manager.token))
    assert [(r["total"], r["bills"]) for r in found] == [("75.00", 1)]


async def test_sorting_filters_and_pages(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    await owing(runtime, office, "A/1/101", item, (50000, 5))  # largest, newest
    await owing(runtime, office, "A/1/102", item, (1000, 200))  # smallest, oldest
    await owing(runtime, office, "B/9/901", item, (20000, 40))
    t, tok = office.tenant.slug, office.manager.token
    by_total = rows(await api(ARREARS, {"s": "TOTAL"}, tenant=t, token=tok))
    assert [r["place"] for r in by_total] == ["A 1 101", "B 9 901", "A 1 102"]
    by_age = rows(await api(ARREARS, {"s": "OLDEST"}, tenant=t, token=tok))
    assert [r["place"] for r in by_age] == ["A 1 102", "B 9 901", "A 1 101"]
    only_a = rows(await api(ARREARS, {"c": office.place.gid("A")}, tenant=t, token=tok))
    assert [r["place"] for r in only_a] == ["A 1 101", "A 1 102"]
    big = rows(await api(ARREARS, {"m": "200.00"}, tenant=t, token=tok))
    assert [r["place"] for r in big] == ["A 1 101", "B 9 901"]
    first = ok(await api(ARREARS, {"f": 2}, tenant=t, token=tok))["arrears"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = ok(
        await api(ARREARS, {"f": 2, "a": first["pageInfo"]["endCursor"]}, tenant=t, token=tok)
    )["arrears"]
    assert [r["place"] for r in rest["nodes"]] == ["A 1 102"]
    assert not rest["pageInfo"]["hasNextPage"]


async def test_scope_and_permission(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    await owing(runtime, office, "A/1/101", item, (50000, 5))
    await owing(runtime, office, "B/9/901", item, (20000, 40))
    t = office.tenant.slug
    b_only = await add_staff(
        api, runtime, office.tenant, roles=("manager",),
        communities=(office.place.ids["B"],), all_communities=False,
    )  # fmt: skip
    found = rows(await api(ARREARS, tenant=t, token=b_only.token))
    assert [r["place"] for r in found] == ["B 9 901"]
    body = await api(ARREARS, {"c": office.place.gid("A")}, tenant=t, token=b_only.token)
    assert codes(body) == ["NOT_FOUND"]
    body = await api(
        LETTERS, {"i": {"unitIds": [office.place.gid("A/1/101")]}}, tenant=t, token=b_only.token
    )
    assert codes(body) == ["NOT_FOUND"]
    assert codes(await api(ARREARS, tenant=t, token=office.resident.token)) == ["FORBIDDEN"]
    # the cashier role holds billing.arrears.view
    assert len(rows(await api(ARREARS, tenant=t, token=office.cashier.token))) == 2


async def test_dunning_letters_pdf(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    await owing(runtime, office, "A/1/101", item, (25060, 40), (10000, 3))
    await owing(runtime, office, "A/1/102", item, (8800, 100))
    t, tok = office.tenant.slug, office.manager.token
    ids = [office.place.gid("A/1/101"), office.place.gid("A/1/102")]
    body = await api(LETTERS, {"i": {"unitIds": ids}}, tenant=t, token=tok)
    f = ok(body)["dunningLetters"]
    assert f["contentType"] == "application/pdf" and f["filename"].endswith(".pdf")
    reader = pypdf.PdfReader(io.BytesIO(base64.b64decode(f["base64"])))
    assert len(reader.pages) == 2
    first, second = (p.extract_text() for p in reader.pages)
    today = today_in(ZONE)
    assert "催费函" in first and "李雷" in first and "A 1 101" in first
    assert "350.60" in first and "250.60" in first and "物业费" in first
    assert f"{today.year}年{today.month}月{today.day}日" in first
    deadline = today + timedelta(days=15)
    assert f"{deadline.year}年{deadline.month}月{deadline.day}日前" in first
    assert f"测试物业{office.tenant.slug}" in first
    assert "韩梅梅" in second and "88.00" in second and "李雷" not in second
    # a unit without arrears: NOT_FOUND naming the field
    body = await api(
        LETTERS, {"i": {"unitIds": [office.place.gid("A/1/103")]}}, tenant=t, token=tok
    )
    assert codes(body) == ["NOT_FOUND"]


async def test_publication_is_off_by_default_and_permission_gated(
    api: Any, runtime: Runtime
) -> None:
    office, item = await fixture(api, runtime)
    await owing(runtime, office, "A/1/101", item, (123400, 40))
    await owing(runtime, office, "B/9/901", item, (5000, 40))
    t = office.tenant.slug
    publish = {"i": {"communityId": office.place.gid("A"), "note": "请尽快缴费"}}
    body = await api(PUBLISH, publish, tenant=t, token=office.manager.token)
    assert codes(body) == ["FORBIDDEN"]
    assert "arrears_publication_enabled" in body["errors"][0]["message"]
    await set_config(runtime, office.tenant, {"arrears_publication_enabled": True})
    # the cashier may view arrears but not publish them; residents neither
    assert codes(await api(PUBLISH, publish, tenant=t, token=office.cashier.token)) == ["FORBIDDEN"]
    assert codes(await api(PUBLISH, publish, tenant=t, token=office.resident.token)) == [
        "FORBIDDEN"
    ]
    notice = ok(await api(PUBLISH, publish, tenant=t, token=office.manager.token))
    assert notice["publishArrears"]["items"] == [
        {"place": "A 1 101", "name": "李**", "amount": "1234.00", "days": 40}
    ]
    # the community's residents read it (masked); another community's resident cannot
    seen = ok(
        await api(NOTICES, {"c": office.place.gid("A")}, tenant=t, token=office.neighbour.token)
    )
    assert seen["arrearsNotices"][0]["items"][0]["name"] == "李**"
    assert seen["arrearsNotices"][0]["total"] == "1234.00"
    assert "李雷" not in str(seen)
    outsider = await add_resident(api, runtime, office.tenant, office.place.ids["B/9/901"])
    body = await api(NOTICES, {"c": office.place.gid("A")}, tenant=t, token=outsider.token)
    assert codes(body) == ["NOT_FOUND"]
    assert (
        ok(await api(NOTICES, {"c": office.place.gid("B")}, tenant=t, token=outsider.token))[
            "arrearsNotices"
        ]
        == []
    )


def test_names_are_masked() -> None:
    assert mask_name("张三、李四") == "张**"
    assert mask_name("欧阳娜娜") == "欧**"
    assert mask_name("") == ""


async def test_another_tenant_sees_none_of_it(api: Any, runtime: Runtime) -> None:
    office, item = await fixture(api, runtime)
    await owing(runtime, office, "A/1/101", item, (50000, 5))
    other = await make_office(api, runtime)
    body = ok(await api(ARREARS, tenant=other.tenant.slug, token=other.manager.token))
    assert body["arrears"]["totalCount"] == 0
    # a token of one tenant is refused by another
    body = await api(ARREARS, tenant=other.tenant.slug, token=office.manager.token)
    assert codes(body) == ["UNAUTHENTICATED"]
    body = await api(
        LETTERS,
        {"i": {"unitIds": [office.place.gid("A/1/101")]}},
        tenant=other.tenant.slug,
        token=other.manager.token,
    )
    assert codes(body) == ["NOT_FOUND"]
    assert date.today()
