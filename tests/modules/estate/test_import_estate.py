"""Bulk import: templates, all-or-nothing validation, each bad-input class, big files in the
job with progress, idempotent jobs, tenant isolation and data scope."""

from __future__ import annotations

import asyncio
import base64
import io

import openpyxl
import pytest
from conftest import count_statements, make_tenant
from sqlalchemy import select
from transfer_kit import (
    LIST,
    STATUS,
    TEMPLATE,
    b64,
    community_ids,
    count,
    csv_bytes,
    csv_rows,
    drain,
    export,
    import_ok,
    seed,
    staff,
    start_import,
    xlsx_bytes,
)

from wuye.crypto import decrypt_field
from wuye.identity.models import AuditLog
from wuye.modules.estate import importing
from wuye.modules.estate.jobs import run_estate_import
from wuye.modules.estate.models import (
    Building,
    ImportJob,
    Occupancy,
    ParkingSpace,
    Person,
    Unit,
    UnitStatusChange,
    Vehicle,
)
from wuye.workers.jobs import enqueue


def unit_row(room: str, *, community="阳光花园", building="1号楼", floor=8, area="98.50", **kw):
    row = {
        "community": community,
        "building": building,
        "room_no": room,
        "entrance": 1,
        "floor": floor,
        "layout": "3室2厅",
        "building_area": area,
        "inner_area": "",
        "property_type": "住宅",
        "status": "空置",
    }
    row.update(kw)
    return list(row.values())


def resident_row(name, phone, room, **kw):
    row = {
        "name": name,
        "phone": phone,
        "id_number": "",
        "community": "阳光花园",
        "building": "1号楼",
        "room_no": room,
        "relation": "业主",
        "is_primary": "",
        "move_in_on": "",
        "plates": "",
    }
    row.update(kw)
    return list(row.values())


@pytest.fixture
async def seeded(api, tenant, admin_token):
    await seed(api, tenant, admin_token)
    return tenant


# --- templates and the round trip ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_template_round_trip_then_reimport_finds_duplicates(
    api, runtime, seeded, admin_token, fmt
):
    # Given the units template, downloaded in this format
    body = await api(TEMPLATE, {"k": "UNITS", "f": fmt}, tenant=seeded.slug, token=admin_token)
    assert "errors" not in body, body
    file = body["data"]["estateImportTemplate"]
    data = base64.b64decode(file["base64"])
    # When a person fills it in (below the template's own header) and uploads it
    rows = [unit_row(f"1-{i:03d}") for i in range(1, 6)]
    if fmt == "CSV":
        assert file["contentType"].startswith("text/csv")
        text = data.decode("utf-8-sig")
        head = text.splitlines()[0].split(",")
        filled = csv_bytes("units", rows, head=head)
    else:
        book = openpyxl.load_workbook(io.BytesIO(data))
        assert book.sheetnames[1] == "填写说明"  # the columns are documented in the file
        sheet = book.worksheets[0]
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        filled = out.getvalue()
    result = await start_import(api, seeded.slug, admin_token, "units", filled, file["filename"])
    # Then every row is applied
    assert result["status"] == "APPLIED" and result["totalRows"] == 5, result
    assert await count(runtime, seeded, Unit) == 5
    # And the export has the template's header and the rows as imported
    exported = await export(api, seeded.slug, admin_token, "units", fmt)
    assert "errors" not in exported, exported
    file = exported["data"]["exportEstate"]
    content = base64.b64decode(file["base64"])
    if fmt == "CSV":
        table = csv_rows(file)
        assert table[0] == head and len(table) == 6
        assert table[1][:3] == ["阳光花园", "1号楼", "1-001"] and table[1][6] == "98.50"
    # When the export is uploaded again unchanged
    again = await start_import(api, seeded.slug, admin_token, "units", content, file["filename"])
    # Then each row is a duplicate room, and nothing more is written
    assert again["status"] == "REJECTED"
    assert [(e["row"], e["field"]) for e in again["errors"]] == [
        (n, "room_no") for n in range(2, 7)
    ]
    assert await count(runtime, seeded, Unit) == 5


async def test_every_kind_imports_and_exports(api, runtime, seeded, admin_token):
    # Given communities and buildings (seeded), when units, parking and residents are imported
    await import_ok(api, seeded.slug, admin_token, "units", [unit_row("1-101"), unit_row("1-102")])
    await import_ok(
        api,
        seeded.slug,
        admin_token,
        "parking_spaces",
        [
            ["阳光花园", "地下车库", "B1-001", "产权", "", "300.00"],
            ["阳光花园", "地下车库", "B1-002", "rented", "空闲", ""],
        ],
    )
    await import_ok(
        api,
        seeded.slug,
        admin_token,
        "residents",
        [
            resident_row(
                "张三",
                "13800138000",
                "1-101",
                id_number="11010519491231002X",
                is_primary="是",
                move_in_on="2024-05-01",
                plates="京AD12345, 沪A12345",
            ),
            resident_row("张三", "13800138000", "1-102", relation="tenant"),
            resident_row("李四", "+86 139 0013 9000", "1-101", relation="家属"),
        ],
    )
    # Then the rows are there, linked by the names the sheet used
    assert await count(runtime, seeded, ParkingSpace) == 2
    assert await count(runtime, seeded, Person) == 2  # one phone, one person
    assert await count(runtime, seeded, Occupancy) == 3
    assert await count(runtime, seeded, Vehicle) == 2
    async with runtime.db.tenant_session(seeded.schema) as s:
        person = await s.scalar(select(Person).where(Person.phone == "+8613800138000"))
        assert person is not None and person.id_number_hint == "110105********002X"
        assert (
            decrypt_field(
                runtime.settings.secret_key,
                purpose="id_number",
                tenant=seeded.slug,
                blob=person.id_number_enc,
            )
            == "11010519491231002X"
        )
        rent = await s.scalar(
            select(ParkingSpace.monthly_rent_fen).where(ParkingSpace.number == "B1-001")
        )
        assert rent == 30000
    # And every kind exports in both formats, readable again by the importer
    for kind in ("communities", "buildings", "units", "parking_spaces", "residents"):
        for fmt in ("CSV", "XLSX"):
            body = await export(api, seeded.slug, admin_token, kind, fmt)
            assert "errors" not in body, (kind, fmt, body)
            sheet = importing.read_sheet(
                "x", base64.b64decode(body["data"]["exportEstate"]["base64"])
            )
            assert sheet.header == [c.header for c in importing.KINDS[kind]]
            assert len(sheet.rows) == {"communities": 2, "buildings": 4, "units": 2}.get(
                kind, {"parking_spaces": 2, "residents": 3}.get(kind)
            )


# --- all or nothing, and each class of bad input -------------------------------------------


async def test_one_bad_row_rejects_the_whole_file(api, runtime, seeded, admin_token):
    # Given a sheet of 4 units whose third data row (sheet row 4) has a negative area
    rows = [unit_row("1-201"), unit_row("1-202"), unit_row("1-203", area="-5"), unit_row("1-204")]
    # When it is imported
    result = await start_import(api, seeded.slug, admin_token, "units", csv_bytes("units", rows))
    # Then nothing is written, and the report names the row, column and problem
    assert result["status"] == "REJECTED"
    assert result["errors"] == [
        {"row": 4, "column": "建筑面积(㎡)", "field": "building_area", "message": "面积须为正数"}
    ]
    assert "未导入任何数据" in result["message"]
    assert await count(runtime, seeded, Unit) == 0
    # And the report stays readable through estateImport(id)
    body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
    assert body["data"]["estateImport"]["errors"][0]["row"] == 4
    # And the audit row records the import without the file itself
    async with runtime.db.tenant_session(seeded.schema) as s:
        details = list(
            await s.scalars(select(AuditLog.detail).where(AuditLog.action == "startEstateImport"))
        )
    assert details and all(d["input"]["base64"].endswith(" bytes>") for d in details), details


@pytest.mark.parametrize(
    ("kind", "rows", "expected"),
    [
        (
            "residents",
            [resident_row("王五", "13800138001", "1-101", plates="京I12345")],
            (2, "plates", "车牌号格式不正确"),
        ),
        ("residents", [resident_row("王五", "12345", "1-101")], (2, "phone", "手机号格式不正确")),
        (
            "residents",
            [resident_row("王五", "13800138001", "1-101", id_number="110105194912310021")],
            (2, "id_number", "身份证号码不正确"),
        ),
        ("units", [unit_row("1-301", area="-1")], (2, "building_area", "面积须为正数")),
        ("units", [unit_row("1-301", area="88.123")], (2, "building_area", "面积最多两位小数")),
        ("units", [unit_row("1-301", area="abc")], (2, "building_area", "面积不是数字")),
        ("units", [unit_row("1-301", floor=0)], (2, "floor", "楼层须在")),
        ("units", [unit_row("1-301", floor=19)], (2, "floor", "楼层超过楼栋层数")),
        ("units", [unit_row("1-301", status="拆除")], (2, "status", "取值须为")),
        (
            "units",
            [unit_row("1-301"), unit_row("1-302"), unit_row("1-301")],
            (4, "room_no", "与第2行房号重复"),
        ),
        ("units", [unit_row("1-101")], (2, "room_no", "该楼栋已有房号")),
        ("units", [unit_row("1-301", community="不存在小区")], (2, "community", "小区不存在")),
        ("units", [unit_row("1-301", building="9号楼")], (2, "building", "该小区没有楼栋")),
        ("buildings", [["阳光花园", "1号楼", 10, 1]], (2, "name", "该小区已有楼栋")),
        ("communities", [["翠湖苑", "", "", "", "", "", ""]], (2, "name", "小区已存在")),
        (
            "parking_spaces",
            [["阳光花园", "地面", "P1", "", "", "1.005"]],
            (2, "monthly_rent", "金额须为非负数"),
        ),
        (
            "residents",
            [resident_row("王五", "13800138001", "9-999")],
            (2, "room_no", "该楼栋没有房号"),
        ),
        (
            "residents",
            [
                resident_row("王五", "13800138001", "1-101", is_primary="是"),
                resident_row("赵六", "13800138002", "1-101", is_primary="是"),
            ],
            (3, "is_primary", "与第2行同为该房屋的主要联系人"),
        ),
    ],
)
async def test_bad_input_is_reported_by_row_and_column(
    api, runtime, seeded, admin_token, kind, rows, expected
):
    # Given one unit already in building 1号楼
    await import_ok(api, seeded.slug, admin_token, "units", [unit_row("1-101")])
    before = await count(runtime, seeded, Unit), await count(runtime, seeded, Person)
    # When a sheet with this bad input is imported
    result = await start_import(api, seeded.slug, admin_token, kind, csv_bytes(kind, rows))
    # Then it is rejected with the row, the column and a clear message, and nothing is written
    assert result["status"] == "REJECTED", result
    row, field, message = expected
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(row, field)], result
    assert message in result["errors"][0]["message"]
    assert (await count(runtime, seeded, Unit), await count(runtime, seeded, Person)) == before


async def test_headers_and_encodings(api, runtime, seeded, admin_token):
    # Given a GBK CSV with English keys as headers, in another column order
    head = ["room_no", "building", "community", "floor", "building_area"]
    text = "\r\n".join([",".join(head), "1-401,1号楼,阳光花园,4,77.5"])
    # When it is imported, Then the columns are found by key and the rest take defaults
    result = await start_import(api, seeded.slug, admin_token, "units", text.encode("gbk"))
    assert result["status"] == "APPLIED", result
    # And an unknown or missing header is reported on row 1
    bad = await start_import(
        api, seeded.slug, admin_token, "units", "房号,颜色\r\n1-1,红\r\n".encode()
    )
    assert bad["status"] == "REJECTED"
    assert {e["row"] for e in bad["errors"]} == {1}
    assert {e["field"] for e in bad["errors"]} >= {"community", "building", "floor"}
    # And an English client reads the report in English
    body = await api(
        STATUS,
        {"id": bad["id"]},
        tenant=seeded.slug,
        token=admin_token,
        headers={"accept-language": "en"},
    )
    assert "Missing required column" in body["data"]["estateImport"]["errors"][-1]["message"]
    # And an XLSX file is read by content, whatever its name
    ok = await start_import(
        api,
        seeded.slug,
        admin_token,
        "units",
        xlsx_bytes("units", [unit_row("1-402", floor=4, area=66.25)]),
        "units.csv",
    )
    assert ok["status"] == "APPLIED", ok


# --- large files: the job ------------------------------------------------------------------


async def test_large_import_runs_in_the_job_with_progress(
    api, runtime, seeded, admin_token, monkeypatch
):
    # Given a threshold of 10 rows (5,000 in production) and a sheet of 60 units
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 10)
    monkeypatch.setattr(importing, "COPY_CHUNK", 20)
    monkeypatch.setattr(importing, "PROGRESS_EVERY_S", 0)
    rows = [unit_row(f"2-{i:03d}", building="2号楼", floor=i % 10 + 1) for i in range(60)]
    # When it is imported
    result = await start_import(api, seeded.slug, admin_token, "units", xlsx_bytes("units", rows))
    # Then it is queued, nothing is written yet
    assert result["status"] == "QUEUED" and result["totalRows"] == 60, result
    assert await count(runtime, seeded, Unit) == 0
    # When a worker runs it, while the client polls
    seen: list[tuple[str, int]] = []
    worker = asyncio.create_task(drain(runtime))
    while True:
        body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
        job = body["data"]["estateImport"]
        seen.append((job["status"], job["processedRows"]))
        if job["status"] in ("APPLIED", "REJECTED", "FAILED") or worker.done():
            break
        await asyncio.sleep(0.01)
    await worker
    body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
    job = body["data"]["estateImport"]
    # Then every row is applied, and progress only went up
    assert job["status"] == "APPLIED" and job["processedRows"] == 60, (job, seen)
    assert [p for _, p in seen] == sorted(p for _, p in seen)
    assert await count(runtime, seeded, Unit) == 60
    assert await count(runtime, seeded, UnitStatusChange) == 60  # each unit's first status
    # And the stored file is dropped
    async with runtime.db.tenant_session(seeded.schema) as s:
        assert (
            await s.scalar(select(ImportJob.content).where(ImportJob.status == "applied")) is None
        )


async def test_a_large_bad_file_is_rejected_by_the_job(
    api, runtime, seeded, admin_token, monkeypatch
):
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 3)
    rows = [unit_row(f"3-{i}") for i in range(5)] + [unit_row("3-x", community="外星小区")]
    result = await start_import(api, seeded.slug, admin_token, "units", csv_bytes("units", rows))
    assert result["status"] == "QUEUED"
    await drain(runtime)
    body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
    job = body["data"]["estateImport"]
    assert job["status"] == "REJECTED"
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(7, "community")]
    assert await count(runtime, seeded, Unit) == 0


async def test_an_import_that_breaks_ends_failed_with_nothing_written(
    api, runtime, seeded, admin_token, monkeypatch
):
    # Given a queued import whose apply step hits an unexpected error (a fault injected
    # where a bug or an outage would strike)
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 3)
    rows = [unit_row(f"5-{i}") for i in range(6)]
    result = await start_import(api, seeded.slug, admin_token, "units", csv_bytes("units", rows))

    async def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importing, "run", broken)
    # When the job runs
    await drain(runtime)
    # Then the import says it failed (it does not stay "running"), and nothing was written
    body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
    job = body["data"]["estateImport"]
    assert job["status"] == "FAILED"
    assert "未导入任何数据" in job["message"]
    assert await count(runtime, seeded, Unit) == 0


async def test_a_job_run_twice_imports_once(api, runtime, seeded, admin_token, monkeypatch):
    # Given a queued import
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 3)
    rows = [unit_row(f"4-{i}") for i in range(8)]
    result = await start_import(api, seeded.slug, admin_token, "units", csv_bytes("units", rows))
    assert result["status"] == "QUEUED"
    import_id = int(base64.urlsafe_b64decode(result["id"] + "==").decode().split(":")[1])
    # When the job is delivered three times (the outbox's run plus two direct enqueues)
    await enqueue(runtime, run_estate_import, seeded.slug, import_id=import_id)
    await enqueue(runtime, run_estate_import, seeded.slug, import_id=import_id)
    await drain(runtime)
    await enqueue(runtime, run_estate_import, seeded.slug, import_id=import_id)
    await drain(runtime)
    # Then the rows are imported once
    assert await count(runtime, seeded, Unit) == 8
    body = await api(STATUS, {"id": result["id"]}, tenant=seeded.slug, token=admin_token)
    assert body["data"]["estateImport"]["status"] == "APPLIED"


# --- tenants and data scope ----------------------------------------------------------------


async def test_imports_never_cross_tenants(api, runtime, seeded, admin_token, monkeypatch):
    # Given tenant B with the same communities and a queued import of its own
    other = await make_tenant(runtime)
    from conftest import login

    b_token = (await login(api, other.slug, other.admin_phone))["accessToken"]
    await seed(api, other, b_token)
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 2)
    rows = [unit_row(f"5-{i}") for i in range(4)]
    b_import = await start_import(api, other.slug, b_token, "units", csv_bytes("units", rows))
    assert b_import["status"] == "QUEUED"
    # When the job runs
    await drain(runtime)
    # Then it wrote to B only
    assert await count(runtime, other, Unit) == 4
    assert await count(runtime, seeded, Unit) == 0
    # And A cannot read B's import (A has fewer imports: the id does not exist in A)
    body = await api(STATUS, {"id": b_import["id"]}, tenant=seeded.slug, token=admin_token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    listed = await api(LIST, tenant=seeded.slug, token=admin_token)
    assert b_import["id"] not in {e["node"]["id"] for e in listed["data"]["estateImports"]["edges"]}
    # And B's token does not work on A
    body = await api(STATUS, {"id": b_import["id"]}, tenant=seeded.slug, token=b_token)
    assert "errors" in body


async def test_import_respects_data_scope(api, runtime, seeded, admin_token, monkeypatch):
    # Given a manager limited to 阳光花园
    ids = await community_ids(runtime, seeded)
    token = await staff(runtime, api, seeded, communities=(ids["阳光花园"],))
    # When their sheet also has a row for 翠湖苑
    rows = [unit_row("1-601"), unit_row("A-601", community="翠湖苑", building="A座")]
    result = await start_import(api, seeded.slug, token, "units", csv_bytes("units", rows))
    # Then that row is an unknown community, and nothing is written
    assert result["status"] == "REJECTED"
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(3, "community")]
    assert await count(runtime, seeded, Unit) == 0
    # And they cannot create communities
    comm = await start_import(
        api, seeded.slug, token, "communities", csv_bytes("communities", [["新小区"] + [""] * 6])
    )
    assert comm["status"] == "REJECTED"
    # And their own community imports, also through the job (which re-reads their scope)
    monkeypatch.setattr(importing, "ASYNC_THRESHOLD", 1)
    queued = await start_import(
        api,
        seeded.slug,
        token,
        "units",
        csv_bytes(
            "units", [unit_row("1-601"), unit_row("A-601", community="翠湖苑", building="A座")]
        ),
    )
    await drain(runtime)
    body = await api(STATUS, {"id": queued["id"]}, tenant=seeded.slug, token=token)
    assert body["data"]["estateImport"]["status"] == "REJECTED"
    ok = await start_import(
        api, seeded.slug, token, "units", csv_bytes("units", [unit_row("1-601"), unit_row("1-602")])
    )
    await drain(runtime)
    body = await api(STATUS, {"id": ok["id"]}, tenant=seeded.slug, token=token)
    assert body["data"]["estateImport"]["status"] == "APPLIED"
    async with runtime.db.tenant_session(seeded.schema) as s:
        assert set(await s.scalars(select(Unit.community_id))) == {ids["阳光花园"]}
    # And they see their own imports only, not the admin's (which may name other communities)
    listed = await api(LIST, tenant=seeded.slug, token=token)
    mine = {e["node"]["id"] for e in listed["data"]["estateImports"]["edges"]}
    assert mine == {result["id"], comm["id"], queued["id"], ok["id"]}
    admin_import = await start_import(
        api, seeded.slug, admin_token, "units", csv_bytes("units", [unit_row("x", floor=99)])
    )
    body = await api(STATUS, {"id": admin_import["id"]}, tenant=seeded.slug, token=token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_import_needs_the_import_permission(api, runtime, seeded):
    # Given a customer-service agent (no estate.import)
    token = await staff(runtime, api, seeded, roles=("customer_service",))
    body = await api(
        """mutation($i: StartEstateImportInput!) { startEstateImport(input: $i) { id } }""",
        {"i": {"kind": "UNITS", "filename": "a.csv", "base64": b64(csv_bytes("units", []))}},
        tenant=seeded.slug,
        token=token,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await count(runtime, seeded, Building) == 4


def test_docs_match_the_spec():
    from pathlib import Path

    doc = Path(__file__).parents[3] / "docs" / "modules" / "estate-import.md"
    assert doc.read_text(encoding="utf-8") == importing.columns_markdown(), (
        "regenerate: python -c 'from wuye.modules.estate.importing import columns_markdown;"
        ' print(columns_markdown(), end="")\' > docs/modules/estate-import.md'
    )


# --- the cost of an import does not grow with its rows -------------------------------------


async def test_statements_do_not_grow_with_rows(api, runtime, seeded, admin_token):
    costs = []
    for n, prefix in ((10, "7"), (300, "8")):
        rows = [unit_row(f"{prefix}-{i:03d}", building="2号楼", floor=i % 10 + 1) for i in range(n)]
        with count_statements(runtime) as statements:
            await import_ok(api, seeded.slug, admin_token, "units", rows)
        costs.append(len(statements))
    # Then 300 rows cost the statements 10 rows do (rows go in by COPY, not one by one)
    assert costs[0] == costs[1], costs
    assert not any("INSERT INTO units" in s for s in statements)


def test_the_mobile_fast_path_agrees_with_the_phone_library():
    import random

    from wuye.errors import AppError
    from wuye.identity.passwords import normalize_phone

    rng = random.Random(7)
    for _ in range(3000):
        raw = f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}"
        try:
            expected = normalize_phone(raw)
        except AppError:
            expected = None
        try:
            got = importing._phone(raw, "phone")
        except AppError:
            got = None
        assert got == expected, raw


async def test_excel_date_cells_and_numbers(api, runtime, seeded, admin_token):
    import datetime

    await import_ok(api, seeded.slug, admin_token, "units", [unit_row("1-701")])
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([c.header for c in importing.KINDS["residents"]])
    sheet.append(
        [
            "周七",
            13700137000,
            None,
            "阳光花园",
            "1号楼",
            "1-701",
            "owner",
            True,
            datetime.date(2023, 3, 15),
            None,
        ]
    )
    out = io.BytesIO()
    book.save(out)
    result = await start_import(
        api, seeded.slug, admin_token, "residents", out.getvalue(), "r.xlsx"
    )
    assert result["status"] == "APPLIED", result
    async with runtime.db.tenant_session(seeded.schema) as s:
        occ = await s.scalar(select(Occupancy))
        assert occ.move_in_on == datetime.date(2023, 3, 15) and occ.is_primary
