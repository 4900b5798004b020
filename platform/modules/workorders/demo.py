"""Demo data for `wuye dev`: the default categories, a VIP resident, and a dozen orders in
every state, made through the service functions (events, deadlines and resident messages
as the app would write them), then dated back over the last two days; a final SLA sweep
flags the ones that are late and alerts the supervisors.

Runs after the estate demo (communities 阳光花园 and 翠湖名苑, their staff
+8613500000001..4 and +8613500100005..8, the resident +8613900000002). Idempotent: orders
are only made when the tenant has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity import service as identity
from wuye.identity.models import Role, User, UserCommunityScope, UserRole
from wuye.identity.scope import DataScope
from wuye.modules.estate.models import Community, Occupancy, Person, Unit
from wuye.modules.workorders import orders, setup, sla
from wuye.modules.workorders.models import Category, OrderEvent, WorkOrder

DEMO_PASSWORD = "wuye-demo-2026"
RESIDENT_PHONE = "+8613900000002"
# extra resident logins the orders need: a VIP of 阳光花园 and a resident of 翠湖名苑
VIP_PHONE, NEIGHBOUR_PHONE = "+8613900100001", "+8613900100002"
# estate demo staff: manager, customer service, maintenance worker of each community
STAFF = {
    "manager0": "+8613500000001",
    "desk0": "+8613500000002",
    "worker0": "+8613500000003",
    "manager1": "+8613500100005",
    "desk1": "+8613500100006",
    "worker1": "+8613500100007",
}


# (who, action, step fields)
_Steps = tuple[tuple[str, str, dict[str, Any]], ...]


@dataclass(frozen=True)
class _Order:
    who: str  # the resident key, or a desk key for a phone report (for the resident)
    type: str
    category: str
    description: str
    hours_ago: float  # when it was submitted
    steps: _Steps = ()  # (who, action, step fields)
    public: str = ""  # a public-area location instead of the resident's home
    gap_minutes: int = 40  # between two steps
    extra: dict[str, Any] = field(default_factory=dict)


def _to(worker: str) -> dict[str, Any]:
    return {"worker": worker}


_DONE: _Steps = (
    ("desk0", "accept", {}),
    ("desk0", "dispatch", _to("worker0")),
    ("worker0", "confirm", {"fee_standard": ""}),
    ("worker0", "start", {}),
)

ORDERS = (
    _Order(
        "resident",
        "repair",
        "水电维修",
        "厨房水槽下水管漏水，柜子里都是水",
        46,
        (
            *_DONE,
            (
                "worker0",
                "complete",
                {
                    "note": "更换下水管和密封圈，已试水无渗漏",
                    "materials": [
                        {"name": "PVC下水管", "quantity": 1, "unit": "根", "price_fen": 2800}
                    ],
                },
            ),
            ("resident", "rate", {"rating": 5, "comment": "师傅很专业，半小时就修好了"}),
        ),
    ),
    _Order(
        "resident",
        "repair",
        "门窗锁具",
        "入户门锁芯卡住，钥匙拧不动",
        27,
        (*_DONE, ("worker0", "complete", {"note": "更换C级锁芯，交付新钥匙3把"})),
    ),
    _Order(
        "resident",
        "appointment",
        "水电维修",
        "卫生间热水器不出热水，希望明天上午上门",
        3,
        (
            ("desk0", "accept", {}),
            ("desk0", "dispatch", _to("worker0")),
            ("worker0", "confirm", {"fee_standard": "上门检测免费，更换配件按价目表收费"}),
        ),
        extra={"preferred": (timedelta(hours=20), timedelta(hours=23))},
    ),
    _Order(
        "resident",
        "consultation",
        "其他",
        "请问物业费可以按季度缴纳吗？",
        30,
        (
            ("desk0", "accept", {}),
            ("desk0", "take_up", {}),
            ("desk0", "answer", {"note": "可以，在应用“缴费”中选择按季度缴纳即可。"}),
            ("resident", "rate", {"rating": 4, "comment": ""}),
            ("desk0", "close", {}),
        ),
        gap_minutes=15,
    ),
    _Order(
        "resident",
        "suggestion",
        "公共区域",
        "建议在3号楼旁增加电动自行车充电桩",
        0.2,
        public="3号楼北侧",
    ),
    _Order(
        "vip",
        "complaint",
        "噪音扰民",
        "楼上每晚11点以后还有装修噪音，影响休息",
        2,
        (("manager0", "accept", {}),),
    ),
    _Order(
        "vip",
        "repair",
        "门窗锁具",
        "阳台推拉门滑轮损坏，关不严",
        40,
        (
            *_DONE,
            ("worker0", "complete", {"note": "更换滑轮两个，调整门框"}),
            ("vip", "rate", {"rating": 4, "comment": "还行"}),
            ("desk0", "close", {}),
        ),
    ),
    _Order(  # never accepted: late for response, then escalated
        "resident",
        "repair",
        "电梯",
        "1号楼2号电梯运行时有异响，还会抖动",
        3,
        public="1号楼电梯厅",
    ),
    _Order(  # a phone report; dispatched but not finished within a day: overdue
        "desk0",
        "repair",
        "水电维修",
        "电话报修：阳台地漏堵塞返水",
        25,
        (
            ("desk0", "accept", {}),
            ("desk0", "dispatch", _to("worker0")),
            ("worker0", "confirm", {"fee_standard": "疏通费80元"}),
        ),
    ),
    _Order(
        "resident",
        "repair",
        "其他",
        "客厅天花板有水渍",
        20,
        (("desk0", "reject", {"reason": "经查为楼上住户卫生间漏水，已协调楼上住户自行维修"}),),
    ),
    _Order(
        "resident",
        "repair",
        "门窗锁具",
        "单元门门禁刷卡没反应",
        6,
        (("resident", "cancel", {"reason": "已经恢复正常了"}),),
    ),
    _Order(
        "neighbour",
        "complaint",
        "环境卫生",
        "垃圾桶满溢两天无人清运，气味很大",
        5,
        (
            ("desk1", "accept", {}),
            ("desk1", "dispatch", _to("desk1")),
            ("desk1", "confirm", {"fee_standard": ""}),
            ("desk1", "start", {}),
        ),
        public="5号楼垃圾房",
    ),
    _Order(
        "neighbour",
        "repair",
        "公共区域",
        "地下车库B1区照明灯不亮",
        9,
        (
            ("desk1", "accept", {}),
            ("desk1", "dispatch", _to("worker1")),
            ("worker1", "confirm", {"fee_standard": ""}),
            ("worker1", "start", {}),
            ("worker1", "pause", {"reason": "等待灯具配件到货，预计明天"}),
        ),
        public="地下车库B1区",
    ),
)

# action -> the order's time column it sets (the first time)
_STAMPS = {
    "accept": "accepted_at",
    "dispatch": "dispatched_at",
    "start": "started_at",
    "take_up": "started_at",
    "complete": "completed_at",
    "answer": "completed_at",
    "rate": "rated_at",
    "close": "closed_at",
    "reject": "closed_at",
    "cancel": "closed_at",
}


async def seed_workorders_demo(*, session: AsyncSession, tenant: Any, runtime: Any) -> None:
    await setup.seed_default_categories(session)
    if await session.scalar(select(exists().where(WorkOrder.id.is_not(None)))):
        return
    people = await _people(session, runtime)
    if people is None:  # not the estate demo: nothing to attach orders to
        return
    viewers = {key: await _viewer(session, user) for key, user in people.items()}
    admin = await session.scalar(
        select(User).where(User.kind == "staff", User.all_communities).order_by(User.id)
    )
    await setup.set_customer_level(
        session,
        scope=DataScope(all_communities=True),
        actor_id=admin.id if admin else people["manager0"].id,
        user_id=people["vip"].id,
        level="vip",
    )
    categories = {c.name_zh: c for c in await session.scalars(select(Category))}
    now = datetime.now(UTC)
    for spec in ORDERS:
        order = await _make(session, runtime, tenant, viewers, people, categories, spec, now)
        await _date_back(session, order, categories, now - timedelta(hours=spec.hours_ago), spec)
    await session.flush()
    await sla.sweep(session, runtime, tenant, now=now)


async def _people(session: AsyncSession, runtime: Any) -> dict[str, User] | None:
    """The demo staff and residents by key; the two extra residents are made here."""
    found = {
        key: await session.scalar(select(User).where(User.phone == phone))
        for key, phone in {**STAFF, "resident": RESIDENT_PHONE}.items()
    }
    communities = list(await session.scalars(select(Community.id).order_by(Community.id)))
    if any(u is None for u in found.values()) or len(communities) < 2:
        return None
    people: dict[str, User] = {k: u for k, u in found.items() if u is not None}
    password_hash = runtime.passwords.hash(DEMO_PASSWORD)
    for key, phone, community_id in (
        ("vip", VIP_PHONE, communities[0]),
        ("neighbour", NEIGHBOUR_PHONE, communities[1]),
    ):
        people[key] = await _resident(session, phone, community_id, password_hash)
    return people


async def _resident(
    session: AsyncSession, phone: str, community_id: int, password_hash: str
) -> User:
    """A login for the first demo householder of ``community_id`` without one."""
    user = await session.scalar(select(User).where(User.phone == phone))
    if user is not None:
        return user
    person = await session.scalar(
        select(Person)
        .join(Occupancy, Occupancy.person_id == Person.id)
        .where(
            Occupancy.community_id == community_id,
            Occupancy.move_out_on.is_(None),
            Occupancy.is_primary,
            Person.user_id.is_(None),
        )
        .order_by(Person.id)
        .limit(1)
    )
    assert person is not None, "the estate demo has householders"
    user = await identity.create_user(
        session,
        kind="resident",
        name=person.name,
        phone=phone,
        role_keys=["resident"],
        password_hash=password_hash,
    )
    person.user_id = user.id
    await session.flush()
    return user


async def _viewer(session: AsyncSession, user: User) -> orders.Viewer:
    permissions = frozenset(
        p
        for perms in await session.scalars(
            select(Role.permissions)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user.id)
        )
        for p in perms
    )
    if user.kind != "staff" or user.all_communities:
        scope = DataScope(all_communities=user.kind == "staff")
    else:
        ids = await session.scalars(
            select(UserCommunityScope.community_id).where(UserCommunityScope.user_id == user.id)
        )
        scope = DataScope(all_communities=False, community_ids=frozenset(ids))
    return orders.Viewer(
        user=user,
        permissions=permissions,
        scope=scope,
        team_id=await orders.team_of(session, user),
    )


async def _make(
    session: AsyncSession,
    runtime: Any,
    tenant: Any,
    viewers: dict[str, orders.Viewer],
    people: dict[str, User],
    categories: dict[str, Category],
    spec: _Order,
    now: datetime,
) -> WorkOrder:
    phone_report = spec.who.startswith("desk")
    resident = people["resident"] if phone_report else people[spec.who]
    home = await session.scalar(
        select(Unit)
        .join(Occupancy, Occupancy.unit_id == Unit.id)
        .join(Person, Person.id == Occupancy.person_id)
        .where(Person.user_id == resident.id, Occupancy.move_out_on.is_(None))
        .order_by(Unit.id)
        .limit(1)
    )
    assert home is not None
    start, end = spec.extra.get("preferred", (None, None))
    new = orders.NewOrder(
        type=spec.type,
        description=spec.description,
        unit_id=None if spec.public else home.id,
        community_id=home.community_id if spec.public else None,
        location=spec.public,
        category_id=categories[spec.category].id,
        preferred_start=now + start if start else None,
        preferred_end=now + end if end else None,
        resident_id=resident.id if phone_report else None,
        contact_phone=(resident.phone or "") if phone_report else "",
        contact_name=resident.name if phone_report else "",
    )
    order = await orders.submit(session, runtime, tenant, viewers[spec.who], new)
    for who, action, fields in spec.steps:
        values = dict(fields)
        if "worker" in values:
            values["worker_id"] = people[values.pop("worker")].id
        if action == "confirm":
            values["arrival_at"] = order.preferred_start or now + timedelta(hours=1)
        await orders.act(
            session, runtime, tenant, viewers[who], order.id, action, orders.Step(**values)
        )
    await session.flush()
    return order


async def _date_back(
    session: AsyncSession,
    order: WorkOrder,
    categories: dict[str, Category],
    submitted: datetime,
    spec: _Order,
) -> None:
    """Spread the order's steps from ``submitted`` on, and set its deadlines from there."""
    events = list(
        await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
    )
    stamps: dict[str, datetime] = {}
    at = submitted
    for i, event in enumerate(events):
        at = submitted + timedelta(minutes=spec.gap_minutes * i)
        event.created_at = at
        column = _STAMPS.get(event.action)
        if column is not None:
            stamps.setdefault(column, at)
        if event.action == "confirm" and order.preferred_start is None:
            order.arrival_at = at + timedelta(minutes=spec.gap_minutes)
    category = categories[spec.category]
    order.created_at = submitted
    order.updated_at = at
    order.response_due_at = submitted + timedelta(minutes=category.response_minutes)
    order.completion_due_at = submitted + timedelta(minutes=category.completion_minutes)
    for column in set(_STAMPS.values()):
        if getattr(order, column) is not None:
            setattr(order, column, stamps.get(column, getattr(order, column)))
