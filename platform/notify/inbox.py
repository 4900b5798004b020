"""The in-app inbox of one user: unread first, then newest; marking messages read.

Every query is filtered by the caller's own ``user_id``: an id of someone else's message
simply matches nothing, so the API never tells whether it exists.

Paging is by key, not offset. The order is (unread first, id descending), which no single
index serves, so a page is the UNION ALL of two index-friendly halves: the user's unread
rows (``ix_messages_unread``, a handful) and the read ones walked backwards along
``ix_messages_inbox`` (user_id, id). A cursor names the half and the last id seen.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.notify.models import Message

MAX_MARK_IDS = 500  # one call marks at most a screenful or two; "all" has its own mutation
_CURSOR_PREFIX = "inbox:"


@dataclass(frozen=True)
class InboxRow:
    id: int
    type: str
    title: str
    body: str
    source: str
    urgent: bool
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    cursors: list[str]
    has_next: bool


# --- cursors -------------------------------------------------------------------------------


def encode_cursor(unread: bool, message_id: int) -> str:
    raw = f"{_CURSOR_PREFIX}{0 if unread else 1}:{message_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[bool, int]:
    """(the last row was unread, its id)."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        half, _, mid = raw.removeprefix(_CURSOR_PREFIX).partition(":")
        if raw.startswith(_CURSOR_PREFIX) and half in ("0", "1") and mid.isdigit():
            return half == "0", int(mid)
    except (ValueError, UnicodeDecodeError):
        pass
    raise AppError("VALIDATION_FAILED", "分页游标无效", "Invalid pagination cursor", field="after")


# --- reading -------------------------------------------------------------------------------

_COLUMNS = (
    Message.id,
    Message.type,
    Message.title,
    Message.body,
    Message.source,
    Message.urgent,
    Message.created_at,
    Message.read_at,
)


def _mine(user_id: int) -> list[ColumnElement[bool]]:
    return [Message.user_id == user_id, Message.channel == "inbox"]


def _half(user_id: int, *, unread: bool, before: int | None, limit: int) -> Select[Any]:
    stmt: Any = select(*_COLUMNS, literal(0 if unread else 1).label("half")).where(
        *_mine(user_id), Message.read_at.is_(None) if unread else Message.read_at.is_not(None)
    )
    if before is not None:
        stmt = stmt.where(Message.id < before)
    return stmt.order_by(Message.id.desc()).limit(limit)


def page_statement(
    user_id: int, *, limit: int, after: str | None, unread_only: bool
) -> Select[Any]:
    """``limit`` rows after the cursor, unread first then newest."""
    after_unread, after_id = decode_cursor(after) if after else (True, None)
    halves: list[Select[Any]] = []
    if after_unread:  # still inside (or before) the unread half
        halves.append(_half(user_id, unread=True, before=after_id, limit=limit))
    if not unread_only:
        before = None if after_unread else after_id
        halves.append(_half(user_id, unread=False, before=before, limit=limit))
    if not halves:  # unread only, and the cursor is already past the unread half
        nothing: Any = select(*_COLUMNS, literal(1).label("half")).where(false())
        return nothing
    both = union_all(*halves).subquery()
    return select(both).order_by(both.c.half, both.c.id.desc()).limit(limit)


async def page(
    session: AsyncSession, user_id: int, *, limit: int, after: str | None, unread_only: bool
) -> InboxPage:
    stmt = page_statement(user_id, limit=limit + 1, after=after, unread_only=unread_only)
    rows = list(await session.execute(stmt))
    has_next = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(
        rows=[InboxRow(*r[:8]) for r in rows],
        cursors=[encode_cursor(r.half == 0, r.id) for r in rows],
        has_next=has_next,
    )


def count_statement(user_id: int, *, unread_only: bool) -> Select[Any]:
    stmt = select(func.count()).select_from(Message).where(*_mine(user_id))
    return stmt.where(Message.read_at.is_(None)) if unread_only else stmt


async def unread_count(session: AsyncSession, user_id: int) -> int:
    # the predicate matches ix_messages_unread's, so this is an index-only count
    return int(await session.scalar(count_statement(user_id, unread_only=True)) or 0)


# --- marking read --------------------------------------------------------------------------


async def mark_read(session: AsyncSession, user_id: int, ids: Sequence[int] | None) -> int:
    """Mark the caller's unread inbox rows read (``ids``; None: all). Returns how many
    changed: someone else's id, or one already read, counts nothing."""
    if ids is not None and len(ids) > MAX_MARK_IDS:
        raise AppError(
            "VALIDATION_FAILED",
            f"一次最多标记{MAX_MARK_IDS}条",
            f"At most {MAX_MARK_IDS} ids per call",
            field="ids",
        )
    stmt = (
        update(Message)
        .where(*_mine(user_id), Message.read_at.is_(None))
        .values(status="read", read_at=func.now())
    )
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(Message.id.in_(list(set(ids))))
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
