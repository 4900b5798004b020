"""Meter readings: staff batches (all or nothing, the failing row named), usage from the
previous accepted reading, below-previous refused, replacement, jumps held and reviewed,
residents' readings with a real photo upload, data scope, tenant isolation, and a listing
whose statement count does not grow with the page."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from billing_kit import Office, make_office
from conftest import count_statements
from kit import Resident, add_staff, codes, ok, set_module_config
from sqlalchemy import func, select

from wuye.graphql.ids import encode_id
from wuye.modules.billing.models import MeterReading
from wuye.runtime import Runtime
from wuye.storage.models import StoredFile

READING = """id unitId meterType readOn reading previous usage replaced source status note
  billed unit enteredBy reviewedBy photo { id purpose status }"""
RECORD = f"""mutation($i: RecordMeterReadingsInput!) {{ recordMeterReadings(input: $i) {{
  {READING} }} }}"""
SUBMIT = f"""mutation($i: SubmitMeterReadingInput!) {{ submitMeterReading(input: $i) {{
  {READING} }} }}"""
REVIEW = f"""mutation($i: ReviewMeterReadingInput!) {{ reviewMeterReading(input: $i) {{
  {READING} }} }}"""
LIST = f"""query($unit: ID, $building: ID, $type: String, $status: String, $first: Int) {{
  meterReadings(unitId: $unit, buildingId: $building, meterType: $type, status: $status,
  first: $first) {{ totalCount edges {{ node {{ {READING} }} }} }} }}"""
MINE = f"""query($unit: ID) {{ myMeterReadings(unitId: $unit) {{ totalCount
  edges {{ node {{ {READING} }} }} }} }}"""
REQUEST_UPLOAD = """mutation($i: RequestUploadInput!) { requestUpload(input: $i) {
  file { id } url fields { name value } } }"""
CONFIRM_UPLOAD = "mutation($id: ID!) { confirmUpload(id: $id) { id status } }"
PNG = b"\x89PNG\r\n\x1a\n" + b"meter" * 20

DAY = date(2026, 1, 31)


def day(n: int) -> str:
    """The n-th month end after DAY (one reading a month)."""
    return (DAY + timedelta(days=30 * n)).isoformat()


async def call(api: Any, office: Office, who: Any, doc: str, variables: dict[str, Any]) -> Any:
    return await api(doc, variables, tenant=office.tenant.slug, token=who.token)


def ext(body: dict[str, Any]) -> dict[str, Any]:
    return body["errors"][0]["extensions"]  # type: ignore[no-any-return]


async def record(
    api: Any,
    office: Office,
    rows: list[tuple[str, str] | tuple[str, str, bool]],
    *,
    on: str,
    who: Any = None,
    meter: str = "water",
) -> dict[str, Any]:
    readings = [
        {"unitId": office.place.gid(r[0]), "reading": r[1], "replaced": any(r[2:])} for r in rows
    ]
    return await call(  # type: ignore[no-any-return]
        api,
        office,
        who or office.manager,
        RECORD,
        {"i": {"meterType": meter, "readOn": on, "readings": readings}},
    )


async def count_readings(runtime: Runtime, office: Office) -> int:
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(MeterReading)) or 0)


async def set_billing_config(runtime: Runtime, office: Office, config: dict[str, Any]) -> None:
    await set_module_config(runtime, office.tenant, "billing", config)


async def upload(
    api: Any, office: Office, who: Resident, purpose: str = "billing.meter_photo"
) -> str:
    """A confirmed photo upload of ``who`` (slot, form POST to the local backend, confirm)."""
    slot = ok(
        await call(
            api,
            office,
            who,
            REQUEST_UPLOAD,
            {"i": {"purpose": purpose, "contentType": "image/png", "size": len(PNG)}},
        )
    )["requestUpload"]
    fields = {f["name"]: f["value"] for f in slot["fields"]}
    posted = await api.client.post(
        slot["url"], data=fields, files={"file": ("m.png", PNG, "image/png")}
    )
    assert posted.status_code in (200, 201, 204), posted.text
    confirmed = ok(await call(api, office, who, CONFIRM_UPLOAD, {"id": slot["file"]["id"]}))
    assert confirmed["confirmUpload"]["status"] == "ready"
    return str(slot["file"]["id"])


# --- staff entry ---------------------------------------------------------------------------


async def test_a_building_batch_computes_usage_from_the_previous_reading(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    first = ok(
        await record(
            api, office, [("A/1/101", "100"), ("A/1/102", "50.5"), ("A/1/103", "0")], on=day(0)
        )
    )["recordMeterReadings"]
    assert [(r["reading"], r["previous"], r["usage"], r["status"]) for r in first] == [
        ("100", None, None, "accepted"),  # the first reading is a baseline
        ("50.5", None, None, "accepted"),
        ("0", None, None, "accepted"),
    ]
    assert first[0]["source"] == "staff" and first[0]["unit"] == "A 1 101"
    assert first[0]["billed"] is False and first[0]["photo"] is None
    second = ok(await record(api, office, [("A/1/101", "112.25"), ("A/1/102", "50.5")], on=day(1)))[
        "recordMeterReadings"
    ]
    assert [(r["previous"], r["usage"]) for r in second] == [("100", "12.25"), ("50.5", "0")]
    # other meter types keep their own history
    power = ok(await record(api, office, [("A/1/101", "7")], on=day(1), meter="electricity"))
    assert power["recordMeterReadings"][0]["usage"] is None


async def test_a_batch_is_all_or_nothing_and_names_the_failing_rows(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    ok(await record(api, office, [("A/1/101", "100"), ("A/1/102", "200")], on=day(0)))
    body = await record(
        api,
        office,
        [("A/1/101", "110"), ("A/1/102", "150"), ("A/1/103", "1.2345"), ("A/1/101", "120")],
        on=day(1),
    )
    e = ext(body)
    assert (e["code"], e["row"], e["field"], e["reason"]) == (
        "VALIDATION_FAILED",
        1,
        "reading",
        "below_previous",
    )
    assert e["rows"] == [
        {"row": 1, "field": "reading", "code": "VALIDATION_FAILED", "reason": "below_previous"},
        {"row": 2, "field": "reading", "code": "VALIDATION_FAILED", "reason": "format"},
        {"row": 3, "field": "unitId", "code": "VALIDATION_FAILED", "reason": "duplicate_unit"},
    ]
    assert body["errors"][0]["message"].startswith("第2行")
    assert await count_readings(runtime, office) == 2  # row 0 was fine, yet nothing was written

    # the failing row alone, fixed, goes through
    assert ok(await record(api, office, [("A/1/101", "110"), ("A/1/102", "250")], on=day(1)))


async def test_reading_and_batch_validation(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    ok(await record(api, office, [("A/1/101", "100")], on=day(1)))
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    cases = [
        (await record(api, office, [("A/1/101", "1")], on=day(2), meter="steam"), "meterType"),
        (await record(api, office, [("A/1/101", "200")], on=tomorrow), "readOn"),
        (await record(api, office, [], on=day(2)), "readings"),
    ]
    for body, field in cases:
        assert (ext(body)["code"], ext(body)["field"]) == ("VALIDATION_FAILED", field)
    for bad in ("-1", "1e3", "abc", "", "1.2345", "123456789012"):
        body = await record(api, office, [("A/1/101", bad)], on=day(2))
        assert (ext(body)["field"], ext(body)["reason"], ext(body)["row"]) == (
            "reading",
            "format",
            0,
        )
    # not after the latest reading (same day, or earlier)
    for on in (day(1), day(0)):
        body = await record(api, office, [("A/1/101", "150")], on=on)
        assert (ext(body)["field"], ext(body)["reason"]) == ("readOn", "not_after_latest")
    # an unknown unit
    body = await call(
        api,
        office,
        office.manager,
        RECORD,
        {
            "i": {
                "meterType": "water",
                "readOn": day(2),
                "readings": [
                    {"unitId": office.place.gid("A/1/101"), "reading": "120"},
                    {"unitId": encode_id("Unit", 999_999), "reading": "1"},
                ],
            }
        },
    )
    assert (ext(body)["code"], ext(body)["row"], ext(body)["field"]) == ("NOT_FOUND", 1, "unitId")
    assert await count_readings(runtime, office) == 1


async def test_below_previous_is_refused_unless_the_meter_was_replaced(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    ok(await record(api, office, [("A/1/101", "900")], on=day(0)))
    body = await record(api, office, [("A/1/101", "12")], on=day(1))
    assert (ext(body)["code"], ext(body)["reason"]) == ("VALIDATION_FAILED", "below_previous")
    replaced = ok(await record(api, office, [("A/1/101", "12", True)], on=day(1)))
    row = replaced["recordMeterReadings"][0]
    assert (row["replaced"], row["previous"], row["usage"]) == (True, "900", "12")
    after = ok(await record(api, office, [("A/1/101", "20")], on=day(2)))
    assert after["recordMeterReadings"][0]["usage"] == "8"  # from the new meter's reading


async def test_a_jump_is_held_and_review_accepts_or_rejects_it(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    worker = await add_staff(api, runtime, office.tenant, roles=("maintenance_worker",))

    async def enter(unit: str, value: str, n: int) -> dict[str, Any]:
        body = await record(api, office, [(unit, value)], on=day(n), who=worker)
        return ok(body)["recordMeterReadings"][0]  # type: ignore[no-any-return]

    # fewer than 3 usages before it: no judgement
    for n, value in enumerate(("0", "10", "20")):
        await enter("A/1/102", value, n)
    assert (await enter("A/1/102", "500", 3))["status"] == "accepted"

    # usages 10, 10, 10: 3 x 10 = 30 is still fine
    for n, value in enumerate(("0", "10", "20", "30")):
        await enter("A/1/101", value, n)
    assert (await enter("A/1/101", "60", 4))["status"] == "accepted"
    # usages 30, 10, 10, 10: average 15, so 46 (> 45) is a jump
    jump = await enter("A/1/101", "106", 5)
    assert (jump["status"], jump["usage"]) == ("held", "46")

    # nothing more for that meter until it is reviewed (the whole batch waits)
    body = await record(api, office, [("A/1/103", "1"), ("A/1/101", "110")], on=day(6), who=worker)
    assert (ext(body)["code"], ext(body)["row"], ext(body)["reason"]) == (
        "CONFLICT",
        1,
        "held_pending",
    )
    listed = ok(await call(api, office, worker, LIST, {"status": "held"}))["meterReadings"]
    assert [e["node"]["id"] for e in listed["edges"]] == [jump["id"]]

    review = {"id": jump["id"], "accept": True, "note": "核实无误，家中漏水"}
    assert codes(await call(api, office, office.cashier, REVIEW, {"i": review})) == ["FORBIDDEN"]
    assert codes(await call(api, office, office.resident, REVIEW, {"i": review})) == ["FORBIDDEN"]
    accepted = ok(await call(api, office, worker, REVIEW, {"i": review}))["reviewMeterReading"]
    assert (accepted["status"], accepted["note"]) == ("accepted", "核实无误，家中漏水")
    assert accepted["reviewedBy"] is not None
    again = await call(api, office, worker, REVIEW, {"i": review})
    assert codes(again) == ["INVALID_TRANSITION"]
    assert (await enter("A/1/101", "110", 6))["previous"] == "106"

    # a rejected reading is never a previous one
    for n, value in enumerate(("0", "1", "2", "3")):
        await enter("A/1/103", value, n)
    wrong = await enter("A/1/103", "300", 4)
    assert wrong["status"] == "held"
    rejected = ok(
        await call(api, office, worker, REVIEW, {"i": {"id": wrong["id"], "accept": False}})
    )["reviewMeterReading"]
    assert rejected["status"] == "rejected"
    # re-read on another day: the usage counts from 3
    nxt = await enter("A/1/103", "4", 5)
    assert (nxt["previous"], nxt["usage"], nxt["status"]) == ("3", "1", "accepted")
    # a day takes one reading: the rejected day is said to be taken
    for n, value in enumerate(("0", "1", "2", "3")):
        await enter("B/9/901", value, n)
    wrong = await enter("B/9/901", "300", 4)
    ok(await call(api, office, worker, REVIEW, {"i": {"id": wrong["id"], "accept": False}}))
    body = await record(api, office, [("B/9/901", "4")], on=day(4), who=worker)
    assert (ext(body)["code"], ext(body)["field"], ext(body)["reason"]) == (
        "CONFLICT",
        "readOn",
        "rejected_that_day",
    )


async def test_the_jump_factor_and_residents_auto_accept_come_from_the_config(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    await set_billing_config(
        runtime, office, {"meter_jump_factor": 2, "resident_readings_auto_accept": True}
    )
    for n, value in enumerate(("0", "10", "20", "30")):
        ok(await record(api, office, [("A/1/101", value)], on=day(n)))
    body = ok(await record(api, office, [("A/1/101", "51")], on=day(4)))  # 21 > 2 x 10
    assert body["recordMeterReadings"][0]["status"] == "held"
    ok(await record(api, office, [("A/1/102", "5")], on=day(0)))
    photo = await upload(api, office, office.neighbour)
    mine = ok(
        await call(
            api,
            office,
            office.neighbour,
            SUBMIT,
            {
                "i": {
                    "unitId": office.place.gid("A/1/102"),
                    "meterType": "water",
                    "reading": "9",
                    "photoId": photo,
                    "readOn": day(1),
                }
            },
        )
    )["submitMeterReading"]
    assert (mine["status"], mine["usage"], mine["source"]) == ("accepted", "4", "resident")


# --- residents -----------------------------------------------------------------------------


async def test_a_resident_submits_a_reading_with_a_photo_for_review(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    ok(await record(api, office, [("A/1/101", "100")], on=day(0)))
    photo = await upload(api, office, office.resident)
    submit = {
        "unitId": office.place.gid("A/1/101"),
        "meterType": "water",
        "reading": "130",
        "photoId": photo,
        "readOn": day(1),
    }
    mine = ok(await call(api, office, office.resident, SUBMIT, {"i": submit}))["submitMeterReading"]
    assert (mine["status"], mine["source"], mine["previous"], mine["usage"]) == (
        "held",
        "resident",
        "100",
        "30",
    )
    assert mine["photo"] == {"id": photo, "purpose": "billing.meter_photo", "status": "ready"}
    assert mine["enteredBy"] is None  # residents do not see staff fields
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        reading = await s.scalar(select(MeterReading).where(MeterReading.source == "resident"))
        assert reading is not None and reading.entered_by == office.resident.user_id
        stored = await s.scalar(select(StoredFile).where(StoredFile.id == reading.photo_file_id))
        assert stored is not None
        assert (stored.attached_kind, stored.attached_id) == ("billing.meter_reading", reading.id)

    # one waiting reading at a time
    again = await call(
        api,
        office,
        office.resident,
        SUBMIT,
        {"i": {**submit, "photoId": await upload(api, office, office.resident), "readOn": day(2)}},
    )
    assert (ext(again)["code"], ext(again)["field"]) == ("CONFLICT", "unitId")

    # staff see it held, with the photo and who sent it, and accept it
    held = ok(await call(api, office, office.manager, LIST, {"status": "held"}))["meterReadings"]
    node = held["edges"][0]["node"]
    assert (node["id"], node["enteredBy"], node["photo"]["id"]) == (mine["id"], "李雷", photo)
    ok(await call(api, office, office.manager, REVIEW, {"i": {"id": mine["id"], "accept": True}}))

    # the resident follows their unit's readings; the neighbour sees none of them
    listed = ok(await call(api, office, office.resident, MINE, {}))["myMeterReadings"]
    assert [e["node"]["status"] for e in listed["edges"]] == ["accepted", "accepted"]
    assert (
        ok(await call(api, office, office.neighbour, MINE, {}))["myMeterReadings"]["totalCount"]
        == 0
    )

    # a photo already attached cannot serve another reading
    reused = await call(
        api, office, office.resident, SUBMIT, {"i": {**submit, "readOn": day(3), "reading": "140"}}
    )
    assert (ext(reused)["code"], ext(reused)["field"]) == ("CONFLICT", "photoId")
    assert await count_readings(runtime, office) == 2


async def test_a_resident_reads_only_their_own_unit_with_their_own_photo(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    ok(await record(api, office, [("A/1/101", "100"), ("A/1/102", "100")], on=day(0)))
    photo = await upload(api, office, office.resident)
    base = {"meterType": "water", "reading": "130", "photoId": photo, "readOn": day(1)}

    async def submit(**over: Any) -> dict[str, Any]:
        i = {**base, "unitId": office.place.gid("A/1/101"), **over}
        return await call(api, office, office.resident, SUBMIT, {"i": i})  # type: ignore[no-any-return]

    # the neighbour's unit: not found (nothing revealed)
    body = await submit(unitId=office.place.gid("A/1/102"))
    assert (ext(body)["code"], ext(body)["field"]) == ("NOT_FOUND", "unitId")
    # the neighbour's photo: not found
    body = await submit(photoId=await upload(api, office, office.neighbour))
    assert (ext(body)["code"], ext(body)["field"]) == ("NOT_FOUND", "photoId")
    # an upload never confirmed
    slot = ok(
        await call(
            api,
            office,
            office.resident,
            REQUEST_UPLOAD,
            {"i": {"purpose": "billing.meter_photo", "contentType": "image/png", "size": 10}},
        )
    )["requestUpload"]
    body = await submit(photoId=slot["file"]["id"])
    assert (ext(body)["code"], ext(body)["field"]) == ("VALIDATION_FAILED", "photoId")
    # below the previous reading
    body = await submit(reading="99")
    assert (ext(body)["code"], ext(body)["field"]) == ("VALIDATION_FAILED", "reading")
    body = await submit(readOn=(date.today() + timedelta(days=2)).isoformat())
    assert (ext(body)["code"], ext(body)["field"]) == ("VALIDATION_FAILED", "readOn")
    # staff entry, review and the staff listing are not for residents
    for doc, variables in (
        (
            RECORD,
            {
                "i": {
                    "meterType": "water",
                    "readOn": day(1),
                    "readings": [{"unitId": office.place.gid("A/1/101"), "reading": "130"}],
                }
            },
        ),
        (LIST, {}),
    ):
        assert codes(await call(api, office, office.resident, doc, variables)) == ["FORBIDDEN"]
    assert await count_readings(runtime, office) == 2
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        attached = await s.scalar(
            select(func.count())
            .select_from(StoredFile)
            .where(StoredFile.attached_kind.is_not(None))
        )
        assert attached == 0


# --- scope and isolation -------------------------------------------------------------------


async def test_staff_limited_to_community_b_cannot_touch_a(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    b_worker = await add_staff(
        api,
        runtime,
        office.tenant,
        roles=("maintenance_worker",),
        communities=(office.place.ids["B"],),
        all_communities=False,
    )
    for n, value in enumerate(("0", "1", "2", "3", "100")):
        ok(await record(api, office, [("A/1/101", value)], on=day(n)))
    held = ok(await call(api, office, office.manager, LIST, {"status": "held"}))["meterReadings"]
    held_id = held["edges"][0]["node"]["id"]

    body = await record(api, office, [("B/9/901", "5"), ("A/1/102", "7")], on=day(0), who=b_worker)
    assert (ext(body)["code"], ext(body)["row"], ext(body)["field"]) == ("NOT_FOUND", 1, "unitId")
    assert ok(await record(api, office, [("B/9/901", "5")], on=day(0), who=b_worker))
    seen = ok(await call(api, office, b_worker, LIST, {}))["meterReadings"]
    assert [e["node"]["unit"] for e in seen["edges"]] == ["B 9 901"]
    body = await call(api, office, b_worker, REVIEW, {"i": {"id": held_id, "accept": True}})
    assert (ext(body)["code"], ext(body)["field"]) == ("NOT_FOUND", "id")
    # filters: by building, unit, type and status
    everything = ok(await call(api, office, office.manager, LIST, {}))["meterReadings"]
    assert everything["totalCount"] == 6
    by = {
        "building": office.place.gid("B/9"),
    }
    assert ok(await call(api, office, office.manager, LIST, by))["meterReadings"]["totalCount"] == 1
    unit = {"unit": office.place.gid("A/1/101"), "type": "water", "status": "accepted"}
    assert (
        ok(await call(api, office, office.manager, LIST, unit))["meterReadings"]["totalCount"] == 4
    )
    body = await call(api, office, office.manager, LIST, {"status": "lost"})
    assert ext(body)["field"] == "status"


async def test_another_tenant_cannot_touch_the_readings(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    other = await make_office(api, runtime)
    for n, value in enumerate(("0", "1", "2", "3", "100")):
        ok(await record(api, office, [("A/1/101", value)], on=day(n)))
    held = ok(await call(api, office, office.manager, LIST, {"status": "held"}))["meterReadings"]
    held_id = held["edges"][0]["node"]["id"]
    # the other tenant's manager, with A's ids: nothing of A's is there
    body = await call(api, other, other.manager, REVIEW, {"i": {"id": held_id, "accept": True}})
    assert codes(body) == ["NOT_FOUND"]
    assert ok(await call(api, other, other.manager, LIST, {}))["meterReadings"]["totalCount"] == 0
    # the other tenant's token in A's tenant is refused
    body = await api(
        REVIEW,
        {"i": {"id": held_id, "accept": True}},
        tenant=office.tenant.slug,
        token=other.manager.token,
    )
    assert codes(body) == ["UNAUTHENTICATED"]
    # A's photo cannot serve a reading in the other tenant (other schema, other key)
    photo = await upload(api, office, office.resident)
    body = await call(
        api,
        other,
        other.resident,
        SUBMIT,
        {
            "i": {
                "unitId": other.place.gid("A/1/101"),
                "meterType": "water",
                "reading": "1",
                "photoId": photo,
                "readOn": day(0),
            }
        },
    )
    assert (ext(body)["code"], ext(body)["field"]) == ("NOT_FOUND", "photoId")
    still = ok(await call(api, office, office.manager, LIST, {"status": "held"}))["meterReadings"]
    assert still["totalCount"] == 1


async def test_the_listing_costs_the_same_few_statements_for_any_page(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    units = ("A/1/101", "A/1/102", "A/1/103", "B/9/901")
    for n in range(4):
        ok(await record(api, office, [(u, str(10 * n)) for u in units], on=day(n)))
    photo = await upload(api, office, office.resident)
    ok(
        await call(
            api,
            office,
            office.resident,
            SUBMIT,
            {
                "i": {
                    "unitId": office.place.gid("A/1/101"),
                    "meterType": "water",
                    "reading": "35",
                    "photoId": photo,
                    "readOn": day(4),
                }
            },
        )
    )
    counts = []
    for first in (2, 17):
        with count_statements(runtime) as seen:
            body = ok(await call(api, office, office.manager, LIST, {"first": first}))
        assert len(body["meterReadings"]["edges"]) == first
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
