"""The demo tenant of `make dev` gets realistic estate data, once."""

from __future__ import annotations

from conftest import make_tenant
from sqlalchemy import func, select

from wuye.identity.models import User
from wuye.identity.service import get_user
from wuye.modules.estate.demo import seed_estate_demo
from wuye.modules.estate.models import (
    Building,
    Community,
    Department,
    Occupancy,
    Person,
    StaffProfile,
    Unit,
)


async def _count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_demo_data_is_realistic_and_seeded_once(runtime):
    # given a fresh tenant
    tenant = await make_tenant(runtime)
    info = await runtime.directory.by_slug(tenant.slug)
    # when the demo seed runs twice
    for _ in range(2):
        async with runtime.db.tenant_session(tenant.schema) as s:
            await seed_estate_demo(session=s, tenant=info, runtime=runtime)
            await s.commit()
    # then there are 2 communities, a dozen buildings, about a thousand units ...
    async with runtime.db.tenant_session(tenant.schema) as s:
        assert await _count(s, Community) == 2
        assert await _count(s, Building) == 12
        assert 900 <= await _count(s, Unit) <= 1200
        # ... lived in by residents, one primary contact per lived-in unit ...
        assert await _count(s, Person) > 1000
        primaries = await s.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.is_primary)
        )
        lived_in = await s.scalar(
            select(func.count()).select_from(Unit).where(Unit.status != "vacant")
        )
        assert primaries == lived_in
        # ... and staff in a department tree, each limited to their own community
        assert await _count(s, Department) >= 4
        profiles = (await s.scalars(select(StaffProfile))).all()
        assert len(profiles) == 8
        for profile in profiles:
            user = await get_user(s, profile.user_id)
            assert user.kind == "staff" and not user.all_communities
        assert await s.scalar(select(func.count()).select_from(User)) == 1 + len(profiles)
