"""Helpers for the billing tests: a tenant with billing on, a small estate, a resident and
a neighbour, a cashier and a manager, fee items and rates, and bills written directly (for
tests whose point is not generation)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from conftest import Api, TenantFixture, make_tenant
from kit import Place, Resident, add_resident, add_staff, make_place, set_module_config
from sqlalchemy import func, select

from wuye.graphql.ids import encode_id
from wuye.identity.scope import DataScope
from wuye.modules.billing import ledger, settlement
from wuye.modules.billing.ledger import Line
from wuye.modules.billing.models import Bill, FeeItem, FeeRate
from wuye.modules.estate.models import Unit
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo, zone_named


@dataclass
class Office:
    tenant: TenantFixture
    place: Place
    resident: Resident  # lives in A/1/101
    neighbour: Resident  # lives in A/1/102
    cashier: Resident
    manager: Resident


async def billing_tenant(runtime: Runtime) -> TenantFixture:
    return await make_tenant(runtime, modules=("billing",))


async def make_office(api: Api, runtime: Runtime, tenant: TenantFixture | None = None) -> Office:
    tenant = tenant or await billing_tenant(runtime)
    place = await make_place(
        runtime,
        tenant,
        {"A": {"1": ["101", "102", "103"]}, "B": {"9": ["901"]}},
        area=Decimal("89.50"),
    )
    resident = await add_resident(api, runtime, tenant, place.ids["A/1/101"], name="李雷")
    neighbour = await add_resident(api, runtime, tenant, place.ids["A/1/102"], name="韩梅梅")
    cashier = await add_staff(api, runtime, tenant, roles=("cashier",))
    manager = await add_staff(api, runtime, tenant, roles=("manager",))
    return Office(tenant, place, resident, neighbour, cashier, manager)


async def add_fee_item(runtime: Runtime, tenant: TenantFixture, **fields: Any) -> int:
    """A fee item (default: 物业费 by area, monthly) with one tenant-wide rate
    (``unit_price`` in fen, default 280 = 2.80 元/m²/月, from 2020-01-01)."""
    price = Decimal(str(fields.pop("unit_price", "280")))
    tiers = fields.pop("tiers", [])
    fields.setdefault("code", f"fee{secrets.token_hex(3)}")
    fields.setdefault("name_zh", "物业费")
    fields.setdefault("kind", "property")
    fields.setdefault("method", "area")
    async with runtime.db.tenant_session(tenant.schema) as s:
        item = FeeItem(**fields)
        s.add(item)
        await s.flush()
        s.add(
            FeeRate(
                fee_item_id=item.id,
                effective_from=date(2020, 1, 1),
                unit_price=price,
                tiers=tiers,
            )
        )
        await s.commit()
        return item.id


async def add_bill(
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    unit_id: int,
    fee_item_id: int,
    amount_fen: int,
    period: str = "2026-10",
    due_on: date = date(2026, 11, 15),
    community_id: int | None = None,
) -> int:
    """An unpaid bill written directly (tests of paying, reminding, arrears)."""
    year, month = (int(x) for x in period.split("-"))
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1).replace(day=1)
    async with runtime.db.tenant_session(tenant.schema) as s:
        if community_id is None:
            unit = await s.get(Unit, unit_id)
            assert unit is not None
            community_id = unit.community_id
        bill = Bill(
            fee_item_id=fee_item_id,
            target_key=f"u:{unit_id}",
            unit_id=unit_id,
            community_id=community_id,
            period=period,
            period_start=start,
            period_end=end - timedelta(days=1),
            due_on=due_on,
            amount_fen=amount_fen,
            calc=f"{amount_fen / 100:.2f} 元",
        )
        s.add(bill)
        await s.commit()
        return bill.id


# --- settlement helpers ---------------------------------------------------------------


async def posted_bill(runtime: Runtime, tenant: TenantFixture, **kw: Any) -> int:
    """``add_bill`` plus its ledger entry (debit receivable / credit income), as generation
    posts it, so the receivable invariant holds."""
    bill_id = await add_bill(runtime, tenant, **kw)
    async with runtime.db.tenant_session(tenant.schema) as s:
        bill = await s.get(Bill, bill_id)
        assert bill is not None
        where = {"unit_id": bill.unit_id, "community_id": bill.community_id}
        await ledger.post(
            s,
            kind="bill",
            ref_type="bill",
            ref_id=bill.id,
            lines=[
                Line("receivable", debit=bill.amount_fen, bill_id=bill.id, **where),
                Line("income:test", credit=bill.amount_fen, bill_id=bill.id, **where),
            ],
        )
        await s.commit()
    return bill_id


async def check_ledger(runtime: Runtime, tenant: TenantFixture) -> None:
    """No unbalanced entry, and each unit's receivable balance equals its bills'
    outstanding total."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        assert await ledger.unbalanced_entries(s) == []
        owed = dict(
            (
                await s.execute(
                    select(Bill.unit_id, func.sum(settlement.outstanding_sql())).group_by(
                        Bill.unit_id
                    )
                )
            ).all()
        )
        booked = dict(
            (
                await s.execute(
                    select(
                        ledger.LedgerLine.unit_id,
                        func.sum(ledger.LedgerLine.debit_fen - ledger.LedgerLine.credit_fen),
                    )
                    .where(ledger.LedgerLine.account == "receivable")
                    .group_by(ledger.LedgerLine.unit_id)
                )
            ).all()
        )
        assert {u: int(v) for u, v in owed.items() if v} == {
            u: int(v) for u, v in booked.items() if v
        }


async def set_billing(runtime: Runtime, tenant: TenantFixture, config: dict[str, Any]) -> None:
    await set_module_config(runtime, tenant, "billing", config)


async def info_of(runtime: Runtime, tenant: TenantFixture) -> TenantInfo:
    found = await runtime.directory.by_slug(tenant.slug)
    assert found is not None
    return found


def cashier_actor(office: Office) -> settlement.Actor:
    return settlement.Actor(
        office.cashier.user_id,
        True,
        frozenset({"billing.view", "billing.collect"}),
        DataScope(True),
    )


async def bills(runtime: Runtime, tenant: TenantFixture, ids: list[int]) -> dict[int, Bill]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return {b.id: b for b in await s.scalars(select(Bill).where(Bill.id.in_(ids)))}


def bid(pk: int) -> str:
    return encode_id("Bill", pk)


def today_in(zone: str | None) -> date:
    """Today in ``zone`` (a tenant's; None: the default, Asia/Shanghai)."""
    return datetime.now(UTC).astimezone(zone_named(zone)).date()
