"""Loading one row by id for a service function: NOT_FOUND (naming the input field) when
it is absent, optionally locked for the rest of the transaction."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
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
