"""Recording messages: ``Notifier.notify`` writes one row per recipient and channel in the
caller's transaction; after commit it wakes the delivery job.

Who gets what: the inbox always (when the type has one); external channels the sender
asks for (default: the type's defaults), minus what the user turned off (``notify_
preferences``), unless the type is urgent. A channel the user has no address for is
recorded as ``suppressed`` so reach figures show it. With a ``dedup`` key, calling
``notify`` again for the same recipients adds nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.db import after_commit
from wuye.errors import AppError
from wuye.graphql.realtime import publish_many_after_commit
from wuye.identity.models import User
from wuye.notify.models import Message, NotifyAddress, NotifyPreference, NotifyTemplate
from wuye.notify.types import MessageType, Template

if TYPE_CHECKING:
    from wuye.runtime import Runtime

DELIVERY_JOB = "deliver_messages"
_INSERT_CHUNK = 5_000


@dataclass
class Recorded:
    """What one ``notify`` call wrote: rows by channel and status."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    first_id: int | None = None
    inbox: dict[int, int] = field(default_factory=dict)  # user id -> its new inbox row's id

    def count(self, channel: str | None = None, status: str | None = None) -> int:
        return sum(
            n
            for (ch, st), n in self.counts.items()
            if (channel is None or ch == channel) and (status is None or st == status)
        )


@dataclass(frozen=True)
class _Recipient:
    user_id: int
    locale: str
    active: bool
    addresses: Mapping[str, str | None]
    preferences: Mapping[str, bool]  # "<type or *>/<channel or *>" -> enabled


def wants(prefs: Mapping[str, bool], message_type: MessageType, channel: str) -> bool:
    """The user's choice (``prefs``: "<type or *>/<channel or *>" -> enabled) for this type
    and channel, most specific first; on by default; urgent types always."""
    if message_type.urgent:
        return True
    for key in (
        f"{message_type.key}/{channel}",
        f"{message_type.key}/*",
        f"*/{channel}",
        "*/*",
    ):
        if key in prefs:
            return prefs[key]
    return True


class Notifier:
    def __init__(self, types: Mapping[str, MessageType]) -> None:
        self.types = dict(types)

    def type(self, key: str) -> MessageType:
        try:
            return self.types[key]
        except KeyError:
            raise AppError("NOT_FOUND", type=key) from None

    def channels_for(self, message_type: MessageType, wanted: Iterable[str] | None) -> list[str]:
        if wanted is None:
            return list(message_type.default_channels)
        wanted = list(dict.fromkeys(wanted))
        if not set(wanted) <= set(message_type.channels):
            raise AppError("CHANNEL_NOT_ALLOWED", type=message_type.key, channels=wanted)
        return wanted

    async def notify(
        self,
        session: AsyncSession,
        *,
        runtime: Runtime,
        tenant: str,
        type_key: str,
        users: Select[Any] | Sequence[int],
        variables: Mapping[str, Any] | None = None,
        per_user: Mapping[int, Mapping[str, Any]] | None = None,
        channels: Iterable[str] | None = None,
        inbox: bool = True,
        source: str = "",
        dedup: str | None = None,
    ) -> Recorded:
        """Record ``type_key`` for ``users`` (ids, or a select of ids) and schedule delivery.

        ``per_user`` adds or overrides variables for some users (a name in a greeting);
        ``inbox=False`` pushes without a new inbox row (a reminder of one already there).
        """
        message_type = self.type(type_key)
        external = self.channels_for(message_type, channels)
        recipients = await _recipients(session, users, message_type.key)
        templates = await _tenant_templates(session, message_type)
        rows = list(
            _rows(
                message_type,
                external,
                recipients,
                templates=templates,
                variables=dict(variables or {}),
                per_user=per_user or {},
                inbox=inbox and message_type.inbox,
                source=source,
                dedup=dedup,
            )
        )
        recorded = await _insert(session, rows)
        if recorded.inbox:  # badges update live: one pipelined publish after commit
            publish_many_after_commit(
                session,
                runtime,
                tenant,
                [
                    (inbox_topic(uid), {"reason": "added", "messageId": mid})
                    for uid, mid in recorded.inbox.items()
                ],
            )
        if recorded.count(status="queued") and recorded.first_id is not None:
            after_commit(
                session, functools.partial(kick_delivery, runtime, tenant, key=recorded.first_id)
            )
        return recorded


def inbox_topic(user_id: int) -> str:
    """The real-time topic of one user's inbox (``inboxChanged``)."""
    return f"inbox:{user_id}"


async def kick_delivery(runtime: Runtime, tenant: str, *, key: object) -> None:
    """Ask a worker to deliver the tenant's queued messages now (the per-minute sweep
    does it anyway, so a lost kick only delays)."""
    from wuye.workers.jobs import enqueue, job_id

    await enqueue(runtime, DELIVERY_JOB, tenant, _job_id=job_id(runtime, "notify", tenant, key))


# --- recipients and templates --------------------------------------------------------------


async def _recipients(
    session: AsyncSession, users: Select[Any] | Sequence[int], type_key: str
) -> list[_Recipient]:
    if isinstance(users, Select):
        # a derived table: a subquery over ``users`` must not correlate with the outer one
        chosen = users.subquery()
        ids: Any = select(chosen.c[0])
    else:
        ids = list(dict.fromkeys(users))
        if not ids:
            return []
    addresses = (
        select(func.jsonb_object_agg(NotifyAddress.channel, NotifyAddress.address))
        .where(NotifyAddress.user_id == User.id)
        .scalar_subquery()
    )
    preferences = (
        select(
            func.jsonb_object_agg(
                NotifyPreference.type + literal_column("'/'") + NotifyPreference.channel,
                NotifyPreference.enabled,
            )
        )
        .where(NotifyPreference.user_id == User.id, NotifyPreference.type.in_([type_key, "*"]))
        .scalar_subquery()
    )
    stmt = (
        select(User.id, User.locale, User.is_active, User.email, User.phone, addresses, preferences)
        .where(User.id.in_(ids))
        .order_by(User.id)
    )
    result = await session.execute(stmt)
    return [
        _Recipient(
            user_id=uid,
            locale=locale,
            active=active,
            addresses={"email": email, "sms": phone, **(addrs or {})},
            preferences=prefs or {},
        )
        for uid, locale, active, email, phone, addrs, prefs in result
    ]


async def _tenant_templates(
    session: AsyncSession, message_type: MessageType
) -> dict[str, tuple[str, Template]]:
    """locale -> (template label, template): the tenant's own where it has one."""
    found = {
        locale: (f"{message_type.key}:{locale}", message_type.template(locale))
        for locale in ("zh-CN", "en")
    }
    rows = await session.execute(
        select(
            NotifyTemplate.id, NotifyTemplate.locale, NotifyTemplate.subject, NotifyTemplate.body
        ).where(NotifyTemplate.type == message_type.key)
    )
    for tid, locale, subject, body in rows:
        found[locale] = (f"tenant:{tid}", Template(subject, body))
    return found


def _locale(raw: str) -> str:
    return "en" if raw.startswith("en") else "zh-CN"


# --- rows ----------------------------------------------------------------------------------


def _rows(
    message_type: MessageType,
    external: Sequence[str],
    recipients: Iterable[_Recipient],
    *,
    templates: Mapping[str, tuple[str, Template]],
    variables: dict[str, Any],
    per_user: Mapping[int, Mapping[str, Any]],
    inbox: bool,
    source: str,
    dedup: str | None,
) -> Iterable[dict[str, Any]]:
    rendered: dict[str, Template] = {}  # per locale, for users without their own variables
    for r in recipients:
        locale = _locale(r.locale)
        label, template = templates[locale]
        own = per_user.get(r.user_id)
        if own is None:
            if locale not in rendered:
                rendered[locale] = template.render(variables)
            text, payload = rendered[locale], variables
        else:
            payload = {**variables, **own}
            text = template.render(payload)
        common = {
            "user_id": r.user_id,
            "type": message_type.key,
            "urgent": message_type.urgent,
            "template": label,
            "title": text.subject[:200],
            "body": text.body,
            "locale": locale,
            "payload": payload,
            "source": source,
        }
        if inbox:
            yield {
                **common,
                "channel": "inbox",
                "status": "delivered",
                "address": "",
                "error": "",
                "dedup_key": f"{dedup}:{r.user_id}:inbox" if dedup else None,
            }
        for channel in external:
            if not wants(r.preferences, message_type, channel):
                continue
            address = r.addresses.get(channel) or ""
            reason = "" if r.active and address else ("no address" if r.active else "inactive")
            yield {
                **common,
                "channel": channel,
                "status": "suppressed" if reason else "queued",
                "address": address,
                "error": reason,
                "dedup_key": f"{dedup}:{r.user_id}:{channel}" if dedup else None,
            }


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> Recorded:
    recorded = Recorded()
    for i in range(0, len(rows), _INSERT_CHUNK):
        stmt = (
            insert(Message)
            .on_conflict_do_nothing(index_elements=[Message.dedup_key])
            .returning(Message.id, Message.channel, Message.status, Message.user_id)
        )
        result = await session.execute(stmt, rows[i : i + _INSERT_CHUNK])
        for mid, channel, status, user_id in result:
            if channel == "inbox":
                recorded.inbox[user_id] = max(mid, recorded.inbox.get(user_id, 0))
            recorded.counts[(channel, status)] = recorded.counts.get((channel, status), 0) + 1
            if recorded.first_id is None or mid < recorded.first_id:
                recorded.first_id = mid
    return recorded
