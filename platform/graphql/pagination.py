"""Relay-style connections over a SQLAlchemy select (offset cursors, capped page size).

``totalCount`` runs its COUNT only when the client asks for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError

T = TypeVar("T")
_PREFIX = "offset:"
_KEY_PREFIX = "key:"


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if raw.startswith(_PREFIX) and raw[len(_PREFIX) :].isdigit():
            return int(raw[len(_PREFIX) :])
    except (ValueError, UnicodeDecodeError):
        pass
    raise AppError("VALIDATION_FAILED", "分页游标无效", "Invalid pagination cursor", field="after")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _session: strawberry.Private[AsyncSession]
    _count_stmt: strawberry.Private[Select[Any]]

    @strawberry.field
    async def total_count(self) -> int:
        return int(await self._session.scalar(self._count_stmt) or 0)


def page_size(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise AppError(
            "VALIDATION_FAILED",
            f"每页数量须在0到{maximum}之间",
            f"`first` must be between 0 and {maximum}",
            field="first",
        )
    return first


def _keyset_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(
        (_KEY_PREFIX + json.dumps(list(values), ensure_ascii=False)).encode()
    ).decode()


def _keyset_values(cursor: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if raw.startswith(_KEY_PREFIX):
            values = json.loads(raw[len(_KEY_PREFIX) :])
            if isinstance(values, list) and len(values) == width:
                return values
    except (ValueError, UnicodeDecodeError):
        pass
    raise AppError("VALIDATION_FAILED", "分页游标无效", "Invalid pagination cursor", field="after")


async def paginate(
    ctx: Any,
    stmt: Select[Any],
    *,
    first: int | None,
    after: str | None,
    to_node: Callable[[Any], T],
    scalars: bool = True,
    keyset: Sequence[Any] | None = None,
) -> Connection[T]:
    """One page of ``stmt`` as a connection, read in the request's session, sized by the
    request's settings.

    Without ``keyset``, ``stmt`` needs a deterministic ORDER BY and cursors are offsets.
    With ``keyset`` (ORM columns, ascending, ending in a unique one) the page is ordered by
    them and a cursor carries the last row's values: page 500 costs what page 1 does.
    """
    session: AsyncSession = ctx.session
    settings = ctx.runtime.settings
    limit = page_size(
        first, default=settings.graphql_default_page_size, maximum=settings.graphql_max_page_size
    )
    offset = 0
    page = stmt
    if keyset is not None:
        page = page.order_by(None).order_by(*keyset)
        if after:
            page = page.where(tuple_(*keyset) > tuple_(*_keyset_values(after, len(keyset))))
    else:
        offset = decode_cursor(after) + 1 if after else 0
        page = page.offset(offset)
    page = page.limit(limit + 1)
    rows = list((await session.scalars(page)) if scalars else (await session.execute(page)))
    has_next = len(rows) > limit
    rows = rows[:limit]
    if keyset is not None:
        cursors = [_keyset_cursor([getattr(r, c.key) for c in keyset]) for r in rows]
    else:
        cursors = [encode_cursor(offset + i) for i in range(len(rows))]
    edges = [Edge(cursor=c, node=to_node(r)) for c, r in zip(cursors, rows, strict=True)]
    count_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=offset > 0 or (keyset is not None and bool(after)),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _session=session,
        _count_stmt=count_stmt,
    )
