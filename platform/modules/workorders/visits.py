"""回访 and call recordings.

- After an order is closed, customer service (``desk`` for it) records a return visit: how
  (phone, visit, WeChat), the outcome, the resident's satisfaction (1-5, only when reached)
  and notes, optionally with the call recording. The timeline gets a staff-only
  ``return_visit`` event. The work list (``pending``) holds closed orders in scope that have
  no concluded visit yet: a call nobody answered (``unreachable``) keeps the order on it.
- Call recordings (``workorders.recording`` uploads) are attached to a complaint
  (``wo_complaint``, target: the order) or to a return visit (``wo_return_visit``, target:
  the visit). Staff who see the order may list them (metadata only); playing one needs
  ``workorders.recordings.listen`` (checked by the GraphQL field, which the platform audits)
  on top of seeing the order. Recordings are never shown through the core ``File`` type.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.modules.workorders import orders
from wuye.modules.workorders.models import (
    VISIT_METHODS,
    VISIT_OUTCOMES,
    OrderEvent,
    ReturnVisit,
    WorkOrder,
)
from wuye.modules.workorders.permissions import HANDLE
from wuye.runtime import Runtime
from wuye.storage import service as storage
from wuye.storage.models import StoredFile
from wuye.tenancy.directory import TenantInfo

RECORDING_PURPOSE = "workorders.recording"
COMPLAINT_KIND = "wo_complaint"  # files.attached_kind: target is the work order
VISIT_KIND = "wo_return_visit"  # files.attached_kind: target is the return visit
RECORDING_KINDS = (COMPLAINT_KIND, VISIT_KIND)
CONCLUDED = ("reached", "refused")  # outcomes that take an order off the work list
MAX_NOTES = 2000


def _invalid(field: str, zh: str | None = None, en: str | None = None) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def _desk(viewer: orders.Viewer, order: WorkOrder, tenant: TenantInfo) -> None:
    if "desk" not in orders.actors_of(viewer, order, tenant):
        raise AppError("FORBIDDEN")


async def staff_order(
    session: AsyncSession,
    viewer: orders.Viewer,
    tenant: TenantInfo,
    order_id: int,
    *,
    field: str = "orderId",
) -> WorkOrder:
    """An order staff see (NOT_FOUND otherwise); residents never see visits or recordings."""
    order = await orders.get_order(session, viewer, tenant, order_id, field=field)
    if not viewer.is_staff:
        raise AppError("FORBIDDEN")
    return order


# --- return visits --------------------------------------------------------------------------


def _check(method: str, outcome: str, satisfaction: int | None, notes: str) -> str:
    if method not in VISIT_METHODS:
        raise _invalid("method")
    if outcome not in VISIT_OUTCOMES:
        raise _invalid("outcome")
    if outcome == "reached":
        if satisfaction is None or not 1 <= satisfaction <= 5:
            raise _invalid("satisfaction", "请填写1至5分的满意度", "Satisfaction is 1 to 5")
    elif satisfaction is not None:
        raise _invalid(
            "satisfaction",
            "未联系上客户时不能填写满意度",
            "Satisfaction is only recorded when the resident was reached",
        )
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise _invalid("notes")
    return notes


async def record_visit(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    viewer: orders.Viewer,
    order_id: int,
    method: str,
    outcome: str,
    satisfaction: int | None,
    notes: str,
    recording_file_id: int | None = None,
) -> ReturnVisit:
    """Customer service records a return visit of a closed order they are desk for."""
    order = await orders.get_order(session, viewer, tenant, order_id, lock=True, field="orderId")
    _desk(viewer, order, tenant)
    if order.status != "closed":
        raise AppError("INVALID_TRANSITION", status=order.status)
    notes = _check(method, outcome, satisfaction, notes)
    visit = ReturnVisit(
        order_id=order.id,
        visitor_id=viewer.user.id,
        method=method,
        outcome=outcome,
        satisfaction=satisfaction,
        notes=notes,
    )
    session.add(visit)
    await session.flush()
    if recording_file_id is not None:
        await storage.attach(
            session,
            tenant.slug,
            [recording_file_id],
            owner_id=viewer.user.id,
            purpose_key=RECORDING_PURPOSE,
            kind=VISIT_KIND,
            target_id=visit.id,
            field="recordingId",
        )
    session.add(
        OrderEvent(
            order_id=order.id,
            action="return_visit",
            from_status=order.status,
            to_status=order.status,
            actor_id=viewer.user.id,
            note=notes[:500],
            internal=True,
            data={
                "visit": visit.id,
                "method": method,
                "outcome": outcome,
                "satisfaction": satisfaction,
                "recording": recording_file_id is not None,
            },
        )
    )
    return visit


def visits_of(order_id: int) -> Any:
    return select(ReturnVisit).where(ReturnVisit.order_id == order_id).order_by(ReturnVisit.id)


def pending(viewer: orders.Viewer) -> ColumnElement[bool]:
    """Closed orders the viewer handles at the desk with no concluded return visit."""
    if not viewer.can(HANDLE):
        return false()
    concluded = exists().where(
        ReturnVisit.order_id == WorkOrder.id, ReturnVisit.outcome.in_(CONCLUDED)
    )
    return and_(WorkOrder.status == "closed", orders.desk_sees(viewer), ~concluded)


# --- recordings ----------------------------------------------------------------------------


async def attach_complaint_recording(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    viewer: orders.Viewer,
    order_id: int,
    file_id: int,
) -> StoredFile:
    """Customer service attaches a call recording they uploaded to a complaint (any state)."""
    order = await orders.get_order(session, viewer, tenant, order_id, lock=True, field="orderId")
    if order.type != "complaint":
        raise _invalid("orderId", "只有投诉工单可以附加通话录音", "Only complaints take recordings")
    _desk(viewer, order, tenant)
    (row,) = await storage.attach(
        session,
        tenant.slug,
        [file_id],
        owner_id=viewer.user.id,
        purpose_key=RECORDING_PURPOSE,
        kind=COMPLAINT_KIND,
        target_id=order.id,
        field="fileId",
    )
    session.add(
        OrderEvent(
            order_id=order.id,
            action="recording",
            from_status=order.status,
            to_status=order.status,
            actor_id=viewer.user.id,
            internal=True,
            data={"file": row.id},
        )
    )
    return row


def _recording_of(order_ids: Any) -> ColumnElement[bool]:
    """Ready recordings attached to these orders (a select of ids, or a list) or to one of
    their return visits."""
    visit_ids = select(ReturnVisit.id).where(ReturnVisit.order_id.in_(order_ids))
    return and_(
        StoredFile.status == "ready",
        StoredFile.purpose == RECORDING_PURPOSE,
        or_(
            and_(StoredFile.attached_kind == COMPLAINT_KIND, StoredFile.attached_id.in_(order_ids)),
            and_(StoredFile.attached_kind == VISIT_KIND, StoredFile.attached_id.in_(visit_ids)),
        ),
    )


async def recordings_of(
    session: AsyncSession, viewer: orders.Viewer, tenant: TenantInfo, order_id: int
) -> list[StoredFile]:
    """Every recording of an order staff see: the complaint's and its return visits'."""
    order = await staff_order(session, viewer, tenant, order_id)
    rows = await session.scalars(
        select(StoredFile).where(_recording_of([order.id])).order_by(StoredFile.id)
    )
    return [r for r in rows if storage.belongs_to(r, tenant.slug)]


async def recording_to_play(
    session: AsyncSession, viewer: orders.Viewer, tenant: TenantInfo, file_id: int
) -> StoredFile:
    """A recording of an order the viewer sees (the caller checked the listen permission);
    NOT_FOUND for anything else, including a file that is not an attached recording."""
    row = await session.scalar(
        select(StoredFile).where(
            StoredFile.id == file_id,
            StoredFile.status == "ready",
            StoredFile.purpose == RECORDING_PURPOSE,
            StoredFile.attached_kind.in_(RECORDING_KINDS),
        )
    )
    if row is None or row.attached_id is None or not storage.belongs_to(row, tenant.slug):
        raise AppError("NOT_FOUND", field="fileId")
    order_id = row.attached_id
    if row.attached_kind == VISIT_KIND:
        found = await session.scalar(
            select(ReturnVisit.order_id).where(ReturnVisit.id == row.attached_id)
        )
        if found is None:
            raise AppError("NOT_FOUND", field="fileId")
        order_id = found
    await staff_order(session, viewer, tenant, order_id, field="fileId")
    return row
