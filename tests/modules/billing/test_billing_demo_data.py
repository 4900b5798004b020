"""The demo tenant gets fee items, two months of bills, the demo resident's payment and
top-up, and public ledgers, once; and its ledger balances."""

from __future__ import annotations

from billing_kit import check_ledger
from conftest import make_tenant
from sqlalchemy import func, select

from wuye.identity import service as identity
from wuye.modules.billing import demo
from wuye.modules.billing.demo import seed_billing_demo
from wuye.modules.billing.models import Bill, FeeItem, FundEntry, Payment
from wuye.modules.estate.demo import seed_estate_demo
from wuye.modules.workorders.demo import seed_workorders_demo
from wuye.runtime import Runtime


async def _counts(runtime: Runtime, schema: str) -> dict[str, int]:
    async with runtime.db.tenant_session(schema) as s:
        return {
            model.__name__: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (FeeItem, Bill, Payment, FundEntry)
        }


async def test_demo_billing_is_seeded_once(runtime: Runtime) -> None:
    tenant = await make_tenant(runtime, modules=("billing", "workorders"))
    info = await runtime.directory.by_slug(tenant.slug)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await identity.create_user(
            s, kind="resident", name="演示住户", phone=demo.RESIDENT_PHONE, role_keys=["resident"]
        )
        await seed_estate_demo(session=s, tenant=info, runtime=runtime)
        await seed_workorders_demo(session=s, tenant=info, runtime=runtime)  # the home
        await s.commit()
    seen = []
    for _ in range(2):
        async with runtime.db.tenant_session(tenant.schema) as s:
            await seed_billing_demo(session=s, tenant=info, runtime=runtime)
            await s.commit()
        seen.append(await _counts(runtime, tenant.schema))
    assert seen[0] == seen[1]
    assert seen[0]["FeeItem"] == 3 and seen[0]["Bill"] > 1000
    assert seen[0]["Payment"] == 2  # the resident's older month, and a top-up
    async with runtime.db.tenant_session(tenant.schema) as s:
        periods = set(await s.scalars(select(Bill.period)))
        paid = await s.scalar(select(func.count()).where(Bill.status == "paid"))
    assert len(periods) == 2 and paid and paid >= 1
    await check_ledger(runtime, tenant)
