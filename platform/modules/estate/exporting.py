"""Export estate lists to CSV or XLSX in the import template's columns, and the templates.

An export uses ``importing.KINDS`` for its header and writes each value as the importer
reads it (zh-CN labels, decimals as typed, dates as YYYY-MM-DD), so a person can edit an
export and upload it again. Rows are limited to the caller's data scope. Resident exports
mask phone and ID numbers unless the caller may see them (such an export cannot be
re-imported as is, which is the point of masking).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import decrypt_field
from wuye.identity.passwords import mask_phone as identity_mask_phone
from wuye.identity.scope import DataScope
from wuye.modules.estate.importing import (
    CSV_TYPE,
    ID_PURPOSE,
    KIND_TITLES,
    PROPERTY_TYPE_LABELS,
    RELATION_LABELS,
    SPACE_KIND_LABELS,
    SPACE_STATUS_LABELS,
    UNIT_STATUS_LABELS,
    XLSX_TYPE,
    columns_of,
)
from wuye.modules.estate.models import (
    Building,
    Community,
    Occupancy,
    ParkingLot,
    ParkingSpace,
    Person,
    Unit,
    Vehicle,
)

FORMATS = ("csv", "xlsx")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def mask_phone(phone: str | None) -> str:
    """+8613812345678 -> 138****5678 (the national number, as a sheet shows it, masked)."""
    return identity_mask_phone(national_phone(phone)) or ""


def national_phone(phone: str | None) -> str:
    if not phone:
        return ""
    return phone[3:] if phone.startswith("+86") else phone


def encode(kind: str, fmt: str, rows: Iterable[Sequence[Any]]) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of a sheet with the kind's template header."""
    cols = columns_of(kind)
    header = [c.header for c in cols]
    stem = f"{KIND_TITLES[kind]}-{kind}"
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([_fmt(v) for v in row] for row in rows)
        # UTF-8 with BOM: Excel opens it with the right encoding
        return f"{stem}.csv", CSV_TYPE, buf.getvalue().encode("utf-8-sig")
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(KIND_TITLES[kind])
    sheet.append(header)
    for row in rows:
        sheet.append([_fmt(v) for v in row])
    notes = book.create_sheet("填写说明")
    notes.append(["表头", "key", "必填", "说明", "notes", "示例"])
    for c in cols:
        required = "是" if c.required else "否"
        notes.append([c.header, c.key, required, c.help_zh, c.help_en, c.example])
    out = io.BytesIO()
    book.save(out)
    return f"{stem}.xlsx", XLSX_TYPE, out.getvalue()


def template(kind: str, fmt: str) -> tuple[str, str, bytes]:
    """An empty sheet with the kind's headers (XLSX: plus a sheet documenting each column)."""
    filename, content_type, data = encode(kind, fmt, [])
    return f"模板-{filename}", content_type, data


def _scoped(stmt: Any, column: Any, scope: DataScope, community_id: int | None) -> Any:
    stmt = stmt.where(scope.filter(column))
    if community_id is not None:
        stmt = stmt.where(column == community_id)
    return stmt


async def rows_of(
    session: AsyncSession,
    kind: str,
    *,
    scope: DataScope,
    community_id: int | None,
    sensitive: bool,
    tenant: str,
    secret: str,
) -> list[tuple[Any, ...]]:
    """The rows of an export, in the template's column order (one query per kind)."""
    if kind == "communities":
        stmt = _scoped(
            select(
                Community.name,
                Community.address,
                Community.district,
                Community.latitude,
                Community.longitude,
                Community.area_m2,
                Community.hotline,
            ).order_by(Community.id),
            Community.id,
            scope,
            community_id,
        )
        return [tuple(r) for r in await session.execute(stmt)]
    if kind == "buildings":
        stmt = _scoped(
            select(Community.name, Building.name, Building.floors, Building.entrances)
            .join(Community, Community.id == Building.community_id)
            .order_by(Building.community_id, Building.id),
            Building.community_id,
            scope,
            community_id,
        )
        return [tuple(r) for r in await session.execute(stmt)]
    if kind == "units":
        stmt = _scoped(
            select(
                Community.name,
                Building.name,
                Unit.room_no,
                Unit.entrance,
                Unit.floor,
                Unit.layout,
                Unit.building_area,
                Unit.inner_area,
                Unit.property_type,
                Unit.status,
            )
            .join(Building, Building.id == Unit.building_id)
            .join(Community, Community.id == Unit.community_id)
            .order_by(Unit.community_id, Unit.building_id, Unit.id),
            Unit.community_id,
            scope,
            community_id,
        )
        return [
            (*r[:8], PROPERTY_TYPE_LABELS[r[8]], UNIT_STATUS_LABELS[r[9]])
            for r in await session.execute(stmt)
        ]
    if kind == "parking_spaces":
        stmt = _scoped(
            select(
                Community.name,
                ParkingLot.name,
                ParkingSpace.number,
                ParkingSpace.kind,
                ParkingSpace.status,
                ParkingSpace.monthly_rent_fen,
            )
            .join(ParkingLot, ParkingLot.id == ParkingSpace.lot_id)
            .join(Community, Community.id == ParkingSpace.community_id)
            .order_by(ParkingSpace.community_id, ParkingSpace.lot_id, ParkingSpace.id),
            ParkingSpace.community_id,
            scope,
            community_id,
        )
        return [
            (
                r[0],
                r[1],
                r[2],
                SPACE_KIND_LABELS[r[3]],
                SPACE_STATUS_LABELS[r[4]],
                None if r[5] is None else Decimal(r[5]) / 100,
            )
            for r in await session.execute(stmt)
        ]
    if kind == "residents":
        stmt = _scoped(
            select(
                Person.id,
                Person.name,
                Person.phone,
                Person.id_number_enc,
                Person.id_number_hint,
                Community.name,
                Building.name,
                Unit.room_no,
                Occupancy.relation,
                Occupancy.is_primary,
                Occupancy.move_in_on,
            )
            .join(Person, Person.id == Occupancy.person_id)
            .join(Unit, Unit.id == Occupancy.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Community, Community.id == Occupancy.community_id)
            .where(Occupancy.move_out_on.is_(None))
            .order_by(Occupancy.community_id, Unit.building_id, Unit.id, Occupancy.id),
            Occupancy.community_id,
            scope,
            community_id,
        )
        found = (await session.execute(stmt)).all()
        plates: dict[int, list[str]] = {}
        person_ids = sorted({r[0] for r in found})
        if person_ids:
            for pid, plate in await session.execute(
                select(Vehicle.person_id, Vehicle.plate)
                .where(Vehicle.person_id.in_(person_ids), scope.filter(Vehicle.community_id))
                .order_by(Vehicle.id)
            ):
                plates.setdefault(pid, []).append(plate)
        out = []
        for pid, name, phone, enc, hint, *rest in found:
            if sensitive:
                shown_phone = national_phone(phone)
                shown_id = (
                    decrypt_field(secret, purpose=ID_PURPOSE, tenant=tenant, blob=enc)
                    if enc
                    else ""
                )
            else:
                shown_phone, shown_id = mask_phone(phone), hint
            community, building, room, relation, is_primary, move_in_on = rest
            out.append(
                (
                    name,
                    shown_phone,
                    shown_id,
                    community,
                    building,
                    room,
                    RELATION_LABELS[relation],
                    is_primary,
                    move_in_on,
                    ",".join(plates.get(pid, [])),
                )
            )
        return out
    raise ValueError(kind)  # pragma: no cover - columns_of() refused it
