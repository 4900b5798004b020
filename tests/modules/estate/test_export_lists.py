"""Export-only lists: vehicles, parking lots, unit claims, staff, departments, transfers.

Each exports in CSV and XLSX with its header; community lists keep to the data scope; the
organisation lists are tenant-wide; vehicle owners' phones are masked without
view_sensitive; and none of these kinds can be imported or has a template.
"""

from __future__ import annotations

import base64
from datetime import date, datetime

import pytest
from conftest import new_phone
from sqlalchemy import select
from transfer_kit import (
    TEMPLATE,
    community_ids,
    csv_bytes,
    csv_rows,
    export,
    import_ok,
    seed,
    staff,
)

from wuye.identity import service as identity
from wuye.modules.estate import importing, org
from wuye.modules.estate.models import Community, Unit, UnitClaim

EXPORT_ONLY = tuple(importing.EXPORT_ONLY_KINDS)
UNIT = ["1号楼", "1-101", 1, 8, "", "90.00", "", "", ""]


def header(kind: str) -> list[str]:
    return [c.header for c in importing.EXPORT_ONLY_KINDS[kind]]


def xlsx_rows(file: dict) -> list[list[str]]:
    sheet = importing.read_sheet("x.xlsx", base64.b64decode(file["base64"]))
    return [list(sheet.header), *(cells for _, cells in sheet.rows)]


@pytest.fixture
async def seeded(api, runtime, tenant, admin_token):
    await seed(api, tenant, admin_token)
    await import_ok(
        api, tenant.slug, admin_token, "units", [["阳光花园", *UNIT], ["翠湖苑", "A座", *UNIT[1:]]]
    )
    resident = ["1-101", "业主", "是", "2024-05-01"]
    await import_ok(
        api,
        tenant.slug,
        admin_token,
        "residents",
        [
            ["张三", "13800138000", "", "阳光花园", "1号楼", *resident, "京AD12345"],
            ["李四", "13900139000", "", "翠湖苑", "A座", *resident, "沪B12345"],
        ],
    )
    await import_ok(
        api,
        tenant.slug,
        admin_token,
        "parking_spaces",
        [
            ["阳光花园", "地下车库", "B1-001", "", "", "300"],
            ["阳光花园", "地下车库", "B1-002", "", "占用", ""],
            ["翠湖苑", "地面车场", "P-01", "", "", ""],
        ],
    )
    async with runtime.db.tenant_session(tenant.schema) as s:
        units = dict((await s.execute(select(Unit.community_id, Unit.id))).all())
        owner = await identity.create_user(s, kind="resident", name="王五", phone=new_phone())
        at = datetime.fromisoformat("2025-03-01T02:30:00+00:00")
        for cid, uid in units.items():
            s.add(
                UnitClaim(
                    community_id=cid,
                    unit_id=uid,
                    user_id=owner.id,
                    name="王五",
                    relation="tenant",
                    status="rejected",
                    reason="资料不全",
                    created_at=at,
                )
            )
        company = await org.create_department(s, name="总公司", kind="company", parent_id=None)
        sunny = dict((await s.execute(select(Community.name, Community.id))).all())["阳光花园"]
        team = await org.create_department(
            s, name="客服部", kind="team", parent_id=company.id, community_id=sunny
        )
        position = await org.create_position(s, name="客服专员")
        member = await identity.create_user(
            s, kind="staff", name="赵六", phone="+8613700137000", role_keys=("manager",)
        )
        await org.set_staff_profile(
            s,
            user_id=member.id,
            department_id=company.id,
            position_id=position.id,
            employee_no="E001",
            joined_on=date(2023, 1, 2),
        )
        await org.set_staff_communities(
            s, user_id=member.id, all_communities=False, community_ids=[sunny]
        )
        await org.transfer_staff(
            s,
            user_id=member.id,
            to_department_id=team.id,
            effective_on=date(2024, 6, 1),
            reason="调岗",
        )
        await s.commit()
    return tenant


async def both(api, tenant, token, kind) -> list[list[str]]:
    """The CSV rows of an export, checked to equal the XLSX export's rows."""
    csv_body = await export(api, tenant, token, kind)
    assert "errors" not in csv_body, csv_body
    xlsx_body = await export(api, tenant, token, kind, "XLSX")
    assert "errors" not in xlsx_body, xlsx_body
    rows = csv_rows(csv_body["data"]["exportEstate"])
    assert xlsx_rows(xlsx_body["data"]["exportEstate"]) == rows, kind
    assert csv_body["data"]["exportEstate"]["filename"].endswith(f"-{kind}.csv")
    assert xlsx_body["data"]["exportEstate"]["filename"].endswith(f"-{kind}.xlsx")
    assert rows[0] == header(kind), kind
    return rows[1:]


async def test_each_export_only_list_exports_in_csv_and_xlsx(api, seeded, admin_token):
    slug = seeded.slug
    # vehicles: the admin may see full phone numbers
    assert await both(api, slug, admin_token, "vehicles") == [
        ["阳光花园", "京AD12345", "是", "张三", "13800138000"],
        ["翠湖苑", "沪B12345", "否", "李四", "13900139000"],
    ]
    assert await both(api, slug, admin_token, "parking_lots") == [
        ["阳光花园", "地下车库", "2", "1"],
        ["翠湖苑", "地面车场", "1", "1"],
    ]
    # unit claims: times in the tenant's time zone (Asia/Shanghai)
    assert await both(api, slug, admin_token, "unit_claims") == [
        ["阳光花园", "1号楼", "1-101", "王五", "租户", "已驳回", "资料不全", "2025-03-01 10:30:00"],
        ["翠湖苑", "A座", "1-101", "王五", "租户", "已驳回", "资料不全", "2025-03-01 10:30:00"],
    ]
    # staff: phone always masked; the admin works in every community
    people = {r[0]: r for r in await both(api, slug, admin_token, "staff")}
    assert people["赵六"] == [
        "赵六",
        "137****7000",
        "客服部",
        "客服专员",
        "E001",
        "2023-01-02",
        "阳光花园",
    ]
    assert len(people) >= 2 and any(r[6] == "全部小区" for r in people.values())
    assert await both(api, slug, admin_token, "departments") == [
        ["总公司", "公司", "", "0", ""],
        ["客服部", "班组", "总公司", "1", "阳光花园"],
    ]
    assert await both(api, slug, admin_token, "staff_transfers") == [
        ["赵六", "总公司", "客服部", "2024-06-01", "调岗"],
    ]


async def test_community_lists_keep_to_the_data_scope(api, runtime, seeded):
    # Given customer service limited to 阳光花园
    ids = await community_ids(runtime, seeded)
    token = await staff(
        runtime, api, seeded, roles=("customer_service",), communities=(ids["阳光花园"],)
    )
    # Then none of 翠湖苑's vehicles, lots or claims are in their exports
    for kind in ("vehicles", "parking_lots", "unit_claims"):
        rows = await both(api, seeded.slug, token, kind)
        assert rows and {r[0] for r in rows} == {"阳光花园"}, (kind, rows)
    # And the organisation lists are tenant-wide, as the org API is
    assert len(await both(api, seeded.slug, token, "departments")) == 2
    assert len(await both(api, seeded.slug, token, "staff_transfers")) == 1


async def test_vehicle_owner_phones_are_masked_without_view_sensitive(api, runtime, seeded):
    # Given a manager: residents.view but not residents.view_sensitive
    token = await staff(runtime, api, seeded)
    rows = await both(api, seeded.slug, token, "vehicles")
    assert [r[4] for r in rows] == ["138****8000", "139****9000"]


async def test_resident_lists_need_residents_view(api, runtime, seeded):
    # Given a maintenance worker: estate.view only
    token = await staff(runtime, api, seeded, roles=("maintenance_worker",))
    for kind in ("vehicles", "unit_claims"):
        body = await export(api, seeded.slug, token, kind)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", kind
    # But the lots and the organisation lists export
    for kind in ("parking_lots", "staff", "departments", "staff_transfers"):
        assert await both(api, seeded.slug, token, kind), kind


async def test_export_only_kinds_cannot_be_imported_or_templated(api, seeded, admin_token):
    for kind in EXPORT_ONLY:
        # When someone uploads a sheet of an export-only kind
        body = await api(
            """mutation($i: StartEstateImportInput!) { startEstateImport(input: $i) { id } }""",
            {
                "i": {
                    "kind": kind.upper(),
                    "filename": "x.csv",
                    "base64": base64.b64encode(csv_bytes("units", [])).decode(),
                }
            },
            tenant=seeded.slug,
            token=admin_token,
        )
        # Then it is refused, naming the kind
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["field"]) == ("VALIDATION_FAILED", "kind"), (kind, body)
        # And there is no template for it
        body = await api(
            TEMPLATE, {"k": kind.upper(), "f": "XLSX"}, tenant=seeded.slug, token=admin_token
        )
        error = body["errors"][0]["extensions"]
        assert (error["code"], error["field"]) == ("VALIDATION_FAILED", "kind"), (kind, body)
    # And the import template documentation lists them as export-only, not as templates
    doc = importing.columns_markdown()
    assert "Export-only lists" in doc and "## vehicles" not in doc
