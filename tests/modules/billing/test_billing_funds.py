"""Public ledgers: running balances exact (over the whole history, whatever the page or the
period), totals per category, append-only corrections, who may read (the community's
residents, staff in scope) and write, and cross-tenant."""

from __future__ import annotations

from typing import Any

from billing_kit import Office, make_office
from kit import add_resident, add_staff, codes, ok

from wuye.runtime import Runtime

RECORD = """mutation($i: RecordFundEntryInput!) { recordFundEntry(input: $i) {
  id fund direction category amount occurredOn correctsId } }"""
CORRECT = """mutation($i: CorrectFundEntryInput!) { correctFundEntry(input: $i) {
  id direction category amount correctsId description } }"""
LEDGER = """query($c: ID!, $f: PublicFund!, $from: Date, $to: Date, $n: Int, $a: String) {
  fundLedger(communityId: $c, fund: $f, from: $from, to: $to, first: $n, after: $a) {
    summary { openingBalance income expense closingBalance
              categories { direction category amount } }
    entries { totalCount pageInfo { hasNextPage endCursor }
              edges { node { category direction amount occurredOn balance correctsId } } } } }"""


async def record(api: Any, office: Office, community: str = "A", **fields: Any) -> dict[str, Any]:
    values = {
        "communityId": office.place.gid(community),
        "fund": "PUBLIC_INCOME",
        "direction": "INCOME",
        **fields,
    }
    body = await api(RECORD, {"i": values}, tenant=office.tenant.slug, token=office.manager.token)
    return dict(ok(body)["recordFundEntry"])


async def ledger(api: Any, office: Office, token: str, **v: Any) -> dict[str, Any]:
    variables = {"c": office.place.gid("A"), "f": "PUBLIC_INCOME", **v}
    return await api(LEDGER, variables, tenant=office.tenant.slug, token=token)


async def seeded(api: Any, runtime: Runtime) -> Office:
    office = await make_office(api, runtime)
    # recorded out of date order: the ledger orders by date then id
    await record(api, office, category="广告", amount="1200.00", occurredOn="2026-03-05")
    await record(api, office, category="停车", amount="800.50", occurredOn="2026-01-10")
    await record(
        api, office, category="电梯维修", direction="EXPENSE", amount="300.25",
        occurredOn="2026-02-01",
    )  # fmt: skip
    await record(api, office, category="场地租金", amount="99.99", occurredOn="2026-03-05")
    # another fund and another community: never in this ledger
    await record(api, office, fund="MAINTENANCE", category="维修基金", amount="5000.00",
                 occurredOn="2026-01-01")  # fmt: skip
    await record(api, office, "B", category="广告", amount="7.00", occurredOn="2026-01-01")
    return office


def nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in ok(body)["fundLedger"]["entries"]["edges"]]


async def test_running_balances_and_totals(api: Any, runtime: Runtime) -> None:
    office = await seeded(api, runtime)
    body = await ledger(api, office, office.manager.token)
    assert [(n["category"], n["amount"], n["balance"]) for n in nodes(body)] == [
        ("停车", "800.50", "800.50"),
        ("电梯维修", "300.25", "500.25"),
        ("广告", "1200.00", "1700.25"),
        ("场地租金", "99.99", "1800.24"),
    ]
    summary = ok(body)["fundLedger"]["summary"]
    assert summary["openingBalance"] == "0.00" and summary["closingBalance"] == "1800.24"
    assert summary["income"] == "2100.49" and summary["expense"] == "300.25"
    assert summary["categories"] == [
        {"direction": "INCOME", "category": "广告", "amount": "1200.00"},
        {"direction": "INCOME", "category": "停车", "amount": "800.50"},
        {"direction": "INCOME", "category": "场地租金", "amount": "99.99"},
        {"direction": "EXPENSE", "category": "电梯维修", "amount": "300.25"},
    ]
    # a period starts from the balance before it; a page from the right running balance
    march = await ledger(api, office, office.manager.token, **{"from": "2026-03-01"})
    assert [n["balance"] for n in nodes(march)] == ["1700.25", "1800.24"]
    s = ok(march)["fundLedger"]["summary"]
    assert (s["openingBalance"], s["income"], s["expense"], s["closingBalance"]) == (
        "500.25", "1299.99", "0.00", "1800.24",
    )  # fmt: skip
    page = await ledger(api, office, office.manager.token, n=2)
    cursor = ok(page)["fundLedger"]["entries"]["pageInfo"]["endCursor"]
    rest = await ledger(api, office, office.manager.token, n=2, a=cursor)
    assert [n["balance"] for n in nodes(rest)] == ["1700.25", "1800.24"]
    assert ok(rest)["fundLedger"]["entries"]["totalCount"] == 4


async def test_entries_are_corrected_by_an_opposite_entry_once(api: Any, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    wrong = await record(api, office, category="广告", amount="1000.00", occurredOn="2026-01-05")
    await record(api, office, category="停车", amount="50.00", occurredOn="2026-01-06")
    t, tok = office.tenant.slug, office.manager.token
    fix = {"i": {"id": wrong["id"], "reason": "金额录错", "occurredOn": "2026-01-07"}}
    corrected = ok(await api(CORRECT, fix, tenant=t, token=tok))["correctFundEntry"]
    assert corrected["direction"] == "EXPENSE" and corrected["amount"] == "1000.00"
    assert corrected["correctsId"] == wrong["id"] and "金额录错" in corrected["description"]
    assert codes(await api(CORRECT, fix, tenant=t, token=tok)) == ["CONFLICT"]
    again = {"i": {"id": corrected["id"], "reason": "x"}}
    assert codes(await api(CORRECT, again, tenant=t, token=tok)) == ["VALIDATION_FAILED"]
    body = await ledger(api, office, tok)
    assert [n["balance"] for n in nodes(body)] == ["1000.00", "1050.00", "50.00"]
    # nothing edits or deletes an entry: no such mutation exists
    body = await api('mutation { deleteFundEntry(id: "x") }', tenant=t, token=tok)
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_who_may_read_and_write(api: Any, runtime: Runtime) -> None:
    office = await seeded(api, runtime)
    t = office.tenant.slug
    # residents of A read A's ledger; a resident of B gets NOT_FOUND
    assert len(nodes(await ledger(api, office, office.resident.token))) == 4
    outsider = await add_resident(api, runtime, office.tenant, office.place.ids["B/9/901"])
    assert codes(await ledger(api, office, outsider.token)) == ["NOT_FOUND"]
    nowhere = await add_resident(api, runtime, office.tenant, None)
    assert codes(await ledger(api, office, nowhere.token)) == ["NOT_FOUND"]
    # staff: in scope, with a billing read permission
    b_only = await add_staff(
        api, runtime, office.tenant, roles=("manager",),
        communities=(office.place.ids["B"],), all_communities=False,
    )  # fmt: skip
    assert codes(await ledger(api, office, b_only.token)) == ["NOT_FOUND"]
    assert len(nodes(await ledger(api, office, office.cashier.token))) == 4
    worker = await add_staff(api, runtime, office.tenant, roles=("maintenance_worker",))
    assert codes(await ledger(api, office, worker.token)) == ["NOT_FOUND"]
    # writing needs billing.funds.manage and the community in scope
    entry = {
        "communityId": office.place.gid("A"), "fund": "MAINTENANCE", "direction": "INCOME",
        "category": "x", "amount": "1.00", "occurredOn": "2026-01-01",
    }  # fmt: skip
    assert codes(await api(RECORD, {"i": entry}, tenant=t, token=office.cashier.token)) == [
        "FORBIDDEN"
    ]
    assert codes(await api(RECORD, {"i": entry}, tenant=t, token=b_only.token)) == ["NOT_FOUND"]
    bad = {**entry, "amount": "1.001"}
    assert codes(await api(RECORD, {"i": bad}, tenant=t, token=office.manager.token)) == [
        "VALIDATION_FAILED"
    ]


async def test_another_tenant_cannot_read_the_ledger(api: Any, runtime: Runtime) -> None:
    office = await seeded(api, runtime)
    other = await make_office(api, runtime)
    # the same community id in the other tenant is another (empty) community
    body = await api(
        LEDGER,
        {"c": office.place.gid("A"), "f": "PUBLIC_INCOME"},
        tenant=other.tenant.slug,
        token=other.manager.token,
    )
    assert ok(body)["fundLedger"]["entries"]["edges"] == []
    body = await api(
        LEDGER,
        {"c": office.place.gid("A"), "f": "PUBLIC_INCOME"},
        tenant=other.tenant.slug,
        token=office.resident.token,
    )
    assert codes(body) == ["UNAUTHENTICATED"]
