"""Meter readings: staff enter them (a building at a time), residents submit theirs with a
photo; only ``accepted`` readings are billed.

For a unit and meter type, on ``read_on``:

- ``previous`` is the latest accepted reading before ``read_on``; ``usage`` is the reading
  minus it, or the reading itself when the meter was ``replaced`` (a new meter starts at 0);
  the very first reading of a meter is its baseline (no previous, no usage, nothing billed).
- A reading below the previous one is refused (VALIDATION_FAILED) unless the meter was
  replaced.
- A jump is held for review: usage over N times the average usage of the unit's last 6
  accepted readings (N: module config ``meter_jump_factor``, default 3), checked only when at
  least 3 of those have a usage.
- Readings go forward only: a new reading must be dated after the unit's latest reading
  (accepted or held) for that meter, and a unit with a held reading takes no new one until
  it is reviewed (CONFLICT). So ``previous``/``usage`` of a held reading stay right when it
  is accepted later, and no accepted reading ever needs recomputing. A day takes one
  reading per meter, a rejected one included (the table's unique key): a re-reading after a
  rejection carries the day it is taken (CONFLICT ``rejected_that_day`` on the same day).
- Residents (only for units they live in now; NOT_FOUND otherwise) send a confirmed photo
  upload of purpose ``billing.meter_photo``; their readings are ``held`` for staff review
  unless the module config ``resident_readings_auto_accept`` is true, in which case they go
  through the same rules as staff readings. Residents never mark a replacement.
- Staff batches (``billing.meters.manage``, units in the staff's data scope) are
  all-or-nothing: every row is checked, and one error lists each failing row (``rows``:
  index from 0, field, code, reason) with the first one's ``row`` and ``field``.
- Review (``billing.meters.manage``, data scope): a held reading is accepted or rejected
  (INVALID_TRANSITION for any other status); a rejected reading is never billed and
  does not count as a previous reading.

Concurrent entries for the same units are serialised by locking the units' rows
(``FOR NO KEY UPDATE``, in id order), so two batches never compute from the same previous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.billing.config import parse
from wuye.modules.billing.models import METER_TYPES, READING_STATUSES, MeterReading
from wuye.modules.estate.models import Unit
from wuye.modules.estate.residents import places_of_user
from wuye.modules.rows import flush_unique, get_row
from wuye.storage import service as storage

PHOTO_PURPOSE = "billing.meter_photo"
ATTACHED_KIND = "billing.meter_reading"
MAX_BATCH = 1000
AVERAGE_OVER = 6  # the last N accepted readings
MIN_USAGES = 3  # fewer usages than this: no jump check
EARLIEST = date(2000, 1, 1)
_READING = re.compile(r"^\d{1,11}(\.\d{1,3})?$")

# --- the rules -----------------------------------------------------------------------------


class RowError(Exception):
    """One row's problem (``code``, input ``field``, machine ``reason`` and texts)."""

    def __init__(self, code: str, field: str, reason: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code, self.field, self.reason, self.zh, self.en = code, field, reason, zh, en

    def as_error(self, **params: Any) -> AppError:
        return AppError(self.code, self.zh, self.en, field=self.field, reason=self.reason, **params)


def _invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def meter_type_of(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in METER_TYPES:
        raise _invalid(
            "meterType",
            f"表类型须为：{', '.join(METER_TYPES)}",
            f"Must be one of: {', '.join(METER_TYPES)}",
        )
    return value


def read_on_of(value: date, today: date) -> date:
    if not EARLIEST <= value <= today:
        raise _invalid("readOn", "抄表日期不能晚于今天", "A reading cannot be dated in the future")
    return value


def parse_reading(raw: str) -> Decimal:
    """A meter value: 0 or more, at most 3 decimals (a decimal string, never a float)."""
    text = (raw or "").strip()
    if not _READING.fullmatch(text):
        raise RowError(
            "VALIDATION_FAILED",
            "reading",
            "format",
            "读数须为不小于0的数字，最多3位小数",
            "A reading is a number (0 or more) with at most 3 decimals",
        )
    return Decimal(text)


@dataclass(frozen=True)
class History:
    """What came before a new reading of one unit's meter."""

    latest_on: date | None = None  # the latest non-rejected reading's date
    held: bool = False  # a reading waits for review
    rejected_that_day: bool = False  # a rejected reading has the new one's date
    previous: Decimal | None = None  # the latest accepted reading
    usages: tuple[Decimal, ...] = ()  # usages of the last 6 accepted readings that have one


async def histories(
    session: AsyncSession, unit_ids: Sequence[int], meter_type: str, read_on: date
) -> dict[int, History]:
    """Each unit's history of ``meter_type`` before a reading on ``read_on``, in two
    statements (the latest readings per unit by a window function; rejected ones that day)."""
    if not unit_ids:
        return {}
    rejected = set(
        await session.scalars(
            select(MeterReading.unit_id).where(
                MeterReading.unit_id.in_(list(unit_ids)),
                MeterReading.meter_type == meter_type,
                MeterReading.read_on == read_on,
                MeterReading.status == "rejected",
            )
        )
    )
    ranked = (
        select(
            MeterReading.unit_id,
            MeterReading.read_on,
            MeterReading.reading,
            MeterReading.usage,
            MeterReading.status,
            func.row_number()
            .over(
                partition_by=MeterReading.unit_id,
                order_by=(MeterReading.read_on.desc(), MeterReading.id.desc()),
            )
            .label("n"),
        )
        .where(
            MeterReading.unit_id.in_(list(unit_ids)),
            MeterReading.meter_type == meter_type,
            MeterReading.status != "rejected",
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            ranked.c.unit_id, ranked.c.read_on, ranked.c.reading, ranked.c.usage, ranked.c.status
        )
        .where(ranked.c.n <= AVERAGE_OVER + 1)
        .order_by(ranked.c.unit_id, ranked.c.n)
    )
    by_unit: dict[int, list[Any]] = {}
    for r in rows:
        by_unit.setdefault(r.unit_id, []).append(r)
    found: dict[int, History] = {u: History(rejected_that_day=True) for u in rejected}
    for unit_id, readings in by_unit.items():
        accepted = [r for r in readings if r.status == "accepted"][:AVERAGE_OVER]
        found[unit_id] = History(
            latest_on=readings[0].read_on,
            rejected_that_day=unit_id in rejected,
            held=any(r.status == "held" for r in readings),
            previous=accepted[0].reading if accepted else None,
            usages=tuple(r.usage for r in accepted if r.usage is not None),
        )
    return found


@dataclass(frozen=True)
class Computed:
    previous: Decimal | None
    usage: Decimal | None
    jump: bool


def compute(
    history: History, read_on: date, reading: Decimal, replaced: bool, factor: Decimal
) -> Computed:
    """Previous, usage and whether it jumps; RowError when the reading cannot be taken."""
    if history.held:
        raise RowError(
            "CONFLICT",
            "unitId",
            "held_pending",
            "该房屋有待审核的读数，请先审核",
            "A reading of this meter waits for review; review it first",
        )
    if history.latest_on is not None and read_on <= history.latest_on:
        raise RowError(
            "VALIDATION_FAILED",
            "readOn",
            "not_after_latest",
            f"该表已有{history.latest_on.isoformat()}的读数，新读数须晚于它",
            f"This meter has a reading of {history.latest_on.isoformat()}; a new one must be later",
        )
    if history.rejected_that_day:
        raise RowError(
            "CONFLICT",
            "readOn",
            "rejected_that_day",
            "该表当天的读数已被驳回，同一天不能再录入",
            "This meter's reading of that day was rejected; a day takes one reading",
        )
    previous = history.previous
    if replaced:
        usage: Decimal | None = reading
    elif previous is None:
        usage = None  # the first reading: a baseline
    elif reading < previous:
        raise RowError(
            "VALIDATION_FAILED",
            "reading",
            "below_previous",
            f"读数低于上次读数（{previous.normalize():f}）；若已换表请勾选换表",
            f"The reading is below the previous one ({previous.normalize():f}); mark it "
            "replaced if the meter was changed",
        )
    else:
        usage = reading - previous
    jump = False
    if usage is not None and len(history.usages) >= MIN_USAGES:
        average = sum(history.usages, Decimal(0)) / len(history.usages)
        jump = usage > factor * average
    return Computed(previous=previous, usage=usage, jump=jump)


async def _lock_units(session: AsyncSession, unit_ids: Sequence[int]) -> dict[int, int]:
    """Unit id -> community id of the units that exist, locked against concurrent entries."""
    rows = await session.execute(
        select(Unit.id, Unit.community_id)
        .where(Unit.id.in_(sorted(set(unit_ids))))
        .order_by(Unit.id)
        .with_for_update(key_share=True)
    )
    return {r[0]: r[1] for r in rows}


# --- staff entry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadingRow:
    unit_id: int
    reading: str
    replaced: bool = False


async def record_readings(
    session: AsyncSession,
    *,
    scope: DataScope,
    modules: Mapping[str, Mapping[str, Any]],
    today: date,
    actor_id: int | None,
    meter_type: str,
    read_on: date,
    rows: Sequence[ReadingRow],
    note: str = "",
) -> list[MeterReading]:
    """Staff readings of one meter type on one day, all or nothing (see the module
    docstring). Accepted, or held when they jump."""
    meter_type = meter_type_of(meter_type)
    read_on = read_on_of(read_on, today)
    note = _note(note)
    if not 1 <= len(rows) <= MAX_BATCH:
        raise _invalid(
            "readings", f"每批1到{MAX_BATCH}条读数", f"Give 1 to {MAX_BATCH} readings at a time"
        )
    units = await _lock_units(session, [r.unit_id for r in rows])
    history = await histories(session, list(units), meter_type, read_on)
    config = parse(modules.get("billing", {}))
    errors: list[tuple[int, RowError]] = []
    made: list[MeterReading] = []
    seen: set[int] = set()
    for index, row in enumerate(rows):
        try:
            community_id = units.get(row.unit_id)
            if community_id is None or not scope.allows(community_id):
                raise RowError("NOT_FOUND", "unitId", "unit_not_found", "未找到该房屋", "Not found")
            if row.unit_id in seen:
                raise RowError(
                    "VALIDATION_FAILED",
                    "unitId",
                    "duplicate_unit",
                    "同一房屋在本批中重复",
                    "The unit appears twice in this batch",
                )
            seen.add(row.unit_id)
            value = parse_reading(row.reading)
            done = compute(
                history.get(row.unit_id, History()),
                read_on,
                value,
                row.replaced,
                config.meter_jump_factor,
            )
        except RowError as e:
            errors.append((index, e))
            continue
        made.append(
            MeterReading(
                community_id=community_id,
                unit_id=row.unit_id,
                meter_type=meter_type,
                read_on=read_on,
                reading=value,
                previous=done.previous,
                usage=done.usage,
                replaced=row.replaced,
                source="staff",
                status="held" if done.jump else "accepted",
                note=note,
                entered_by=actor_id,
            )
        )
    if errors:
        raise _batch_error(errors)
    session.add_all(made)
    await flush_unique(
        session,
        field="readings",
        zh="读数已被同时录入，请刷新后重试",
        en="These readings were entered at the same time elsewhere; reload and retry",
    )
    return made


def _batch_error(errors: list[tuple[int, RowError]]) -> AppError:
    index, first = errors[0]
    more = len(errors) - 1
    zh = f"第{index + 1}行：{first.zh}" + (f"（另有{more}行有误）" if more else "")
    en = f"Row {index + 1}: {first.en}" + (f" ({more} more rows have errors)" if more else "")
    return AppError(
        first.code,
        zh,
        en,
        field=first.field,
        row=index,
        reason=first.reason,
        rows=[{"row": i, "field": e.field, "code": e.code, "reason": e.reason} for i, e in errors],
    )


def _note(raw: str | None) -> str:
    value = (raw or "").strip()
    if len(value) > 200:
        raise _invalid("note", "备注不能超过200个字符", "At most 200 characters")
    return value


# --- residents -----------------------------------------------------------------------------


async def submit_reading(
    session: AsyncSession,
    *,
    tenant_slug: str,
    modules: Mapping[str, Mapping[str, Any]],
    today: date,
    user_id: int,
    unit_id: int,
    meter_type: str,
    reading: str,
    photo_file_id: int,
    read_on: date | None = None,
) -> MeterReading:
    """A resident's reading of a unit they live in, with the photo (see the docstring)."""
    meter_type = meter_type_of(meter_type)
    read_on = read_on_of(read_on or today, today)
    places = await places_of_user(session, user_id)
    if unit_id not in places.unit_ids:
        raise AppError("NOT_FOUND", field="unitId")
    units = await _lock_units(session, [unit_id])
    if unit_id not in units:
        raise AppError("NOT_FOUND", field="unitId")
    config = parse(modules.get("billing", {}))
    try:
        value = parse_reading(reading)
        history = (await histories(session, [unit_id], meter_type, read_on)).get(unit_id, History())
        done = compute(history, read_on, value, False, config.meter_jump_factor)
    except RowError as e:
        raise e.as_error() from None
    held = done.jump or not config.resident_readings_auto_accept
    row = MeterReading(
        community_id=units[unit_id],
        unit_id=unit_id,
        meter_type=meter_type,
        read_on=read_on,
        reading=value,
        previous=done.previous,
        usage=done.usage,
        replaced=False,
        source="resident",
        status="held" if held else "accepted",
        entered_by=user_id,
    )
    await flush_unique(
        session,
        add=row,
        field="readOn",
        zh="该日期已有读数",
        en="This meter already has a reading on this day",
    )
    await storage.attach(
        session,
        tenant_slug,
        [photo_file_id],
        owner_id=user_id,
        purpose_key=PHOTO_PURPOSE,
        kind=ATTACHED_KIND,
        target_id=row.id,
        field="photoId",
    )
    row.photo_file_id = photo_file_id
    await session.flush()
    return row


# --- review --------------------------------------------------------------------------------


async def review_reading(
    session: AsyncSession,
    *,
    scope: DataScope,
    actor_id: int,
    reading_id: int,
    accept: bool,
    note: str = "",
) -> MeterReading:
    """Accept or reject a held reading; NOT_FOUND outside the data scope."""
    row = await get_row(session, MeterReading, reading_id, lock=True)
    if not scope.allows(row.community_id):
        raise AppError("NOT_FOUND", field="id")
    if row.status != "held":
        raise AppError("INVALID_TRANSITION", status=row.status)
    row.status = "accepted" if accept else "rejected"
    row.reviewed_by = actor_id
    note = _note(note)
    if note:
        row.note = note
    await session.flush()
    return row


# --- listing -------------------------------------------------------------------------------


def readings_query(
    *,
    where: Any,
    unit_id: int | None = None,
    building_id: int | None = None,
    meter_type: str | None = None,
    status: str | None = None,
) -> Select[Any]:
    """Readings matching ``where`` (a scope clause) and the filters, newest first."""
    stmt = select(MeterReading).where(where)
    if unit_id is not None:
        stmt = stmt.where(MeterReading.unit_id == unit_id)
    if building_id is not None:
        stmt = stmt.where(
            MeterReading.unit_id.in_(select(Unit.id).where(Unit.building_id == building_id))
        )
    if meter_type is not None:
        stmt = stmt.where(MeterReading.meter_type == meter_type_of(meter_type))
    if status is not None:
        if status not in READING_STATUSES:
            raise _invalid(
                "status",
                f"状态须为：{', '.join(READING_STATUSES)}",
                f"Must be one of: {', '.join(READING_STATUSES)}",
            )
        stmt = stmt.where(MeterReading.status == status)
    return stmt.order_by(MeterReading.read_on.desc(), MeterReading.id.desc())


def staff_readings_query(scope: DataScope, **filters: Any) -> Select[Any]:
    return readings_query(where=scope.filter(MeterReading.community_id), **filters)


async def resident_readings_query(
    session: AsyncSession, user_id: int, **filters: Any
) -> Select[Any]:
    """Readings of the units the resident lives in now (staff and resident readings)."""
    places = await places_of_user(session, user_id)
    return readings_query(where=MeterReading.unit_id.in_(sorted(places.unit_ids)), **filters)
