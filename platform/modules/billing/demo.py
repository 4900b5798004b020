"""Demo data for `wuye dev`: fee items with rates, the last two months billed through the
generation service, the demo resident's older month paid at the office and a top-up, and a
few entries in each community's public ledgers.

Runs after the estate and work-order demos (the resident +8613900000002 lives in 阳光花园;
the cashier of 阳光花园 is +8613500000004). Idempotent: nothing happens once the tenant has
fee items.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.billing import funds, generation, settlement
from wuye.modules.billing.models import Bill, BillRun, FeeItem, FeeRate
from wuye.modules.estate.models import Community, Occupancy, Person

RESIDENT_PHONE = "+8613900000002"
CASHIER_PHONE = "+8613500000004"
SINCE = date(2026, 1, 1)

# code, names, kind, target, method, price in fen (per m² per month, or per month)
_ITEMS = (
    ("property", "物业费", "Property management fee", "property", "unit", "area", "280"),
    ("garbage", "垃圾清运费", "Garbage collection", "garbage", "unit", "fixed", "1000"),
    ("parking", "停车费", "Parking", "parking", "parking_space", "fixed", "30000"),
)
# public ledgers of each community: fund, direction, category, 元, description
_FUNDS = (
    ("maintenance", "income", "业主缴存", 1_250_000, "首期专项维修基金缴存"),
    ("maintenance", "expense", "电梯大修", 86_000, "3号楼电梯曳引机更换"),
    ("public_income", "income", "广告", 24_000, "电梯间广告位（上半年）"),
    ("public_income", "income", "停车", 18_600, "临时停车收入"),
    ("public_income", "expense", "公共维修", 5_200, "小区大门道闸维修"),
)


async def seed_billing_demo(*, session: AsyncSession, tenant: Any, runtime: Any) -> None:
    if await session.scalar(select(FeeItem.id).limit(1)) is not None:
        return
    await _fee_items(session)
    for period in _last_two_months(tenant.time_zone):
        run = BillRun(period=period, status="queued", scheduled=True)
        session.add(run)
        await session.flush()
        await generation.lock_generation(session)
        await generation.execute(session, run)
    cashier = await session.scalar(select(User).where(User.phone == CASHIER_PHONE))
    if cashier is None:
        return
    staff = settlement.Actor(
        user_id=cashier.id,
        is_staff=True,
        permissions=frozenset({"*"}),
        scope=DataScope(all_communities=True),
        name=cashier.name,
    )
    await _resident_pays_the_older_month(session, runtime, tenant, staff)
    await _public_ledgers(session, cashier.id)


async def _fee_items(session: AsyncSession) -> None:
    for sort, (code, zh, en, kind, target, method, price) in enumerate(_ITEMS):
        item = FeeItem(
            code=code,
            name_zh=zh,
            name_en=en,
            kind=kind,
            target=target,
            method=method,
            due_day=15,
            sort=sort,
        )
        session.add(item)
        await session.flush()
        session.add(FeeRate(fee_item_id=item.id, effective_from=SINCE, unit_price=Decimal(price)))
    await session.flush()


def _last_two_months(zone: str) -> list[str]:
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    months = []
    year, month = today.year, today.month
    for _ in range(2):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(f"{year:04d}-{month:02d}")
    return sorted(months)


async def _resident_pays_the_older_month(
    session: AsyncSession, runtime: Any, tenant: Any, cashier: settlement.Actor
) -> None:
    unit_id = await session.scalar(
        select(Occupancy.unit_id)
        .join(Person, Person.id == Occupancy.person_id)
        .join(User, User.id == Person.user_id)
        .where(User.phone == RESIDENT_PHONE, Occupancy.move_out_on.is_(None))
        .limit(1)
    )
    if unit_id is None:
        return
    bills = list(
        await session.scalars(
            select(Bill).where(Bill.unit_id == unit_id).order_by(Bill.period, Bill.id)
        )
    )
    older = [b for b in bills if b.period == bills[0].period] if bills else []
    if older:
        await settlement.record_payment(
            session,
            runtime,
            tenant,
            cashier,
            bill_ids=[b.id for b in older],
            method="cash",
            amount_fen=sum(settlement.outstanding(b) for b in older),
            client_request_id="demo-resident-older-month",
            payer_name="演示住户",
        )
    await settlement.top_up(
        session,
        runtime,
        tenant,
        cashier,
        unit_id=unit_id,
        amount_fen=50_000,
        method="transfer",
        client_request_id="demo-resident-top-up",
        payer_name="演示住户",
    )


async def _public_ledgers(session: AsyncSession, actor_id: int) -> None:
    everywhere = DataScope(all_communities=True)
    for community_id in await session.scalars(select(Community.id).order_by(Community.id)):
        for n, (fund, direction, category, amount_yuan, description) in enumerate(_FUNDS):
            await funds.record(
                session,
                funds.NewEntry(
                    community_id=community_id,
                    fund=fund,
                    direction=direction,
                    category=category,
                    amount_fen=amount_yuan * 100,
                    occurred_on=date(2026, 1 + n * 2, 10),
                    description=description,
                ),
                scope=everywhere,
                actor_id=actor_id,
            )
