"""Transactional outbox: a job intent written in the same transaction as the change.

After commit the request enqueues it to arq (``relay``, also ``wuye.workers.outbox.relay``);
a periodic sweep re-enqueues intents that were never done, so a crash between commit and
enqueue or a Redis flush loses nothing. The job marks its intent done in the same
transaction as its own effect, so a job that arq runs twice does its work once.

Request code calls ``enqueue_after_commit(ctx, job=..., args=...)``; the worker side
(``run_outbox_intent``, the sweep) lives in ``wuye.workers.outbox``. An intent lives in the
``shared`` schema of the cluster that holds its tenant, so it commits with the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import DEFAULT_CLUSTER, SharedBase, after_commit

if TYPE_CHECKING:
    from wuye.graphql.context import Context
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

log = logging.getLogger(__name__)
OUTBOX_JOB = "run_outbox_intent"  # the arq function (wuye.workers.outbox) that runs intents


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


async def add_intent(
    session: AsyncSession,
    *,
    tenant: str,
    job: str,
    args: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """Record that ``job`` must run for ``tenant``; returns the intent id (None if deduplicated).

    Call inside the transaction that makes the change; relay it after commit.
    """
    stmt = insert(OutboxIntent).values(
        tenant_slug=tenant, job=job, args=args or {}, dedup_key=dedup_key
    )
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[OutboxIntent.dedup_key])
    return await session.scalar(stmt.returning(OutboxIntent.id))


def outbox_job_id(
    queue_name: str, intent_id: int, cluster: str = DEFAULT_CLUSTER, tag: str | None = None
) -> str:
    """The arq job id of an intent. arq keeps job and result keys outside the queue, so the
    queue name prefixes the id (two deployments or test runs on one Redis never collide);
    the sweep adds a ``tag`` because arq refuses an id whose result it still keeps."""
    job_id = f"{queue_name}:outbox:{cluster}:{intent_id}"
    return f"{job_id}:{tag}" if tag else job_id


async def relay(runtime: Runtime, intent_id: int, *, cluster: str = DEFAULT_CLUSTER) -> bool:
    """Enqueue a committed intent to arq now. Never raises: the sweep covers any failure.

    ``enqueued_at`` is set *before* enqueueing, so a crash in between only delays the job
    until the sweep (``outbox_sweep_after_s``). SKIP LOCKED: if a worker already holds the
    row (a sweep beat us to it), do not wait for its job to finish.
    """
    try:
        async with runtime.db.shared_session(cluster) as s:
            pending = (
                select(OutboxIntent.id)
                .where(OutboxIntent.id == intent_id, OutboxIntent.done_at.is_(None))
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            await s.execute(
                update(OutboxIntent)
                .where(OutboxIntent.id == pending)
                .values(enqueued_at=func.now())
            )
            await s.commit()
        queue = runtime.settings.queue_name
        await runtime.redis.enqueue_job(
            OUTBOX_JOB,
            intent_id,
            cluster,
            _queue_name=queue,
            _job_id=outbox_job_id(queue, intent_id, cluster),
        )
        return True
    except Exception:
        log.warning(
            "outbox intent %s not relayed; the sweep will enqueue it", intent_id, exc_info=True
        )
        return False


async def enqueue_after_commit(
    ctx: Context,
    *,
    job: str | Callable[..., Any],
    args: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """Write a job intent into the request's transaction; enqueue it once that commits.

    ``job`` is a tenant job (see ``wuye.workers.jobs.tenant_job``) or its name; ``args`` are
    its keyword arguments (JSON). Returns the intent id, or None if ``dedup_key`` was taken.
    Nothing is enqueued if the request rolls back.
    """
    if ctx.tenant is None:
        raise ValueError("enqueue_after_commit needs a tenant request")
    return await enqueue_with(
        ctx.session, ctx.runtime, ctx.tenant, job=job, args=args, dedup_key=dedup_key
    )


async def enqueue_with(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    job: str | Callable[..., Any],
    args: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """``enqueue_after_commit`` for any tenant session (a job's, too): the intent commits
    with ``session`` and is relayed by its after-commit hook."""
    name = job if isinstance(job, str) else job.__name__
    intent_id = await add_intent(
        session, tenant=tenant.slug, job=name, args=args, dedup_key=dedup_key
    )
    if intent_id is not None:
        cluster = tenant.cluster

        async def relay_intent() -> None:
            await relay(runtime, intent_id, cluster=cluster)

        after_commit(session, relay_intent)
    return intent_id
