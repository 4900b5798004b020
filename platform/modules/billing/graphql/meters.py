"""Meter readings API: staff enter a building's readings in one batch and review held ones
(``billing.meters.manage``); residents submit a reading of their own unit with a photo and
follow their units' readings. See ``billing/meters.py`` for the rules.

Listings load their units' labels, photos and people through request-wide DataLoaders: a
page costs the same few statements whatever its size.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.models import User
from wuye.identity.permissions import grants
from wuye.modules.billing import meters
from wuye.modules.billing.models import MeterReading
from wuye.modules.billing.permissions import METERS, VIEW
from wuye.modules.estate.property import unit_labels
from wuye.storage.graphql import File, file_id
from wuye.storage.models import StoredFile


async def _files(session: AsyncSession, ids: list[int]) -> dict[int, StoredFile]:
    rows = await session.scalars(
        select(StoredFile).where(StoredFile.id.in_(ids), StoredFile.status == "ready")
    )
    return {f.id: f for f in rows}


async def _user_names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {r[0]: r[1] for r in rows}


def _text(value: Any) -> str | None:
    """A stored decimal without trailing zeros or exponent (1234.500 -> '1234.5')."""
    return None if value is None else f"{value.normalize():f}"


# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="MeterReading")
class MeterReadingType:
    id: strawberry.ID
    unit_id: strawberry.ID
    community_id: strawberry.ID
    meter_type: str = strawberry.field(description="water | electricity | gas | heat | hot_water")
    read_on: date
    reading: str = strawberry.field(description="Decimal, up to 3 decimals")
    previous: str | None = strawberry.field(description="The previous accepted reading")
    usage: str | None = strawberry.field(
        description="reading - previous (the reading itself after a replacement); null for a "
        "meter's first reading"
    )
    replaced: bool = strawberry.field(description="A new meter was fitted")
    source: str = strawberry.field(description="staff | resident")
    status: str = strawberry.field(description="accepted | held (waits for review) | rejected")
    note: str
    billed: bool
    created_at: datetime
    row: strawberry.Private[MeterReading]
    staff_view: strawberry.Private[bool]

    @classmethod
    def of(cls, r: MeterReading, *, staff_view: bool = True) -> MeterReadingType:
        return cls(
            id=gid("MeterReading", r.id),
            unit_id=gid("Unit", r.unit_id),
            community_id=gid("Community", r.community_id),
            meter_type=r.meter_type,
            read_on=r.read_on,
            reading=_text(r.reading) or "0",
            previous=_text(r.previous),
            usage=_text(r.usage),
            replaced=r.replaced,
            source=r.source,
            status=r.status,
            note=r.note,
            billed=r.billed_bill_id is not None,
            created_at=r.created_at,
            row=r,
            staff_view=staff_view,
        )

    @strawberry.field(description="小区 楼栋 房号")
    async def unit(self, info: strawberry.Info) -> str:
        return await batch(info.context, "billing.unit_labels", unit_labels, "").load(
            self.row.unit_id
        )

    @strawberry.field(description="The resident's photo of the meter")
    async def photo(self, info: strawberry.Info) -> File | None:
        if self.row.photo_file_id is None:
            return None
        found = await batch(info.context, "billing.files", _files, None).load(
            self.row.photo_file_id
        )
        return None if found is None else File.of(found)

    @strawberry.field(description="Who entered it (staff only; residents see null)")
    async def entered_by(self, info: strawberry.Info) -> str | None:
        if not self.staff_view or self.row.entered_by is None:
            return None
        return await batch(info.context, "billing.user_names", _user_names, None).load(
            self.row.entered_by
        )

    @strawberry.field(description="Who reviewed it (staff only)")
    async def reviewed_by(self, info: strawberry.Info) -> str | None:
        if not self.staff_view or self.row.reviewed_by is None:
            return None
        return await batch(info.context, "billing.user_names", _user_names, None).load(
            self.row.reviewed_by
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class MeterReadingRowInput:
    unit_id: strawberry.ID
    reading: str = strawberry.field(description="Decimal string, 0 or more, up to 3 decimals")
    replaced: bool = strawberry.field(
        default=False, description="A new meter was fitted: usage is the reading itself"
    )


@strawberry.input
class RecordMeterReadingsInput:
    meter_type: str
    read_on: date
    readings: list[MeterReadingRowInput] = strawberry.field(
        description="One row per unit (up to 1000); all or nothing. A failing row is named "
        "in the error's extensions: row (from 0), field, reason, and rows (every failing one)"
    )
    note: str = ""


@strawberry.input
class SubmitMeterReadingInput:
    unit_id: strawberry.ID
    meter_type: str
    reading: str = strawberry.field(description="Decimal string, up to 3 decimals")
    photo_id: strawberry.ID = strawberry.field(
        description="A confirmed upload of purpose billing.meter_photo"
    )
    read_on: date | None = strawberry.field(default=None, description="Default: today")


@strawberry.input
class ReviewMeterReadingInput:
    id: strawberry.ID
    accept: bool
    note: str = ""


# --- API -----------------------------------------------------------------------------------


def _unit_id(global_id: strawberry.ID | None) -> int | None:
    return optional_id(global_id, "Unit", "unitId")


@strawberry.type
class MetersQuery:
    @query(
        signed_in=True,
        description="Staff (billing.view or billing.meters.manage): readings of my "
        "communities, newest first, by unit or building, meter type and status",
    )
    async def meter_readings(
        self,
        info: strawberry.Info,
        unit_id: strawberry.ID | None = None,
        building_id: strawberry.ID | None = None,
        meter_type: str | None = None,
        status: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MeterReadingType]:
        ctx = info.context
        granted = await ctx.permissions()
        if not (grants(granted, VIEW.key) or grants(granted, METERS.key)):
            raise AppError("FORBIDDEN")
        stmt = meters.staff_readings_query(
            await ctx.data_scope(),
            unit_id=_unit_id(unit_id),
            building_id=optional_id(building_id, "Building", "buildingId"),
            meter_type=meter_type,
            status=status,
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=MeterReadingType.of)

    @query(signed_in=True, description="Resident: readings of the units I live in, newest first")
    async def my_meter_readings(
        self,
        info: strawberry.Info,
        unit_id: strawberry.ID | None = None,
        meter_type: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MeterReadingType]:
        ctx = info.context
        user = await ctx.user()
        stmt = await meters.resident_readings_query(
            ctx.session, user.id, unit_id=_unit_id(unit_id), meter_type=meter_type
        )
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=lambda r: MeterReadingType.of(r, staff_view=False),
        )


@strawberry.type
class MetersMutation:
    @mutation(
        METERS,
        description="Staff: one meter type's readings on one day for many units (a building), "
        "all or nothing; jumps are held for review",
    )
    async def record_meter_readings(
        self, info: strawberry.Info, input: RecordMeterReadingsInput
    ) -> list[MeterReadingType]:
        ctx = info.context
        rows = []
        for index, r in enumerate(input.readings):
            try:
                unit = decode_id(r.unit_id, "Unit", "unitId")
            except AppError as e:
                raise AppError("NOT_FOUND", field="unitId", row=index) from e
            rows.append(meters.ReadingRow(unit_id=unit, reading=r.reading, replaced=r.replaced))
        made = await meters.record_readings(
            ctx.session,
            scope=await ctx.data_scope(),
            modules=ctx.tenant.modules,
            today=ctx.tenant.today(),
            actor_id=(await ctx.user()).id,
            meter_type=input.meter_type,
            read_on=input.read_on,
            rows=rows,
            note=input.note,
        )
        return [MeterReadingType.of(r) for r in made]

    @mutation(
        signed_in=True,
        description="Resident: a reading of a unit I live in, with a photo; held for staff "
        "review (unless the company accepts residents' readings directly)",
    )
    async def submit_meter_reading(
        self, info: strawberry.Info, input: SubmitMeterReadingInput
    ) -> MeterReadingType:
        ctx = info.context
        user = await ctx.user()
        row = await meters.submit_reading(
            ctx.session,
            tenant_slug=ctx.tenant.slug,
            modules=ctx.tenant.modules,
            today=ctx.tenant.today(),
            user_id=user.id,
            unit_id=decode_id(input.unit_id, "Unit", "unitId"),
            meter_type=input.meter_type,
            reading=input.reading,
            photo_file_id=file_id(input.photo_id, "photoId"),
            read_on=input.read_on,
        )
        return MeterReadingType.of(row, staff_view=user.kind == "staff")

    @mutation(METERS, description="Staff: accept or reject a held reading")
    async def review_meter_reading(
        self, info: strawberry.Info, input: ReviewMeterReadingInput
    ) -> MeterReadingType:
        ctx = info.context
        row = await meters.review_reading(
            ctx.session,
            scope=await ctx.data_scope(),
            actor_id=(await ctx.user()).id,
            reading_id=decode_id(input.id, "MeterReading", "id"),
            accept=input.accept,
            note=input.note,
        )
        return MeterReadingType.of(row)
