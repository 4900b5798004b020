"""The SLA sweep: overdue orders, escalations and the auto-close of unrated orders.

Run by tenant jobs (``jobs.py``, every few minutes); arq may run a job twice and two
workers may run it at once, so every step is a guarded, set-based write:

- **Overdue**: an open order past ``response_due_at`` and never accepted, or past
  ``completion_due_at`` (open = not completed), with no ``overdue_at`` yet, gets
  ``overdue_at``, an internal ``overdue`` event, and the supervisors of its community
  (``workorders.supervise``) are told (``workorders.overdue``).
- **Escalated**: an order flagged overdue, still open and not escalated, whose missed
  deadline is still unmet ``escalation_minutes`` (its category's) later: the response
  deadline while it is still not accepted, or the completion deadline while it is still
  not done. It gets ``escalated_at``, an internal ``escalated`` event, and the holders of
  ``workorders.escalations`` in its community are told (``workorders.escalated``). An order
  accepted late but on its way is not escalated until it misses its completion deadline too.
- **Auto-close**: a completed order the resident did not rate within ``auto_close_days``
  (module config, ``orders.settings_of``) is closed by the system.

Each flag is one ``UPDATE ... WHERE <flag> IS NULL AND id IN (SELECT ... FOR UPDATE SKIP
LOCKED) RETURNING``: a concurrent sweep skips the rows another holds, and a row the other
one flagged and committed fails the re-checked ``IS NULL``; the events and messages are
written in the same transaction as the flag, so they exist exactly when it does (message
dedup keys add a second guard).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Interval, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity.models import User
from wuye.identity.permissions import Permission
from wuye.identity.service import staff_holding
from wuye.modules.workorders import messages, orders, realtime
from wuye.modules.workorders.models import OPEN_STATUSES, Category, OrderEvent, WorkOrder
from wuye.modules.workorders.permissions import ESCALATIONS, SUPERVISE
from wuye.notify.types import MessageType
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo

BATCH = 500  # orders per step and run; the next run takes the rest
RESPONSE, COMPLETION = "response", "completion"
# the ``deadline`` variable of workorders.overdue, by recipient language
DEADLINE_WORDS = {RESPONSE: ("响应", "response"), COMPLETION: ("完成", "completion")}


@dataclass(frozen=True)
class SweepResult:
    overdue: int
    escalated: int


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def missed_deadline(order: WorkOrder) -> tuple[str, datetime | None]:
    """The first deadline an overdue order missed. Response comes before completion, so an
    order never accepted missed its response deadline first; an accepted one, completion."""
    if order.accepted_at is None:
        return RESPONSE, order.response_due_at
    return COMPLETION, order.completion_due_at


# --- the sweep -----------------------------------------------------------------------------


async def sweep(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> SweepResult:
    """Flag overdue orders, then escalate (an order found hours late gets both at once)."""
    at = _now(now)
    overdue = await flag_overdue(session, runtime, tenant, now=at)
    escalated = await escalate(session, runtime, tenant, now=at)
    return SweepResult(len(overdue), len(escalated))


async def flag_overdue(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> list[WorkOrder]:
    at = _now(now)
    late = or_(
        and_(WorkOrder.accepted_at.is_(None), WorkOrder.response_due_at <= at),
        WorkOrder.completion_due_at <= at,
    )
    candidates = (
        select(WorkOrder.id)
        .where(WorkOrder.status.in_(OPEN_STATUSES), WorkOrder.overdue_at.is_(None), late)
        .order_by(WorkOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    flagged = await _flag(session, WorkOrder.overdue_at, candidates, at)
    for order in flagged:
        kind, due = missed_deadline(order)
        session.add(
            _event(
                order,
                "overdue",
                note=f"超过{DEADLINE_WORDS[kind][0]}时限",
                data={"deadline": kind, "due_at": due.isoformat() if due else None},
            )
        )
    await _tell(session, runtime, tenant, flagged, messages.OVERDUE, SUPERVISE)
    for order in flagged:
        realtime.announce(session, runtime, tenant, order, "overdue")
    return flagged


async def escalate(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> list[WorkOrder]:
    at = _now(now)
    grace = func.make_interval(0, 0, 0, 0, 0, Category.escalation_minutes, type_=Interval)
    still_missed = or_(
        and_(WorkOrder.accepted_at.is_(None), WorkOrder.response_due_at + grace <= at),
        WorkOrder.completion_due_at + grace <= at,
    )
    candidates = (
        select(WorkOrder.id)
        .join(Category, Category.id == WorkOrder.category_id)
        .where(
            WorkOrder.status.in_(OPEN_STATUSES),
            WorkOrder.overdue_at.is_not(None),
            WorkOrder.escalated_at.is_(None),
            still_missed,
        )
        .order_by(WorkOrder.id)
        .limit(BATCH)
        .with_for_update(of=WorkOrder, skip_locked=True)
    )
    escalated = await _flag(session, WorkOrder.escalated_at, candidates, at)
    for order in escalated:
        kind, due = missed_deadline(order)
        session.add(
            _event(
                order,
                "escalated",
                note=f"超过{DEADLINE_WORDS[kind][0]}时限未处理，已升级",
                data={"deadline": kind, "due_at": due.isoformat() if due else None},
            )
        )
    await _tell(session, runtime, tenant, escalated, messages.ESCALATED, ESCALATIONS)
    for order in escalated:
        realtime.announce(session, runtime, tenant, order, "escalated")
    return escalated


async def _flag(session: AsyncSession, flag: Any, candidates: Any, at: datetime) -> list[WorkOrder]:
    """Set ``flag`` on the candidates still unflagged; the orders it was set on."""
    stmt = (
        update(WorkOrder)
        .where(WorkOrder.id.in_(candidates.scalar_subquery()), flag.is_(None))
        .values({flag: at, WorkOrder.updated_at: at})
        .returning(WorkOrder)
    )
    result = await session.scalars(
        stmt, execution_options={"synchronize_session": False, "populate_existing": True}
    )
    return sorted(result.all(), key=lambda o: o.id)


def _event(order: WorkOrder, action: str, *, note: str, data: dict[str, Any]) -> OrderEvent:
    """A staff-only timeline entry by the system; the status does not change."""
    return OrderEvent(
        order_id=order.id,
        action=action,
        from_status=order.status,
        to_status=order.status,
        actor_id=None,
        note=note,
        internal=True,
        data=data,
    )


# --- telling people ------------------------------------------------------------------------


async def _tell(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    found: Sequence[WorkOrder],
    message: MessageType,
    permission: Permission,
) -> None:
    """One message per order to the staff holding ``permission`` in its community. The
    recipients (and their language, for the category name and deadline word) are read
    once per community."""
    if not found:
        return
    names = await _category_names(session, {o.category_id for o in found if o.category_id})
    staff = await _staff_by_community(session, permission, {o.community_id for o in found})
    for order in found:
        recipients = staff[order.community_id]
        if not recipients:
            continue
        kind, _ = missed_deadline(order)
        zh, en = names.get(order.category_id or 0, ("", ""))
        variables: dict[str, Any] = {"number": order.number, "order_id": order.id, "category": zh}
        english: dict[str, Any] = {"category": en or zh}
        if "deadline" in message.variables:
            variables["deadline"] = DEADLINE_WORDS[kind][0]
            english["deadline"] = DEADLINE_WORDS[kind][1]
        flagged_at = order.overdue_at if message is messages.OVERDUE else order.escalated_at
        assert flagged_at is not None
        await runtime.notifier.notify(
            session,
            runtime=runtime,
            tenant=tenant.slug,
            type_key=message.key,
            users=[uid for uid, _ in recipients],
            variables=variables,
            per_user={uid: english for uid, locale in recipients if locale.startswith("en")},
            source=f"workorders:{order.id}",
            # the flag makes this run once; the key makes a second recording add nothing
            dedup=f"{message.key}:{order.id}:{int(flagged_at.timestamp())}",
        )


async def _category_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    ids = sorted(ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Category.id, Category.name_zh, Category.name_en).where(Category.id.in_(ids))
    )
    return {cid: (zh, en) for cid, zh, en in rows}


async def _staff_by_community(
    session: AsyncSession, permission: Permission, community_ids: Iterable[int]
) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for community_id in sorted(community_ids):
        rows = await session.execute(
            staff_holding(permission, community_id=community_id)
            .add_columns(User.locale)
            .order_by(User.id)
        )
        found[community_id] = [(int(uid), str(locale or "")) for uid, locale in rows]
    return found


# --- auto-close ----------------------------------------------------------------------------

AUTO_CLOSE_NOTE = "超过{days}天未评价，系统自动关闭"


async def close_unrated(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> list[WorkOrder]:
    """Close completed orders not rated within ``auto_close_days`` (0 or less: never)."""
    days = orders.settings_of(tenant)["auto_close_days"]
    if days <= 0:
        return []
    cutoff = _now(now) - timedelta(days=days)
    due = await session.scalars(
        select(WorkOrder)
        .where(WorkOrder.status == "completed", WorkOrder.completed_at <= cutoff)
        .order_by(WorkOrder.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    closed = list(due)
    for order in closed:
        await orders.system_close(
            session, runtime, tenant, order, AUTO_CLOSE_NOTE.format(days=days)
        )
    return closed
