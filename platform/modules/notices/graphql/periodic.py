"""Periodic messages API (定期发送信息): staff with ``notices.periodic.manage`` list, read,
create, change, pause, resume and delete them. Times are UTC instants (ISO 8601 with
offset); rules are read in the tenant's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import strawberry

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.notices import periodic as service
from wuye.modules.notices.audience import Target
from wuye.modules.notices.graphql.notices import NoticeTargetInput, TargetType
from wuye.modules.notices.models import PeriodicMessage
from wuye.modules.notices.permissions import PERIODIC_MANAGE

# target kind -> the global-ID type of its ref (as for notices)
_REF_TYPES = {"community": "Community", "building": "Building", "unit": "Unit", "user": "User"}
_TYPE = "PeriodicMessage"


def _time_zone(ctx: Any) -> str:
    return str(ctx.tenant.time_zone)


# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="PeriodicMessage")
class PeriodicMessageType:
    id: strawberry.ID
    name: str
    title: str
    body: str = strawberry.field(description="May use {{name}}: the recipient's name")
    rule: str = strawberry.field(description="5-field cron rule in the tenant's time zone")
    audience: str = strawberry.field(description="targets or birthday")
    targets: list[TargetType]
    channels: list[str] = strawberry.field(description="External channels; the inbox always")
    active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_count: int
    created_at: datetime

    @classmethod
    def of(cls, m: PeriodicMessage) -> PeriodicMessageType:
        return cls(
            id=gid(_TYPE, m.id),
            name=m.name,
            title=m.title,
            body=m.body,
            rule=m.rule,
            audience=m.audience,
            targets=[TargetType.of(Target.from_json(t)) for t in m.targets],
            channels=list(m.channels),
            active=m.active,
            next_run_at=m.next_run_at,
            last_run_at=m.last_run_at,
            last_run_count=m.last_run_count,
            created_at=m.created_at,
        )

    @strawberry.field(description="The next times the rule fires after now (at most 20)")
    def preview(self, info: strawberry.Info, count: int = 5) -> list[datetime]:
        return service.preview(
            self.rule, _time_zone(info.context), now=datetime.now(UTC), count=count
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreatePeriodicMessageInput:
    name: str
    title: str
    body: str
    rule: str = strawberry.field(description='e.g. "0 9 1 * *": 09:00 on the 1st')
    audience: str = "targets"
    targets: list[NoticeTargetInput] = strawberry.field(
        default_factory=list,
        description="Required for targets; for birthday they narrow it (default: everyone)",
    )
    channels: list[str] | None = strawberry.field(
        default=None, description="External channels; null: the message type's defaults"
    )
    active: bool = True


@strawberry.input
class UpdatePeriodicMessageInput:
    id: strawberry.ID
    name: str | None = None
    title: str | None = None
    body: str | None = None
    rule: str | None = None
    audience: str | None = None
    targets: list[NoticeTargetInput] | None = None
    channels: list[str] | None = None


@strawberry.input
class PeriodicMessageIdInput:
    id: strawberry.ID


def _targets(raw: Sequence[NoticeTargetInput] | None) -> list[Target] | None:
    """Inputs as service targets (same shape as a notice's); a ref of the wrong type is
    NOT_FOUND (field targets)."""
    if raw is None:
        return None
    found = []
    for t in raw:
        ref_type = _REF_TYPES.get(t.kind)
        if (ref_type is None) != (t.ref_id is None) or (ref_type is None and t.kind != "tenant"):
            raise AppError("VALIDATION_FAILED", field="targets", kind=t.kind)
        ref = decode_id(t.ref_id, ref_type, "targets") if ref_type and t.ref_id else None
        found.append(Target(t.kind, ref))
    return found


# --- queries and mutations -----------------------------------------------------------------


@strawberry.type
class PeriodicQuery:
    @query(PERIODIC_MANAGE, description="Periodic messages, oldest first")
    async def periodic_messages(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        active: bool | None = None,
    ) -> Connection[PeriodicMessageType]:
        stmt = service.periodic_query(active=active)
        return await paginate(
            info.context, stmt, first=first, after=after, to_node=PeriodicMessageType.of
        )

    @query(PERIODIC_MANAGE)
    async def periodic_message(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> PeriodicMessageType:
        ctx = info.context
        message = await service.get_periodic(ctx.session, message_id=decode_id(id, _TYPE))
        return PeriodicMessageType.of(message)


async def _done(ctx: Any, message: PeriodicMessage) -> PeriodicMessageType:
    ctx.audit_target = (_TYPE, str(message.id))
    await ctx.session.refresh(message)  # server defaults (created_at)
    return PeriodicMessageType.of(message)


@strawberry.type
class PeriodicMutation:
    @mutation(PERIODIC_MANAGE, description="Schedule a message on a cron rule")
    async def create_periodic_message(
        self, info: strawberry.Info, input: CreatePeriodicMessageInput
    ) -> PeriodicMessageType:
        ctx = info.context
        user = await ctx.user()
        message = await service.create_periodic(
            ctx.session,
            notifier=ctx.runtime.notifier,
            scope=await ctx.data_scope(),
            time_zone=_time_zone(ctx),
            actor_id=user.id,
            name=input.name,
            title=input.title,
            body=input.body,
            rule=input.rule,
            audience=input.audience,
            targets=_targets(input.targets) or [],
            channels=input.channels,
            active=input.active,
        )
        return await _done(ctx, message)

    @mutation(PERIODIC_MANAGE, description="Change the given fields (null keeps one)")
    async def update_periodic_message(
        self, info: strawberry.Info, input: UpdatePeriodicMessageInput
    ) -> PeriodicMessageType:
        ctx = info.context
        message = await service.update_periodic(
            ctx.session,
            notifier=ctx.runtime.notifier,
            scope=await ctx.data_scope(),
            time_zone=_time_zone(ctx),
            message_id=decode_id(input.id, _TYPE, "id"),
            name=input.name,
            title=input.title,
            body=input.body,
            rule=input.rule,
            audience=input.audience,
            targets=_targets(input.targets),
            channels=input.channels,
        )
        return await _done(ctx, message)

    @mutation(PERIODIC_MANAGE, description="Stop sending until resumed")
    async def pause_periodic_message(
        self, info: strawberry.Info, input: PeriodicMessageIdInput
    ) -> PeriodicMessageType:
        return await _set_active(info.context, input, active=False)

    @mutation(PERIODIC_MANAGE, description="Send again from the next occurrence after now")
    async def resume_periodic_message(
        self, info: strawberry.Info, input: PeriodicMessageIdInput
    ) -> PeriodicMessageType:
        return await _set_active(info.context, input, active=True)

    @mutation(PERIODIC_MANAGE)
    async def delete_periodic_message(
        self, info: strawberry.Info, input: PeriodicMessageIdInput
    ) -> bool:
        ctx = info.context
        pk = decode_id(input.id, _TYPE, "id")
        await service.delete_periodic(ctx.session, scope=await ctx.data_scope(), message_id=pk)
        ctx.audit_target = (_TYPE, str(pk))
        return True


async def _set_active(ctx: Any, input: PeriodicMessageIdInput, *, active: bool) -> Any:
    message = await service.set_active(
        ctx.session,
        scope=await ctx.data_scope(),
        time_zone=_time_zone(ctx),
        message_id=decode_id(input.id, _TYPE, "id"),
        active=active,
    )
    return await _done(ctx, message)
