"""Real-time topics of work orders, published after the change commits.

- ``workorders.resident.<user id>``: status changes of a resident's own orders;
- ``workorders.queue``: every change staff queues care about; a worker's subscription keeps
  the events that concern them (``concerns``) and re-reads the order before sending;
- ``workorders.thread.<order id>``: new messages in a consultation thread.
Events carry ids and states only: subscribers load what they may see with their own rights.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.graphql.realtime import publish_after_commit
from wuye.modules.workorders.models import WorkOrder
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo

QUEUE = "workorders.queue"


def resident_topic(user_id: int) -> str:
    return f"workorders.resident.{user_id}"


def thread_topic(order_id: int) -> str:
    return f"workorders.thread.{order_id}"


def order_event(order: WorkOrder, action: str, previous_worker: int | None) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "number": order.number,
        "status": order.status,
        "action": action,
        "worker_id": order.worker_id,
        "previous_worker_id": previous_worker,
        "team_id": order.team_id,
        "community_id": order.community_id,
    }


def announce(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    order: WorkOrder,
    action: str,
    *,
    previous_worker: int | None = None,
) -> None:
    event = order_event(order, action, previous_worker)
    if order.resident_id is not None:
        publish_after_commit(
            session, runtime, tenant.slug, resident_topic(order.resident_id), event
        )
    publish_after_commit(session, runtime, tenant.slug, QUEUE, event)


def might_have_held(
    event: dict[str, Any], *, user_id: int, team_id: int | None, pool: bool
) -> bool:
    """Whether the order could have been in this worker's queue before the event, so that
    a worker who no longer sees it should be told it left."""
    action = event.get("action")
    return (
        event.get("previous_worker_id") == user_id
        or (team_id is not None and event.get("team_id") == team_id and action == "confirm")
        or (pool and action in ("grab", "dispatch", "cancel", "merge"))
    )


def concerns(event: dict[str, Any], *, user_id: int, team_id: int | None) -> bool:
    """Whether a queue event may change this worker's queue (cheap, before any DB read)."""
    return (
        user_id in (event.get("worker_id"), event.get("previous_worker_id"))
        or (team_id is not None and event.get("team_id") == team_id)
        or (event.get("status") == "accepted" and event.get("worker_id") is None)
        or (event.get("action") == "grab")
    )


def announce_message(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, order_id: int, message_id: int
) -> None:
    publish_after_commit(
        session,
        runtime,
        tenant.slug,
        thread_topic(order_id),
        {"order_id": order_id, "message_id": message_id},
    )
