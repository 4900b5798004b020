"""Two staff assigning one parking space at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from conftest import make_tenant
from sqlalchemy import func, select

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.estate import property as estate
from wuye.modules.estate.models import (
    Building,
    Community,
    ParkingAssignment,
    ParkingLot,
    ParkingSpace,
    Unit,
)


async def test_concurrent_assignments_of_one_space_leave_one(runtime):
    # given a space and two units of one community
    tenant = await make_tenant(runtime)
    async with runtime.db.tenant_session(tenant.schema) as s:
        community = Community(name="竞争小区")
        s.add(community)
        await s.flush()
        building = Building(community_id=community.id, name="1号楼", floors=5, entrances=1)
        lot = ParkingLot(community_id=community.id, name="地库")
        s.add_all([building, lot])
        await s.flush()
        units = [
            Unit(
                community_id=community.id,
                building_id=building.id,
                floor=1,
                room_no=f"10{i}",
                building_area=Decimal("80.00"),
            )
            for i in (1, 2)
        ]
        space = ParkingSpace(community_id=community.id, lot_id=lot.id, number="B-001")
        s.add_all([*units, space])
        await s.commit()
        unit_ids, space_id = [u.id for u in units], space.id

    async def assign(unit_id: int) -> str:
        async with runtime.db.tenant_session(tenant.schema) as s:
            try:
                await estate.assign_parking_space(
                    session=s,
                    scope=DataScope(all_communities=True),
                    space_id=space_id,
                    unit_id=unit_id,
                    starts_on=date(2026, 1, 1),
                )
                await asyncio.sleep(0.2)  # hold the transaction open while the other tries
                await s.commit()
                return "assigned"
            except AppError as err:
                return err.code

    # when both assign at once
    outcomes = await asyncio.gather(*(assign(u) for u in unit_ids))

    # then one assignment exists and the other was refused
    assert sorted(outcomes) == ["CONFLICT", "assigned"]
    async with runtime.db.tenant_session(tenant.schema) as s:
        count = await s.scalar(select(func.count()).select_from(ParkingAssignment))
    assert count == 1
