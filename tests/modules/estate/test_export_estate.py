"""Export: the template's columns, data scope, masking of personal data, permissions."""

from __future__ import annotations

import base64

import pytest
from conftest import login, make_tenant
from transfer_kit import (
    community_ids,
    csv_rows,
    export,
    import_ok,
    seed,
    staff,
)

from wuye.graphql.ids import encode_id
from wuye.modules.estate import importing

RESIDENT = [
    "张三",
    "13800138000",
    "11010519491231002X",
    "阳光花园",
    "1号楼",
    "1-101",
    "业主",
    "是",
    "2024-05-01",
    "京AD12345",
]


@pytest.fixture
async def seeded(api, tenant, admin_token):
    await seed(api, tenant, admin_token)
    unit = ["1号楼", "1-101", 1, 8, "", "90.00", "", "", ""]
    await import_ok(
        api,
        tenant.slug,
        admin_token,
        "units",
        [["阳光花园", *unit], ["翠湖苑", "A座", *unit[1:]]],
    )
    await import_ok(
        api,
        tenant.slug,
        admin_token,
        "residents",
        [RESIDENT, ["李四", "13900139000", "", "翠湖苑", "A座", "1-101", "租户", "", "", ""]],
    )
    return tenant


async def test_export_is_limited_to_the_data_scope(api, runtime, seeded):
    # Given a manager limited to 阳光花园
    ids = await community_ids(runtime, seeded)
    token = await staff(runtime, api, seeded, communities=(ids["阳光花园"],))
    # When they export units and residents
    for kind in ("units", "residents", "communities", "buildings"):
        body = await export(api, seeded.slug, token, kind)
        rows = csv_rows(body["data"]["exportEstate"])[1:]
        # Then only their community's rows are in it
        where = 0 if kind == "communities" else 3 if kind == "residents" else 0
        assert rows and {r[where] for r in rows} == {"阳光花园"}, (kind, rows)
    # And asking for the other community by id is NOT_FOUND, like a missing one
    other = encode_id("Community", ids["翠湖苑"])
    body = await export(api, seeded.slug, token, "units", community_id=other)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    missing = encode_id("Community", 999_999)
    body = await export(api, seeded.slug, token, "units", community_id=missing)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # And their own community by id works
    own = encode_id("Community", ids["阳光花园"])
    body = await export(api, seeded.slug, token, "units", community_id=own)
    assert len(csv_rows(body["data"]["exportEstate"])) == 2


async def test_resident_export_masks_personal_data_without_the_permission(
    api, runtime, seeded, admin_token
):
    # Given a manager (no estate.residents.view_sensitive), and the admin (every permission)
    manager = await staff(runtime, api, seeded)
    # When each exports residents
    masked = csv_rows(
        (await export(api, seeded.slug, manager, "residents"))["data"]["exportEstate"]
    )
    full = csv_rows(
        (await export(api, seeded.slug, admin_token, "residents"))["data"]["exportEstate"]
    )
    # Then the manager sees masked phone and ID numbers
    assert masked[1][:3] == ["张三", "138****8000", "110105********002X"]
    # And the admin sees them in full, as the template takes them
    assert full[1] == RESIDENT


async def test_export_needs_view_and_residents_need_residents_view(api, runtime, seeded):
    # Given a maintenance worker: estate.view only
    token = await staff(runtime, api, seeded, roles=("maintenance_worker",))
    # Then units export, residents do not
    body = await export(api, seeded.slug, token, "units")
    assert "errors" not in body, body
    body = await export(api, seeded.slug, token, "residents")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # And a resident account exports nothing
    anon = await api(
        """mutation { exportEstate(input: {kind: UNITS, format: CSV}) { filename } }""",
        tenant=seeded.slug,
    )
    assert anon["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_export_never_crosses_tenants(api, runtime, seeded, admin_token):
    # Given tenant B with no estate data
    other = await make_tenant(runtime)
    b_token = (await login(api, other.slug, other.admin_phone))["accessToken"]
    # When B exports, Then B gets a header only
    for kind in ("communities", "units", "residents"):
        body = await export(api, other.slug, b_token, kind, "XLSX")
        assert "errors" not in body, body
        sheet = importing.read_sheet("x", base64.b64decode(body["data"]["exportEstate"]["base64"]))
        assert sheet.rows == []
    # And A's community id means nothing in B
    ids = await community_ids(runtime, seeded)
    body = await export(
        api, other.slug, b_token, "units", community_id=encode_id("Community", ids["阳光花园"])
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # And A's token is refused by B
    body = await export(api, other.slug, admin_token, "units")
    assert "errors" in body
