"""Work-order subscriptions (graphql-transport-ws on /graphql): a resident's own orders, a
worker's queue and the staff queue, as they change.

Events carry ids only (see ``workorders.realtime``); each is re-read here with the
subscriber's own rights, in a short-lived session, before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from sqlalchemy import select

from wuye.graphql.access import subscription
from wuye.graphql.ids import gid
from wuye.modules.workorders import orders, realtime, threads
from wuye.modules.workorders.graphql.common import order_id, viewer_of
from wuye.modules.workorders.graphql.orders import OrderType
from wuye.modules.workorders.graphql.threads import MessageType
from wuye.modules.workorders.models import ThreadMessage, WorkOrder
from wuye.modules.workorders.permissions import VIEW, WORK


@strawberry.type(name="WorkOrderChange")
class ChangeType:
    order_id: strawberry.ID
    action: str = strawberry.field(description="The workflow step that changed it")
    visible: bool = strawberry.field(
        description="False when the order has just left my list (e.g. transferred away)"
    )
    order: OrderType | None


async def _change(ctx: Any, payload: dict[str, Any], where: Any) -> ChangeType:
    order = await ctx.session.scalar(
        select(WorkOrder).where(WorkOrder.id == int(payload["order_id"]), where)
    )
    return ChangeType(
        order_id=gid("WorkOrder", int(payload["order_id"])),
        action=str(payload["action"]),
        visible=order is not None,
        order=OrderType.of(order) if order is not None else None,
    )


@strawberry.type
class OrderSubscription:
    @subscription(signed_in=True, description="Resident: my orders, at every step")
    async def my_work_order_changed(
        self, info: strawberry.Info
    ) -> AsyncGenerator[ChangeType, None]:
        ctx = info.context
        user = await ctx.user()
        async for payload in ctx.events(realtime.resident_topic(user.id)):
            yield await _change(ctx, payload, WorkOrder.resident_id == user.id)

    @subscription(WORK, description="Worker: my queue (mine, my team's, the grab pool)")
    async def work_queue_changed(self, info: strawberry.Info) -> AsyncGenerator[ChangeType, None]:
        ctx = info.context
        async for payload in ctx.events(realtime.QUEUE):
            viewer = await viewer_of(ctx)
            me, team = viewer.user.id, viewer.team_id
            if not realtime.concerns(payload, user_id=me, team_id=team):
                continue
            change = await _change(ctx, payload, orders.worker_queue(viewer, ctx.tenant))
            pool = orders.settings_of(ctx.tenant)["allow_grab"]
            if change.visible or realtime.might_have_held(
                payload, user_id=me, team_id=team, pool=pool
            ):
                yield change

    @subscription(VIEW, description="Staff: orders of my communities as they change")
    async def work_orders_changed(self, info: strawberry.Info) -> AsyncGenerator[ChangeType, None]:
        ctx = info.context
        async for payload in ctx.events(realtime.QUEUE):
            viewer = await viewer_of(ctx)
            if viewer.scope.allows(payload.get("community_id")):
                change = await _change(ctx, payload, orders.desk_sees(viewer))
                if change.visible:  # a complaint above my level says nothing, not even its id
                    yield change

    @subscription(signed_in=True, description="A consultation's new messages (在线客服)")
    async def work_order_message_added(
        self, info: strawberry.Info, order_id: strawberry.ID
    ) -> AsyncGenerator[MessageType, None]:
        ctx = info.context
        oid = _order_pk(order_id)
        # only a reader of the thread may listen (NOT_FOUND otherwise), checked again per event
        await threads.thread_order(ctx.session, await viewer_of(ctx), ctx.tenant, oid)
        async for payload in ctx.events(realtime.thread_topic(oid)):
            viewer = await viewer_of(ctx)
            message = await ctx.session.scalar(
                select(ThreadMessage)
                .join(WorkOrder, WorkOrder.id == ThreadMessage.order_id)
                .where(ThreadMessage.id == int(payload["message_id"]), threads.readers(viewer))
            )
            if message is not None and message.order_id == oid:
                yield MessageType.of(message)


def _order_pk(global_id: strawberry.ID) -> int:
    return order_id(global_id, "orderId")
