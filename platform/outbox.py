"""Transactional outbox: a job intent written in the same transaction as the change.

After commit the request enqueues it to arq (``wuye.workers.outbox.relay``); a periodic
sweep re-enqueues intents that were never done, so a crash between commit and enqueue or
a Redis flush loses nothing. The job marks its intent done in the same transaction as its
own effect, so a job that arq runs twice does its work once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import SharedBase


class OutboxIntent(SharedBase):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "created_at", postgresql_where=text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_slug: Mapped[str] = mapped_column(String(40), index=True)
    job: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def add_intent(session: AsyncSession, *, tenant: str, job: str,
                     args: dict[str, Any] | None = None, dedup_key: str | None = None) -> int | None:
    """Record that ``job`` must run for ``tenant``; returns the intent id (None if deduplicated).

    Call inside the transaction that makes the change; relay it after commit.
    """
    stmt = insert(OutboxIntent).values(tenant_slug=tenant, job=job, args=args or {},
                                       dedup_key=dedup_key)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[OutboxIntent.dedup_key])
    return await session.scalar(stmt.returning(OutboxIntent.id))
