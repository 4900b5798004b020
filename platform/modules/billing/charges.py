"""Fee items and their rates (``billing.settings.manage``).

**Fee items** (物业费, 停车费, 水费, ...) say what is charged and how: ``kind`` (what it is),
``target`` (a unit, or a parking space), ``method`` (per m² of building area per month,
fixed per unit or space per month, metered, one-off), ``cycle`` (monthly, quarterly,
yearly, one-off), the due day (of the cycle's last month), the vacancy discount and the late
fee (off by default: many cities regulate 滞纳金).

- ``code`` is unique (CONFLICT) and fixed once created: the ledger's income account is
  ``income:<code>``, so renaming it would split an account's history.
- ``kind``, ``target``, ``method`` and ``meter_type`` are fixed too: a rate's number means
  "per m² per month" or "per 吨" only with its method. A different charge is a new item;
  the old one is switched off (never deleted: bills point at it).
- Rules: a metered item needs a meter type (others have none); a parking-space item is
  ``fixed`` or ``one_off``; the ``one_off`` method goes with the ``one_off`` cycle and only
  with it; a vacancy discount (0-100 %) only for per-unit area or fixed items (a vacant
  unit's meter already reads less, and spaces have no vacancy); late fee: daily rate 0-1000
  basis points (10 %/day), grace 0-365 days, cap 0-10000 bp of the principal (100 %, the
  usual legal ceiling), and an enabled late fee needs a daily rate and a cap above 0.

**Rates** (收费标准) are append-only: a change is a new rate with a later
``effective_from``, so issued bills (which store their amounts) and the history never change.

- Scope: the whole tenant, or a community, a building (its community is stored with it) and/or
  a property type (units' ``property_type``). Parking-space items are priced per tenant or
  community only (spaces have no building or property type). Staff limited to some
  communities may add rates for those communities only; tenant-wide rates need every
  community in scope (FORBIDDEN otherwise).
- Price: fen per unit of the method with at most 4 decimals of a fen (entered as 元 with at
  most 6 decimals, converted exactly with ``Decimal``). Metered items may be tiered (阶梯):
  ``[{"up_to": 180, "unit_price": "496"}, ..., {"up_to": null, "unit_price": "620"}]``,
  ``up_to`` whole units of usage in the billed period, strictly ascending, the last one open;
  the row's ``unit_price`` is then the first tier's price.
- A rate may not reach back into a period already billed in its scope (a bill of the item
  whose ``period_end`` is on or after ``effective_from``): the history would then claim a
  price the bills did not use. Correct those bills with waivers; the new price starts later.
- A mistake in a rate that is not effective yet (``effective_from`` after the tenant's today)
  and not used by any bill is fixed by deleting it; anything else is corrected by a newer
  rate.

**Which rate applies** (``rate_for``; the bill generation resolves it in SQL itself): for a
fee item, a target (unit or space) and a period starting on ``start``, among the item's rates
whose scope matches the target (``community_id`` NULL or the target's community,
``building_id`` NULL or its building, ``property_type`` NULL or its unit's type) and whose
``effective_from <= start``, the most specific one wins: a building rate over a community
rate over a tenant-wide one; at the same level a property-type match over no type; then the
latest ``effective_from``. In SQL::

    ORDER BY (building_id IS NOT NULL) DESC, (community_id IS NOT NULL) DESC,
             (property_type IS NOT NULL) DESC, effective_from DESC, id DESC
    LIMIT 1

A target with no matching rate is not billed for that item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.billing.models import (
    CYCLES,
    KINDS,
    METER_TYPES,
    METHODS,
    TARGETS,
    Bill,
    FeeItem,
    FeeRate,
)
from wuye.modules.estate.models import PROPERTY_TYPES, Building, Community, Unit
from wuye.modules.rows import flush_unique, get_row

MAX_SORT = 1_000_000
MAX_LATE_FEE_DAILY_BP = 1000  # 10 % a day: anything above is a typo
MAX_LATE_FEE_CAP_BP = 10000  # 100 % of the principal
MAX_GRACE_DAYS = 365
MAX_TIERS = 10
EARLIEST = date(2000, 1, 1)
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
# 元 with at most 6 decimals (4 decimals of a fen), below 10,000,000 元
_YUAN = re.compile(r"^\d{1,7}(\.\d{1,6})?$")
_FEN_PLACES = Decimal("0.0001")

# --- validation ----------------------------------------------------------------------------


def _invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def _text(raw: str | None, field: str, *, max_len: int, required: bool = False) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise _invalid(field, "不能为空", "Required")
    if len(value) > max_len:
        raise _invalid(field, f"不能超过{max_len}个字符", f"At most {max_len} characters")
    return value


def _choice(raw: str | None, allowed: Sequence[str], field: str) -> str:
    value = (raw or "").strip().lower()
    if value not in allowed:
        raise _invalid(
            field, f"取值须为：{', '.join(allowed)}", f"Must be one of: {', '.join(allowed)}"
        )
    return value


def _between(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise _invalid(field, f"须在{low}到{high}之间", f"Must be between {low} and {high}")
    return value


def parse_price_yuan(raw: str | None, field: str) -> Decimal:
    """'2.80' (元) -> Decimal('280.0000') (fen); at most 6 decimals of a 元, never negative,
    below 10,000,000 元; exact (no float anywhere)."""
    text = (raw or "").strip()
    if not _YUAN.fullmatch(text):
        raise _invalid(
            field,
            "价格须为不小于0的元金额，最多6位小数，例如 2.80",
            "A price is an amount of 元 (0 or more, at most 6 decimals), e.g. 2.80",
        )
    return (Decimal(text) * 100).quantize(_FEN_PLACES)


def fen_text(fen: Decimal) -> str:
    """A fen amount as stored in tiers: no exponent, no trailing zeros ('496', '49.6')."""
    text = f"{fen.quantize(_FEN_PLACES):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def price_yuan(fen: Decimal | int | str) -> str:
    """Fen as 元, exactly: two decimals at least, more when the rate has them
    (280 -> '2.80', 49.6 -> '0.496', 0.25 -> '0.0025')."""
    value = Decimal(str(fen)) / 100
    text = f"{value.quantize(Decimal('0.000001')):f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


_METER_UNITS = {
    "water": "吨",
    "hot_water": "吨",
    "electricity": "度",
    "gas": "m³",
    "heat": "GJ",
}


def price_unit(item: FeeItem) -> str:
    """What a rate's number is per: '元/m²/月', '元/户/月', '元/车位/月', '元/吨', '元/次'."""
    if item.method == "area":
        return "元/m²/月"
    if item.method == "fixed":
        return "元/车位/月" if item.target == "parking_space" else "元/户/月"
    if item.method == "metered":
        return f"元/{_METER_UNITS.get(item.meter_type or '', '单位')}"
    return "元/次"


def price_label(item: FeeItem, rate: FeeRate) -> str:
    """'2.80 元/m²/月'; tiered: '0-180: 4.96 元/吨; 180以上: 6.20 元/吨'."""
    unit = price_unit(item)
    if not rate.tiers:
        return f"{price_yuan(rate.unit_price)} {unit}"
    parts, low = [], 0
    for tier in rate.tiers:
        price = price_yuan(tier["unit_price"])
        if tier["up_to"] is None:
            parts.append(f"{low}以上: {price} {unit}")
        else:
            parts.append(f"{low}-{tier['up_to']}: {price} {unit}")
            low = int(tier["up_to"])
    return "; ".join(parts)


# --- fee items -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeItemTerms:
    """What may change on a fee item (update replaces all of it)."""

    name_zh: str
    name_en: str = ""
    cycle: str = "monthly"
    due_day: int = 15
    vacancy_discount_pct: int | None = None
    late_fee_enabled: bool = False
    late_fee_daily_bp: int = 5
    late_fee_grace_days: int = 0
    late_fee_cap_bp: int = 10000
    sort: int = 0


@dataclass(frozen=True)
class FeeItemData:
    """A new fee item: its fixed part, then its terms."""

    code: str
    kind: str
    method: str
    terms: FeeItemTerms
    target: str = "unit"
    meter_type: str | None = None


def _terms(terms: FeeItemTerms, *, target: str, method: str) -> dict[str, Any]:
    """Every term checked against the item's fixed part before anything is written."""
    cycle = _choice(terms.cycle, CYCLES, "cycle")
    if (cycle == "one_off") != (method == "one_off"):
        raise _invalid(
            "cycle",
            "一次性收费项目的周期须为一次性，周期性项目不能选一次性",
            "A one-off item has the one-off cycle, and only a one-off item has it",
        )
    discount = terms.vacancy_discount_pct
    if discount is not None:
        _between(discount, 0, 100, "vacancyDiscountPct")
        if target != "unit" or method not in ("area", "fixed"):
            raise _invalid(
                "vacancyDiscountPct",
                "空置优惠仅适用于按面积或按户定额收费的项目",
                "A vacancy discount applies only to per-unit area or fixed items",
            )
    daily = _between(terms.late_fee_daily_bp, 0, MAX_LATE_FEE_DAILY_BP, "lateFeeDailyBp")
    grace = _between(terms.late_fee_grace_days, 0, MAX_GRACE_DAYS, "lateFeeGraceDays")
    cap = _between(terms.late_fee_cap_bp, 0, MAX_LATE_FEE_CAP_BP, "lateFeeCapBp")
    if terms.late_fee_enabled and daily == 0:
        raise _invalid("lateFeeDailyBp", "启用滞纳金须设置日费率", "A late fee needs a daily rate")
    if terms.late_fee_enabled and cap == 0:
        raise _invalid("lateFeeCapBp", "启用滞纳金须设置上限", "A late fee needs a cap")
    return {
        "name_zh": _text(terms.name_zh, "nameZh", max_len=60, required=True),
        "name_en": _text(terms.name_en, "nameEn", max_len=60),
        "cycle": cycle,
        "due_day": _between(terms.due_day, 1, 28, "dueDay"),
        "vacancy_discount_pct": discount,
        "late_fee_enabled": terms.late_fee_enabled,
        "late_fee_daily_bp": daily,
        "late_fee_grace_days": grace,
        "late_fee_cap_bp": cap,
        "sort": _between(terms.sort, -MAX_SORT, MAX_SORT, "sort"),
    }


def _fixed(data: FeeItemData) -> dict[str, Any]:
    code = (data.code or "").strip().lower()
    if not _CODE.fullmatch(code):
        raise _invalid(
            "code",
            "编码须以小写字母开头，仅含小写字母、数字和下划线，最多30个字符",
            "A code starts with a lower-case letter and has only a-z, 0-9 and _ (at most 30)",
        )
    kind = _choice(data.kind, KINDS, "kind")
    target = _choice(data.target, TARGETS, "target")
    method = _choice(data.method, METHODS, "method")
    meter_type = (data.meter_type or "").strip().lower() or None
    if method == "metered":
        if meter_type is None:
            raise _invalid("meterType", "抄表收费项目须指定表类型", "A metered item needs a meter")
        _choice(meter_type, METER_TYPES, "meterType")
        if target != "unit":
            raise _invalid("target", "抄表收费只适用于房屋", "Metered charges apply to units only")
    elif meter_type is not None:
        raise _invalid(
            "meterType", "只有抄表收费项目有表类型", "Only a metered item has a meter type"
        )
    if target == "parking_space" and method not in ("fixed", "one_off"):
        raise _invalid(
            "method",
            "车位收费须为定额或一次性",
            "A parking-space item is charged fixed (per month) or one-off",
        )
    return {
        "code": code,
        "kind": kind,
        "target": target,
        "method": method,
        "meter_type": meter_type,
    }


async def _save(session: AsyncSession, item: FeeItem, *, add: bool) -> None:
    await flush_unique(
        session,
        add=item if add else None,
        field="code",
        zh="已有相同编码的收费项目",
        en="A fee item with this code exists",
    )


async def create_fee_item(session: AsyncSession, data: FeeItemData) -> FeeItem:
    fixed = _fixed(data)
    terms = _terms(data.terms, target=fixed["target"], method=fixed["method"])
    item = FeeItem(**fixed, **terms, active=True)
    await _save(session, item, add=True)
    return item


async def update_fee_item(session: AsyncSession, item_id: int, terms: FeeItemTerms) -> FeeItem:
    """Replaces the terms; code, kind, target, method and meter type stay. New terms count
    for bills generated from now on; issued bills keep theirs."""
    item = await get_row(session, FeeItem, item_id, lock=True)
    for key, value in _terms(terms, target=item.target, method=item.method).items():
        setattr(item, key, value)
    await session.flush()
    return item


async def set_fee_item_active(session: AsyncSession, item_id: int, active: bool) -> FeeItem:
    """Switched off, an item is no longer billed; its bills and rates stay."""
    item = await get_row(session, FeeItem, item_id, lock=True)
    item.active = active
    await session.flush()
    return item


async def list_fee_items(session: AsyncSession, *, include_inactive: bool = False) -> list[FeeItem]:
    stmt = select(FeeItem).order_by(FeeItem.sort, FeeItem.id)
    if not include_inactive:
        stmt = stmt.where(FeeItem.active)
    return list(await session.scalars(stmt))


# --- rates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierData:
    up_to: int | None  # whole units of usage in the billed period; None: the open last tier
    unit_price_yuan: str


@dataclass(frozen=True)
class RateData:
    fee_item_id: int
    effective_from: date
    unit_price_yuan: str | None = None
    tiers: Sequence[TierData] = field(default_factory=tuple)
    community_id: int | None = None
    building_id: int | None = None
    property_type: str | None = None


def _tiers(raw: Sequence[TierData]) -> list[dict[str, Any]]:
    if not 2 <= len(raw) <= MAX_TIERS:
        raise _invalid("tiers", f"阶梯须有2到{MAX_TIERS}档", f"Give 2 to {MAX_TIERS} tiers")
    tiers: list[dict[str, Any]] = []
    low = 0
    for i, tier in enumerate(raw):
        last = i == len(raw) - 1
        if last != (tier.up_to is None):
            raise _invalid(
                "tiers",
                "只有最后一档不设上限",
                "Every tier but the last has an upper bound; the last has none",
            )
        if tier.up_to is not None:
            if tier.up_to <= low:
                raise _invalid(
                    "tiers", "阶梯上限须为正数且递增", "Tier bounds are positive and ascending"
                )
            low = tier.up_to
        price = parse_price_yuan(tier.unit_price_yuan, "tiers")
        tiers.append({"up_to": tier.up_to, "unit_price": fen_text(price)})
    return tiers


async def _scope(
    session: AsyncSession, scope: DataScope, item: FeeItem, data: RateData
) -> tuple[int | None, int | None, str | None]:
    """(community, building, property type) of a new rate, checked."""
    community_id, building_id = data.community_id, data.building_id
    property_type = (data.property_type or "").strip().lower() or None
    if item.target == "parking_space" and (building_id is not None or property_type):
        raise _invalid(
            "buildingId" if building_id is not None else "propertyType",
            "车位收费标准只能按小区设置",
            "Parking-space rates are set per tenant or community only",
        )
    if property_type is not None:
        _choice(property_type, PROPERTY_TYPES, "propertyType")
    if building_id is not None:
        building_community = await session.scalar(
            select(Building.community_id).where(Building.id == building_id)
        )
        if building_community is None or not scope.allows(building_community):
            raise AppError("NOT_FOUND", field="buildingId")
        if community_id is not None and community_id != building_community:
            raise _invalid(
                "buildingId",
                "楼栋不属于所选小区",
                "The building is not in the chosen community",
            )
        community_id = building_community
    elif community_id is not None:
        found = await session.scalar(select(Community.id).where(Community.id == community_id))
        if found is None or not scope.allows(community_id):
            raise AppError("NOT_FOUND", field="communityId")
    elif not scope.all_communities:
        raise AppError(
            "FORBIDDEN",
            "只有管理全部小区的员工可以设置全公司的收费标准",
            "Only staff with every community in scope may set a tenant-wide rate",
        )
    return community_id, building_id, property_type


def _billed_since(
    fee_item_id: int,
    on: date,
    community_id: int | None,
    building_id: int | None,
    property_type: str | None,
) -> Any:
    """EXISTS a bill of the item, in the scope, for a period ending on or after ``on``."""
    cond = [Bill.fee_item_id == fee_item_id, Bill.period_end >= on]
    if community_id is not None:
        cond.append(Bill.community_id == community_id)
    if building_id is not None:  # by the unit: a bill's own building_id may be unset
        cond.append(Bill.unit_id.in_(select(Unit.id).where(Unit.building_id == building_id)))
    if property_type is not None:
        cond.append(Bill.unit_id.in_(select(Unit.id).where(Unit.property_type == property_type)))
    return exists().where(*cond)


async def add_rate(
    session: AsyncSession, *, scope: DataScope, actor_id: int | None, data: RateData
) -> FeeRate:
    """A new rate (append-only; see the module docstring)."""
    item = await get_row(session, FeeItem, data.fee_item_id, field="feeItemId", share=True)
    community_id, building_id, property_type = await _scope(session, scope, item, data)
    if data.effective_from < EARLIEST:
        raise _invalid("effectiveFrom", "生效日期不正确", "Invalid effective date")
    tiers: list[dict[str, Any]] = []
    if data.tiers:
        if item.method != "metered":
            raise _invalid("tiers", "只有抄表收费可设阶梯价", "Only metered items have tiers")
        if data.unit_price_yuan is not None:
            raise _invalid(
                "unitPriceYuan",
                "阶梯价不再填写单价",
                "Give either a unit price or tiers, not both",
            )
        tiers = _tiers(data.tiers)
        unit_price = Decimal(tiers[0]["unit_price"])
    else:
        if data.unit_price_yuan is None:
            raise _invalid("unitPriceYuan", "请填写单价", "A unit price is required")
        unit_price = parse_price_yuan(data.unit_price_yuan, "unitPriceYuan")
    billed = _billed_since(item.id, data.effective_from, community_id, building_id, property_type)
    if await session.scalar(select(billed)):
        raise _invalid(
            "effectiveFrom",
            "该日期之后的账期已出账，新标准须从未出账的账期开始",
            "Bills exist for periods after this date; a new rate starts after them",
        )
    rate = FeeRate(
        fee_item_id=item.id,
        community_id=community_id,
        building_id=building_id,
        property_type=property_type,
        effective_from=data.effective_from,
        unit_price=unit_price,
        tiers=tiers,
        created_by=actor_id,
    )
    await flush_unique(
        session,
        add=rate,
        field="effectiveFrom",
        zh="该范围在该日期已有收费标准",
        en="This scope already has a rate from this date",
    )
    return rate


async def delete_rate(
    session: AsyncSession, *, scope: DataScope, rate_id: int, today: date
) -> FeeRate:
    """Delete a rate that is not effective yet (``effective_from`` after ``today``, the
    tenant's date) and no bill used: CONFLICT otherwise (add a newer rate instead)."""
    rate = await get_row(session, FeeRate, rate_id, lock=True)
    if rate.community_id is not None and not scope.allows(rate.community_id):
        raise AppError("NOT_FOUND", field="id")
    if rate.community_id is None and not scope.all_communities:
        raise AppError("FORBIDDEN")
    billed = _billed_since(
        rate.fee_item_id,
        rate.effective_from,
        rate.community_id,
        rate.building_id,
        rate.property_type,
    )
    if rate.effective_from <= today or await session.scalar(select(billed)):
        raise AppError(
            "CONFLICT",
            "已生效或已用于出账的收费标准不能删除，请新增一条更晚生效的标准",
            "A rate in effect or used by bills cannot be deleted; add a newer rate instead",
            field="id",
        )
    await session.delete(rate)
    await session.flush()
    return rate


def rates_query(scope: DataScope, fee_item_id: int, *, community_id: int | None = None) -> Any:
    """The item's rates the caller may see (tenant-wide ones and those of their communities),
    newest first; ``community_id``: that community's own and the tenant-wide ones."""
    stmt = (
        select(FeeRate)
        .where(FeeRate.fee_item_id == fee_item_id)
        .where(FeeRate.community_id.is_(None) | scope.filter(FeeRate.community_id))
        .order_by(FeeRate.effective_from.desc(), FeeRate.id.desc())
    )
    if community_id is not None:
        stmt = stmt.where(FeeRate.community_id.is_(None) | (FeeRate.community_id == community_id))
    return stmt


async def list_rates(
    session: AsyncSession, scope: DataScope, fee_item_id: int, *, community_id: int | None = None
) -> tuple[FeeItem, list[FeeRate]]:
    item = await get_row(session, FeeItem, fee_item_id, field="feeItemId")
    rates = list(await session.scalars(rates_query(scope, fee_item_id, community_id=community_id)))
    return item, rates
