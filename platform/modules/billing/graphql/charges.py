"""Fee items and rates API: managed with ``billing.settings.manage``, read with
``billing.view``. Prices are 元 strings in and out (``unitPriceYuan: "2.80"``), converted
exactly (``Decimal``); the stored fen value is shown too. See ``billing/charges.py`` for the
rules."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_gid, optional_id
from wuye.modules.billing import charges
from wuye.modules.billing.models import FeeItem, FeeRate
from wuye.modules.billing.permissions import SETTINGS, VIEW

# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="FeeItem")
class FeeItemType:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique, fixed once created (income:<code>)")
    name_zh: str
    name_en: str
    kind: str = strawberry.field(
        description="property | parking | water | electricity | gas | heating | hot_water | "
        "shared | garbage | rent | custom"
    )
    target: str = strawberry.field(description="unit | parking_space")
    method: str = strawberry.field(description="area | fixed | metered | one_off")
    cycle: str = strawberry.field(description="monthly | quarterly | yearly | one_off")
    meter_type: str | None = strawberry.field(
        description="Metered items: water | electricity | gas | heat | hot_water"
    )
    due_day: int = strawberry.field(description="Day (1-28) of the cycle's last month")
    vacancy_discount_pct: int | None = strawberry.field(
        description="Vacant units pay this share (%) less; null: no discount"
    )
    late_fee_enabled: bool
    late_fee_daily_bp: int = strawberry.field(description="Basis points per day (5 = 0.05 %)")
    late_fee_grace_days: int
    late_fee_cap_bp: int = strawberry.field(description="Cap, basis points of the principal")
    active: bool
    sort: int
    price_unit: str = strawberry.field(description="What a rate is per, e.g. 元/m²/月")
    created_at: datetime

    @classmethod
    def of(cls, i: FeeItem) -> FeeItemType:
        return cls(
            id=gid("FeeItem", i.id),
            code=i.code,
            name_zh=i.name_zh,
            name_en=i.name_en,
            kind=i.kind,
            target=i.target,
            method=i.method,
            cycle=i.cycle,
            meter_type=i.meter_type,
            due_day=i.due_day,
            vacancy_discount_pct=i.vacancy_discount_pct,
            late_fee_enabled=i.late_fee_enabled,
            late_fee_daily_bp=i.late_fee_daily_bp,
            late_fee_grace_days=i.late_fee_grace_days,
            late_fee_cap_bp=i.late_fee_cap_bp,
            active=i.active,
            sort=i.sort,
            price_unit=charges.price_unit(i),
            created_at=i.created_at,
        )


@strawberry.type(name="FeeRateTier")
class TierType:
    up_to: int | None = strawberry.field(description="Usage in the billed period; null: no cap")
    unit_price_fen: str
    unit_price_yuan: str


@strawberry.type(name="FeeRate")
class FeeRateType:
    id: strawberry.ID
    fee_item_id: strawberry.ID
    community_id: strawberry.ID | None = strawberry.field(description="null: every community")
    building_id: strawberry.ID | None
    property_type: str | None
    effective_from: date
    unit_price_fen: str = strawberry.field(description="Fen, up to 4 decimals, e.g. 280")
    unit_price_yuan: str = strawberry.field(description="元, e.g. 2.80")
    tiers: list[TierType] = strawberry.field(description="Tiered (阶梯) metered prices")
    label: str = strawberry.field(description="e.g. 2.80 元/m²/月")
    created_at: datetime

    @classmethod
    def of(cls, item: FeeItem, r: FeeRate) -> FeeRateType:
        return cls(
            id=gid("FeeRate", r.id),
            fee_item_id=gid("FeeItem", r.fee_item_id),
            community_id=optional_gid("Community", r.community_id),
            building_id=optional_gid("Building", r.building_id),
            property_type=r.property_type,
            effective_from=r.effective_from,
            unit_price_fen=charges.fen_text(r.unit_price),
            unit_price_yuan=charges.price_yuan(r.unit_price),
            tiers=[
                TierType(
                    up_to=t["up_to"],
                    unit_price_fen=str(t["unit_price"]),
                    unit_price_yuan=charges.price_yuan(t["unit_price"]),
                )
                for t in r.tiers or []
            ],
            label=charges.price_label(item, r),
            created_at=r.created_at,
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class FeeItemTermsInput:
    name_zh: str
    name_en: str = ""
    cycle: str = strawberry.field(
        default="monthly", description="monthly | quarterly | yearly | one_off"
    )
    due_day: int = strawberry.field(default=15, description="1-28, of the cycle's last month")
    vacancy_discount_pct: int | None = strawberry.field(
        default=None, description="0-100; per-unit area or fixed items only"
    )
    late_fee_enabled: bool = False
    late_fee_daily_bp: int = strawberry.field(default=5, description="0-1000 basis points/day")
    late_fee_grace_days: int = strawberry.field(default=0, description="0-365")
    late_fee_cap_bp: int = strawberry.field(default=10000, description="0-10000 bp")
    sort: int = 0


@strawberry.input
class CreateFeeItemInput(FeeItemTermsInput):
    code: str = strawberry.field(description="a-z, 0-9, _; unique; fixed once created")
    kind: str
    method: str = strawberry.field(description="area | fixed | metered | one_off")
    target: str = strawberry.field(default="unit", description="unit | parking_space")
    meter_type: str | None = strawberry.field(default=None, description="Metered items only")


@strawberry.input
class UpdateFeeItemInput(FeeItemTermsInput):
    """Replaces the terms (code, kind, target, method and meter type stay)."""

    id: strawberry.ID


@strawberry.input
class SetFeeItemActiveInput:
    id: strawberry.ID
    active: bool


@strawberry.input
class FeeRateTierInput:
    up_to: int | None = strawberry.field(
        description="Whole units of usage in the billed period; null on the last tier"
    )
    unit_price_yuan: str


@strawberry.input
class AddFeeRateInput:
    fee_item_id: strawberry.ID
    effective_from: date
    unit_price_yuan: str | None = strawberry.field(
        default=None, description="元 per unit of the item's method, up to 6 decimals"
    )
    tiers: list[FeeRateTierInput] = strawberry.field(
        default_factory=list, description="Metered items: 2-10 tiers instead of a unit price"
    )
    community_id: strawberry.ID | None = None
    building_id: strawberry.ID | None = None
    property_type: str | None = strawberry.field(
        default=None, description="residential | shop | office | storage"
    )


@strawberry.input
class DeleteFeeRateInput:
    id: strawberry.ID


def _terms(i: FeeItemTermsInput) -> charges.FeeItemTerms:
    return charges.FeeItemTerms(
        name_zh=i.name_zh,
        name_en=i.name_en,
        cycle=i.cycle,
        due_day=i.due_day,
        vacancy_discount_pct=i.vacancy_discount_pct,
        late_fee_enabled=i.late_fee_enabled,
        late_fee_daily_bp=i.late_fee_daily_bp,
        late_fee_grace_days=i.late_fee_grace_days,
        late_fee_cap_bp=i.late_fee_cap_bp,
        sort=i.sort,
    )


def _item_id(global_id: strawberry.ID, field: str = "id") -> int:
    return decode_id(global_id, "FeeItem", field)


# --- API -----------------------------------------------------------------------------------


@strawberry.type
class ChargesQuery:
    @query(VIEW, description="Fee items in display order (active ones unless asked)")
    async def fee_items(
        self, info: strawberry.Info, include_inactive: bool = False
    ) -> list[FeeItemType]:
        found = await charges.list_fee_items(
            info.context.session, include_inactive=include_inactive
        )
        return [FeeItemType.of(i) for i in found]

    @query(
        VIEW,
        description="A fee item's rate history, newest first: tenant-wide rates and those of "
        "my communities (communityId: that community's and the tenant-wide ones)",
    )
    async def fee_rates(
        self,
        info: strawberry.Info,
        fee_item_id: strawberry.ID,
        community_id: strawberry.ID | None = None,
    ) -> list[FeeRateType]:
        ctx = info.context
        item, rates = await charges.list_rates(
            ctx.session,
            await ctx.data_scope(),
            _item_id(fee_item_id, "feeItemId"),
            community_id=optional_id(community_id, "Community", "communityId"),
        )
        return [FeeRateType.of(item, r) for r in rates]


@strawberry.type
class ChargesMutation:
    @mutation(SETTINGS, description="A new fee item (code unique: CONFLICT)")
    async def create_fee_item(
        self, info: strawberry.Info, input: CreateFeeItemInput
    ) -> FeeItemType:
        item = await charges.create_fee_item(
            info.context.session,
            charges.FeeItemData(
                code=input.code,
                kind=input.kind,
                method=input.method,
                target=input.target,
                meter_type=input.meter_type,
                terms=_terms(input),
            ),
        )
        return FeeItemType.of(item)

    @mutation(SETTINGS, description="Change a fee item's terms (for bills generated from now on)")
    async def update_fee_item(
        self, info: strawberry.Info, input: UpdateFeeItemInput
    ) -> FeeItemType:
        item = await charges.update_fee_item(
            info.context.session, _item_id(input.id), _terms(input)
        )
        return FeeItemType.of(item)

    @mutation(SETTINGS, description="Switch a fee item off (no longer billed) or on")
    async def set_fee_item_active(
        self, info: strawberry.Info, input: SetFeeItemActiveInput
    ) -> FeeItemType:
        item = await charges.set_fee_item_active(
            info.context.session, _item_id(input.id), input.active
        )
        return FeeItemType.of(item)

    @mutation(
        SETTINGS,
        description="A new rate from effectiveFrom (rates are never edited: a change is a newer "
        "rate; one may not reach back into a billed period)",
    )
    async def add_fee_rate(self, info: strawberry.Info, input: AddFeeRateInput) -> FeeRateType:
        ctx = info.context
        rate = await charges.add_rate(
            ctx.session,
            scope=await ctx.data_scope(),
            actor_id=(await ctx.user()).id,
            data=charges.RateData(
                fee_item_id=_item_id(input.fee_item_id, "feeItemId"),
                effective_from=input.effective_from,
                unit_price_yuan=input.unit_price_yuan,
                tiers=[charges.TierData(t.up_to, t.unit_price_yuan) for t in input.tiers],
                community_id=optional_id(input.community_id, "Community", "communityId"),
                building_id=optional_id(input.building_id, "Building", "buildingId"),
                property_type=input.property_type,
            ),
        )
        item = await ctx.session.get(FeeItem, rate.fee_item_id)  # loaded already: no SQL
        assert item is not None
        return FeeRateType.of(item, rate)

    @mutation(
        SETTINGS,
        description="Delete a mistaken rate that is not in effect yet and no bill used "
        "(CONFLICT otherwise: add a newer rate)",
    )
    async def delete_fee_rate(self, info: strawberry.Info, input: DeleteFeeRateInput) -> bool:
        ctx = info.context
        await charges.delete_rate(
            ctx.session,
            scope=await ctx.data_scope(),
            rate_id=decode_id(input.id, "FeeRate", "id"),
            today=ctx.tenant.today(),
        )
        return True
