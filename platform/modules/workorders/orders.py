"""Work orders: submission, who sees what, and every step of the workflow.

Plain async functions with an explicit session, called by the GraphQL layer and the jobs.
Who may take which step from which state is ``workflow.ACTIONS``; this file decides who the
viewer *is* for an order (``actors_of``), applies a step's effects, records the event and
tells the people concerned (notification pipeline, real-time topics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.permissions import Permission, grants
from wuye.identity.scope import DataScope
from wuye.identity.service import staff_holding
from wuye.modules.estate.models import Community, StaffProfile, Unit
from wuye.modules.estate.property import unit_labels
from wuye.modules.estate.residents import places_of_user
from wuye.modules.rows import get_row, next_id
from wuye.modules.workorders import messages, realtime, workflow
from wuye.modules.workorders.models import (
    FIELD_TYPES,
    OPEN_STATUSES,
    TYPES,
    Category,
    CustomerLevel,
    OrderEvent,
    WorkOrder,
)
from wuye.modules.workorders.permissions import (
    COMPLAINT_PERMISSION,
    DISPATCH,
    HANDLE,
    VIEW,
    WORK,
)
from wuye.runtime import Runtime
from wuye.storage import service as storage
from wuye.tenancy.directory import TenantInfo

PHOTO_PURPOSE = "workorders.photo"
BEFORE, AFTER = "work_order", "work_order_after"  # where an order's photos are attached
MAX_TEXT = 2000


def _now() -> datetime:
    return datetime.now(UTC)


def settings_of(tenant: TenantInfo) -> dict[str, Any]:
    """The tenant's module config with defaults: grabbing (抢单) off, reopen within 7 days."""
    config = tenant.modules.get("workorders", {})
    return {
        "allow_grab": bool(config.get("allow_grab", False)),
        "reopen_days": int(config.get("reopen_days", 7)),
        "auto_close_days": int(config.get("auto_close_days", 7)),
    }


# --- who is looking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    user: User
    permissions: frozenset[str]
    scope: DataScope
    team_id: int | None = None  # the staff member's department, for team dispatch

    def can(self, permission: Permission) -> bool:
        return grants(self.permissions, permission.key)

    @property
    def is_staff(self) -> bool:
        return self.user.kind == "staff"

    @property
    def complaint_levels(self) -> list[str]:
        return [level for level, p in COMPLAINT_PERMISSION.items() if self.can(p)]


async def team_of(session: AsyncSession, user: User) -> int | None:
    if user.kind != "staff":
        return None
    found = await session.scalar(
        select(StaffProfile.department_id).where(StaffProfile.user_id == user.id)
    )
    return int(found) if found is not None else None


def desk_sees(viewer: Viewer) -> ColumnElement[bool]:
    """Orders the viewer sees as office staff: in scope; complaints only at their level."""
    if not (viewer.can(VIEW) or viewer.can(HANDLE) or viewer.can(DISPATCH)):
        return false()
    return and_(
        viewer.scope.filter(WorkOrder.community_id),
        or_(WorkOrder.type != "complaint", WorkOrder.level.in_(viewer.complaint_levels)),
    )


def _pool(viewer: Viewer, tenant: TenantInfo) -> ColumnElement[bool]:
    """Accepted field orders nobody took yet, that this worker may grab (抢单) if allowed."""
    if not (viewer.can(WORK) and settings_of(tenant)["allow_grab"]):
        return false()
    return and_(
        WorkOrder.status == "accepted",
        WorkOrder.worker_id.is_(None),
        WorkOrder.type.in_(("repair", "appointment")),
        viewer.scope.filter(WorkOrder.community_id),
        or_(WorkOrder.team_id.is_(None), WorkOrder.team_id == viewer.team_id),
    )


def _team_queue(viewer: Viewer) -> ColumnElement[bool]:
    """Orders dispatched to the worker's team, waiting for one of them to confirm."""
    if viewer.team_id is None or not viewer.can(WORK):
        return false()
    return and_(
        WorkOrder.status == "dispatched",
        WorkOrder.worker_id.is_(None),
        WorkOrder.team_id == viewer.team_id,
    )


def visible(viewer: Viewer, tenant: TenantInfo) -> ColumnElement[bool]:
    """The WHERE clause of every order a viewer may see."""
    if not viewer.is_staff:
        return WorkOrder.resident_id == viewer.user.id
    return or_(
        desk_sees(viewer),
        WorkOrder.worker_id == viewer.user.id,
        _team_queue(viewer),
        _pool(viewer, tenant),
    )


def worker_queue(viewer: Viewer, tenant: TenantInfo) -> ColumnElement[bool]:
    """A worker's queue: their open orders, their team's unconfirmed ones, the grab pool."""
    return or_(
        and_(WorkOrder.worker_id == viewer.user.id, WorkOrder.status.in_(OPEN_STATUSES)),
        _team_queue(viewer),
        _pool(viewer, tenant),
    )


async def get_order(
    session: AsyncSession,
    viewer: Viewer,
    tenant: TenantInfo,
    order_id: int,
    *,
    lock: bool = False,
    field: str = "id",
) -> WorkOrder:
    """The order if the viewer may see it; NOT_FOUND otherwise (never reveal it exists)."""
    stmt: Any = select(WorkOrder).where(WorkOrder.id == order_id, visible(viewer, tenant))
    if lock:
        stmt = stmt.with_for_update(of=WorkOrder)
    found = await session.scalar(stmt)
    if found is None:
        raise AppError("NOT_FOUND", field=field)
    return found  # type: ignore[no-any-return]


def _in_desk_view(viewer: Viewer, order: WorkOrder) -> bool:
    return viewer.scope.allows(order.community_id) and (
        order.type != "complaint" or order.level in viewer.complaint_levels
    )


def actors_of(viewer: Viewer, order: WorkOrder, tenant: TenantInfo) -> set[str]:
    """What the viewer is for this order, in workflow terms (see ``workflow``)."""
    if not viewer.is_staff:
        return {"resident"} if order.resident_id == viewer.user.id else set()
    actors: set[str] = set()
    if _in_desk_view(viewer, order):
        if viewer.can(HANDLE):
            actors.add("desk")
        if viewer.can(DISPATCH):
            actors.add("dispatcher")
    if order.worker_id == viewer.user.id:
        actors.add("assignee")
    elif (
        order.worker_id is None
        and viewer.can(WORK)
        and viewer.team_id is not None
        and order.team_id == viewer.team_id
    ):
        actors.add("assignee")  # team dispatch: the first team member to confirm takes it
    if (
        viewer.can(WORK)
        and settings_of(tenant)["allow_grab"]
        and order.worker_id is None
        and order.type in ("repair", "appointment")
        and viewer.scope.allows(order.community_id)
        and order.team_id in (None, viewer.team_id)
    ):
        actors.add("pool")
    return actors


# --- submission ----------------------------------------------------------------------------


@dataclass
class NewOrder:
    type: str
    description: str
    community_id: int | None = None
    unit_id: int | None = None
    category_id: int | None = None
    location: str = ""
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None
    photo_file_ids: Sequence[int] = ()
    contact_name: str = ""
    contact_phone: str = ""
    resident_id: int | None = None  # staff reporting for a resident (电话报修)


async def submit(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    viewer: Viewer,
    new: NewOrder,
) -> WorkOrder:
    """A resident's order from the app, or one customer service records for a phone call."""
    _check_text(new)
    if new.type not in TYPES:
        raise AppError("VALIDATION_FAILED", field="type")
    _check_window(new)
    if viewer.is_staff:
        if not viewer.can(HANDLE):
            raise AppError("FORBIDDEN")
        resident_id, source = new.resident_id, "phone"
        community_id, unit_id = await _staff_place(session, viewer, new)
        # the caller: the resident named, else only the contact given on the phone
        caller = await _resident_user(session, resident_id) if resident_id is not None else None
    else:
        resident_id, source, caller = viewer.user.id, "app", viewer.user
        community_id, unit_id = await _resident_place(session, viewer.user.id, new)
    category = await _category(session, new.category_id, new.type)
    now = _now()
    new_id, number = await _new_id_and_number(session, tenant, now)
    order = WorkOrder(
        id=new_id,
        number=number,
        type=new.type,
        category_id=category.id if category else None,
        community_id=community_id,
        unit_id=unit_id,
        resident_id=resident_id,
        contact_name=new.contact_name.strip() or (caller.name if caller else ""),
        contact_phone=new.contact_phone.strip() or (caller.phone or "" if caller else ""),
        source=source,
        level=await _level_of(session, resident_id),
        description=new.description.strip(),
        location=new.location.strip(),
        preferred_start=new.preferred_start,
        preferred_end=new.preferred_end,
        team_id=category.default_team_id if category else None,
        created_by=viewer.user.id,
        created_at=now,
        updated_at=now,
    )
    if category is not None:
        order.response_due_at = now + timedelta(minutes=category.response_minutes)
        order.completion_due_at = now + timedelta(minutes=category.completion_minutes)
    session.add(order)
    await session.flush()
    if new.photo_file_ids:
        await storage.attach(
            session,
            tenant.slug,
            list(new.photo_file_ids),
            owner_id=viewer.user.id,
            purpose_key=PHOTO_PURPOSE,
            kind=BEFORE,
            target_id=order.id,
            field="photos",
        )
    session.add(_event(order, "submit", None, viewer.user.id))
    realtime.announce(session, runtime, tenant, order, "submit")
    return order


def _check_text(new: NewOrder) -> None:
    if not new.description.strip() or len(new.description) > MAX_TEXT:
        raise AppError("VALIDATION_FAILED", field="description")
    if len(new.location) > 200 or len(new.contact_name) > 100 or len(new.contact_phone) > 20:
        raise AppError("VALIDATION_FAILED", field="contact")


def _check_window(new: NewOrder) -> None:
    start, end = new.preferred_start, new.preferred_end
    if new.type == "appointment" and (start is None or end is None):
        raise AppError("VALIDATION_FAILED", field="preferredTime")
    if (start is None) != (end is None):
        raise AppError("VALIDATION_FAILED", field="preferredTime")
    if start is not None and end is not None:
        if start.tzinfo is None or end <= start or end < _now():
            raise AppError("VALIDATION_FAILED", field="preferredTime")


async def _resident_place(
    session: AsyncSession, user_id: int, new: NewOrder
) -> tuple[int, int | None]:
    """A resident reports for one of their units, or a public area of their community."""
    places = await places_of_user(session, user_id)
    if new.unit_id is not None:
        if new.unit_id not in places.unit_ids:
            raise AppError("NOT_FOUND", field="unitId")
        unit = await get_row(session, Unit, new.unit_id, field="unitId")
        return unit.community_id, unit.id
    if new.community_id is None or new.community_id not in places.community_ids:
        raise AppError("NOT_FOUND", field="communityId")
    return new.community_id, None


async def _staff_place(
    session: AsyncSession, viewer: Viewer, new: NewOrder
) -> tuple[int, int | None]:
    if new.unit_id is not None:
        unit = await get_row(session, Unit, new.unit_id, field="unitId")
        viewer.scope.check(unit.community_id)
        return unit.community_id, unit.id
    if new.community_id is None:
        raise AppError("VALIDATION_FAILED", field="communityId")
    await get_row(session, Community, new.community_id, field="communityId")
    viewer.scope.check(new.community_id)
    return new.community_id, None


async def _resident_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.kind != "resident":
        raise AppError("NOT_FOUND", field="residentId")
    return user


async def _category(
    session: AsyncSession, category_id: int | None, order_type: str
) -> Category | None:
    if category_id is None:
        return None
    category = await session.get(Category, category_id)
    if category is None or not category.active:
        raise AppError("NOT_FOUND", field="categoryId")
    if category.types and order_type not in category.types:
        raise AppError("VALIDATION_FAILED", field="categoryId")
    return category


async def _level_of(session: AsyncSession, resident_id: int | None) -> str:
    if resident_id is None:
        return "normal"
    found = await session.scalar(
        select(CustomerLevel.level).where(CustomerLevel.user_id == resident_id)
    )
    return found or "normal"


async def _new_id_and_number(
    session: AsyncSession, tenant: TenantInfo, now: datetime
) -> tuple[int, str]:
    """The order's id and its number: WO + the local date + the id."""
    order_id = await next_id(session, "work_orders")
    day = now.astimezone(tenant.zone).strftime("%Y%m%d")
    return order_id, f"WO{day}{order_id:06d}"


# --- steps ---------------------------------------------------------------------------------


@dataclass
class Step:
    """What a step may carry; each action reads the fields it needs."""

    reason: str = ""
    note: str = ""
    worker_id: int | None = None
    team_id: int | None = None
    into_id: int | None = None
    arrival_at: datetime | None = None
    fee_standard: str = ""
    fee_fen: int | None = None
    materials: list[dict[str, Any]] = field(default_factory=list)
    photo_file_ids: Sequence[int] = ()
    rating: int | None = None
    comment: str = ""


class StepRun(NamedTuple):
    """Everything a step's effect may use (each effect unpacks what it needs)."""

    session: AsyncSession
    runtime: Runtime
    tenant: TenantInfo
    viewer: Viewer
    order: WorkOrder
    step: Step
    now: datetime


async def act(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    viewer: Viewer,
    order_id: int,
    action_key: str,
    step: Step,
) -> WorkOrder:
    """Take ``action_key`` on an order the viewer sees, or fail without writing anything."""
    order = await get_order(session, viewer, tenant, order_id, lock=True)
    action = workflow.check(
        action_key,
        status=order.status,
        order_type=order.type,
        actors=actors_of(viewer, order, tenant),
    )
    before, worker = order.status, order.worker_id
    now = _now()
    run = StepRun(session, runtime, tenant, viewer, order, step, now)
    data = await _EFFECTS[action.key](run)
    order.status = action.target
    order.updated_at = now
    session.add(_event(order, action.key, before, viewer.user.id, note=_note(step), data=data))
    realtime.announce(
        session,
        runtime,
        tenant,
        order,
        action.key,
        previous_worker=worker if worker != order.worker_id else None,
    )
    return order


async def system_close(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, order: WorkOrder, note: str
) -> None:
    """The auto-close job: a completed order nobody rated closes after the rating window."""
    workflow.check("close", status=order.status, order_type=order.type, actors={"system"})
    before, now = order.status, _now()
    order.status, order.closed_at, order.updated_at = "closed", now, now
    session.add(_event(order, "close", before, None, note=note))
    realtime.announce(session, runtime, tenant, order, "close")


def _note(step: Step) -> str:
    return (step.reason or step.note or step.comment).strip()[:500]


def _event(
    order: WorkOrder,
    action: str,
    before: str | None,
    actor_id: int | None,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    target = workflow.ACTIONS[action].target if action in workflow.ACTIONS else order.status
    return OrderEvent(
        order_id=order.id,
        action=action,
        from_status=before,
        to_status=target,
        actor_id=actor_id,
        note=note,
        data=data or {},
    )


def _required(value: str, field_name: str) -> str:
    value = value.strip()
    if not value or len(value) > 500:
        raise AppError("VALIDATION_FAILED", field=field_name)
    return value


async def _accept(run: StepRun) -> dict[str, Any]:
    run.order.handler_id = run.viewer.user.id
    run.order.accepted_at = run.order.accepted_at or run.now
    await _tell_resident(run, messages.ACCEPTED)
    return {}


async def _reject(run: StepRun) -> dict[str, Any]:
    order = run.order
    order.reason = _required(run.step.reason, "reason")
    order.handler_id = run.viewer.user.id
    order.closed_at = run.now
    await _tell_resident(run, messages.REJECTED, reason=order.reason)
    return {}


async def _merge(run: StepRun) -> dict[str, Any]:
    order, into_id = run.order, run.step.into_id
    if into_id is None or into_id == order.id:
        raise AppError("VALIDATION_FAILED", field="intoId")
    into = await get_order(run.session, run.viewer, run.tenant, into_id, field="intoId")
    if into.status not in OPEN_STATUSES or into.type != order.type:
        raise AppError("VALIDATION_FAILED", field="intoId")
    order.merged_into_id = into.id
    order.closed_at = run.now
    run.session.add(
        OrderEvent(
            order_id=into.id,
            action="merged_in",
            from_status=into.status,
            to_status=into.status,
            actor_id=run.viewer.user.id,
            internal=True,
            data={"order": order.number},
        )
    )
    return {"into": into.number}


async def _cancel(run: StepRun) -> dict[str, Any]:
    run.order.reason = run.step.reason.strip()[:500]
    run.order.closed_at = run.now
    return {}


async def _dispatch(run: StepRun) -> dict[str, Any]:
    """To a worker, or to a team whose first member to confirm takes it (also: transfer)."""
    order, step = run.order, run.step
    if step.worker_id is None and step.team_id is None:
        raise AppError("VALIDATION_FAILED", field="workerId")
    previous = order.worker_id
    order.team_id = step.team_id if step.team_id is not None else order.team_id
    order.worker_id = None
    order.arrival_at, order.fee_standard, order.fee_fen = None, "", None
    if step.worker_id is not None:
        order.worker_id = (await _worker(run.session, order, step.worker_id)).id
    order.dispatched_at = run.now
    await _tell_assignees(run)
    if order.worker_id is not None:
        await _tell_dispatched(run)
    return {"worker": order.worker_id, "team": order.team_id, "previous": previous}


async def _grab(run: StepRun) -> dict[str, Any]:
    run.order.worker_id = run.viewer.user.id
    run.order.dispatched_at = run.now
    await _tell_dispatched(run)
    return {"worker": run.viewer.user.id}


async def _confirm(run: StepRun) -> dict[str, Any]:
    order, step = run.order, run.step
    if step.arrival_at is None or step.arrival_at.tzinfo is None:
        raise AppError("VALIDATION_FAILED", field="arrivalAt")
    if step.fee_fen is not None and not 0 <= step.fee_fen <= 100_000_000:
        raise AppError("VALIDATION_FAILED", field="feeFen")
    if len(step.fee_standard) > 200:
        raise AppError("VALIDATION_FAILED", field="feeStandard")
    order.worker_id = run.viewer.user.id  # a team member confirming takes the order
    order.arrival_at = step.arrival_at
    order.fee_standard = step.fee_standard.strip()
    order.fee_fen = step.fee_fen
    await _tell_dispatched(run)
    return {"arrival_at": step.arrival_at.isoformat(), "fee_fen": step.fee_fen}


async def _start(run: StepRun) -> dict[str, Any]:
    """Also take_up: customer service starts on a consultation or suggestion."""
    run.order.started_at = run.order.started_at or run.now
    if run.order.type not in FIELD_TYPES:
        run.order.handler_id = run.viewer.user.id
    return {}


async def _pause(run: StepRun) -> dict[str, Any]:
    run.order.reason = _required(run.step.reason, "reason")
    return {}


async def _nothing(run: StepRun) -> dict[str, Any]:
    return {}


async def _complete(run: StepRun) -> dict[str, Any]:
    """Also answer: customer service answers a consultation or suggestion."""
    order, step = run.order, run.step
    notes = step.note.strip()
    if not notes or len(notes) > MAX_TEXT:
        raise AppError("VALIDATION_FAILED", field="note")
    order.completion_notes = notes
    order.materials = _materials(step.materials)
    order.completed_at = run.now
    if step.photo_file_ids:
        await storage.attach(
            run.session,
            run.tenant.slug,
            list(step.photo_file_ids),
            owner_id=run.viewer.user.id,
            purpose_key=PHOTO_PURPOSE,
            kind=AFTER,
            target_id=order.id,
            field="photos",
        )
    await _tell_resident(run, messages.COMPLETED)
    return {"materials": len(order.materials)}


def _materials(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(items) > 50:
        raise AppError("VALIDATION_FAILED", field="materials")
    clean = []
    for item in items:
        name = str(item.get("name", "")).strip()
        quantity, price = item.get("quantity", 1), item.get("price_fen", 0)
        if not name or len(name) > 100:
            raise AppError("VALIDATION_FAILED", field="materials")
        if not isinstance(quantity, (int, float)) or not 0 < quantity <= 10_000:
            raise AppError("VALIDATION_FAILED", field="materials")
        if not isinstance(price, int) or not 0 <= price <= 100_000_000:
            raise AppError("VALIDATION_FAILED", field="materials")
        unit = str(item.get("unit", "")).strip()[:10]
        clean.append({"name": name, "quantity": quantity, "unit": unit, "price_fen": price})
    return clean


async def _rate(run: StepRun) -> dict[str, Any]:
    order, step = run.order, run.step
    if step.rating is None or not 1 <= step.rating <= 5:
        raise AppError("VALIDATION_FAILED", field="rating")
    if len(step.comment) > 500:
        raise AppError("VALIDATION_FAILED", field="comment")
    order.rating, order.rating_comment, order.rated_at = step.rating, step.comment.strip(), run.now
    return {"rating": step.rating}


async def _close(run: StepRun) -> dict[str, Any]:
    run.order.closed_at = run.now
    return {}


async def _reopen(run: StepRun) -> dict[str, Any]:
    order, now = run.order, run.now
    days = settings_of(run.tenant)["reopen_days"]
    if order.completed_at is None or now - order.completed_at > timedelta(days=days):
        raise AppError(
            "INVALID_TRANSITION",
            zh=f"完成超过{days}天的工单不能重新打开，请提交新工单",
            en=f"Orders completed over {days} days ago cannot be reopened; submit a new one",
            status=order.status,
        )
    order.reason = _required(run.step.reason, "reason")
    order.reopen_count += 1
    order.rating, order.rating_comment, order.rated_at, order.closed_at = None, "", None, None
    # the order starts over: fresh deadlines, and the SLA sweep may flag it again
    category = await run.session.get(Category, order.category_id) if order.category_id else None
    if category is not None:
        order.response_due_at = now + timedelta(minutes=category.response_minutes)
        order.completion_due_at = now + timedelta(minutes=category.completion_minutes)
    order.overdue_at = order.escalated_at = None
    return {}


_EFFECTS = {
    "accept": _accept,
    "reject": _reject,
    "merge": _merge,
    "cancel": _cancel,
    "dispatch": _dispatch,
    "transfer": _dispatch,
    "grab": _grab,
    "confirm": _confirm,
    "start": _start,
    "take_up": _start,
    "pause": _pause,
    "resume": _nothing,
    "complete": _complete,
    "answer": _complete,
    "rate": _rate,
    "close": _close,
    "reopen": _reopen,
}
assert set(_EFFECTS) == set(workflow.ACTIONS), "every workflow action needs its effect"


async def _worker(session: AsyncSession, order: WorkOrder, worker_id: int) -> User:
    """A dispatch target: active staff who may work orders, in the order's community."""
    wanted = WORK if order.type != "complaint" else COMPLAINT_PERMISSION[order.level]
    found = await session.scalar(
        staff_holding(wanted, community_id=order.community_id).where(User.id == worker_id)
    )
    if found is None:
        raise AppError("NOT_FOUND", field="workerId")
    return await get_row(session, User, worker_id, field="workerId")


# --- telling people ------------------------------------------------------------------------


async def _tell_resident(run: StepRun, message: Any, **variables: Any) -> None:
    order = run.order
    if order.resident_id is None:
        return
    await run.runtime.notifier.notify(
        run.session,
        runtime=run.runtime,
        tenant=run.tenant.slug,
        type_key=message.key,
        users=[order.resident_id],
        variables={"number": order.number, "order_id": order.id, **variables},
        source=f"workorders:{order.id}",
    )


async def _tell_dispatched(run: StepRun) -> None:
    """The resident learns who comes and when (at dispatch, again once the time is set)."""
    order = run.order
    if order.worker_id is None:
        return
    worker = await get_row(run.session, User, order.worker_id, field=None)
    when = order.arrival_at or order.preferred_start
    zone = run.tenant.zone
    arrival = when.astimezone(zone).strftime("%Y-%m-%d %H:%M") if when else "—"
    await _tell_resident(
        run,
        messages.DISPATCHED,
        worker=worker.name,
        worker_phone=worker.phone or "",
        arrival=arrival,
    )


async def _tell_assignees(run: StepRun) -> None:
    order, session = run.order, run.session
    if order.worker_id is not None:
        users: Any = [order.worker_id]
    elif order.team_id is not None:
        users = select(StaffProfile.user_id).where(StaffProfile.department_id == order.team_id)
    else:
        return
    category = await session.get(Category, order.category_id) if order.category_id else None
    await run.runtime.notifier.notify(
        session,
        runtime=run.runtime,
        tenant=run.tenant.slug,
        type_key=messages.ASSIGNED.key,
        users=users,
        variables={
            "number": order.number,
            "order_id": order.id,
            "category": category.name_zh if category else "",
            "place": await place_label(session, order),
        },
        source=f"workorders:{order.id}",
    )


async def place_label(session: AsyncSession, order: WorkOrder) -> str:
    """Where the work is, as staff say it: 小区 楼栋 房号, or the public-area location."""
    if order.unit_id is not None:
        return (await unit_labels(session, [order.unit_id]))[order.unit_id]
    community = await session.get(Community, order.community_id)
    return " ".join(p for p in ((community.name if community else ""), order.location) if p)
