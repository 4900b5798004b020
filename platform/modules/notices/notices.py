"""Notices (通知公告): drafting, approval, scheduled publishing, fan-out, receipts, reach.

Life cycle: draft -> published (or scheduled, when ``publish_at`` is ahead) -> withdrawn.
With approval on (the tenant's ``notices`` module config ``approval_required``), publishing
a draft makes it ``pending`` until a *second* person holding ``notices.approve`` approves
(-> scheduled / published) or rejects it (-> draft, with a note). Withdrawing a pending or
scheduled notice returns it to draft; a published one becomes ``withdrawn``.

Going live writes an outbox intent for ``deliver_notice`` in the same transaction: the job
snapshots the audience into ``notice_recipients`` (reach counts against it) and records the
inbox and push messages through the notification pipeline. Residents see a notice while it
targets the place they live now, or if they were in its audience when it went out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.identity.service import staff_holding
from wuye.modules.estate.residents import Places
from wuye.modules.notices import content
from wuye.modules.notices.audience import Target, audience, check_targets
from wuye.modules.notices.messages import APPROVAL_REQUESTED, NOTICE, URGENT_NOTICE
from wuye.modules.notices.models import CATEGORIES, Notice, NoticeRecipient, NoticeTarget
from wuye.modules.notices.permissions import APPROVE
from wuye.modules.rows import get_row
from wuye.notify.models import Message
from wuye.outbox import enqueue_with

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

DELIVER_JOB = "deliver_notice"
MAX_ATTACHMENTS = 20


@dataclass(frozen=True)
class Attachment:
    name: str
    url: str
    size: int = 0


@dataclass(frozen=True)
class NoticeDraft:
    title: str
    body: str
    targets: Sequence[Target]
    body_format: str = "markdown"
    category: str = "general"
    channels: Sequence[str] | None = None  # None: the message type's defaults
    pinned: bool = False
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    attachments: Sequence[Attachment] = field(default_factory=tuple)


def message_type_key(category: str) -> str:
    return URGENT_NOTICE.key if category == "urgent" else NOTICE.key


def approval_required(tenant: TenantInfo) -> bool:
    return bool(tenant.modules.get("notices", {}).get("approval_required", False))


def _now() -> datetime:
    return datetime.now(UTC)


# --- drafts --------------------------------------------------------------------------------


def _check_draft(runtime: Runtime, draft: NoticeDraft) -> list[str]:
    title = draft.title.strip()
    if not 1 <= len(title) <= 200:
        raise AppError("VALIDATION_FAILED", field="title", max=200)
    if draft.category not in CATEGORIES:
        raise AppError("VALIDATION_FAILED", field="category", allowed=", ".join(CATEGORIES))
    if draft.publish_at and draft.expires_at and draft.expires_at <= draft.publish_at:
        raise AppError("VALIDATION_FAILED", field="expiresAt", reason="before publishAt")
    if len(draft.attachments) > MAX_ATTACHMENTS:
        raise AppError("VALIDATION_FAILED", field="attachments", max=MAX_ATTACHMENTS)
    for a in draft.attachments:
        if not a.url.startswith(("https://", "http://")) or not a.name.strip():
            raise AppError("VALIDATION_FAILED", field="attachments", url=a.url[:100])
    notifier = runtime.notifier
    return notifier.channels_for(notifier.type(message_type_key(draft.category)), draft.channels)


async def _apply_draft(
    session: AsyncSession, runtime: Runtime, notice: Notice, draft: NoticeDraft, scope: DataScope
) -> None:
    channels = _check_draft(runtime, draft)
    targets = await check_targets(session, draft.targets, scope)
    body_html = content.to_html(draft.body, draft.body_format)
    notice.title = draft.title.strip()
    notice.category = draft.category
    notice.body_format = draft.body_format
    notice.body_source = draft.body
    notice.body_html = body_html
    notice.summary = content.summary(body_html)
    notice.channels = channels
    notice.pinned = draft.pinned
    notice.publish_at = draft.publish_at
    notice.expires_at = draft.expires_at
    notice.attachments = [a.__dict__ for a in draft.attachments]
    notice.updated_at = func.now()
    if notice.id is None:
        session.add(notice)
        await session.flush()
    else:
        await session.execute(delete(NoticeTarget).where(NoticeTarget.notice_id == notice.id))
    await session.execute(
        insert(NoticeTarget),
        [{"notice_id": notice.id, "kind": t.kind, "ref_id": t.ref_id} for t in targets],
    )


async def create_notice(
    session: AsyncSession, runtime: Runtime, *, author: User, scope: DataScope, draft: NoticeDraft
) -> Notice:
    notice = Notice(status="draft", created_by=author.id)
    await _apply_draft(session, runtime, notice, draft, scope)
    return notice


async def get_notice(session: AsyncSession, notice_id: int, *, lock: bool = False) -> Notice:
    return await get_row(session, Notice, notice_id, field=None, lock=lock)


def _require_status(notice: Notice, *allowed: str) -> None:
    if notice.status not in allowed:
        raise AppError("INVALID_TRANSITION", status=notice.status)


async def update_notice(
    session: AsyncSession, runtime: Runtime, *, notice_id: int, scope: DataScope, draft: NoticeDraft
) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "draft")
    await _apply_draft(session, runtime, notice, draft, scope)
    return notice


async def targets_of(session: AsyncSession, notice_ids: Sequence[int]) -> dict[int, list[Target]]:
    rows = await session.execute(
        select(NoticeTarget.notice_id, NoticeTarget.kind, NoticeTarget.ref_id)
        .where(NoticeTarget.notice_id.in_(notice_ids))
        .order_by(NoticeTarget.id)
    )
    found: dict[int, list[Target]] = {i: [] for i in notice_ids}
    for notice_id, kind, ref_id in rows:
        found[notice_id].append(Target(kind, ref_id))
    return found


# --- life cycle ----------------------------------------------------------------------------


async def publish_notice(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, notice_id: int, actor: User
) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "draft")
    _check_not_expired(notice)
    if approval_required(tenant):
        notice.status = "pending"
        notice.submitted_by = actor.id
        notice.review_note = ""
        await _ask_approvers(session, runtime, tenant, notice, actor)
    else:
        await _go_live(session, runtime, tenant, notice)
    return notice


async def approve_notice(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    notice_id: int,
    approver: User,
    note: str = "",
) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "pending")
    if approver.id in (notice.submitted_by, notice.created_by):
        raise AppError("SECOND_APPROVER_REQUIRED")
    _check_not_expired(notice)
    notice.approved_by = approver.id
    notice.review_note = note.strip()[:500]
    await _go_live(session, runtime, tenant, notice)
    return notice


async def reject_notice(
    session: AsyncSession, *, notice_id: int, approver: User, note: str
) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "pending")
    if not note.strip():
        raise AppError("VALIDATION_FAILED", field="note", reason="required")
    notice.status = "draft"
    notice.review_note = note.strip()[:500]
    notice.approved_by = None
    return notice


async def withdraw_notice(session: AsyncSession, *, notice_id: int) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "pending", "scheduled", "published")
    if notice.status == "published":
        notice.status = "withdrawn"
        notice.withdrawn_at = _now()
    else:
        notice.status = "draft"
    return notice


async def set_pinned(session: AsyncSession, *, notice_id: int, pinned: bool) -> Notice:
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "draft", "pending", "scheduled", "published")
    notice.pinned = pinned
    return notice


def is_expired(notice: Notice) -> bool:
    return notice.expires_at is not None and notice.expires_at <= _now()


def _check_not_expired(notice: Notice) -> None:
    if is_expired(notice):
        raise AppError("VALIDATION_FAILED", field="expiresAt", reason="already expired")


async def _go_live(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, notice: Notice
) -> None:
    now = _now()
    if notice.publish_at is not None and notice.publish_at > now:
        notice.status = "scheduled"  # the per-minute job publishes it (publish_due)
        return
    notice.status = "published"
    notice.published_at = now
    await _push(session, runtime, tenant, notice, channels=list(notice.channels), repush=False)


async def _push(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    notice: Notice,
    *,
    channels: list[str],
    repush: bool,
) -> None:
    notice.pushes = (notice.pushes or 0) + 1
    push = notice.pushes
    await enqueue_with(
        session,
        runtime,
        tenant,
        job=DELIVER_JOB,
        args={"notice_id": notice.id, "push": push, "channels": channels, "repush": repush},
        dedup_key=f"{tenant.slug}:notice:{notice.id}:{push}",
    )


async def repush_notice(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    notice_id: int,
    channels: Sequence[str] | None,
) -> Notice:
    """Push again, on ``channels``, to everyone targeted who has not read it yet."""
    notice = await get_notice(session, notice_id, lock=True)
    _require_status(notice, "published")
    notifier = runtime.notifier
    chosen = notifier.channels_for(
        notifier.type(message_type_key(notice.category)),
        channels if channels is not None else notice.channels,
    )
    if not chosen:
        raise AppError("VALIDATION_FAILED", field="channels", reason="empty")
    await _push(session, runtime, tenant, notice, channels=chosen, repush=True)
    return notice


async def publish_due(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, now: datetime | None = None
) -> int:
    """Publish scheduled notices whose time has come (the per-minute job)."""
    due = (
        await session.scalars(
            select(Notice)
            .where(Notice.status == "scheduled", Notice.publish_at <= (now or _now()))
            .order_by(Notice.publish_at)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for notice in due:
        notice.status = "published"
        notice.published_at = now or _now()
        await _push(session, runtime, tenant, notice, channels=list(notice.channels), repush=False)
    return len(due)


async def _ask_approvers(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, notice: Notice, actor: User
) -> None:
    approvers = staff_holding(APPROVE).where(User.id != actor.id)
    await runtime.notifier.notify(
        session,
        runtime=runtime,
        tenant=tenant.slug,
        type_key=APPROVAL_REQUESTED.key,
        users=approvers,
        variables={"title": notice.title, "author": actor.name, "notice_id": notice.id},
        source=_source(notice.id),
    )


# --- fan-out (the deliver_notice job) ------------------------------------------------------


async def deliver(
    session: AsyncSession,
    runtime: Runtime,
    tenant: str,
    *,
    notice_id: int,
    push: int,
    channels: list[str],
    repush: bool,
) -> int:
    """Snapshot the audience (first push) and record the messages. Idempotent: recipients
    are upserted and messages carry the push's de-duplication key."""
    notice = await session.get(Notice, notice_id)
    if notice is None or notice.status != "published":
        return 0  # withdrawn (or deleted) before the job ran
    if not repush:
        targets = (await targets_of(session, [notice_id]))[notice_id]
        reached = audience(targets).subquery()
        await session.execute(
            insert(NoticeRecipient)
            .from_select(
                ["notice_id", "user_id"],
                select(literal(notice_id, BigInteger), reached.c.id),
            )
            .on_conflict_do_update(
                index_elements=["notice_id", "user_id"], set_={"targeted": true()}
            )
        )
    recipients = select(NoticeRecipient.user_id).where(
        NoticeRecipient.notice_id == notice_id, NoticeRecipient.targeted
    )
    if repush:
        recipients = recipients.where(NoticeRecipient.read_at.is_(None))
    recorded = await runtime.notifier.notify(
        session,
        runtime=runtime,
        tenant=tenant,
        type_key=message_type_key(notice.category),
        users=recipients,
        variables={
            "title": notice.title,
            "summary": notice.summary,
            "category": notice.category,
            "notice_id": notice.id,
        },
        channels=channels,
        inbox=not repush,
        source=_source(notice.id),
        dedup=f"notice:{notice.id}:{push}",
    )
    return recorded.count()


# --- residents -----------------------------------------------------------------------------


def _targets_place(places: Places, user_id: int) -> Any:
    def kind(name: str, ids: frozenset[int]) -> Any:
        return and_(NoticeTarget.kind == name, NoticeTarget.ref_id.in_(sorted(ids)))

    return (
        exists()
        .where(NoticeTarget.notice_id == Notice.id)
        .where(
            or_(
                NoticeTarget.kind == "tenant",
                kind("community", places.community_ids),
                kind("building", places.building_ids),
                kind("unit", places.unit_ids),
                and_(NoticeTarget.kind == "user", NoticeTarget.ref_id == user_id),
            )
        )
    )


def visible_to_resident(user_id: int, places: Places, now: datetime | None = None) -> Any:
    """Published, not expired, and aimed at where the resident lives or at them when sent."""
    was_recipient = (
        exists()
        .where(NoticeRecipient.notice_id == Notice.id)
        .where(NoticeRecipient.user_id == user_id, NoticeRecipient.targeted)
    )
    return and_(
        Notice.status == "published",
        or_(Notice.expires_at.is_(None), Notice.expires_at > (now or _now())),
        or_(_targets_place(places, user_id), was_recipient),
    )


def resident_notices(user_id: int, places: Places, *, category: str | None = None) -> Select[Any]:
    stmt = select(Notice).where(visible_to_resident(user_id, places))
    if category is not None:
        stmt = stmt.where(Notice.category == category)
    return stmt


async def resident_notice(
    session: AsyncSession, *, user_id: int, places: Places, notice_id: int
) -> Notice:
    notice = await session.scalar(
        select(Notice).where(Notice.id == notice_id, visible_to_resident(user_id, places))
    )
    if notice is None:
        raise AppError("NOT_FOUND")
    return notice


async def read_notice(
    session: AsyncSession, *, user_id: int, places: Places, notice_id: int
) -> Notice:
    """The resident opened the notice: a read receipt, and its inbox message is read."""
    notice = await resident_notice(session, user_id=user_id, places=places, notice_id=notice_id)
    await session.execute(
        insert(NoticeRecipient)
        .values(notice_id=notice_id, user_id=user_id, targeted=False, read_at=func.now())
        .on_conflict_do_update(
            index_elements=["notice_id", "user_id"],
            set_={"read_at": func.coalesce(NoticeRecipient.read_at, func.now())},
        )
    )
    await session.execute(
        update(Message)
        .where(
            Message.user_id == user_id,
            Message.source == _source(notice_id),
            Message.channel == "inbox",
            Message.read_at.is_(None),
        )
        .values(read_at=func.now(), status="read")
    )
    return notice


async def read_at_of(
    session: AsyncSession, *, user_id: int, notice_ids: Sequence[int]
) -> dict[int, datetime | None]:
    rows = await session.execute(
        select(NoticeRecipient.notice_id, NoticeRecipient.read_at).where(
            NoticeRecipient.user_id == user_id, NoticeRecipient.notice_id.in_(notice_ids)
        )
    )
    found: dict[int, datetime | None] = dict.fromkeys(notice_ids)
    found.update({nid: read_at for nid, read_at in rows})
    return found


# --- reach (传达率) --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    targeted: int
    read: int
    by_channel: dict[str, dict[str, int]]  # channel -> status -> messages


def _source(notice_id: int) -> str:
    return f"notice:{notice_id}"


async def reach_of(session: AsyncSession, notice_ids: Sequence[int]) -> dict[int, Reach]:
    """Reach of several notices in two statements (a staff list asks for a page at once)."""
    counted = await session.execute(
        select(
            NoticeRecipient.notice_id,
            func.count().filter(NoticeRecipient.targeted),
            func.count().filter(NoticeRecipient.targeted, NoticeRecipient.read_at.isnot(None)),
        )
        .where(NoticeRecipient.notice_id.in_(notice_ids))
        .group_by(NoticeRecipient.notice_id)
    )
    people = {nid: (targeted, read) for nid, targeted, read in counted}
    by_source = {_source(nid): nid for nid in notice_ids}
    rows = await session.execute(
        select(Message.source, Message.channel, Message.status, func.count())
        .where(Message.source.in_(list(by_source)), Message.type != APPROVAL_REQUESTED.key)
        .group_by(Message.source, Message.channel, Message.status)
    )
    channels: dict[int, dict[str, dict[str, int]]] = {nid: {} for nid in notice_ids}
    for source, channel, status, n in rows:
        channels[by_source[source]].setdefault(channel, {})[status] = n
    return {nid: Reach(*people.get(nid, (0, 0)), by_channel=channels[nid]) for nid in notice_ids}
