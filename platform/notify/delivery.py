"""Delivery: hand a tenant's queued messages to their channels, in batches.

Each round *claims* a batch (``queued`` -> ``sending``, FOR UPDATE SKIP LOCKED) and commits
the claim before anything leaves the building, so two runs of the job (arq may run one
twice, the cron sweep may overlap a kick) never pick the same message. Then, per message:
quiet hours (non-urgent ones wait for the tenant's morning, without spending an attempt),
the throttle (a Redis counter per user, channel and throttle group and window; over the
limit -> ``throttled``), and the channel. Outcomes are written in one statement: ``sent``;
or back to ``queued`` with exponential back-off; or ``failed`` after the last attempt or a
permanent error. A worker that dies holding a claim leaves ``sending`` rows; the next run
returns them to the queue after ``STALE_CLAIM`` (at-least-once for that rare case; the
channels pass the message id to providers that de-duplicate on it).
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import decrypt_field
from wuye.notify.channels.base import Outcome, Outgoing, TenantChannelConfig, failed
from wuye.notify.models import Message, NotifySettings
from wuye.notify.service import kick_delivery
from wuye.notify.types import MessageType

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

log = logging.getLogger(__name__)
STALE_CLAIM = timedelta(minutes=10)
WECHAT_SECRET_PURPOSE = "notify.wechat_app_secret"
_ROUND_BUDGET_S = 50.0  # then hand over to a fresh job, so one tenant cannot hog a worker


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    type: str
    channel: str
    urgent: bool
    title: str
    body: str
    locale: str
    payload: Mapping[str, Any]
    address: str
    attempts: int


@dataclass(frozen=True)
class QuietHours:
    enabled: bool
    start: time
    end: time
    zone: ZoneInfo

    def resume_at(self, now: datetime) -> datetime | None:
        """When a non-urgent message may go out, if ``now`` is inside quiet hours."""
        if not self.enabled or self.start == self.end:
            return None
        local = now.astimezone(self.zone)
        t = local.time()
        overnight = self.start > self.end  # 22:00-08:00
        inside = (t >= self.start or t < self.end) if overnight else (self.start <= t < self.end)
        if not inside:
            return None
        day = local.date() + timedelta(days=1) if overnight and t >= self.start else local.date()
        return datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)


async def tenant_settings(session: AsyncSession) -> NotifySettings:
    """The tenant's settings row (defaults when it never saved any)."""
    found = await session.get(NotifySettings, 1)
    return found if found is not None else NotifySettings(id=1, **_defaults())


def _defaults() -> dict[str, Any]:
    return {
        "quiet_enabled": True,
        "quiet_start": time(22, 0),
        "quiet_end": time(8, 0),
        "sender_name": "",
        "sms_sign_name": "",
        "sms_templates": {},
        "wechat_app_id": "",
        "wechat_app_secret_enc": None,
        "wechat_templates": {},
    }


def channel_config(
    runtime: Runtime, tenant: TenantInfo, row: NotifySettings
) -> TenantChannelConfig:
    secret = ""
    if row.wechat_app_secret_enc:
        secret = decrypt_field(
            runtime.settings.secret_key,
            purpose=WECHAT_SECRET_PURPOSE,
            tenant=tenant.slug,
            blob=row.wechat_app_secret_enc,
        )
    return TenantChannelConfig(
        tenant=tenant.slug,
        sender_name=row.sender_name or tenant.name_zh,
        sms_sign_name=row.sms_sign_name,
        sms_templates=dict(row.sms_templates or {}),
        wechat_app_id=row.wechat_app_id,
        wechat_app_secret=secret,
        wechat_templates=dict(row.wechat_templates or {}),
    )


class Delivery:
    """One run of the delivery job for one tenant."""

    def __init__(self, runtime: Runtime, tenant: TenantInfo, session: AsyncSession) -> None:
        self.runtime = runtime
        self.tenant = tenant
        self.session = session
        self.settings = runtime.settings
        self.types: Mapping[str, MessageType] = runtime.notifier.types

    async def run(self) -> dict[str, int]:
        row = await tenant_settings(self.session)
        config = channel_config(self.runtime, self.tenant, row)
        quiet = QuietHours(row.quiet_enabled, row.quiet_start, row.quiet_end, self.tenant.zone)
        totals: dict[str, int] = defaultdict(int)
        totals["requeued_stale"] = await self._release_stale_claims()
        await self.session.commit()
        started = clock.monotonic()
        while clock.monotonic() - started < _ROUND_BUDGET_S:
            batch = await self._claim(self.settings.notify_batch_size)
            await self.session.commit()  # the claim must hold before anything is sent
            if not batch:
                return dict(totals)
            for status, n in (await self._deliver(batch, quiet, config)).items():
                totals[status] += n
            await self.session.commit()
        await kick_delivery(self.runtime, self.tenant.slug, key=f"more-{clock.time_ns()}")
        totals["continued"] = 1
        return dict(totals)

    # --- claiming --------------------------------------------------------------------------

    async def _release_stale_claims(self) -> int:
        result = await self.session.execute(
            update(Message)
            .where(Message.status == "sending", Message.claimed_at < _now() - STALE_CLAIM)
            .values(status="queued", next_attempt_at=_now())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _claim(self, limit: int) -> list[Claimed]:
        due = (
            select(Message.id)
            .where(Message.status == "queued", Message.next_attempt_at <= _now())
            .order_by(Message.urgent.desc(), Message.next_attempt_at, Message.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self.session.execute(
            update(Message)
            .where(Message.id.in_(due))
            .values(status="sending", claimed_at=_now(), attempts=Message.attempts + 1)
            .returning(
                Message.id,
                Message.user_id,
                Message.type,
                Message.channel,
                Message.urgent,
                Message.title,
                Message.body,
                Message.locale,
                Message.payload,
                Message.address,
                Message.attempts,
            )
        )
        rows: list[tuple[Any, ...]] = [tuple(r) for r in result]
        return sorted((Claimed(*r) for r in rows), key=lambda c: c.id)

    # --- one batch -------------------------------------------------------------------------

    async def _deliver(
        self, batch: Sequence[Claimed], quiet: QuietHours, config: TenantChannelConfig
    ) -> dict[str, int]:
        now = datetime.now(UTC)
        resume = quiet.resume_at(now)
        updates: list[dict[str, Any]] = []
        to_send: list[Claimed] = []
        for m in batch:
            message_type = self.types.get(m.type)
            if message_type is None:
                updates.append(_final(m, "failed", error=f"unknown message type {m.type}"))
            elif resume is not None and not message_type.urgent:
                updates.append(_wait(m, resume, "quiet hours"))
            else:
                to_send.append(m)
        allowed, throttled = await self._throttle(to_send, now)
        updates += [_final(m, "throttled", error="throttled") for m in throttled]
        outcomes = await self._send(allowed, config)
        by_id = {m.id: m for m in allowed}
        updates += [self._after(by_id[o.message_id], o, now) for o in outcomes]
        await self._write(updates)
        counts: dict[str, int] = defaultdict(int)
        for u in updates:
            status = u["new_status"]
            counts[
                "deferred" if u.get("deferred") else "retry" if status == "queued" else status
            ] += 1
        return counts

    async def _throttle(
        self, batch: Sequence[Claimed], now: datetime
    ) -> tuple[list[Claimed], list[Claimed]]:
        """Count each throttled message against its user's window; split off the excess."""
        limited = [(m, self.types[m.type].throttle) for m in batch if self.types[m.type].throttled]
        if not limited:
            return list(batch), []
        prefix = f"{self.settings.redis_prefix}:notify:throttle:{self.tenant.slug}"
        pipe = self.runtime.redis.pipeline(transaction=False)
        for m, rule in limited:
            assert rule is not None
            window = int(now.timestamp()) // rule.window_s
            key = f"{prefix}:{m.user_id}:{m.channel}:{rule.group}:{window}"
            pipe.incr(key)
            pipe.expire(key, rule.window_s + 60)
        replies = await pipe.execute()
        over = {
            m.id
            for (m, rule), count in zip(limited, replies[::2], strict=True)
            if rule is not None and int(count) > rule.limit
        }
        return [m for m in batch if m.id not in over], [m for m in batch if m.id in over]

    async def _send(self, batch: Sequence[Claimed], config: TenantChannelConfig) -> list[Outcome]:
        by_channel: dict[str, list[Outgoing]] = defaultdict(list)
        for m in batch:
            by_channel[m.channel].append(
                Outgoing(
                    message_id=m.id,
                    tenant=self.tenant.slug,
                    user_id=m.user_id,
                    type_key=m.type,
                    address=m.address,
                    subject=m.title,
                    body=m.body,
                    locale=m.locale,
                    variables=m.payload,
                )
            )
        results = await asyncio.gather(
            *(self._send_channel(name, items, config) for name, items in by_channel.items())
        )
        return [o for outcomes in results for o in outcomes]

    async def _send_channel(
        self, name: str, items: list[Outgoing], config: TenantChannelConfig
    ) -> list[Outcome]:
        channel = self.runtime.channels.get(name)
        if channel is None:
            return failed(items, f"no channel {name}", retry=False)
        try:
            outcomes = await channel.send(items, config)
        except Exception as exc:  # a channel bug or outage fails the batch, retryably
            log.exception("channel %s failed a batch of %d", name, len(items))
            return failed(items, f"{type(exc).__name__}: {exc}")
        missing = {m.message_id for m in items} - {o.message_id for o in outcomes}
        return [*outcomes, *failed([m for m in items if m.message_id in missing], "no outcome")]

    def _after(self, m: Claimed, outcome: Outcome, now: datetime) -> dict[str, Any]:
        if outcome.ok:
            return _final(m, "sent", provider_id=outcome.provider_id or "", sent_at=now)
        if not outcome.retry or m.attempts >= self.settings.notify_max_attempts:
            return _final(m, "failed", error=outcome.error or "failed")
        delay = min(self.settings.notify_retry_base_s * 2 ** (m.attempts - 1), 3600)
        return {
            **_final(m, "queued", error=outcome.error or ""),
            "next_attempt_at": now + timedelta(seconds=delay),
        }

    async def _write(self, updates: Sequence[dict[str, Any]]) -> None:
        if not updates:
            return
        rows = [
            {
                "mid": u["mid"],
                "new_status": u["new_status"],
                "new_error": u.get("error", ""),
                "new_provider_id": u.get("provider_id", ""),
                "new_sent_at": u.get("sent_at"),
                "new_next": u.get("next_attempt_at"),
                "attempt_delta": u.get("attempt_delta", 0),
            }
            for u in updates
        ]
        # one executemany: the rows differ in every column
        await self.session.execute(_OUTCOME_UPDATE, rows)


_OUTCOME_UPDATE = text(
    """
    UPDATE messages SET
        status = :new_status,
        error = :new_error,
        provider_id = :new_provider_id,
        sent_at = COALESCE(CAST(:new_sent_at AS timestamptz), sent_at),
        next_attempt_at = COALESCE(CAST(:new_next AS timestamptz), next_attempt_at),
        attempts = attempts + :attempt_delta,
        claimed_at = NULL
    WHERE id = :mid AND status = 'sending'
    """
).bindparams(bindparam("mid"))


def _final(m: Claimed, status: str, **values: Any) -> dict[str, Any]:
    return {"mid": m.id, "new_status": status, **values}


def _wait(m: Claimed, until: datetime, reason: str) -> dict[str, Any]:
    """Back to the queue until ``until`` without spending an attempt."""
    return {
        "mid": m.id,
        "new_status": "queued",
        "error": reason,
        "next_attempt_at": until,
        "attempt_delta": -1,
        "deferred": True,
    }


def _now() -> Any:
    return func.now()
