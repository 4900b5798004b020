"""定期发送信息: messages sent on a cron rule, in the tenant's time zone, to targeted residents
or to the residents whose birthday it is.

Rules are five-field cron expressions read in the tenant's time zone; ``next_run_at`` is
stored in UTC. The per-minute job (``run_due``) sends each occurrence once: the message row
is locked (``SKIP LOCKED``: a second worker moves on), ``next_run_at`` moves past now in the
same transaction, and the notification dedup key names the occurrence, so even a run that
somehow sees the same occurrence again adds nothing. A worker that was down for days sends
the latest missed occurrence only, never a burst.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter
from sqlalchemy import Select, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.estate.models import Person
from wuye.modules.notices.audience import Target, audience, check_targets
from wuye.modules.notices.messages import PERIODIC
from wuye.modules.notices.models import PeriodicMessage
from wuye.modules.rows import get_row
from wuye.notify.service import Notifier
from wuye.notify.types import PLACEHOLDER, Template

if TYPE_CHECKING:
    from wuye.runtime import Runtime

log = logging.getLogger(__name__)

AUDIENCES = ("targets", "birthday")
MAX_PREVIEW = 20
# Due messages handled per job run; any rest waits for the next minute's run.
_BATCH = 200
_TEXT_LIMITS = {"name": 100, "title": 200, "body": 2000}


# --- rules ---------------------------------------------------------------------------------


def _invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def check_rule(raw: str) -> str:
    """A five-field cron rule firing at most once an hour (a fixed minute), normalised."""
    rule = " ".join((raw or "").split())
    if len(rule.split(" ")) != 5 or not croniter.is_valid(rule):
        raise _invalid("rule", "规则须为5段cron表达式，如 0 9 1 * *", "Use a 5-field cron rule")
    minutes = croniter(rule).expanded[0]
    # One fixed minute means at most one run per hour; "*", "*/5" or "0,30" mean more.
    if len(minutes) != 1 or minutes[0] == "*":
        raise _invalid("rule", "发送频率不能高于每小时一次", "A rule may fire at most hourly")
    try:
        croniter(rule, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterError:  # e.g. "0 9 30 2 *": 30 February never comes
        raise _invalid("rule", "该规则永远不会触发", "This rule never fires") from None
    return rule


def _local(at: datetime, time_zone: str) -> datetime:
    return at.astimezone(ZoneInfo(time_zone))


def occurrences(rule: str, time_zone: str, *, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` times ``rule`` fires strictly after ``after``, in UTC."""
    it = croniter(rule, _local(after, time_zone))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def next_occurrence(rule: str, time_zone: str, *, after: datetime) -> datetime:
    return occurrences(rule, time_zone, after=after)[0]


def latest_occurrence(rule: str, time_zone: str, *, at: datetime) -> datetime:
    """The last time ``rule`` fired at or before ``at``, in UTC (rules fire on whole
    minutes, and croniter's ``get_prev`` excludes its start)."""
    start = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return croniter(rule, _local(start, time_zone)).get_prev(datetime).astimezone(UTC)


def preview(rule: str, time_zone: str, *, now: datetime, count: int = 5) -> list[datetime]:
    if not 1 <= count <= MAX_PREVIEW:
        raise _invalid("count", f"数量须在1到{MAX_PREVIEW}之间", f"Use 1 to {MAX_PREVIEW}")
    return occurrences(rule, time_zone, after=now, count=count)


# --- fields --------------------------------------------------------------------------------


def _text(raw: str | None, field: str) -> str:
    value = (raw or "").strip()
    limit = _TEXT_LIMITS[field]
    if not value:
        raise _invalid(field, "不能为空", "Required")
    if len(value) > limit:
        raise _invalid(field, f"不能超过{limit}个字符", f"At most {limit} characters")
    unknown = set(PLACEHOLDER.findall(value)) - {"name"}
    if unknown:
        # Only {{name}} is filled per recipient; anything else would go out blank.
        # (braces doubled: AppError messages go through str.format)
        raise _invalid(field, "只能使用 {{{{name}}}} 占位符", "Only {{{{name}}}} may be used")
    return value


def _audience(raw: str) -> str:
    value = (raw or "").strip().lower()
    if value not in AUDIENCES:
        raise _invalid("audience", "受众须为 targets 或 birthday", "Use targets or birthday")
    return value


async def _targets(
    session: AsyncSession, audience_kind: str, targets: Sequence[Target], scope: DataScope
) -> list[dict[str, Any]]:
    """Checked targets as stored. Birthday greetings without targets go to the whole
    tenant, which ``check_targets`` allows only to staff who see every community."""
    if audience_kind == "birthday" and not targets:
        targets = [Target("tenant")]
    return [t.as_json() for t in await check_targets(session, targets, scope)]


def _channels(notifier: Notifier, channels: Sequence[str] | None) -> list[str]:
    return notifier.channels_for(notifier.type(PERIODIC.key), channels)


def _schedule(message: PeriodicMessage, time_zone: str, now: datetime) -> None:
    """Paused messages have no next run; resuming starts from now (no catch-up)."""
    message.next_run_at = (
        next_occurrence(message.rule, time_zone, after=now) if message.active else None
    )


# --- staff operations ----------------------------------------------------------------------


async def get_periodic(
    session: AsyncSession, *, message_id: int, lock: bool = False
) -> PeriodicMessage:
    return await get_row(session, PeriodicMessage, message_id, field=None, lock=lock)


def periodic_query(*, active: bool | None = None) -> Select[Any]:
    stmt = select(PeriodicMessage).order_by(PeriodicMessage.id)
    if active is not None:
        stmt = stmt.where(PeriodicMessage.active.is_(active))
    return stmt


async def _editable(session: AsyncSession, *, message_id: int, scope: DataScope) -> PeriodicMessage:
    """A message the caller may change: staff limited to some communities may not touch
    one that reaches beyond them (a deleted place counts as beyond)."""
    message = await get_periodic(session, message_id=message_id, lock=True)
    if not scope.all_communities:
        try:
            await check_targets(session, [Target.from_json(t) for t in message.targets], scope)
        except AppError:
            raise AppError("FORBIDDEN") from None
    return message


async def create_periodic(
    session: AsyncSession,
    *,
    notifier: Notifier,
    scope: DataScope,
    time_zone: str,
    actor_id: int | None,
    name: str,
    title: str,
    body: str,
    rule: str,
    audience: str = "targets",
    targets: Sequence[Target] = (),
    channels: Sequence[str] | None = None,
    active: bool = True,
    now: datetime | None = None,
) -> PeriodicMessage:
    """``channels`` None: the type's default channels (the inbox always gets it)."""
    kind = _audience(audience)
    message = PeriodicMessage(
        name=_text(name, "name"),
        title=_text(title, "title"),
        body=_text(body, "body"),
        rule=check_rule(rule),
        audience=kind,
        channels=_channels(notifier, channels),
        active=active,
        created_by=actor_id,
        last_run_count=0,
    )
    message.targets = await _targets(session, kind, targets, scope)
    _schedule(message, time_zone, now or datetime.now(UTC))
    session.add(message)
    await session.flush()
    return message


async def update_periodic(
    session: AsyncSession,
    *,
    notifier: Notifier,
    scope: DataScope,
    time_zone: str,
    message_id: int,
    name: str | None = None,
    title: str | None = None,
    body: str | None = None,
    rule: str | None = None,
    audience: str | None = None,
    targets: Sequence[Target] | None = None,
    channels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> PeriodicMessage:
    """Change the given fields (None keeps one). Everything is checked before anything
    changes. Switching the audience keeps the targets unless new ones are given."""
    message = await _editable(session, message_id=message_id, scope=scope)
    changes: dict[str, Any] = {}
    for field, raw in (("name", name), ("title", title), ("body", body)):
        if raw is not None:
            changes[field] = _text(raw, field)
    if rule is not None:
        changes["rule"] = check_rule(rule)
    kind = _audience(audience) if audience is not None else message.audience
    if channels is not None:
        changes["channels"] = _channels(notifier, channels)
    if targets is not None or kind != message.audience:
        kept = [Target.from_json(t) for t in message.targets]
        changes["targets"] = await _targets(
            session, kind, targets if targets is not None else kept, scope
        )
    changes["audience"] = kind
    for field, value in changes.items():
        setattr(message, field, value)
    if "rule" in changes:
        _schedule(message, time_zone, now or datetime.now(UTC))
    await session.flush()
    return message


async def set_active(
    session: AsyncSession,
    *,
    scope: DataScope,
    time_zone: str,
    message_id: int,
    active: bool,
    now: datetime | None = None,
) -> PeriodicMessage:
    """Pause or resume. Resuming schedules the next occurrence after now: what fell in the
    pause is not sent."""
    message = await _editable(session, message_id=message_id, scope=scope)
    if message.active != active:
        message.active = active
        _schedule(message, time_zone, now or datetime.now(UTC))
        await session.flush()
    return message


async def delete_periodic(session: AsyncSession, *, scope: DataScope, message_id: int) -> None:
    message = await _editable(session, message_id=message_id, scope=scope)
    await session.delete(message)
    await session.flush()


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    message_id: int
    occurrence: datetime  # UTC
    recipients: int  # inbox rows recorded now (0 if this occurrence was sent already)


def _birthday_days(on: date) -> list[int]:
    """Days of ``on``'s month whose birthdays are greeted on ``on``: 29 February birthdays
    are greeted on 28 February in other years."""
    if on.month == 2 and on.day == 28 and not calendar.isleap(on.year):
        return [28, 29]
    return [on.day]


def birthday_users(base: Select[tuple[int]], on: date) -> Select[Any]:
    """Of the accounts in ``base``, those linked to a person whose birthday is ``on``."""
    return select(Person.user_id).where(
        Person.user_id.in_(base),
        extract("month", Person.birth_date) == on.month,
        extract("day", Person.birth_date).in_(_birthday_days(on)),
    )


async def _names(session: AsyncSession, users: Select[tuple[int]]) -> dict[int, str]:
    """Recipient -> the name to greet them by: their person record's, else the account's."""
    rows = await session.execute(
        select(User.id, func.coalesce(Person.name, User.name))
        .outerjoin(Person, Person.user_id == User.id)
        .where(User.id.in_(users))
    )
    return {uid: name for uid, name in rows}


def _personal(message: PeriodicMessage, names: Mapping[int, str]) -> dict[int, dict[str, str]]:
    """Per recipient: the name, and title and body with it filled in (the type's template
    puts ``{{title}}``/``{{body}}`` in verbatim, it does not expand placeholders inside)."""
    template = Template(message.title, message.body)
    found: dict[int, dict[str, str]] = {}
    for uid, name in names.items():
        text = template.render({"name": name})
        found[uid] = {"name": name, "title": text.subject, "body": text.body}
    return found


def _uses_name(message: PeriodicMessage) -> bool:
    return "name" in Template(message.title, message.body).variables()


async def _send(
    session: AsyncSession,
    *,
    runtime: Runtime,
    tenant: str,
    time_zone: str,
    message: PeriodicMessage,
    occurrence: datetime,
) -> int:
    users = audience([Target.from_json(t) for t in message.targets])
    if message.audience == "birthday":
        users = birthday_users(users, _local(occurrence, time_zone).date())
    per_user = {}
    if message.audience == "birthday" or _uses_name(message):
        per_user = _personal(message, await _names(session, users))
    recorded = await runtime.notifier.notify(
        session,
        runtime=runtime,
        tenant=tenant,
        type_key=PERIODIC.key,
        users=users,
        variables={"title": message.title, "body": message.body, "name": ""},
        per_user=per_user,
        channels=message.channels,
        source=f"periodic:{message.id}",
        dedup=f"periodic:{message.id}:{occurrence.isoformat()}",
    )
    return recorded.count(channel="inbox")


async def run_due(
    session: AsyncSession, *, runtime: Runtime, tenant: str, time_zone: str, now: datetime
) -> list[Sent]:
    """Send every active message that is due at ``now`` once, and schedule its next run."""
    due = await session.scalars(
        select(PeriodicMessage)
        .where(PeriodicMessage.active.is_(True), PeriodicMessage.next_run_at <= now)
        .order_by(PeriodicMessage.next_run_at, PeriodicMessage.id)
        .limit(_BATCH)
        .with_for_update(skip_locked=True)
    )
    sent: list[Sent] = []
    for message in list(due):
        # read before the savepoint: rolling one back expires the row's attributes
        message_id, rule = message.id, message.rule
        occurrence = latest_occurrence(rule, time_zone, at=now)
        try:
            # A savepoint per message: one that fails (a channel since withdrawn from the
            # type, say) is logged and skipped instead of blocking the tenant's others.
            async with session.begin_nested():
                count = await _send(
                    session,
                    runtime=runtime,
                    tenant=tenant,
                    time_zone=time_zone,
                    message=message,
                    occurrence=occurrence,
                )
        except Exception:
            log.exception("periodic message %s of %s failed at %s", message_id, tenant, now)
        else:
            message.last_run_at = now
            message.last_run_count = count
            sent.append(Sent(message_id, occurrence, count))
        message.next_run_at = next_occurrence(rule, time_zone, after=now)
    await session.flush()
    return sent
