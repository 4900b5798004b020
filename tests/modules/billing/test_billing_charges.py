"""Fee items and rates: CRUD and every validation, who may, the rate history (append-only,
never reaching back into billed periods), scopes stored as the most specific one, prices in
元 converted exactly, deleting a rate not yet in effect, and tenant isolation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from billing_kit import Office, add_bill, add_fee_item, make_office
from kit import add_staff, codes, ok
from sqlalchemy import select

from wuye.graphql.ids import decode_id, encode_id
from wuye.modules.billing import charges
from wuye.modules.billing.models import FeeItem, FeeRate
from wuye.runtime import Runtime

ITEM = """id code nameZh nameEn kind target method cycle meterType dueDay vacancyDiscountPct
  lateFeeEnabled lateFeeDailyBp lateFeeGraceDays lateFeeCapBp active sort priceUnit"""
CREATE = f"mutation($i: CreateFeeItemInput!) {{ createFeeItem(input: $i) {{ {ITEM} }} }}"
UPDATE = f"mutation($i: UpdateFeeItemInput!) {{ updateFeeItem(input: $i) {{ {ITEM} }} }}"
SET_ACTIVE = "mutation($i: SetFeeItemActiveInput!) { setFeeItemActive(input: $i) { id active } }"
ITEMS = f"query($all: Boolean!) {{ feeItems(includeInactive: $all) {{ {ITEM} }} }}"
RATE = """id feeItemId communityId buildingId propertyType effectiveFrom unitPriceFen
  unitPriceYuan label tiers { upTo unitPriceFen unitPriceYuan }"""
ADD_RATE = f"mutation($i: AddFeeRateInput!) {{ addFeeRate(input: $i) {{ {RATE} }} }}"
DELETE_RATE = "mutation($i: DeleteFeeRateInput!) { deleteFeeRate(input: $i) }"
RATES = f"""query($item: ID!, $c: ID) {{ feeRates(feeItemId: $item, communityId: $c) {{
  {RATE} }} }}"""


async def call(api: Any, office: Office, who: Any, doc: str, variables: dict[str, Any]) -> Any:
    return await api(doc, variables, tenant=office.tenant.slug, token=who.token)


def error(body: dict[str, Any]) -> tuple[str, str | None]:
    ext = body["errors"][0]["extensions"]
    return ext["code"], ext.get("field")


def item_input(**over: Any) -> dict[str, Any]:
    base = {"code": "property", "nameZh": "物业费", "kind": "property", "method": "area"}
    return {**base, **over}


async def create(api: Any, office: Office, **over: Any) -> dict[str, Any]:
    body = await call(api, office, office.manager, CREATE, {"i": item_input(**over)})
    return ok(body)["createFeeItem"]  # type: ignore[no-any-return]


async def add_rate(api: Any, office: Office, **fields: Any) -> dict[str, Any]:
    return await call(api, office, office.manager, ADD_RATE, {"i": fields})  # type: ignore[no-any-return]


# --- fee items -----------------------------------------------------------------------------


async def test_fee_items_are_created_listed_changed_and_switched_off(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office, nameEn="Property fee", dueDay=10, vacancyDiscountPct=50)
    assert item["code"] == "property" and item["cycle"] == "monthly"
    assert item["dueDay"] == 10 and item["vacancyDiscountPct"] == 50
    assert item["lateFeeEnabled"] is False and item["lateFeeDailyBp"] == 5  # off by default
    assert item["priceUnit"] == "元/m²/月" and item["meterType"] is None

    water = await create(
        api, office, code="water", nameZh="水费", kind="water", method="metered", meterType="water"
    )
    assert water["priceUnit"] == "元/吨"
    space = await create(
        api,
        office,
        code="parking",
        nameZh="停车费",
        kind="parking",
        method="fixed",
        target="parking_space",
        sort=-1,
    )
    assert space["priceUnit"] == "元/车位/月"

    listed = ok(await call(api, office, office.cashier, ITEMS, {"all": False}))["feeItems"]
    assert [i["code"] for i in listed] == ["parking", "property", "water"]  # by sort, then id

    changed = ok(
        await call(
            api,
            office,
            office.manager,
            UPDATE,
            {
                "i": {
                    "id": item["id"],
                    "nameZh": "物业服务费",
                    "cycle": "quarterly",
                    "dueDay": 28,
                    "lateFeeEnabled": True,
                    "lateFeeDailyBp": 3,
                    "lateFeeGraceDays": 15,
                    "lateFeeCapBp": 3000,
                }
            },
        )
    )["updateFeeItem"]
    assert changed["nameZh"] == "物业服务费" and changed["cycle"] == "quarterly"
    assert (changed["lateFeeDailyBp"], changed["lateFeeGraceDays"], changed["lateFeeCapBp"]) == (
        3,
        15,
        3000,
    )
    assert changed["code"] == "property" and changed["method"] == "area"  # fixed parts stay
    assert changed["vacancyDiscountPct"] is None  # update replaces every term

    off = await call(
        api, office, office.manager, SET_ACTIVE, {"i": {"id": water["id"], "active": False}}
    )
    assert ok(off)["setFeeItemActive"]["active"] is False
    active = ok(await call(api, office, office.manager, ITEMS, {"all": False}))["feeItems"]
    assert "water" not in [i["code"] for i in active]
    every = ok(await call(api, office, office.manager, ITEMS, {"all": True}))["feeItems"]
    assert "water" in [i["code"] for i in every]


async def test_a_code_is_unique(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    await create(api, office)
    body = await call(api, office, office.manager, CREATE, {"i": item_input(code=" Property ")})
    assert error(body) == ("CONFLICT", "code")


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"code": "9lives"}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "x" * 31}, "code"),
        ({"nameZh": "  "}, "nameZh"),
        ({"nameZh": "费" * 61}, "nameZh"),
        ({"kind": "tea"}, "kind"),
        ({"target": "car"}, "target"),
        ({"method": "hourly"}, "method"),
        ({"cycle": "weekly"}, "cycle"),
        ({"method": "metered"}, "meterType"),  # a metered item needs a meter
        ({"method": "metered", "meterType": "steam"}, "meterType"),
        ({"meterType": "water"}, "meterType"),  # only metered items have one
        ({"method": "metered", "meterType": "water", "target": "parking_space"}, "target"),
        ({"target": "parking_space"}, "method"),  # spaces: fixed or one-off only
        ({"method": "one_off"}, "cycle"),  # one-off goes with the one-off cycle
        ({"cycle": "one_off"}, "cycle"),
        ({"dueDay": 0}, "dueDay"),
        ({"dueDay": 29}, "dueDay"),
        ({"vacancyDiscountPct": 101}, "vacancyDiscountPct"),
        ({"vacancyDiscountPct": -1}, "vacancyDiscountPct"),
        (
            {"method": "metered", "meterType": "water", "vacancyDiscountPct": 10},
            "vacancyDiscountPct",
        ),
        ({"lateFeeDailyBp": -1}, "lateFeeDailyBp"),
        ({"lateFeeDailyBp": 1001}, "lateFeeDailyBp"),
        ({"lateFeeGraceDays": 366}, "lateFeeGraceDays"),
        ({"lateFeeCapBp": 10001}, "lateFeeCapBp"),
        ({"lateFeeEnabled": True, "lateFeeDailyBp": 0}, "lateFeeDailyBp"),
        ({"lateFeeEnabled": True, "lateFeeCapBp": 0}, "lateFeeCapBp"),
        ({"sort": 10_000_000}, "sort"),
    ],
)
async def test_fee_item_validation(api, runtime: Runtime, over: dict[str, Any], field: str) -> None:
    office = await make_office(api, runtime)
    body = await call(api, office, office.manager, CREATE, {"i": item_input(**over)})
    assert error(body) == ("VALIDATION_FAILED", field)
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        assert (await s.scalars(select(FeeItem))).all() == []


async def test_one_off_and_parking_combinations_that_are_allowed(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    deposit = await create(
        api,
        office,
        code="deposit",
        nameZh="装修押金",
        kind="custom",
        method="one_off",
        cycle="one_off",
    )
    assert deposit["priceUnit"] == "元/次"
    space = await create(
        api,
        office,
        code="space_once",
        nameZh="车位管理费",
        kind="parking",
        method="one_off",
        cycle="one_off",
        target="parking_space",
    )
    assert space["target"] == "parking_space"
    # the update checks the terms against the fixed part too
    body = await call(
        api,
        office,
        office.manager,
        UPDATE,
        {"i": {"id": deposit["id"], "nameZh": "装修押金", "cycle": "monthly"}},
    )
    assert error(body) == ("VALIDATION_FAILED", "cycle")


async def test_only_settings_managers_change_items_and_viewers_read(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office)
    for who in (office.cashier, office.resident):
        for doc, variables in (
            (CREATE, {"i": item_input(code="other")}),
            (UPDATE, {"i": {"id": item["id"], "nameZh": "x"}}),
            (SET_ACTIVE, {"i": {"id": item["id"], "active": False}}),
            (
                ADD_RATE,
                {
                    "i": {
                        "feeItemId": item["id"],
                        "effectiveFrom": "2026-01-01",
                        "unitPriceYuan": "1",
                    }
                },
            ),
        ):
            assert codes(await call(api, office, who, doc, variables)) == ["FORBIDDEN"]
    # the cashier reads (billing.view); a resident does not
    assert ok(await call(api, office, office.cashier, ITEMS, {"all": True}))["feeItems"]
    assert codes(await call(api, office, office.resident, ITEMS, {"all": True})) == ["FORBIDDEN"]
    assert codes(await call(api, office, office.resident, RATES, {"item": item["id"]})) == [
        "FORBIDDEN"
    ]


# --- rates ---------------------------------------------------------------------------------


async def test_prices_in_yuan_are_stored_exactly_in_fen(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office)
    rate = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom="2026-01-01", unitPriceYuan="2.80"
        )
    )["addFeeRate"]
    assert rate["unitPriceFen"] == "280" and rate["unitPriceYuan"] == "2.80"
    assert rate["label"] == "2.80 元/m²/月"
    assert rate["communityId"] is None and rate["tiers"] == []
    fine = ok(
        await add_rate(
            api,
            office,
            feeItemId=item["id"],
            effectiveFrom="2026-02-01",
            unitPriceYuan="0.123456",
        )
    )["addFeeRate"]
    assert fine["unitPriceFen"] == "12.3456" and fine["unitPriceYuan"] == "0.123456"
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        stored = await s.get(FeeRate, decode_id(fine["id"], "FeeRate"))
        assert stored is not None and stored.unit_price == Decimal("12.3456")
        assert stored.created_by == office.manager.user_id
    for bad in ("2.8000001", "-1", "1e3", "abc", "", "10000000", " ", "0x10", "2,80"):
        body = await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom="2026-03-01", unitPriceYuan=bad
        )
        assert error(body) == ("VALIDATION_FAILED", "unitPriceYuan"), bad
    # a price is required (without tiers)
    body = await add_rate(api, office, feeItemId=item["id"], effectiveFrom="2026-03-01")
    assert error(body) == ("VALIDATION_FAILED", "unitPriceYuan")


async def test_tiered_metered_rates(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    water = await create(
        api, office, code="water", nameZh="水费", kind="water", method="metered", meterType="water"
    )
    tiers = [
        {"upTo": 180, "unitPriceYuan": "4.96"},
        {"upTo": 260, "unitPriceYuan": "6.2"},
        {"upTo": None, "unitPriceYuan": "9.785"},
    ]
    rate = ok(
        await add_rate(api, office, feeItemId=water["id"], effectiveFrom="2026-01-01", tiers=tiers)
    )["addFeeRate"]
    assert rate["tiers"] == [
        {"upTo": 180, "unitPriceFen": "496", "unitPriceYuan": "4.96"},
        {"upTo": 260, "unitPriceFen": "620", "unitPriceYuan": "6.20"},
        {"upTo": None, "unitPriceFen": "978.5", "unitPriceYuan": "9.785"},
    ]
    assert rate["unitPriceFen"] == "496"  # the first tier's
    assert rate["label"] == "0-180: 4.96 元/吨; 180-260: 6.20 元/吨; 260以上: 9.785 元/吨"
    async with runtime.db.tenant_session(office.tenant.schema) as s:
        stored = await s.get(FeeRate, decode_id(rate["id"], "FeeRate"))
        assert stored is not None
        assert stored.tiers[0] == {"up_to": 180, "unit_price": "496"}
        assert stored.tiers[2] == {"up_to": None, "unit_price": "978.5"}

    bad_tiers = [
        [{"upTo": None, "unitPriceYuan": "1"}],  # one tier: use a unit price
        [{"upTo": 100, "unitPriceYuan": "1"}, {"upTo": 200, "unitPriceYuan": "2"}],  # not open
        [{"upTo": None, "unitPriceYuan": "1"}, {"upTo": None, "unitPriceYuan": "2"}],
        [
            {"upTo": 200, "unitPriceYuan": "1"},
            {"upTo": 100, "unitPriceYuan": "2"},
            {"upTo": None, "unitPriceYuan": "3"},
        ],  # not ascending
        [{"upTo": 0, "unitPriceYuan": "1"}, {"upTo": None, "unitPriceYuan": "2"}],
        [{"upTo": 10, "unitPriceYuan": "-1"}, {"upTo": None, "unitPriceYuan": "2"}],
    ]
    for bad in bad_tiers:
        body = await add_rate(
            api, office, feeItemId=water["id"], effectiveFrom="2026-02-01", tiers=bad
        )
        assert error(body) == ("VALIDATION_FAILED", "tiers"), bad
    both = await add_rate(
        api,
        office,
        feeItemId=water["id"],
        effectiveFrom="2026-02-01",
        tiers=tiers,
        unitPriceYuan="1",
    )
    assert error(both) == ("VALIDATION_FAILED", "unitPriceYuan")
    # tiers are for metered items only
    area = await create(api, office)
    body = await add_rate(
        api, office, feeItemId=area["id"], effectiveFrom="2026-01-01", tiers=tiers
    )
    assert error(body) == ("VALIDATION_FAILED", "tiers")


async def test_rate_scopes_are_stored_most_specific(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    ids = office.place.ids
    item = await create(api, office)
    base = {"feeItemId": item["id"], "effectiveFrom": "2026-01-01", "unitPriceYuan": "2.50"}
    # a building's rate carries its community, so SQL finds it by either
    by_building = ok(await add_rate(api, office, **base, buildingId=office.place.gid("A/1")))
    assert by_building["addFeeRate"]["buildingId"] == office.place.gid("A/1")
    assert by_building["addFeeRate"]["communityId"] == office.place.gid("A")
    both = ok(
        await add_rate(
            api,
            office,
            **{**base, "effectiveFrom": "2026-02-01"},
            communityId=office.place.gid("A"),
            buildingId=office.place.gid("A/1"),
            propertyType="shop",
        )
    )["addFeeRate"]
    assert both["propertyType"] == "shop"
    community = ok(await add_rate(api, office, **base, communityId=office.place.gid("B")))
    assert community["addFeeRate"]["buildingId"] is None
    typed = ok(await add_rate(api, office, **base, propertyType="Shop"))["addFeeRate"]
    assert typed["propertyType"] == "shop" and typed["communityId"] is None

    # the building must be in the community
    body = await add_rate(
        api, office, **base, communityId=office.place.gid("B"), buildingId=office.place.gid("A/1")
    )
    assert error(body) == ("VALIDATION_FAILED", "buildingId")
    body = await add_rate(api, office, **base, propertyType="castle")
    assert error(body) == ("VALIDATION_FAILED", "propertyType")
    body = await add_rate(api, office, **base, communityId=encode_id("Community", 999_999))
    assert error(body) == ("NOT_FOUND", "communityId")
    body = await add_rate(api, office, **base, buildingId=encode_id("Building", 999_999))
    assert error(body) == ("NOT_FOUND", "buildingId")
    body = await add_rate(api, office, **{**base, "feeItemId": encode_id("FeeItem", 999_999)})
    assert error(body) == ("NOT_FOUND", "feeItemId")
    # the same scope twice from the same day: CONFLICT
    body = await add_rate(api, office, **base, communityId=office.place.gid("B"))
    assert error(body) == ("CONFLICT", "effectiveFrom")

    async with runtime.db.tenant_session(office.tenant.schema) as s:
        rows = (await s.scalars(select(FeeRate).order_by(FeeRate.id))).all()
        assert [(r.community_id, r.building_id, r.property_type) for r in rows] == [
            (ids["A"], ids["A/1"], None),
            (ids["A"], ids["A/1"], "shop"),
            (ids["B"], None, None),
            (None, None, "shop"),
        ]

    # parking-space items are priced per tenant or community only
    space = await create(
        api,
        office,
        code="parking",
        nameZh="停车费",
        kind="parking",
        method="fixed",
        target="parking_space",
    )
    sb = {**base, "feeItemId": space["id"]}
    body = await add_rate(api, office, **sb, buildingId=office.place.gid("A/1"))
    assert error(body) == ("VALIDATION_FAILED", "buildingId")
    body = await add_rate(api, office, **sb, propertyType="shop")
    assert error(body) == ("VALIDATION_FAILED", "propertyType")
    assert ok(await add_rate(api, office, **sb, communityId=office.place.gid("A")))


async def test_rate_history_is_append_only(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office)
    first = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom="2025-01-01", unitPriceYuan="2.50"
        )
    )["addFeeRate"]
    ok(
        await add_rate(
            api,
            office,
            feeItemId=item["id"],
            effectiveFrom="2025-07-01",
            unitPriceYuan="2.80",
            communityId=office.place.gid("A"),
        )
    )
    # bills up to October 2026 exist for A/1/101
    item_id = decode_id(item["id"], "FeeItem")
    bill_id = await add_bill(
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/101"],
        fee_item_id=item_id,
        amount_fen=25060,
    )
    # a later rate is added; nothing earlier changes
    later = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom="2026-11-01", unitPriceYuan="3.00"
        )
    )["addFeeRate"]
    history = ok(await call(api, office, office.cashier, RATES, {"item": item["id"]}))["feeRates"]
    assert [(r["effectiveFrom"], r["unitPriceYuan"]) for r in history] == [
        ("2026-11-01", "3.00"),
        ("2025-07-01", "2.80"),
        ("2025-01-01", "2.50"),
    ]
    assert history[-1] == first
    from wuye.modules.billing.models import Bill

    async with runtime.db.tenant_session(office.tenant.schema) as s:
        bill = await s.get(Bill, bill_id)
        assert bill is not None and bill.amount_fen == 25060

    # a rate cannot reach back into the billed period in its scope
    for scope in (
        {},
        {"communityId": office.place.gid("A")},
        {"buildingId": office.place.gid("A/1")},
    ):
        body = await add_rate(
            api,
            office,
            feeItemId=item["id"],
            effectiveFrom="2026-10-15",
            unitPriceYuan="9.99",
            **scope,
        )
        assert error(body) == ("VALIDATION_FAILED", "effectiveFrom"), scope
    # ... but community B (nothing billed there) and shops (A/1/101 is residential) may
    ok(
        await add_rate(
            api,
            office,
            feeItemId=item["id"],
            effectiveFrom="2026-10-15",
            unitPriceYuan="1.50",
            communityId=office.place.gid("B"),
        )
    )
    ok(
        await add_rate(
            api,
            office,
            feeItemId=item["id"],
            effectiveFrom="2026-10-15",
            unitPriceYuan="8.00",
            propertyType="shop",
        )
    )
    # filtering by community: its own and the tenant-wide ones
    in_b = ok(
        await call(
            api, office, office.cashier, RATES, {"item": item["id"], "c": office.place.gid("B")}
        )
    )["feeRates"]
    assert {r["unitPriceYuan"] for r in in_b} == {"1.50", "8.00", "3.00", "2.50"}
    assert later["id"] in [r["id"] for r in in_b]


async def test_only_a_rate_not_yet_in_effect_and_unused_can_be_deleted(
    api, runtime: Runtime
) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office)
    today = date.today()
    future = (today + timedelta(days=40)).isoformat()
    past = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom="2025-01-01", unitPriceYuan="2.50"
        )
    )["addFeeRate"]
    typo = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom=future, unitPriceYuan="28.00"
        )
    )["addFeeRate"]
    body = await call(api, office, office.manager, DELETE_RATE, {"i": {"id": past["id"]}})
    assert error(body) == ("CONFLICT", "id")
    assert codes(
        await call(api, office, office.cashier, DELETE_RATE, {"i": {"id": typo["id"]}})
    ) == ["FORBIDDEN"]
    done = await call(api, office, office.manager, DELETE_RATE, {"i": {"id": typo["id"]}})
    assert ok(done)["deleteFeeRate"] is True
    history = ok(await call(api, office, office.manager, RATES, {"item": item["id"]}))["feeRates"]
    assert [r["id"] for r in history] == [past["id"]]
    body = await call(api, office, office.manager, DELETE_RATE, {"i": {"id": typo["id"]}})
    assert error(body) == ("NOT_FOUND", "id")

    # a future rate some bill already used (a period billed ahead) stays
    ahead = ok(
        await add_rate(
            api, office, feeItemId=item["id"], effectiveFrom=future, unitPriceYuan="2.90"
        )
    )["addFeeRate"]
    month = date.fromisoformat(future) + timedelta(days=40)
    await add_bill(
        runtime,
        office.tenant,
        unit_id=office.place.ids["A/1/101"],
        fee_item_id=decode_id(item["id"], "FeeItem"),
        amount_fen=100,
        period=f"{month.year}-{month.month:02d}",
        due_on=month,
    )
    body = await call(api, office, office.manager, DELETE_RATE, {"i": {"id": ahead["id"]}})
    assert error(body) == ("CONFLICT", "id")


async def test_staff_limited_to_communities_set_rates_for_them_only(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    item = await create(api, office)
    b_manager = await add_staff(
        api,
        runtime,
        office.tenant,
        roles=("manager",),
        communities=(office.place.ids["B"],),
        all_communities=False,
    )
    base = {"feeItemId": item["id"], "effectiveFrom": "2026-01-01", "unitPriceYuan": "2.00"}

    async def as_b(**scope: Any) -> Any:
        return await call(api, office, b_manager, ADD_RATE, {"i": {**base, **scope}})

    assert ok(await as_b(communityId=office.place.gid("B")))
    assert error(await as_b(communityId=office.place.gid("A"))) == ("NOT_FOUND", "communityId")
    assert error(await as_b(buildingId=office.place.gid("A/1"))) == ("NOT_FOUND", "buildingId")
    assert codes(await as_b()) == ["FORBIDDEN"]  # tenant-wide: every community needed
    # the manager of everything adds A's rate; B's manager does not see it
    ok(await add_rate(api, office, **base, communityId=office.place.gid("A")))
    seen = ok(await call(api, office, b_manager, RATES, {"item": item["id"]}))["feeRates"]
    assert [r["communityId"] for r in seen] == [office.place.gid("B")]


async def test_another_tenant_cannot_touch_the_items(api, runtime: Runtime) -> None:
    office = await make_office(api, runtime)
    other = await make_office(api, runtime)
    item = await create(api, office)
    # B's manager, in B's tenant, with A's ids: nothing there
    for doc, variables in (
        (UPDATE, {"i": {"id": item["id"], "nameZh": "x"}}),
        (SET_ACTIVE, {"i": {"id": item["id"], "active": False}}),
        (
            ADD_RATE,
            {"i": {"feeItemId": item["id"], "effectiveFrom": "2026-01-01", "unitPriceYuan": "1"}},
        ),
        (RATES, {"item": item["id"]}),
    ):
        body = await call(api, other, other.manager, doc, variables)
        assert codes(body) == ["NOT_FOUND"], doc
    # B's token in A's tenant: refused (the token is for another tenant)
    body = await api(ITEMS, {"all": True}, tenant=office.tenant.slug, token=other.manager.token)
    assert codes(body) and codes(body) != [None]
    assert "data" not in body or not body.get("data")
    # A's item is unchanged
    listed = ok(await call(api, office, office.manager, ITEMS, {"all": True}))["feeItems"]
    assert [(i["nameZh"], i["active"]) for i in listed] == [("物业费", True)]


def test_money_helpers_are_exact() -> None:
    assert charges.parse_price_yuan("2.80", "f") == Decimal("280")
    assert charges.parse_price_yuan("0.000001", "f") == Decimal("0.0001")
    assert charges.price_yuan(Decimal("280.0000")) == "2.80"
    assert charges.price_yuan(Decimal("0")) == "0.00"
    assert charges.price_yuan("978.5") == "9.785"
    assert charges.price_yuan(Decimal("12345678.9")) == "123456.789"
    assert charges.fen_text(Decimal("496.0000")) == "496"
    assert charges.fen_text(Decimal("0.0100")) == "0.01"


async def test_kit_items_keep_working(api, runtime: Runtime) -> None:
    """Items written by the kit (without the service) are listed like any other."""
    office = await make_office(api, runtime)
    await add_fee_item(runtime, office.tenant, code="kit_item")
    listed = ok(await call(api, office, office.cashier, ITEMS, {"all": False}))["feeItems"]
    assert [i["code"] for i in listed] == ["kit_item"]
    rates = ok(await call(api, office, office.cashier, RATES, {"item": listed[0]["id"]}))[
        "feeRates"
    ]
    assert [r["label"] for r in rates] == ["2.80 元/m²/月"]
