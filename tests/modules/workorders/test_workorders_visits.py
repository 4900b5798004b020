"""回访 through GraphQL: only after close, only by customer service who handle the order,
satisfaction only (and always) when the resident was reached, the staff-only timeline
event, and the customer-service work list of closed orders still waiting for a visit."""

from __future__ import annotations

from typing import Any

from conftest import Api
from kit import Resident, add_staff, codes, ok
from wo_kit import ORDER, Crew, make_crew, submit, take

from wuye.runtime import Runtime

VISIT_FIELDS = """id orderId method outcome satisfaction notes createdAt visitor { id name }
  recording { id }"""
RECORD = f"""mutation($i: RecordReturnVisitInput!) {{
  recordReturnVisit(input: $i) {{ {VISIT_FIELDS} }} }}"""
VISITS = f"""query($id: ID!) {{ returnVisits(orderId: $id) {{ {VISIT_FIELDS} }} }}"""
PENDING = """query($first: Int, $after: String) {
  pendingReturnVisits(first: $first, after: $after) {
  totalCount edges { node { id number status } } pageInfo { hasNextPage endCursor } } }"""


async def closed(api: Api, crew: Crew, who: Resident | None = None, **fields: Any) -> str:
    """A consultation taken through to closed (accept, take up, answer, close)."""
    fields.setdefault("type", "consultation")
    oid = str((await submit(api, crew, who, **fields))["id"])
    ok(await take(api, crew, crew.desk, "accept", oid))
    ok(await take(api, crew, crew.desk, "take_up", oid))
    ok(await take(api, crew, crew.desk, "answer", oid, note="已答复"))
    ok(await take(api, crew, crew.desk, "close", oid))
    return oid


async def record(api: Api, crew: Crew, who: Resident, oid: str, **fields: Any) -> dict[str, Any]:
    return await api(
        RECORD, {"i": {"orderId": oid, **fields}}, tenant=crew.tenant.slug, token=who.token
    )


async def pending(api: Api, crew: Crew, who: Resident, **page: Any) -> list[str]:
    body = await api(PENDING, page, tenant=crew.tenant.slug, token=who.token)
    return [e["node"]["id"] for e in ok(body)["pendingReturnVisits"]["edges"]]


async def test_a_return_visit_after_close(api: Api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    open_order = str((await submit(api, crew, type="consultation", description="咨询"))["id"])
    # not closed yet
    body = await record(api, crew, crew.desk, open_order, outcome="reached", satisfaction=5)
    assert codes(body) == ["INVALID_TRANSITION"]

    first, second = await closed(api, crew), await closed(api, crew)
    assert await pending(api, crew, crew.desk) == [first, second]  # oldest order first

    # what a visit may hold
    for fields, field in (
        ({"outcome": "reached"}, "satisfaction"),
        ({"outcome": "reached", "satisfaction": 0}, "satisfaction"),
        ({"outcome": "reached", "satisfaction": 6}, "satisfaction"),
        ({"outcome": "unreachable", "satisfaction": 3}, "satisfaction"),
        ({"outcome": "refused", "satisfaction": 1}, "satisfaction"),
        ({"outcome": "busy"}, "outcome"),
        ({"outcome": "unreachable", "method": "fax"}, "method"),
        ({"outcome": "unreachable", "notes": "长" * 2001}, "notes"),
    ):
        body = await record(api, crew, crew.desk, first, **fields)
        assert codes(body) == ["VALIDATION_FAILED"], fields
        assert body["errors"][0]["extensions"]["field"] == field, fields

    # who may not: the resident and the worker lack workorders.handle; customer service of
    # another community does not see the order
    elsewhere = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        communities=(crew.place.ids["B"],),
        all_communities=False,
    )
    for who, code in (
        (crew.resident, "FORBIDDEN"),
        (crew.worker, "FORBIDDEN"),
        (elsewhere, "NOT_FOUND"),
    ):
        body = await record(api, crew, who, first, outcome="reached", satisfaction=4)
        assert codes(body) == [code]
    assert codes(await api(PENDING, tenant=crew.tenant.slug, token=crew.resident.token)) == [
        "FORBIDDEN"
    ]
    assert await pending(api, crew, elsewhere) == []

    # nobody answered: recorded, but the order stays on the work list
    missed = ok(await record(api, crew, crew.desk, first, outcome="unreachable", notes="无人接听"))
    visit = missed["recordReturnVisit"]
    assert visit["outcome"] == "unreachable" and visit["satisfaction"] is None
    assert visit["method"] == "phone" and visit["visitor"]["id"] == crew.desk.gid
    assert visit["recording"] is None and visit["orderId"] == first
    assert await pending(api, crew, crew.desk) == [first, second]
    # reached the second time: off the list
    reached = ok(
        await record(
            api,
            crew,
            crew.desk,
            first,
            outcome="reached",
            satisfaction=4,
            method="wechat",
            notes=" 满意，建议缩短等待时间 ",
        )
    )["recordReturnVisit"]
    assert reached["satisfaction"] == 4 and reached["notes"] == "满意，建议缩短等待时间"
    assert await pending(api, crew, crew.desk) == [second]
    # the manager sees the same list; a refusal also ends the wait
    assert await pending(api, crew, crew.manager) == [second]
    ok(await record(api, crew, crew.manager, second, outcome="refused"))
    assert await pending(api, crew, crew.desk) == []

    # staff who see the order read its visits, oldest first; residents do not
    for who in (crew.desk, crew.manager):
        body = await api(VISITS, {"id": first}, tenant=crew.tenant.slug, token=who.token)
        assert [v["outcome"] for v in ok(body)["returnVisits"]] == ["unreachable", "reached"]
    assert codes(
        await api(VISITS, {"id": first}, tenant=crew.tenant.slug, token=crew.resident.token)
    ) == ["FORBIDDEN"]
    assert codes(
        await api(VISITS, {"id": first}, tenant=crew.tenant.slug, token=elsewhere.token)
    ) == ["NOT_FOUND"]

    # the timeline: staff see the visits, the resident does not
    staff_view = ok(await api(ORDER, {"id": first}, tenant=crew.tenant.slug, token=crew.desk.token))
    visits = [e for e in staff_view["workOrder"]["events"] if e["action"] == "return_visit"]
    assert [(e["fromStatus"], e["toStatus"], e["note"]) for e in visits] == [
        ("closed", "closed", "无人接听"),
        ("closed", "closed", "满意，建议缩短等待时间"),
    ]
    assert staff_view["workOrder"]["status"] == "closed"
    mine = ok(await api(ORDER, {"id": first}, tenant=crew.tenant.slug, token=crew.resident.token))
    assert "return_visit" not in [e["action"] for e in mine["workOrder"]["events"]]


async def test_the_work_list_pages_and_follows_scope(api: Api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    in_a = [await closed(api, crew) for _ in range(3)]
    # customer service files a call about community B's gate (电话咨询)
    in_b = await closed(api, crew, crew.desk, communityId=crew.place.gid("B"), location="大门")
    only_b = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        communities=(crew.place.ids["B"],),
        all_communities=False,
    )
    assert await pending(api, crew, only_b) == [in_b]

    body = await api(PENDING, {"first": 2}, tenant=crew.tenant.slug, token=crew.desk.token)
    page = ok(body)["pendingReturnVisits"]
    assert [e["node"]["id"] for e in page["edges"]] == in_a[:2] and page["totalCount"] == 4
    # a visit made meanwhile does not shift the next page (keyset cursors)
    ok(await record(api, crew, crew.desk, in_a[0], outcome="reached", satisfaction=5))
    rest = await pending(api, crew, crew.desk, first=2, after=page["pageInfo"]["endCursor"])
    assert rest == [in_a[2], in_b]
    # open orders are never on it
    await submit(api, crew, type="consultation", description="未关闭")
    assert await pending(api, crew, crew.desk) == [in_a[1], in_a[2], in_b]
