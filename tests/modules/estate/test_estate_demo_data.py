"""The demo tenant of `make dev` gets realistic estate data, once."""

from __future__ import annotations

from conftest import login, make_tenant
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


async def test_demo_data_reads_back_through_the_api(runtime, api):
    """Given the demo data, when the admin lists communities (with their profile) and units
    (with residents), then everything the seed wrote is valid for the API too."""
    tenant = await make_tenant(runtime)
    info = await runtime.directory.by_slug(tenant.slug)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await seed_estate_demo(session=s, tenant=info, runtime=runtime)
        await s.commit()
    token = (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
    body = await api(
        """{ communities { edges { node { name profile { intro serviceItems { name }
               prices { item amountFen unit } contacts { role phone } } } } }
             units(first: 20) { totalCount edges { node { roomNo residents { name } } } } }""",
        tenant=tenant.slug,
        token=token,
    )
    assert "errors" not in body, body
    communities = [e["node"] for e in body["data"]["communities"]["edges"]]
    assert {c["name"] for c in communities} == {"阳光花园", "翠湖名苑"}
    assert all(c["profile"]["prices"][0]["amountFen"] == 280 for c in communities)
    assert body["data"]["units"]["totalCount"] > 900
