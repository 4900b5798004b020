"""Row helpers for service functions: one row by id (NOT_FOUND naming the input field,
optionally locked), and a flush whose unique violation becomes CONFLICT naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError

T = TypeVar("T")


async def get_row(
    session: AsyncSession,
    model: type[T],
    row_id: int,
    *,
    field: str | None = "id",
    lock: bool = False,
    share: bool = False,
) -> T:
    """``lock``: FOR UPDATE (we will change it); ``share``: FOR SHARE (it must not change
    or vanish while we rely on it, e.g. a parent we attach a child to)."""
    stmt: Any = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock or share:
        stmt = stmt.with_for_update(read=share and not lock)
    found = await session.scalar(stmt)
    if found is None:
        raise AppError("NOT_FOUND", **({"field": field} if field else {}))
    return found  # type: ignore[no-any-return]


async def flush_unique(
    session: AsyncSession, *, field: str, zh: str, en: str, add: object | None = None
) -> None:
    """Flush (adding ``add`` first) in a savepoint: a unique violation becomes CONFLICT on
    ``field`` with the given texts, and the transaction goes on."""
    try:
        async with session.begin_nested():
            if add is not None:
                session.add(add)
            await session.flush()
    except IntegrityError:
        raise AppError("CONFLICT", zh, en, field=field) from None


async def next_id(session: AsyncSession, table: str) -> int:
    """Take the next id of ``table``'s own id sequence (in the tenant's schema) before the
    insert, so a number derived from it (an order or receipt number) goes in the same
    INSERT: no shared counter row for concurrent requests to queue on."""
    stmt = text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))")
    return int((await session.execute(stmt, {"table": table})).scalar_one())
