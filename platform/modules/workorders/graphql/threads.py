"""在线客服 API: the message thread of a consultation order, read marks and unread counts.

``workOrderMessages`` lists a thread **newest first** (a chat screen opens on the latest
page and scrolls back with ``after``); its cursors are keyset cursors on the message id, so
messages arriving while one scrolls back never shift or repeat a page. Who may read, post
and what counts as unread: see ``threads``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, Edge, PageInfo, page_size
from wuye.identity.models import User
from wuye.modules.workorders import threads
from wuye.modules.workorders.graphql.common import users_by_id, viewer_of
from wuye.modules.workorders.graphql.orders import PersonType
from wuye.modules.workorders.models import ThreadMessage
from wuye.storage import service as storage
from wuye.storage.graphql import File, file_id
from wuye.storage.models import StoredFile

_CURSOR = "message:"
MAX_ORDERS = 100  # orders per workOrderUnreadCounts request


async def _message_files(session: AsyncSession, ids: list[int]) -> dict[int, StoredFile | None]:
    found = await storage.attached_files(session, threads.FILE_KIND, ids)
    return {k: (v[0] if v else None) for k, v in found.items()}


async def _users(session: AsyncSession, ids: list[int]) -> dict[int, User | None]:
    return dict(await users_by_id(session, ids))  # the orders' "wo.users" batch, typed


async def person(info: strawberry.Info, user_id: int | None) -> PersonType | None:
    """A staff member or resident by name (no phone), batched with the orders' lookups."""
    if user_id is None:
        return None
    loader: DataLoader[int, User | None] = batch(info.context, "wo.users", _users, None)
    user = await loader.load(user_id)
    return None if user is None else PersonType(id=gid("User", user.id), name=user.name, phone=None)


@strawberry.type(name="WorkOrderMessage")
class MessageType:
    id: strawberry.ID
    order_id: strawberry.ID
    kind: str = strawberry.field(description="text | image | voice")
    body: str = strawberry.field(description="The text, or a caption of an image or voice clip")
    from_staff: bool = strawberry.field(description="Sent by customer service")
    created_at: datetime
    row: strawberry.Private[ThreadMessage]

    @classmethod
    def of(cls, m: ThreadMessage) -> MessageType:
        return cls(
            id=gid("WorkOrderMessage", m.id),
            order_id=gid("WorkOrder", m.order_id),
            kind=m.kind,
            body=m.body,
            from_staff=m.from_staff,
            created_at=m.created_at,
            row=m,
        )

    @strawberry.field(description="Who sent it (name only)")
    async def sender(self, info: strawberry.Info) -> PersonType | None:
        return await person(info, self.row.sender_id)

    @strawberry.field(description="Whether I sent it")
    async def mine(self, info: strawberry.Info) -> bool:
        return self.row.sender_id == (await viewer_of(info.context)).user.id

    @strawberry.field(description="The image or voice clip (url: a short-lived link)")
    async def file(self, info: strawberry.Info) -> File | None:
        if self.row.file_id is None:
            return None
        loader = batch(info.context, "wo.message_files", _message_files, None)
        found = await loader.load(self.row.id)
        return None if found is None else File.of(found)


def _cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR}{message_id}".encode()).decode()


def _before(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if raw.startswith(_CURSOR) and raw[len(_CURSOR) :].isdigit():
            return int(raw[len(_CURSOR) :])
    except (ValueError, UnicodeDecodeError):
        pass
    raise AppError("VALIDATION_FAILED", "分页游标无效", "Invalid pagination cursor", field="after")


async def _newest_first(
    ctx: Any, thread_id: int, first: int | None, after: str | None
) -> Connection[MessageType]:
    """One page of a thread, newest first, keyset on the id: ``after`` is the oldest message
    seen so far and the page holds the ones before it."""
    settings = ctx.runtime.settings
    limit = page_size(
        first, default=settings.graphql_default_page_size, maximum=settings.graphql_max_page_size
    )
    stmt = threads.thread(thread_id)
    page = stmt.order_by(ThreadMessage.id.desc()).limit(limit + 1)
    if after:
        page = page.where(ThreadMessage.id < _before(after))
    rows = list(await ctx.session.scalars(page))
    edges = [Edge(cursor=_cursor(m.id), node=MessageType.of(m)) for m in rows[:limit]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit,
            has_previous_page=bool(after),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _session=ctx.session,
        _count_stmt=select(func.count()).select_from(stmt.subquery()),
    )


@strawberry.type(name="WorkOrderUnread")
class UnreadType:
    order_id: strawberry.ID
    unread: int = strawberry.field(description="Messages from the other side I have not read")


@strawberry.input
class PostWorkOrderMessageInput:
    order_id: strawberry.ID
    kind: str = strawberry.field(default="text", description="text | image | voice")
    body: str = strawberry.field(default="", description="Up to 2000 characters")
    file_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="image: a workorders.photo upload; voice: a workorders.voice upload",
    )


@strawberry.type
class ThreadQuery:
    @query(
        signed_in=True,
        description="A consultation's messages, newest first (the resident, or customer "
        "service who see the order)",
    )
    async def work_order_messages(
        self,
        info: strawberry.Info,
        order_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MessageType]:
        ctx = info.context
        viewer = await viewer_of(ctx)
        order = await threads.thread_order(
            ctx.session, viewer, ctx.tenant, decode_id(order_id, "WorkOrder", "orderId")
        )
        return await _newest_first(ctx, order.id, first, after)

    @query(
        signed_in=True,
        description="Unread message counts of these orders (orders whose thread I may not "
        "read are left out)",
    )
    async def work_order_unread_counts(
        self, info: strawberry.Info, order_ids: list[strawberry.ID]
    ) -> list[UnreadType]:
        ctx = info.context
        if len(order_ids) > MAX_ORDERS:
            raise AppError("VALIDATION_FAILED", field="orderIds")
        ids = [decode_id(i, "WorkOrder", "orderIds") for i in order_ids]
        found = await threads.unread_counts(ctx.session, await viewer_of(ctx), ids)
        return [
            UnreadType(order_id=gid("WorkOrder", i), unread=found[i])
            for i in dict.fromkeys(ids)
            if i in found
        ]

    @query(
        signed_in=True,
        description="The badge: unread messages in my consultations (customer service: "
        "the open ones I handle)",
    )
    async def my_unread_work_order_messages(self, info: strawberry.Info) -> int:
        ctx = info.context
        return await threads.my_unread_total(ctx.session, await viewer_of(ctx))


@strawberry.type
class ThreadMutation:
    @mutation(
        signed_in=True, description="Post to a consultation's thread (resident or customer service)"
    )
    async def post_work_order_message(
        self, info: strawberry.Info, input: PostWorkOrderMessageInput
    ) -> MessageType:
        ctx = info.context
        oid = decode_id(input.order_id, "WorkOrder", "orderId")
        ctx.audit_target = ("WorkOrder", str(oid))
        message = await threads.post_message(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await viewer_of(ctx),
            oid,
            input.kind,
            input.body,
            None if input.file_id is None else file_id(input.file_id, "fileId"),
        )
        await ctx.session.refresh(message)
        return MessageType.of(message)

    @mutation(
        signed_in=True,
        description="Mark a thread read up to a message (none: all of it); returns what is "
        "left unread",
    )
    async def mark_work_order_messages_read(
        self, info: strawberry.Info, order_id: strawberry.ID, up_to_id: strawberry.ID | None = None
    ) -> UnreadType:
        ctx = info.context
        oid = decode_id(order_id, "WorkOrder", "orderId")
        ctx.audit_target = ("WorkOrder", str(oid))
        left = await threads.mark_read(
            ctx.session,
            ctx.tenant,
            await viewer_of(ctx),
            oid,
            optional_id(up_to_id, "WorkOrderMessage", "upToId"),
        )
        return UnreadType(order_id=gid("WorkOrder", oid), unread=left)
