"""Helpers of the bulk import / export tests: sheets, API calls, accounts, a burst worker."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

from conftest import Api, TenantFixture, signed_in
from sqlalchemy import func, select

from wuye.modules.estate.importing import KINDS
from wuye.modules.estate.models import Community
from wuye.runtime import Runtime
from wuye.workers import create_worker

START = """mutation($i: StartEstateImportInput!) { startEstateImport(input: $i) {
  id kind status totalRows processedRows message errors { row column field message } } }"""
STATUS = """query($id: ID!) { estateImport(id: $id) {
  id status totalRows processedRows message errors { row column field message } } }"""
LIST = """query { estateImports(first: 50) { edges { node { id status totalRows } } } }"""
TEMPLATE = """query($k: EstateImportKind!, $f: EstateFileFormat!) {
  estateImportTemplate(kind: $k, format: $f) { filename contentType base64 } }"""
EXPORT = """mutation($i: ExportEstateInput!) { exportEstate(input: $i) {
  filename contentType base64 } }"""


def header(kind: str) -> list[str]:
    return [c.header for c in KINDS[kind]]


def csv_bytes(kind: str, rows: list[list[Any]], *, head: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head or header(kind))
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(kind: str, rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header(kind))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def start_import(
    api: Api, tenant: str, token: str, kind: str, data: bytes, filename: str = "sheet.csv"
) -> dict[str, Any]:
    body = await api(
        START,
        {"i": {"kind": kind.upper(), "filename": filename, "base64": b64(data)}},
        tenant=tenant,
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["startEstateImport"]


async def import_ok(api: Api, tenant: str, token: str, kind: str, rows: list[list[Any]]) -> None:
    result = await start_import(api, tenant, token, kind, csv_bytes(kind, rows))
    assert result["status"] == "APPLIED", result


async def export(
    api: Api, tenant: str, token: str, kind: str, fmt: str = "CSV", community_id: str | None = None
) -> dict[str, Any]:
    body = await api(
        EXPORT,
        {"i": {"kind": kind.upper(), "format": fmt, "communityId": community_id}},
        tenant=tenant,
        token=token,
    )
    return body


def csv_rows(file: dict[str, Any]) -> list[list[str]]:
    text = base64.b64decode(file["base64"]).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


async def staff(
    runtime: Runtime,
    api: Api,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...] = ("manager",),
    communities: tuple[int, ...] | None = None,
) -> str:
    """A signed-in staff member: every community (None) or only ``communities``."""
    account = await signed_in(
        api,
        runtime,
        tenant,
        roles=roles,
        all_communities=communities is None,
        communities=communities or (),
    )
    return account.token


async def community_ids(runtime: Runtime, tenant: TenantFixture) -> dict[str, int]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return dict((await s.execute(select(Community.name, Community.id))).all())


async def count(runtime: Runtime, tenant: TenantFixture, model: Any) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def drain(runtime: Runtime) -> None:
    """Run an in-process burst worker until the runtime's queue is empty."""
    worker = create_worker(runtime.settings, runtime=runtime, burst=True, poll_delay=0.05)
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def seed(api: Api, tenant: TenantFixture, token: str) -> None:
    """Two communities with two buildings each, through the importer itself."""
    await import_ok(
        api,
        tenant.slug,
        token,
        "communities",
        [["阳光花园", "建国路1号", "朝阳区", "", "", "", ""], ["翠湖苑", "", "", "", "", "", ""]],
    )
    await import_ok(
        api,
        tenant.slug,
        token,
        "buildings",
        [
            ["阳光花园", "1号楼", 18, 2],
            ["阳光花园", "2号楼", 10, ""],
            ["翠湖苑", "A座", 30, 1],
            ["翠湖苑", "B座", 30, 1],
        ],
    )
