"""Notices API. Staff (``notices.view`` / ``notices.manage`` / ``notices.approve``) draft,
publish, approve, withdraw, re-push and see reach; residents list and read what targets
them (``myNotices``, ``readNotice``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import or_, select
from strawberry.dataloader import DataLoader

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.notices import notices as service
from wuye.modules.notices.audience import Target
from wuye.modules.notices.graphql.readers import resident_places
from wuye.modules.notices.models import Notice
from wuye.modules.notices.permissions import APPROVE, MANAGE, VIEW

_REF_TYPES = {"community": "Community", "building": "Building", "unit": "Unit", "user": "User"}


# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="NoticeAttachment")
class AttachmentType:
    name: str
    url: str
    size: int


@strawberry.type(name="NoticeTarget")
class TargetType:
    kind: str = strawberry.field(description="tenant | community | building | unit | user")
    ref_id: strawberry.ID | None

    @classmethod
    def of(cls, t: Target) -> TargetType:
        ref = None if t.ref_id is None else gid(_REF_TYPES[t.kind], t.ref_id)
        return cls(kind=t.kind, ref_id=ref)


@strawberry.type(name="NoticeChannelReach")
class ChannelReachType:
    channel: str
    total: int
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    throttled: int
    suppressed: int


@strawberry.type(name="NoticeReach")
class ReachType:
    targeted: int
    read: int
    unread: int
    read_rate: float = strawberry.field(description="read / targeted, 0 when none targeted")
    channels: list[ChannelReachType]

    @classmethod
    def of(cls, r: service.Reach) -> ReachType:
        def channel(name: str, counts: dict[str, int]) -> ChannelReachType:
            return ChannelReachType(
                channel=name,
                total=sum(counts.values()),
                queued=counts.get("queued", 0) + counts.get("sending", 0),
                sent=counts.get("sent", 0),
                delivered=counts.get("delivered", 0),
                read=counts.get("read", 0),
                failed=counts.get("failed", 0),
                throttled=counts.get("throttled", 0),
                suppressed=counts.get("suppressed", 0),
            )

        return cls(
            targeted=r.targeted,
            read=r.read,
            unread=r.targeted - r.read,
            read_rate=round(r.read / r.targeted, 4) if r.targeted else 0.0,
            channels=[channel(k, v) for k, v in sorted(r.by_channel.items())],
        )


def _targets_loader(ctx: Any) -> DataLoader[int, list[Target]]:
    async def load(ids: list[int]) -> list[list[Target]]:
        found = await service.targets_of(ctx.session, ids)
        return [found[i] for i in ids]

    return ctx.loader("notices.targets", lambda: DataLoader(load_fn=load))


def _reach_loader(ctx: Any) -> DataLoader[int, service.Reach]:
    async def load(ids: list[int]) -> list[service.Reach]:
        found = await service.reach_of(ctx.session, ids)
        return [found[i] for i in ids]

    return ctx.loader("notices.reach", lambda: DataLoader(load_fn=load))


def _read_loader(ctx: Any, user_id: int) -> DataLoader[int, datetime | None]:
    async def load(ids: list[int]) -> list[datetime | None]:
        found = await service.read_at_of(ctx.session, user_id=user_id, notice_ids=ids)
        return [found[i] for i in ids]

    return ctx.loader(f"notices.read.{user_id}", lambda: DataLoader(load_fn=load))


@strawberry.type(name="Notice")
class NoticeType:
    id: strawberry.ID
    title: str
    category: str = strawberry.field(description="general | urgent | holiday | policy | activity")
    body_format: str
    body_html: str = strawberry.field(description="Sanitised HTML, safe to render")
    summary: str
    attachments: list[AttachmentType]
    channels: list[str] = strawberry.field(description="External channels it is pushed on")
    pinned: bool
    publish_at: datetime | None
    expires_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    _pk: strawberry.Private[int]
    _row: strawberry.Private[Notice]

    @classmethod
    def of(cls, n: Notice) -> NoticeType:
        return cls(
            id=gid("Notice", n.id),
            title=n.title,
            category=n.category,
            body_format=n.body_format,
            body_html=n.body_html,
            summary=n.summary,
            attachments=[AttachmentType(**a) for a in n.attachments or []],
            channels=list(n.channels or []),
            pinned=n.pinned,
            publish_at=n.publish_at,
            expires_at=n.expires_at,
            published_at=n.published_at,
            created_at=n.created_at,
            _pk=n.id,
            _row=n,
        )

    @strawberry.field(description="When I read it (residents); null if unread")
    async def read_at(self, info: strawberry.Info) -> datetime | None:
        user = await info.context.user()
        return await _read_loader(info.context, user.id).load(self._pk)


@strawberry.type(name="StaffNotice")
class StaffNoticeType(NoticeType):
    status: str = strawberry.field(
        description="draft | pending | scheduled | published | withdrawn"
    )
    body_source: str
    review_note: str
    withdrawn_at: datetime | None
    expired: bool
    created_by: strawberry.ID | None
    approved_by: strawberry.ID | None

    @classmethod
    def of(cls, n: Notice) -> StaffNoticeType:  # type: ignore[override]
        base = NoticeType.of(n).__dict__
        return cls(
            **base,
            status=n.status,
            body_source=n.body_source,
            review_note=n.review_note,
            withdrawn_at=n.withdrawn_at,
            expired=service.is_expired(n),
            created_by=None if n.created_by is None else gid("User", n.created_by),
            approved_by=None if n.approved_by is None else gid("User", n.approved_by),
        )

    @strawberry.field
    async def targets(self, info: strawberry.Info) -> list[TargetType]:
        return [TargetType.of(t) for t in await _targets_loader(info.context).load(self._pk)]

    @strawberry.field(description="Reach (传达率): targeted, read, messages per channel")
    async def reach(self, info: strawberry.Info) -> ReachType:
        return ReachType.of(await _reach_loader(info.context).load(self._pk))


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class NoticeTargetInput:
    kind: str = strawberry.field(description="tenant | community | building | unit | user")
    ref_id: strawberry.ID | None = None


@strawberry.input
class NoticeAttachmentInput:
    name: str
    url: str
    size: int = 0


@strawberry.input
class NoticeInput:
    title: str
    body: str
    targets: list[NoticeTargetInput]
    body_format: str = "markdown"
    category: str = "general"
    channels: list[str] | None = None
    pinned: bool = False
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    attachments: list[NoticeAttachmentInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateNoticeInput(NoticeInput):
    id: strawberry.ID


def _target(t: NoticeTargetInput) -> Target:
    if t.kind == "tenant":
        if t.ref_id is not None:
            raise AppError("VALIDATION_FAILED", field="targets", kind=t.kind)
        return Target("tenant")
    type_name = _REF_TYPES.get(t.kind)
    if type_name is None or t.ref_id is None:
        raise AppError("VALIDATION_FAILED", field="targets", kind=t.kind)
    return Target(t.kind, decode_id(t.ref_id, type_name, "targets"))


def _draft(i: NoticeInput) -> service.NoticeDraft:
    return service.NoticeDraft(
        title=i.title,
        body=i.body,
        targets=[_target(t) for t in i.targets],
        body_format=i.body_format,
        category=i.category,
        channels=i.channels,
        pinned=i.pinned,
        publish_at=i.publish_at,
        expires_at=i.expires_at,
        attachments=[service.Attachment(a.name, a.url, a.size) for a in i.attachments],
    )


def _notice_id(id: strawberry.ID) -> int:
    return decode_id(id, "Notice", "id")


# --- API -----------------------------------------------------------------------------------


@strawberry.type
class NoticeQuery:
    @query(VIEW, description="Staff: notices, pinned first then newest")
    async def notices(
        self,
        info: strawberry.Info,
        status: str | None = None,
        category: str | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StaffNoticeType]:
        stmt = select(Notice)
        if status is not None:
            stmt = stmt.where(Notice.status == status)
        if category is not None:
            stmt = stmt.where(Notice.category == category)
        if search:
            like = f"%{search.strip()}%"
            stmt = stmt.where(or_(Notice.title.ilike(like), Notice.body_source.ilike(like)))
        stmt = stmt.order_by(Notice.pinned.desc(), Notice.created_at.desc(), Notice.id.desc())
        return await paginate(
            info.context, stmt, first=first, after=after, to_node=StaffNoticeType.of
        )

    @query(VIEW)
    async def notice(self, info: strawberry.Info, id: strawberry.ID) -> StaffNoticeType:
        return StaffNoticeType.of(await service.get_notice(info.context.session, _notice_id(id)))

    @query(signed_in=True, description="Resident: notices for me, pinned first then newest")
    async def my_notices(
        self,
        info: strawberry.Info,
        category: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[NoticeType]:
        user, places = await resident_places(info.context)
        stmt = service.resident_notices(user.id, places, category=category).order_by(
            Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc()
        )
        return await paginate(info.context, stmt, first=first, after=after, to_node=NoticeType.of)

    @query(signed_in=True, description="Resident: one notice (readNotice records the receipt)")
    async def my_notice(self, info: strawberry.Info, id: strawberry.ID) -> NoticeType:
        user, places = await resident_places(info.context)
        notice = await service.resident_notice(
            info.context.session, user_id=user.id, places=places, notice_id=_notice_id(id)
        )
        return NoticeType.of(notice)


@strawberry.type
class NoticeMutation:
    @mutation(MANAGE, description="A draft notice")
    async def create_notice(self, info: strawberry.Info, input: NoticeInput) -> StaffNoticeType:
        ctx = info.context
        notice = await service.create_notice(
            ctx.session,
            ctx.runtime,
            author=await ctx.user(),
            scope=await ctx.data_scope(),
            draft=_draft(input),
        )
        return StaffNoticeType.of(notice)

    @mutation(MANAGE, description="Edit a draft")
    async def update_notice(
        self, info: strawberry.Info, input: UpdateNoticeInput
    ) -> StaffNoticeType:
        ctx = info.context
        notice = await service.update_notice(
            ctx.session,
            ctx.runtime,
            notice_id=_notice_id(input.id),
            scope=await ctx.data_scope(),
            draft=_draft(input),
        )
        return StaffNoticeType.of(notice)

    @mutation(MANAGE, description="Publish a draft (or submit it for approval)")
    async def publish_notice(self, info: strawberry.Info, id: strawberry.ID) -> StaffNoticeType:
        ctx = info.context
        notice = await service.publish_notice(
            ctx.session, ctx.runtime, ctx.tenant, notice_id=_notice_id(id), actor=await ctx.user()
        )
        return StaffNoticeType.of(notice)

    @mutation(APPROVE)
    async def approve_notice(
        self, info: strawberry.Info, id: strawberry.ID, note: str = ""
    ) -> StaffNoticeType:
        ctx = info.context
        notice = await service.approve_notice(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            notice_id=_notice_id(id),
            approver=await ctx.user(),
            note=note,
        )
        return StaffNoticeType.of(notice)

    @mutation(APPROVE, description="Send a pending notice back to draft with a reason")
    async def reject_notice(
        self, info: strawberry.Info, id: strawberry.ID, note: str
    ) -> StaffNoticeType:
        ctx = info.context
        notice = await service.reject_notice(
            ctx.session, notice_id=_notice_id(id), approver=await ctx.user(), note=note
        )
        return StaffNoticeType.of(notice)

    @mutation(MANAGE, description="Withdraw: published -> withdrawn; pending/scheduled -> draft")
    async def withdraw_notice(self, info: strawberry.Info, id: strawberry.ID) -> StaffNoticeType:
        notice = await service.withdraw_notice(info.context.session, notice_id=_notice_id(id))
        return StaffNoticeType.of(notice)

    @mutation(MANAGE)
    async def set_notice_pinned(
        self, info: strawberry.Info, id: strawberry.ID, pinned: bool
    ) -> StaffNoticeType:
        notice = await service.set_pinned(
            info.context.session, notice_id=_notice_id(id), pinned=pinned
        )
        return StaffNoticeType.of(notice)

    @mutation(MANAGE, description="Push again to everyone targeted who has not read it")
    async def repush_notice(
        self, info: strawberry.Info, id: strawberry.ID, channels: list[str] | None = None
    ) -> StaffNoticeType:
        ctx = info.context
        notice = await service.repush_notice(
            ctx.session, ctx.runtime, ctx.tenant, notice_id=_notice_id(id), channels=channels
        )
        return StaffNoticeType.of(notice)

    @mutation(signed_in=True, description="Resident: I opened this notice (read receipt)")
    async def read_notice(self, info: strawberry.Info, id: strawberry.ID) -> NoticeType:
        ctx = info.context
        user, places = await resident_places(ctx)
        notice = await service.read_notice(
            ctx.session, user_id=user.id, places=places, notice_id=_notice_id(id)
        )
        return NoticeType.of(notice)
