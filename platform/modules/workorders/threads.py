"""在线客服: the message thread of a consultation order, between its resident and customer
service (text, images, short voice messages), with per-user read marks.

- Who reads a thread: the order's resident, and staff who see the order at the desk
  (``workorders.view``/``handle``/``dispatch`` in scope). Anyone else gets NOT_FOUND, as if
  the order did not exist (a worker, another resident, staff of another community).
- Who posts: the resident, and customer service who are ``desk`` for the order
  (``orders.actors_of``); not once the order is closed, cancelled, rejected or merged.
- Unread, for one user and order: messages from the other side (``from_staff`` differs from
  whether the user is staff) after the user's ``last_read_id``. Posting marks the thread
  read for the poster.
- A staff reply tells the resident (``workorders.replied``, inbox by default) at most once
  per order per ten-minute window (a notification dedup key), and every message is
  announced on the thread's real-time topic after commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.modules.workorders import messages, orders, realtime
from wuye.modules.workorders.models import (
    MESSAGE_KINDS,
    OPEN_STATUSES,
    ThreadMessage,
    ThreadRead,
    WorkOrder,
)
from wuye.modules.workorders.permissions import DISPATCH, HANDLE, VIEW
from wuye.runtime import Runtime
from wuye.storage import service as storage
from wuye.tenancy.directory import TenantInfo

FILE_KIND = "wo_message"  # files.attached_kind of a message's image or voice clip
PURPOSES = {"image": "workorders.photo", "voice": "workorders.voice"}
MAX_BODY = 2000
MAX_VOICE_BYTES = 2 * 1024 * 1024  # a short voice message (about a minute of AMR/AAC)
# the thread stays open until the order is over; answered (completed/rated) orders too
CHAT_STATUSES = (*OPEN_STATUSES, "completed", "rated")
REPLY_WINDOW_S = 600  # at most one "new reply" notification per order per window


# --- who ----------------------------------------------------------------------------------


def _desk_reader(viewer: orders.Viewer, order: WorkOrder) -> bool:
    """Staff who see the order at the desk (not as its worker or through a team queue)."""
    return (
        viewer.is_staff
        and (viewer.can(VIEW) or viewer.can(HANDLE) or viewer.can(DISPATCH))
        and viewer.scope.allows(order.community_id)
        and (order.type != "complaint" or order.level in viewer.complaint_levels)
    )


def readers(viewer: orders.Viewer) -> ColumnElement[bool]:
    """The orders whose thread the viewer may read, as a WHERE clause."""
    if not viewer.is_staff:
        return WorkOrder.resident_id == viewer.user.id
    return orders.desk_sees(viewer)


async def thread_order(
    session: AsyncSession,
    viewer: orders.Viewer,
    tenant: TenantInfo,
    order_id: int,
    *,
    field: str = "orderId",
) -> WorkOrder:
    """The consultation order whose thread the viewer may read, or NOT_FOUND; another type
    of order has no thread (VALIDATION_FAILED)."""
    order = await orders.get_order(session, viewer, tenant, order_id, field=field)
    if viewer.is_staff and not _desk_reader(viewer, order):  # e.g. its worker
        raise AppError("NOT_FOUND", field=field)
    if order.type != "consultation":
        raise AppError(
            "VALIDATION_FAILED",
            "只有咨询工单有在线客服消息",
            "Only consultation orders have a message thread",
            field=field,
        )
    return order


# --- posting ------------------------------------------------------------------------------


async def post_message(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    viewer: orders.Viewer,
    order_id: int,
    kind: str,
    body: str,
    file_id: int | None,
) -> ThreadMessage:
    """Post to a consultation thread as its resident or as customer service at the desk."""
    order = await thread_order(session, viewer, tenant, order_id)
    actors = orders.actors_of(viewer, order, tenant)
    if not actors & {"resident", "desk"}:
        raise AppError("FORBIDDEN")
    if order.status not in CHAT_STATUSES:
        raise AppError("INVALID_TRANSITION", status=order.status)
    body = _checked(kind, body, file_id)
    from_staff = viewer.is_staff
    message = ThreadMessage(
        order_id=order.id,
        sender_id=viewer.user.id,
        from_staff=from_staff,
        kind=kind,
        body=body,
        file_id=file_id,
    )
    session.add(message)
    await session.flush()
    if file_id is not None:
        (attached,) = await storage.attach(
            session,
            tenant.slug,
            [file_id],
            owner_id=viewer.user.id,
            purpose_key=PURPOSES[kind],
            kind=FILE_KIND,
            target_id=message.id,
            field="fileId",
        )
        if kind == "voice" and attached.size > MAX_VOICE_BYTES:
            raise AppError(
                "VALIDATION_FAILED",
                "语音消息过长",
                "The voice message is too long",
                field="fileId",
            )
    await _read_to(session, order.id, viewer.user.id, message.id)
    if from_staff and order.resident_id is not None:
        await _tell_resident(session, runtime, tenant, order)
    realtime.announce_message(session, runtime, tenant, order.id, message.id)
    return message


def _checked(kind: str, body: str, file_id: int | None) -> str:
    if kind not in MESSAGE_KINDS:
        raise AppError("VALIDATION_FAILED", field="kind")
    body = body.strip()
    if len(body) > MAX_BODY:
        raise AppError(
            "VALIDATION_FAILED",
            f"消息不能超过{MAX_BODY}字",
            f"A message is at most {MAX_BODY} characters",
            field="body",
        )
    if kind == "text":
        if not body:
            raise AppError("VALIDATION_FAILED", field="body")
        if file_id is not None:
            raise AppError("VALIDATION_FAILED", field="fileId")
    elif file_id is None:
        raise AppError("VALIDATION_FAILED", field="fileId")
    return body


async def _tell_resident(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, order: WorkOrder
) -> None:
    assert order.resident_id is not None
    window = int(time.time()) // REPLY_WINDOW_S
    await runtime.notifier.notify(
        session,
        runtime=runtime,
        tenant=tenant.slug,
        type_key=messages.REPLIED.key,
        users=[order.resident_id],
        variables={"number": order.number, "order_id": order.id},
        source=f"workorders:{order.id}",
        dedup=f"workorders.replied:{order.id}:{window}",
    )


# --- reading ------------------------------------------------------------------------------


def thread(order_id: int) -> Any:
    """The messages of one thread (the caller orders and pages them)."""
    return select(ThreadMessage).where(ThreadMessage.order_id == order_id)


async def _read_to(session: AsyncSession, order_id: int, user_id: int, up_to: Any) -> None:
    """Move the user's read mark forward to ``up_to`` (never back)."""
    stmt = insert(ThreadRead).values(order_id=order_id, user_id=user_id, last_read_id=up_to)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ThreadRead.order_id, ThreadRead.user_id],
        set_={
            "last_read_id": func.greatest(ThreadRead.last_read_id, stmt.excluded.last_read_id),
            "read_at": func.now(),
        },
    )
    await session.execute(stmt)


async def mark_read(
    session: AsyncSession,
    tenant: TenantInfo,
    viewer: orders.Viewer,
    order_id: int,
    up_to_id: int | None = None,
) -> int:
    """Mark the thread read up to message ``up_to_id`` (None: the latest); a mark past the
    thread's last message stops at it. Returns the unread count left."""
    order = await thread_order(session, viewer, tenant, order_id)
    last = (
        select(func.coalesce(func.max(ThreadMessage.id), 0))
        .where(ThreadMessage.order_id == order.id)
        .scalar_subquery()
    )
    up_to = last if up_to_id is None else func.least(literal(up_to_id), last)
    await _read_to(session, order.id, viewer.user.id, up_to)
    return (await unread_counts(session, viewer, [order.id])).get(order.id, 0)


def _unread_join(viewer: orders.Viewer) -> tuple[Any, Any]:
    """The read mark of the viewer and the other side's messages after it, to outer-join
    onto ``WorkOrder``."""
    mark = and_(ThreadRead.order_id == WorkOrder.id, ThreadRead.user_id == viewer.user.id)
    newer = and_(
        ThreadMessage.order_id == WorkOrder.id,
        ThreadMessage.from_staff.is_(not viewer.is_staff),
        ThreadMessage.id > func.coalesce(ThreadRead.last_read_id, 0),
    )
    return mark, newer


async def unread_counts(
    session: AsyncSession, viewer: orders.Viewer, order_ids: Sequence[int]
) -> dict[int, int]:
    """Unread messages per order, in one statement, for the orders whose thread the viewer
    may read (the others are left out; an order of another type counts 0)."""
    ids = list(dict.fromkeys(order_ids))
    if not ids:
        return {}
    mark, newer = _unread_join(viewer)
    rows = await session.execute(
        select(WorkOrder.id, func.count(ThreadMessage.id))
        .select_from(WorkOrder)
        .outerjoin(ThreadRead, mark)
        .outerjoin(ThreadMessage, newer)
        .where(WorkOrder.id.in_(ids), readers(viewer))
        .group_by(WorkOrder.id)
    )
    return {int(r[0]): int(r[1]) for r in rows}


def _my_threads(viewer: orders.Viewer) -> ColumnElement[bool]:
    """Residents: their own consultations. Staff: open consultations they handle (accepted
    or took up) and still see."""
    consultation = WorkOrder.type == "consultation"
    if not viewer.is_staff:
        return and_(consultation, WorkOrder.resident_id == viewer.user.id)
    if not viewer.can(HANDLE):
        return false()
    return and_(
        consultation,
        WorkOrder.handler_id == viewer.user.id,
        WorkOrder.status.in_(CHAT_STATUSES),
        orders.desk_sees(viewer),
    )


async def my_unread_total(session: AsyncSession, viewer: orders.Viewer) -> int:
    """The badge: unread messages over all of the viewer's threads (see ``_my_threads``)."""
    mark, newer = _unread_join(viewer)
    found = await session.scalar(
        select(func.count(ThreadMessage.id))
        .select_from(WorkOrder)
        .outerjoin(ThreadRead, mark)
        .join(ThreadMessage, newer)
        .where(_my_threads(viewer))
    )
    return int(found or 0)
