"""Export estate lists to CSV or XLSX in the import template's columns, and the templates.

An export uses ``importing.KINDS`` for its header and writes each value as the importer
reads it (zh-CN labels, decimals as typed, dates as YYYY-MM-DD), so a person can edit an
export and upload it again. Rows are limited to the caller's data scope. Resident exports
mask phone and ID numbers unless the caller may see them (such an export cannot be
re-imported as is, which is the point of masking).

The export-only lists (``importing.EXPORT_ONLY_KINDS``: vehicles, parking lots, unit claims,
staff, departments, staff transfers) have no template and cannot be imported. Vehicles and
unit claims are community data (data scope); the organisation lists are tenant-wide, as the
org API is. Vehicle owners' phones are masked like residents'; staff phones always are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wuye.crypto import decrypt_field
from wuye.identity.models import User, UserCommunityScope
from wuye.identity.passwords import mask_phone as identity_mask_phone
from wuye.identity.scope import DataScope
from wuye.modules.estate.importing import (
    CLAIM_STATUS_LABELS,
    CSV_TYPE,
    DEPARTMENT_KIND_LABELS,
    ID_PURPOSE,
    KIND_TITLES,
    PROPERTY_TYPE_LABELS,
    RELATION_LABELS,
    SPACE_KIND_LABELS,
    SPACE_STATUS_LABELS,
    UNIT_STATUS_LABELS,
    XLSX_TYPE,
    columns_of,
    export_columns_of,
)
from wuye.modules.estate.models import (
    Building,
    Community,
    Department,
    Occupancy,
    ParkingLot,
    ParkingSpace,
    Person,
    Position,
    StaffProfile,
    StaffTransfer,
    Unit,
    UnitClaim,
    Vehicle,
)
from wuye.modules.estate.org import depth_of

FORMATS = ("csv", "xlsx")
# Kinds that show residents' personal data: they need estate.residents.view too.
RESIDENT_KINDS = frozenset({"residents", "vehicles", "unit_claims"})
ALL_COMMUNITIES = "全部小区"


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
    cols = export_columns_of(kind)
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
    columns_of(kind)  # export-only kinds have no template
    filename, content_type, data = encode(kind, fmt, [])
    return f"模板-{filename}", content_type, data


def _scoped(stmt: Any, column: Any, scope: DataScope, community_id: int | None) -> Any:
    stmt = stmt.where(scope.filter(column))
    if community_id is not None:
        stmt = stmt.where(column == community_id)
    return stmt


def _local_time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _works_in(community_id: int) -> Any:
    """Staff (``User`` in the statement) whose data scope holds the community, as the staff
    list filters them."""
    return or_(
        User.all_communities.is_(True),
        exists().where(
            UserCommunityScope.user_id == User.id,
            UserCommunityScope.community_id == community_id,
        ),
    )


async def rows_of(
    session: AsyncSession,
    kind: str,
    *,
    scope: DataScope,
    community_id: int | None,
    sensitive: bool,
    tenant: str,
    secret: str,
    time_zone: str = "Asia/Shanghai",
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
    if kind == "vehicles":
        stmt = _scoped(
            select(Community.name, Vehicle.plate, Vehicle.new_energy, Person.name, Person.phone)
            .join(Person, Person.id == Vehicle.person_id)
            .join(Community, Community.id == Vehicle.community_id)
            .order_by(Vehicle.community_id, Vehicle.id),
            Vehicle.community_id,
            scope,
            community_id,
        )
        show = national_phone if sensitive else mask_phone
        return [(*r[:4], show(r[4])) for r in await session.execute(stmt)]
    if kind == "parking_lots":
        spaces = func.count(ParkingSpace.id)
        stmt = _scoped(
            select(
                Community.name,
                ParkingLot.name,
                spaces,
                spaces.filter(ParkingSpace.status == "vacant"),
            )
            .join(Community, Community.id == ParkingLot.community_id)
            .outerjoin(ParkingSpace, ParkingSpace.lot_id == ParkingLot.id)
            .group_by(ParkingLot.id, Community.name)
            .order_by(ParkingLot.community_id, ParkingLot.id),
            ParkingLot.community_id,
            scope,
            community_id,
        )
        return [tuple(r) for r in await session.execute(stmt)]
    if kind == "unit_claims":
        zone = ZoneInfo(time_zone)
        stmt = _scoped(
            select(
                Community.name,
                Building.name,
                Unit.room_no,
                UnitClaim.name,
                UnitClaim.relation,
                UnitClaim.status,
                UnitClaim.reason,
                UnitClaim.created_at,
            )
            .join(Unit, Unit.id == UnitClaim.unit_id)
            .join(Building, Building.id == Unit.building_id)
            .join(Community, Community.id == UnitClaim.community_id)
            .order_by(UnitClaim.community_id, UnitClaim.id),
            UnitClaim.community_id,
            scope,
            community_id,
        )
        return [
            (
                *r[:4],
                RELATION_LABELS[r[4]],
                CLAIM_STATUS_LABELS[r[5]],
                r[6],
                _local_time(r[7], zone),
            )
            for r in await session.execute(stmt)
        ]
    if kind == "staff":
        # the communities of each, aggregated in the same statement (no query per person)
        names = (
            select(
                func.string_agg(
                    Community.name, aggregate_order_by(literal(","), Community.name, Community.id)
                )
            )
            .select_from(UserCommunityScope)
            .join(Community, Community.id == UserCommunityScope.community_id)
            .where(UserCommunityScope.user_id == User.id)
            .scalar_subquery()
        )
        stmt = (
            select(
                User.name,
                User.phone,
                Department.name,
                Position.name,
                StaffProfile.employee_no,
                StaffProfile.joined_on,
                User.all_communities,
                names,
            )
            .outerjoin(StaffProfile, StaffProfile.user_id == User.id)
            .outerjoin(Department, Department.id == StaffProfile.department_id)
            .outerjoin(Position, Position.id == StaffProfile.position_id)
            .where(User.kind == "staff")
            .order_by(User.id)
        )
        if community_id is not None:
            stmt = stmt.where(_works_in(community_id))
        return [
            (
                name,
                mask_phone(phone),
                dept,
                position,
                employee_no or "",
                joined_on,
                ALL_COMMUNITIES if every else (communities or ""),
            )
            for (
                name,
                phone,
                dept,
                position,
                employee_no,
                joined_on,
                every,
                communities,
            ) in await session.execute(stmt)
        ]
    if kind == "departments":
        parent = aliased(Department)
        stmt = (
            select(Department.name, Department.kind, parent.name, Department.path, Community.name)
            .outerjoin(parent, parent.id == Department.parent_id)
            .outerjoin(Community, Community.id == Department.community_id)
            .order_by(Department.path, Department.id)
        )
        if community_id is not None:
            stmt = stmt.where(Department.community_id == community_id)
        return [
            (name, DEPARTMENT_KIND_LABELS[dept_kind], parent_name, depth_of(path), community)
            for name, dept_kind, parent_name, path, community in await session.execute(stmt)
        ]
    if kind == "staff_transfers":
        source = aliased(Department)
        target = aliased(Department)
        stmt = (
            select(
                User.name,
                source.name,
                target.name,
                StaffTransfer.effective_on,
                StaffTransfer.reason,
            )
            .join(User, User.id == StaffTransfer.user_id)
            .outerjoin(source, source.id == StaffTransfer.from_department_id)
            .outerjoin(target, target.id == StaffTransfer.to_department_id)
            .order_by(StaffTransfer.effective_on, StaffTransfer.id)
        )
        if community_id is not None:
            stmt = stmt.where(_works_in(community_id))
        return [tuple(r) for r in await session.execute(stmt)]
    raise ValueError(kind)  # pragma: no cover - columns_of() refused it
