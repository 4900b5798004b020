"""Finance reports: each report's exact figures on a small fixture, the tenant's day for
the cash report, data scope, permission, the XLSX exports, and cross-tenant."""

from __future__ import annotations

import base64
import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
from billing_kit import Office, add_bill, add_fee_item, make_office, today_in
from conftest import TenantFixture
from kit import add_staff, codes, ok
from sqlalchemy import select, update

from wuye.graphql.ids import encode_id
from wuye.modules.billing import ledger
from wuye.modules.billing.models import Bill, FeeItem, FundEntry, Payment
from wuye.runtime import Runtime

COLLECTION = """query($f: String!, $t: String!, $g: CollectionGroup) {
  collectionReport(fromMonth: $f, toMonth: $t, groupBy: $g) {
    rows { key label bills billed collected outstanding rate }
    totals { label bills billed collected outstanding rate } } }"""
AGING = """query { agingReport { asOf
  rows { label units bills total buckets { days0To30 days31To90 days91To180 over180 } }
  totals { units bills total buckets { days0To30 days31To90 days91To180 over180 } } } }"""
CASH = """query($d: Date!, $c: ID) { dailyCashReport(day: $d, cashierId: $c) { timeZone
  rows { cashierId method count received reversed net }
  totals { count received reversed net } } }"""
INCOME = """query($f: Date!, $t: Date!) { incomeExpenseReport(from: $f, to: $t) {
  rows { source label income expense net } totals { income expense net } } }"""
EXPORT = """mutation($i: ExportBillingReportInput!) { exportBillingReport(input: $i) {
  filename contentType base64 } }"""


async def bill(runtime: Runtime, office: Office, unit: str, item: int, amount: int,
               period: str, **values: Any) -> int:  # fmt: skip
    bill_id = await add_bill(
        runtime, office.tenant, unit_id=office.place.ids[unit], fee_item_id=item,
        amount_fen=amount, period=period, due_on=values.pop("due_on", None) or
        today_in(None) + timedelta(days=30),
    )  # fmt: skip
    if values:
        async with runtime.db.tenant_session(office.tenant.schema) as s:
            await s.execute(update(Bill).where(Bill.id == bill_id).values(**values))
            await s.commit()
    return bill_id


async def collection_fixture(api: Any, runtime: Runtime) -> tuple[Office, int, int]:
    office = await make_office(api, runtime)
    prop = await add_fee_item(runtime, office.tenant)
    water = await add_fee_item(runtime, office.tenant, name_zh="水费", kind="water", method="fixed")
    await bill(runtime, office, "A/1/101", prop, 10000, "2026-09", paid_fen=10000, status="paid")
    await bill(runtime, office, "A/1/101", water, 5000, "2026-10", discount_fen=1000,
               paid_fen=2000, status="partial")  # fmt: skip
    await bill(runtime, office, "A/1/102", prop, 8000, "2026-10")
    await bill(runtime, office, "B/9/901", prop, 20000, "2026-10", paid_fen=20000, status="paid")
    await bill(runtime, office, "B/9/901", water, 999, "2026-11", status="void")
    await bill(runtime, office, "A/1/103", prop, 7000, "2026-12")  # after the period
    return office, prop, water


def report(body: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(ok(body)[name])


async def test_collection_rate_by_community_month_and_fee_item(api: Any, runtime: Runtime) -> None:
    office, prop, water = await collection_fixture(api, runtime)
    t, tok = office.tenant.slug, office.manager.token
    v = {"f": "2026-09", "t": "2026-11"}
    r = report(
        await api(COLLECTION, {**v, "g": "COMMUNITY"}, tenant=t, token=tok), "collectionReport"
    )
    assert [(x["label"], x["bills"], x["billed"], x["collected"], x["outstanding"], x["rate"])
            for x in r["rows"]] == [
        ("A", 3, "220.00", "120.00", "100.00", 0.5455),
        ("B", 1, "200.00", "200.00", "0.00", 1.0),
    ]  # fmt: skip
    assert r["rows"][0]["key"] == office.place.gid("A")
    assert r["totals"] == {
        "label": "合计", "bills": 4, "billed": "420.00", "collected": "320.00",
        "outstanding": "100.00", "rate": 0.7619,
    }  # fmt: skip
    r = report(await api(COLLECTION, {**v, "g": "MONTH"}, tenant=t, token=tok), "collectionReport")
    assert [(x["key"], x["billed"], x["collected"]) for x in r["rows"]] == [
        ("2026-09", "100.00", "100.00"),
        ("2026-10", "320.00", "220.00"),
    ]
    r = report(
        await api(COLLECTION, {**v, "g": "FEE_ITEM"}, tenant=t, token=tok), "collectionReport"
    )
    assert sorted((x["label"], x["billed"], x["collected"]) for x in r["rows"]) == [
        ("水费", "40.00", "20.00"),
        ("物业费", "380.00", "300.00"),
    ]
    # scope: a manager of B only
    b_only = await add_staff(
        api, runtime, office.tenant, roles=("manager",),
        communities=(office.place.ids["B"],), all_communities=False,
    )  # fmt: skip
    r = report(await api(COLLECTION, v, tenant=t, token=b_only.token), "collectionReport")
    assert [x["label"] for x in r["rows"]] == ["B"] and r["totals"]["billed"] == "200.00"
    body = await api(COLLECTION, {"f": "2026-13", "t": "2026-11"}, tenant=t, token=tok)
    assert codes(body) == ["VALIDATION_FAILED"]
    assert codes(await api(COLLECTION, v, tenant=t, token=office.resident.token)) == ["FORBIDDEN"]
    assert prop and water


async def test_aging_per_community(api: Any, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await add_fee_item(runtime, office.tenant)
    today = today_in("Asia/Shanghai")
    for unit, amount, days, period in (
        ("A/1/101", 1000, 30, "2026-01"), ("A/1/101", 2000, 31, "2026-02"),
        ("A/1/102", 4000, 91, "2026-03"), ("B/9/901", 8000, 181, "2026-04"),
        ("B/9/901", 16000, -5, "2026-05"),  # not yet due
    ):  # fmt: skip
        await bill(runtime, office, unit, item, amount, period,
                   due_on=today - timedelta(days=days))  # fmt: skip
    r = report(
        await api(AGING, tenant=office.tenant.slug, token=office.manager.token), "agingReport"
    )
    assert r["asOf"] == today.isoformat()
    assert [(x["label"], x["units"], x["bills"], x["total"], x["buckets"]) for x in r["rows"]] == [
        ("B", 1, 1, "80.00", {"days0To30": "0.00", "days31To90": "0.00",
                             "days91To180": "0.00", "over180": "80.00"}),
        ("A", 2, 3, "70.00", {"days0To30": "10.00", "days31To90": "20.00",
                             "days91To180": "40.00", "over180": "0.00"}),
    ]  # fmt: skip
    assert r["totals"] == {
        "units": 3, "bills": 4, "total": "150.00",
        "buckets": {"days0To30": "10.00", "days31To90": "20.00",
                    "days91To180": "40.00", "over180": "80.00"},
    }  # fmt: skip


async def pay(runtime: Runtime, tenant: TenantFixture, at: datetime, amount: int, method: str,
              cashier: int, community: int, kind: str | None = None) -> None:  # fmt: skip
    async with runtime.db.tenant_session(tenant.schema) as s:
        s.add(
            Payment(
                receipt_no=f"R{secrets.token_hex(6)}", kind=kind or
                ("reversal" if amount < 0 else "payment"), method=method, amount_fen=amount,
                cashier_id=cashier, community_id=community, created_at=at,
            )
        )  # fmt: skip
        await s.commit()


async def test_daily_cash_per_cashier_and_method_in_the_tenant_day(
    api: Any, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    a, b = office.place.ids["A"], office.place.ids["B"]
    c, m = office.cashier.user_id, office.manager.user_id
    utc = UTC
    # 2026-11-20 in Shanghai is 2026-11-19 16:00 .. 2026-11-20 16:00 UTC
    for at, amount, method, who, where, kind in (
        (datetime(2026, 11, 19, 16, 0, tzinfo=utc), 10000, "cash", c, a, None),  # 00:00 local
        (datetime(2026, 11, 20, 3, 0, tzinfo=utc), 5000, "cash", c, a, None),
        (datetime(2026, 11, 20, 4, 0, tzinfo=utc), -5000, "cash", c, a, None),
        (datetime(2026, 11, 20, 5, 0, tzinfo=utc), 3000, "pos", c, a, "topup"),
        (datetime(2026, 11, 20, 6, 0, tzinfo=utc), 7000, "transfer", m, b, None),
        (datetime(2026, 11, 20, 16, 0, tzinfo=utc), 999, "cash", c, a, None),  # next day
        (datetime(2026, 11, 19, 15, 59, tzinfo=utc), 888, "cash", c, a, None),  # day before
    ):  # fmt: skip
        await pay(runtime, office.tenant, at, amount, method, who, where, kind)
    t, tok = office.tenant.slug, office.manager.token
    r = report(await api(CASH, {"d": "2026-11-20"}, tenant=t, token=tok), "dailyCashReport")
    assert r["timeZone"] == "Asia/Shanghai"
    got = {(x["cashierId"], x["method"]): (x["count"], x["received"], x["reversed"], x["net"])
           for x in r["rows"]}  # fmt: skip
    cg, mg = encode_id("User", c), encode_id("User", m)
    assert got == {
        (cg, "cash"): (3, "150.00", "-50.00", "100.00"),
        (cg, "pos"): (1, "30.00", "0.00", "30.00"),
        (cg, None): (4, "180.00", "-50.00", "130.00"),
        (mg, "transfer"): (1, "70.00", "0.00", "70.00"),
        (mg, None): (1, "70.00", "0.00", "70.00"),
    }
    assert r["totals"] == {"count": 5, "received": "250.00", "reversed": "-50.00", "net": "200.00"}
    mine = report(await api(CASH, {"d": "2026-11-20", "c": cg}, tenant=t, token=tok),
                  "dailyCashReport")  # fmt: skip
    assert mine["totals"]["net"] == "130.00"
    a_only = await add_staff(
        api, runtime, office.tenant, roles=("manager",), communities=(a,), all_communities=False
    )
    r = report(await api(CASH, {"d": "2026-11-20"}, tenant=t, token=a_only.token),
               "dailyCashReport")  # fmt: skip
    assert r["totals"]["net"] == "130.00"


async def income_fixture(api: Any, runtime: Runtime) -> Office:
    office = await make_office(api, runtime)
    prop = await add_fee_item(runtime, office.tenant)
    water = await add_fee_item(runtime, office.tenant, name_zh="水费", kind="water", method="fixed")
    a, b = office.place.ids["A"], office.place.ids["B"]
    today = today_in(None)
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        codes_ = {i.id: i.code for i in await s.scalars(select(FeeItem))}
        p, w = ledger.income(codes_[prop]), ledger.income(codes_[water])
        await ledger.post(s, kind="bill_run", ref_type="bill_run", ref_id=1, lines=[
            ledger.Line("receivable", debit=10000, community_id=a),
            ledger.Line(p, credit=10000, community_id=a, fee_item_id=prop),
            ledger.Line("receivable", debit=5000, community_id=b),
            ledger.Line(w, credit=5000, community_id=b, fee_item_id=water),
        ])  # fmt: skip
        await ledger.post(s, kind="void", ref_type="bill", ref_id=1, lines=[
            ledger.Line(p, debit=2000, community_id=a, fee_item_id=prop),
            ledger.Line("receivable", credit=2000, community_id=a),
        ])  # fmt: skip
        for fund, direction, category, amount, day, where in (
            ("public_income", "income", "广告", 120000, today, a),
            ("public_income", "income", "广告", 30000, today, b),
            ("maintenance", "expense", "电梯大修", 50000, today, a),
            ("public_income", "income", "停车", 99999, today - timedelta(days=40), a),
        ):  # fmt: skip
            s.add(FundEntry(community_id=where, fund=fund, direction=direction,
                            category=category, amount_fen=amount, occurred_on=day))  # fmt: skip
        await s.commit()
    return office


async def test_income_and_expense_by_category(api: Any, runtime: Runtime) -> None:
    office = await income_fixture(api, runtime)
    today = today_in(None)
    v = {"f": (today - timedelta(days=1)).isoformat(), "t": today.isoformat()}
    t = office.tenant.slug
    r = report(await api(INCOME, v, tenant=t, token=office.manager.token), "incomeExpenseReport")
    assert [(x["source"], x["label"], x["income"], x["expense"], x["net"]) for x in r["rows"]] == [
        ("fee", "物业费", "80.00", "0.00", "80.00"),
        ("fee", "水费", "50.00", "0.00", "50.00"),
        ("public_income", "广告", "1500.00", "0.00", "1500.00"),
        ("maintenance", "电梯大修", "0.00", "500.00", "-500.00"),
    ]
    assert r["totals"] == {"income": "1630.00", "expense": "500.00", "net": "1130.00"}
    b_only = await add_staff(
        api, runtime, office.tenant, roles=("manager",),
        communities=(office.place.ids["B"],), all_communities=False,
    )  # fmt: skip
    r = report(await api(INCOME, v, tenant=t, token=b_only.token), "incomeExpenseReport")
    assert [(x["label"], x["income"]) for x in r["rows"]] == [("水费", "50.00"), ("广告", "300.00")]


def sheet(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    f = ok(body)["exportBillingReport"]
    assert f["filename"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(f["base64"])))
    return list(book.worksheets[0].iter_rows(values_only=True))


async def test_every_report_exports_to_xlsx(api: Any, runtime: Runtime) -> None:
    office, _, _ = await collection_fixture(api, runtime)
    t, tok = office.tenant.slug, office.manager.token
    rows = sheet(await api(EXPORT, {"i": {"kind": "COLLECTION", "fromMonth": "2026-09",
                                          "toMonth": "2026-11"}}, tenant=t, token=tok))  # fmt: skip
    assert rows[0][0] == "小区 Community" and rows[0][2] == "应收（元）Billed"
    assert rows[1] == ("A", 3, 220.0, 120.0, 100.0, 0.5455)
    assert rows[-1] == ("合计", 4, 420.0, 320.0, 100.0, 0.7619)
    rows = sheet(await api(EXPORT, {"i": {"kind": "AGING"}}, tenant=t, token=tok))
    assert rows[0][3] == "0-30天 0-30 days（元）" and rows[-1][0] == "合计"
    rows = sheet(await api(EXPORT, {"i": {"kind": "DAILY_CASH", "day": "2026-11-20"}},
                           tenant=t, token=tok))  # fmt: skip
    assert rows[0][0] == "收银员 Cashier" and rows[-1][2] == 0
    today = today_in(None).isoformat()
    rows = sheet(await api(EXPORT, {"i": {"kind": "INCOME_EXPENSE", "from": today, "to": today}},
                           tenant=t, token=tok))  # fmt: skip
    assert rows[0][2] == "收入（元）Income" and rows[-1][1] == "合计"
    body = await api(EXPORT, {"i": {"kind": "DAILY_CASH"}}, tenant=t, token=tok)
    assert codes(body) == ["VALIDATION_FAILED"]
    assert codes(await api(EXPORT, {"i": {"kind": "AGING"}}, tenant=t,
                           token=office.resident.token)) == ["FORBIDDEN"]  # fmt: skip


async def test_another_tenant_sees_none_of_it(api: Any, runtime: Runtime) -> None:
    office, _, _ = await collection_fixture(api, runtime)
    other = await make_office(api, runtime)
    r = report(
        await api(COLLECTION, {"f": "2026-01", "t": "2026-12"}, tenant=other.tenant.slug,
                  token=other.manager.token), "collectionReport",
    )  # fmt: skip
    assert r["rows"] == [] and r["totals"]["billed"] == "0.00"
    body = await api(AGING, tenant=other.tenant.slug, token=office.manager.token)
    assert codes(body) == ["UNAUTHENTICATED"]
