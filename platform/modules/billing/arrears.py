"""Arrears (欠费): units with overdue amounts, aged; dunning letters; publication.

**Overdue**: an open bill (``unpaid``/``partial``) with an outstanding amount
(amount + late fee - discount - paid - waived > 0) whose ``due_on`` is before today in the
tenant's time zone. Its age is ``today - due_on`` in days (1 the day after the due date).
**Buckets** (by the age of each bill): 0-30, 31-90, 91-180 and over 180 days; a unit's
amount in a bucket is the sum of its bills of that age. ``overdue_bills`` and
``bucket_columns`` are the building blocks the arrears list and the aging report
(``reports.aging``) share.

The list (``arrears``) is ONE statement: overdue bills -> per unit (buckets, total, the
oldest age, the number of bills) with the unit's place and its current owners' names (or,
without an owner, its current occupants'), the page's rows and the total count
(``count(*) OVER ()``).

**Publication** (欠费公示) is off by default: ``arrears_publication_enabled`` in the module
config, and ``billing.arrears.publish``. A publication is a snapshot (``ArrearsNotice``) of
one community at the time: place, the payer's name masked to its first character
(张** ), the overdue total and the oldest age. No phone numbers, no bill detail, no other
community; residents read only their own community's notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.billing import pdf
from wuye.modules.billing.config import config_of
from wuye.modules.billing.models import ArrearsNotice, Bill, FeeItem
from wuye.modules.billing.money import yuan
from wuye.modules.estate.models import Building, Community, Occupancy, Person, Unit
from wuye.modules.estate.property import place_label, unit_labels
from wuye.tenancy.directory import TenantInfo

OPEN = ("unpaid", "partial")
# (key, upper bound in days inclusive, zh, en); the last has no bound
BUCKETS: tuple[tuple[str, int | None, str, str], ...] = (
    ("d0_30", 30, "0-30天", "0-30 days"),
    ("d31_90", 90, "31-90天", "31-90 days"),
    ("d91_180", 180, "91-180天", "91-180 days"),
    ("d181", None, "180天以上", "over 180 days"),
)
SORTS = ("total", "oldest")
MAX_PAGE = 200
MAX_LETTERS = 200
LETTER_DEADLINE_DAYS = 15


def outstanding() -> ColumnElement[int]:
    return Bill.amount_fen + Bill.late_fee_fen - Bill.discount_fen - Bill.paid_fen - Bill.waived_fen


# --- building blocks ------------------------------------------------------------------------


def overdue_bills(today: date, where: Sequence[ColumnElement[bool]] = ()) -> Any:
    """A subquery of the overdue bills: id, unit_id, community_id, building_id,
    fee_item_id, due_on, owed (fen), days (age)."""
    owed = outstanding()
    return (
        select(
            Bill.id,
            Bill.unit_id,
            Bill.community_id,
            Bill.building_id,
            Bill.fee_item_id,
            Bill.due_on,
            owed.label("owed"),
            (cast(literal(today), Date) - Bill.due_on).label("days"),
        )
        .where(Bill.status.in_(OPEN), Bill.due_on < today, owed > 0, *where)
        .subquery("overdue")
    )


def bucket_columns(o: Any) -> list[Any]:
    """sum(owed) per bucket, the total, the oldest age and the bill count, labelled."""
    columns: list[Any] = []
    lower = 0
    for key, upper, _, _ in BUCKETS:
        cond = o.c.days > lower if upper is None else and_(o.c.days > lower, o.c.days <= upper)
        columns.append(func.coalesce(func.sum(o.c.owed).filter(cond), 0).label(key))
        lower = upper or lower
    columns += [
        func.coalesce(func.sum(o.c.owed), 0).label("total"),
        func.coalesce(func.max(o.c.days), 0).label("oldest"),
        func.count().label("bills"),
    ]
    return columns


def payer_names(unit_id: Any) -> Any:
    """The names of the unit's current owners (else of its current occupants), '、'-joined."""
    owner = aliased(Occupancy, name="owner")
    no_owner = ~(
        select(owner.id)
        .where(owner.unit_id == unit_id, owner.move_out_on.is_(None), owner.relation == "owner")
        .exists()
    )
    return (
        select(
            func.string_agg(
                Person.name, aggregate_order_by(literal("、"), Person.name, Occupancy.id)
            )
        )
        .select_from(Occupancy)
        .join(Person, Person.id == Occupancy.person_id)
        .where(
            Occupancy.unit_id == unit_id,
            Occupancy.move_out_on.is_(None),
            or_(Occupancy.relation == "owner", no_owner),
        )
        .scalar_subquery()
    )


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrearsFilters:
    community_id: int | None = None
    building_id: int | None = None
    min_fen: int = 0
    sort: str = "total"  # total (largest first) | oldest (oldest first)
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class UnitArrears:
    unit_id: int
    community_id: int
    place: str
    payers: str
    buckets: dict[str, int]  # BUCKETS key -> fen
    total_fen: int
    oldest_days: int
    bills: int


@dataclass(frozen=True)
class ArrearsPage:
    rows: list[UnitArrears]
    total_count: int
    as_of: date


def _scope_where(scope: DataScope, filters: ArrearsFilters) -> list[ColumnElement[bool]]:
    if filters.community_id is not None:
        scope.check(filters.community_id)
    where: list[ColumnElement[bool]] = [scope.filter(Bill.community_id), Bill.unit_id.is_not(None)]
    if filters.community_id is not None:
        where.append(Bill.community_id == filters.community_id)
    if filters.building_id is not None:
        where.append(Bill.building_id == filters.building_id)
    return where


async def arrears(
    session: AsyncSession, filters: ArrearsFilters, *, scope: DataScope, today: date
) -> ArrearsPage:
    """One page of units with overdue amounts (one statement)."""
    if filters.sort not in SORTS:
        raise AppError("VALIDATION_FAILED", field="sort")
    if filters.min_fen < 0:
        raise AppError("VALIDATION_FAILED", field="minAmount")
    if filters.limit < 0 or filters.offset < 0:
        raise AppError("VALIDATION_FAILED", field="first")
    o = overdue_bills(today, _scope_where(scope, filters))
    per_unit = (
        select(o.c.unit_id, func.min(o.c.community_id).label("community_id"), *bucket_columns(o))
        .group_by(o.c.unit_id)
        .having(func.sum(o.c.owed) >= max(filters.min_fen, 1))
        .subquery("per_unit")
    )
    order = (
        [per_unit.c.total.desc(), per_unit.c.oldest.desc()]
        if filters.sort == "total"
        else [per_unit.c.oldest.desc(), per_unit.c.total.desc()]
    )
    stmt = (
        select(
            per_unit,
            Community.name.label("community_name"),
            Building.name.label("building_name"),
            Unit.room_no,
            payer_names(per_unit.c.unit_id).label("payers"),
            func.count().over().label("n"),
        )
        .join(Unit, Unit.id == per_unit.c.unit_id)
        .join(Community, Community.id == Unit.community_id)
        .join(Building, Building.id == Unit.building_id)
        .order_by(*order, Community.name, Building.name, Unit.room_no, Unit.id)
        .limit(filters.limit)
        .offset(filters.offset)
    )
    rows = []
    count = 0
    for r in (await session.execute(stmt)).mappings():
        count = int(r["n"])
        rows.append(
            UnitArrears(
                unit_id=int(r["unit_id"]),
                community_id=int(r["community_id"]),
                place=place_label(r["community_name"], r["building_name"], r["room_no"]),
                payers=str(r["payers"] or ""),
                buckets={k: int(r[k]) for k, *_ in BUCKETS},
                total_fen=int(r["total"]),
                oldest_days=int(r["oldest"]),
                bills=int(r["bills"]),
            )
        )
    return ArrearsPage(rows, count, today)


# --- dunning letters (催费函) ----------------------------------------------------------------


@dataclass(frozen=True)
class Letter:
    unit_id: int
    place: str
    payers: str
    bills: list[tuple[str, str, str, int, int]]  # fee item, period, due on, days, owed fen
    total_fen: int


async def letters_of(
    session: AsyncSession, unit_ids: Sequence[int], *, scope: DataScope, today: date
) -> list[Letter]:
    """The overdue bills of the chosen units (in scope; a unit outside it or without
    arrears is NOT_FOUND naming ``unitIds``), in the order given."""
    ids = list(dict.fromkeys(unit_ids))
    if not ids or len(ids) > MAX_LETTERS:
        raise AppError("VALIDATION_FAILED", field="unitIds")
    o = overdue_bills(today, [scope.filter(Bill.community_id), Bill.unit_id.in_(ids)])
    rows = (
        await session.execute(
            select(
                o.c.unit_id,
                FeeItem.name_zh,
                Bill.period,
                o.c.due_on,
                o.c.days,
                o.c.owed,
                payer_names(o.c.unit_id),
            )
            .join(Bill, Bill.id == o.c.id)
            .join(FeeItem, FeeItem.id == o.c.fee_item_id)
            .order_by(o.c.unit_id, o.c.due_on, o.c.id)
        )
    ).all()
    found: dict[int, list[Any]] = {}
    payers: dict[int, str] = {}
    for unit_id, item, period, due_on, days, owed, names in rows:
        found.setdefault(int(unit_id), []).append(
            (item, period, due_on.isoformat(), int(days), int(owed))
        )
        payers[int(unit_id)] = str(names or "")
    if set(ids) - set(found):
        raise AppError("NOT_FOUND", field="unitIds")
    labels = await unit_labels(session, ids)
    return [Letter(u, labels[u], payers[u], found[u], sum(b[4] for b in found[u])) for u in ids]


def letter_pages(tenant: TenantInfo, letters: Sequence[Letter], today: date) -> bytes:
    """One PDF, a page per unit."""
    deadline = date.fromordinal(today.toordinal() + LETTER_DEADLINE_DAYS)
    docs = [
        pdf.Document(
            title="催费函",
            before=[
                f"尊敬的{letter.payers or '业主'}：",
                f"您名下的房屋 {letter.place} 截至{_zh_date(today)}尚有以下费用逾期未缴，"
                f"合计人民币 {yuan(letter.total_fen)} 元：",
            ],
            table=[
                ["收费项目", "账期", "应缴日期", "逾期天数", "欠费金额（元）"],
                *[
                    [item, period, due_on, str(days), yuan(owed)]
                    for item, period, due_on, days, owed in letter.bills
                ],
                ["合计", "", "", "", yuan(letter.total_fen)],
            ],
            after=[
                f"请您于{_zh_date(deadline)}前到物业服务中心或通过线上渠道缴清上述费用。"
                "逾期未缴的，我司将依法依约追缴。如您已缴费，请忽略本函。",
                "",
                tenant.name_zh,
                _zh_date(today),
            ],
            meta={"author": tenant.name_zh, "subject": "催费函"},
        )
        for letter in letters
    ]
    return pdf.render(*docs)


def _zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# --- publication (欠费公示) ------------------------------------------------------------------


def mask_name(names: str) -> str:
    """'张三、李四' -> '张**'; the first payer's first character only."""
    first = names.split("、")[0].strip()
    return f"{first[0]}**" if first else ""


async def publish(
    session: AsyncSession,
    tenant: TenantInfo,
    *,
    community_id: int,
    note: str,
    scope: DataScope,
    actor_id: int | None,
    today: date,
) -> ArrearsNotice:
    if not config_of(tenant).arrears_publication_enabled:
        raise AppError(
            "FORBIDDEN",
            "本公司未开启欠费公示（模块设置 arrears_publication_enabled）",
            "Publishing arrears is turned off for this company "
            "(module setting arrears_publication_enabled)",
        )
    if len(note) > 500:
        raise AppError("VALIDATION_FAILED", field="note")
    scope.check(community_id)
    if await session.get(Community, community_id) is None:
        raise AppError("NOT_FOUND", field="communityId")
    page = await arrears(
        session,
        ArrearsFilters(community_id=community_id, limit=MAX_PAGE * 50),
        scope=scope,
        today=today,
    )
    items = [
        {
            "place": r.place,
            "name": mask_name(r.payers),
            "amount_fen": r.total_fen,
            "days": r.oldest_days,
        }
        for r in page.rows
    ]
    notice = ArrearsNotice(
        community_id=community_id,
        note=note,
        as_of=today,
        items=items,
        total_fen=sum(r.total_fen for r in page.rows),
        published_by=actor_id,
    )
    session.add(notice)
    await session.flush()
    return notice
