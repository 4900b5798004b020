"""The demo tenant gets categories, a VIP resident and a dozen orders in every state (late
ones flagged by the SLA sweep), once."""

from __future__ import annotations

from collections import Counter

from conftest import make_tenant
from kit import drain
from sqlalchemy import func, select

from wuye.db import take_after_commit
from wuye.identity import service as identity
from wuye.identity.models import User
from wuye.modules.estate.demo import seed_estate_demo
from wuye.modules.workorders import demo
from wuye.modules.workorders.demo import seed_workorders_demo
from wuye.modules.workorders.models import Category, CustomerLevel, OrderEvent, WorkOrder
from wuye.notify.models import Message
from wuye.runtime import Runtime


async def _counts(runtime: Runtime, schema: str) -> dict[str, int]:
    async with runtime.db.tenant_session(schema) as s:
        return {
            model.__name__: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Category, CustomerLevel, WorkOrder, OrderEvent, Message, User)
        }


async def test_demo_work_orders_are_seeded_once(runtime: Runtime) -> None:
    tenant = await make_tenant(runtime, modules=("workorders",))
    info = await runtime.directory.by_slug(tenant.slug)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await identity.create_user(
            s, kind="resident", name="演示住户", phone=demo.RESIDENT_PHONE, role_keys=["resident"]
        )
        await seed_estate_demo(session=s, tenant=info, runtime=runtime)
        await s.commit()

    seen = []
    for _ in range(2):
        async with runtime.db.tenant_session(tenant.schema) as s:
            await seed_workorders_demo(session=s, tenant=info, runtime=runtime)
            await s.commit()
            for hook in take_after_commit(s):
                await hook()
        seen.append(await _counts(runtime, tenant.schema))
    assert seen[0] == seen[1]
    assert seen[0]["Category"] == 7 and seen[0]["WorkOrder"] == len(demo.ORDERS)

    async with runtime.db.tenant_session(tenant.schema) as s:
        statuses = Counter(await s.scalars(select(WorkOrder.status)))
        assert set(statuses) >= {
            "submitted",
            "accepted",
            "confirmed",
            "in_progress",
            "paused",
            "completed",
            "rated",
            "closed",
            "rejected",
            "cancelled",
        }
        assert set(await s.scalars(select(WorkOrder.type))) == {
            "repair",
            "appointment",
            "complaint",
            "consultation",
            "suggestion",
        }
        vip = await s.scalar(select(User).where(User.phone == demo.VIP_PHONE))
        assert vip is not None
        assert (
            await s.scalar(select(CustomerLevel.level).where(CustomerLevel.user_id == vip.id))
            == "vip"
        )
        assert set(
            await s.scalars(select(WorkOrder.level).where(WorkOrder.resident_id == vip.id))
        ) == {"vip"}
        # the SLA sweep found the late ones: the elevator nobody accepted (also escalated)
        # and the phone report not finished within a day
        late = (
            await s.execute(
                select(WorkOrder.description, WorkOrder.escalated_at.is_not(None))
                .where(WorkOrder.overdue_at.is_not(None))
                .order_by(WorkOrder.id)
            )
        ).all()
        assert [(d[:4], escalated) for d, escalated in late] == [
            ("1号楼2", True),
            ("电话报修", False),
        ]
        # every order has a timeline starting at its submission, in order
        orders = list(await s.scalars(select(WorkOrder)))
        for order in orders:
            times = list(
                await s.scalars(
                    select(OrderEvent.created_at)
                    .where(OrderEvent.order_id == order.id)
                    .order_by(OrderEvent.id)
                )
            )
            assert times[0] == order.created_at and times == sorted(times)
            assert order.response_due_at and order.response_due_at > order.created_at
        sources = set(await s.scalars(select(Message.type)))
        assert {"workorders.accepted", "workorders.overdue", "workorders.escalated"} <= sources
    await drain(runtime)
