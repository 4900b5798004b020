"""Notifications on the tenant surface (core: every tenant): the signed-in user's inbox and
choices, and the staff's settings, templates and delivery log."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import httpx
import strawberry
from sqlalchemy import func, select

from wuye.errors import AppError
from wuye.graphql.access import mutation, query, subscription
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.pagination import Connection, Edge, PageInfo, page_size
from wuye.graphql.realtime import publish_after_commit
from wuye.identity.passwords import mask_phone
from wuye.notify import admin, inbox, preferences
from wuye.notify.delivery import tenant_settings
from wuye.notify.models import NotifySettings
from wuye.notify.permissions import NOTIFY_MESSAGES_VIEW, NOTIFY_SETTINGS_MANAGE
from wuye.notify.service import inbox_topic
from wuye.notify.types import LOCALES, MessageType

JSON = strawberry.scalars.JSON

# --- types ---------------------------------------------------------------------------------


@strawberry.type
class InboxMessage:
    id: strawberry.ID
    type: str
    title: str
    body: str
    source: str = strawberry.field(description='What it is about, e.g. "notice:12"')
    urgent: bool
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, r: inbox.InboxRow) -> InboxMessage:
        return cls(
            id=gid("Message", r.id),
            type=r.type,
            title=r.title,
            body=r.body,
            source=r.source,
            urgent=r.urgent,
            created_at=r.created_at,
            read_at=r.read_at,
        )


@strawberry.type
class InboxChange:
    unread_count: int = strawberry.field(description="Your unread inbox messages now")
    reason: str = strawberry.field(description='"added" (a new message) or "read"')
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="The new message (reason added)"
    )


@strawberry.type
class NotificationChannelChoice:
    channel: str
    enabled: bool = strawberry.field(description="Whether this type reaches you here now")
    by_default: bool = strawberry.field(description="The type uses this channel by default")


@strawberry.type
class NotificationTypeChoice:
    type: str
    title: str = strawberry.field(description="In the request's language")
    title_zh: str
    title_en: str
    urgent: bool = strawberry.field(description="Always delivered; cannot be turned off")
    channels: list[NotificationChannelChoice]


@strawberry.type
class MyNotificationSettings:
    wechat_bound: bool
    types: list[NotificationTypeChoice]


@strawberry.type
class WechatTemplateMapping:
    type: str
    template_id: str
    fields: JSON = strawberry.field(description="WeChat field -> variable")
    url: str


@strawberry.type
class SmsTemplateCode:
    type: str
    template_code: str


@strawberry.type
class NotificationSettings:
    quiet_hours_enabled: bool
    quiet_hours_start: str = strawberry.field(description="HH:MM in the company's time zone")
    quiet_hours_end: str
    sender_name: str
    sms_sign_name: str
    sms_templates: list[SmsTemplateCode]
    wechat_app_id: str
    wechat_app_secret_set: bool = strawberry.field(description="The secret itself is write-only")
    wechat_templates: list[WechatTemplateMapping]

    @classmethod
    def of(cls, row: NotifySettings) -> NotificationSettings:
        return cls(
            quiet_hours_enabled=row.quiet_enabled,
            quiet_hours_start=admin.format_time(row.quiet_start),
            quiet_hours_end=admin.format_time(row.quiet_end),
            sender_name=row.sender_name,
            sms_sign_name=row.sms_sign_name,
            sms_templates=[
                SmsTemplateCode(type=k, template_code=v)
                for k, v in sorted((row.sms_templates or {}).items())
            ],
            wechat_app_id=row.wechat_app_id,
            wechat_app_secret_set=bool(row.wechat_app_secret_enc),
            wechat_templates=[
                WechatTemplateMapping(
                    type=k,
                    template_id=str(v.get("template_id", "")),
                    fields=JSON(dict(v.get("fields") or {})),
                    url=str(v.get("url", "")),
                )
                for k, v in sorted((row.wechat_templates or {}).items())
            ],
        )


@strawberry.type
class LocalizedTemplate:
    locale: str
    subject: str
    body: str
    updated_at: datetime | None = None


@strawberry.type
class MessageTemplateInfo:
    type: str
    title: str
    title_zh: str
    title_en: str
    variables: list[str]
    defaults: list[LocalizedTemplate]
    overrides: list[LocalizedTemplate] = strawberry.field(
        description="The company's own wording, used instead of the default for that locale"
    )


@strawberry.type
class MessageLogEntry:
    id: strawberry.ID
    user_id: strawberry.ID
    user_name: str
    user_phone: str | None = strawberry.field(description="Masked")
    type: str
    channel: str
    status: str
    attempts: int
    error: str
    source: str
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None

    @classmethod
    def of(cls, r: Any) -> MessageLogEntry:
        return cls(
            id=gid("Message", r.id),
            user_id=gid("User", r.user_id),
            user_name=r.user_name,
            user_phone=mask_phone(r.user_phone),
            type=r.type,
            channel=r.channel,
            status=r.status,
            attempts=r.attempts,
            error=r.error,
            source=r.source,
            created_at=r.created_at,
            sent_at=r.sent_at,
            read_at=r.read_at,
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class SmsTemplateCodeInput:
    type: str
    template_code: str


@strawberry.input
class WechatTemplateMappingInput:
    type: str
    template_id: str
    fields: JSON = strawberry.field(description="WeChat field -> variable, e.g. {thing1: title}")
    url: str = ""


@strawberry.input
class NotificationSettingsInput:
    """Omitted fields stay as they are; a given list replaces the whole mapping."""

    quiet_hours_enabled: bool | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    sender_name: str | None = None
    sms_sign_name: str | None = None
    sms_templates: list[SmsTemplateCodeInput] | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = strawberry.field(
        default=None, description='Write-only; "" removes it'
    )
    wechat_templates: list[WechatTemplateMappingInput] | None = None


# --- helpers -------------------------------------------------------------------------------


def _title(ctx: Any, t: MessageType) -> str:
    return t.title(ctx.lang)


def _type_choice(ctx: Any, c: preferences.TypeChoices) -> NotificationTypeChoice:
    t = c.type
    return NotificationTypeChoice(
        type=t.key,
        title=_title(ctx, t),
        title_zh=t.title_zh,
        title_en=t.title_en,
        urgent=t.urgent,
        channels=[
            NotificationChannelChoice(channel=x.channel, enabled=x.enabled, by_default=x.by_default)
            for x in c.channels
        ],
    )


async def _my_settings(ctx: Any, user_id: int) -> MyNotificationSettings:
    choices = await preferences.my_choices(ctx.session, ctx.runtime, ctx.tenant, user_id)
    return MyNotificationSettings(
        wechat_bound=await preferences.wechat_bound(ctx.session, user_id),
        types=[_type_choice(ctx, c) for c in choices],
    )


def _template_info(ctx: Any, t: MessageType, own: list[admin.Override]) -> MessageTemplateInfo:
    return MessageTemplateInfo(
        type=t.key,
        title=_title(ctx, t),
        title_zh=t.title_zh,
        title_en=t.title_en,
        variables=list(t.variables),
        defaults=[
            LocalizedTemplate(
                locale=loc, subject=t.template(loc).subject, body=t.template(loc).body
            )
            for loc in LOCALES
        ],
        overrides=[
            LocalizedTemplate(
                locale=o.locale,
                subject=o.template.subject,
                body=o.template.body,
                updated_at=o.updated_at,
            )
            for o in own
        ],
    )


async def _one_template_info(ctx: Any, t: MessageType) -> MessageTemplateInfo:
    own = await admin.overrides(ctx.session)
    return _template_info(ctx, t, own.get(t.key, []))


def _limit(ctx: Any, first: int | None) -> int:
    s = ctx.runtime.settings
    return page_size(first, default=s.graphql_default_page_size, maximum=s.graphql_max_page_size)


def _connection(
    ctx: Any,
    nodes: list[Any],
    cursors: list[str],
    has_next: bool,
    after: str | None,
    count_stmt: Any,
) -> Connection[Any]:
    edges = [Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=bool(after),
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        _session=ctx.session,
        _count_stmt=count_stmt,
    )


def _message_ids(ids: list[strawberry.ID]) -> list[int]:
    """Decodable message ids; anything else is skipped like someone else's id would be."""
    found = []
    for raw in ids:
        try:
            found.append(decode_id(raw, "Message"))
        except AppError:  # a malformed id counts as nothing, like anyone else's
            continue
    return found


def _change(input: NotificationSettingsInput) -> admin.SettingsChange:
    return admin.SettingsChange(
        quiet_enabled=input.quiet_hours_enabled,
        quiet_start=input.quiet_hours_start,
        quiet_end=input.quiet_hours_end,
        sender_name=input.sender_name,
        sms_sign_name=input.sms_sign_name,
        sms_templates=None
        if input.sms_templates is None
        else {s.type: s.template_code for s in input.sms_templates},
        wechat_app_id=input.wechat_app_id,
        wechat_app_secret=input.wechat_app_secret,
        wechat_templates=None
        if input.wechat_templates is None
        else {w.type: _wechat_mapping(w) for w in input.wechat_templates},
    )


def _wechat_mapping(w: WechatTemplateMappingInput) -> admin.WechatTemplate:
    fields = w.fields if isinstance(w.fields, dict) else None
    if fields is None or not all(isinstance(v, str) for v in fields.values()):
        raise admin.invalid(
            "wechatTemplates",
            "字段映射应为{字段: 变量}",
            "fields must map field names to variables",
        )
    return admin.WechatTemplate(template_id=w.template_id, fields=fields, url=w.url)


def _announce_read(ctx: Any, user_id: int, changed: int) -> None:
    """Other devices of the user update their badge (``inboxChanged``) after commit."""
    if changed:
        publish_after_commit(
            ctx.session, ctx.runtime, ctx.tenant.slug, inbox_topic(user_id), {"reason": "read"}
        )


# --- signed-in user ------------------------------------------------------------------------


@strawberry.type
class NotifyQuery:
    @query(signed_in=True, description="Your inbox: unread first, then newest")
    async def my_messages(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[InboxMessage]:
        ctx = info.context
        user = await ctx.user()
        found = await inbox.page(
            ctx.session, user.id, limit=_limit(ctx, first), after=after, unread_only=unread_only
        )
        return _connection(
            ctx,
            [InboxMessage.of(r) for r in found.rows],
            found.cursors,
            found.has_next,
            after,
            inbox.count_statement(user.id, unread_only=unread_only),
        )

    @query(signed_in=True)
    async def unread_message_count(self, info: strawberry.Info) -> int:
        ctx = info.context
        return await inbox.unread_count(ctx.session, (await ctx.user()).id)

    @query(signed_in=True, description="Which messages reach you on which channel")
    async def my_notification_settings(self, info: strawberry.Info) -> MyNotificationSettings:
        ctx = info.context
        return await _my_settings(ctx, (await ctx.user()).id)

    # --- staff -----------------------------------------------------------------------------

    @query(NOTIFY_SETTINGS_MANAGE)
    async def notification_settings(self, info: strawberry.Info) -> NotificationSettings:
        return NotificationSettings.of(await tenant_settings(info.context.session))

    @query(NOTIFY_SETTINGS_MANAGE, description="Every message type's wording, default and own")
    async def message_templates(self, info: strawberry.Info) -> list[MessageTemplateInfo]:
        ctx = info.context
        own = await admin.overrides(ctx.session)
        return [
            _template_info(ctx, t, own.get(t.key, []))
            for t in preferences.visible_types(ctx.runtime, ctx.tenant)
        ]

    @query(NOTIFY_MESSAGES_VIEW, description="Messages sent, newest first, to trace a delivery")
    async def message_log(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        user_id: strawberry.ID | None = None,
        status: str | None = None,
        channel: str | None = None,
        type: str | None = None,
        # "source" is also the name of the resolver's parent object in field extensions
        source_: Annotated[str | None, strawberry.argument(name="source")] = None,
    ) -> Connection[MessageLogEntry]:
        ctx = info.context
        where = admin.LogFilter(
            user_id=optional_id(user_id, "User", "userId"),
            status=status,
            channel=channel,
            type=type,
            source=source_,
        )
        found = await admin.log_page(ctx.session, where, limit=_limit(ctx, first), after=after)
        count = select(func.count()).select_from(admin.log_statement(where).subquery())
        return _connection(
            ctx,
            [MessageLogEntry.of(r) for r in found.rows],
            found.cursors,
            found.has_next,
            after,
            count,
        )


@strawberry.type
class NotifyMutation:
    @mutation(signed_in=True, description="Mark your own messages read; returns how many changed")
    async def mark_messages_read(self, info: strawberry.Info, ids: list[strawberry.ID]) -> int:
        ctx = info.context
        user = await ctx.user()
        changed = await inbox.mark_read(ctx.session, user.id, _message_ids(ids))
        _announce_read(ctx, user.id, changed)
        return changed

    @mutation(signed_in=True)
    async def mark_all_messages_read(self, info: strawberry.Info) -> int:
        ctx = info.context
        user = await ctx.user()
        changed = await inbox.mark_read(ctx.session, user.id, None)
        _announce_read(ctx, user.id, changed)
        return changed

    @mutation(signed_in=True, description='type and channel may be "*" (every type / channel)')
    async def set_notification_preference(
        self, info: strawberry.Info, type: str, channel: str, enabled: bool
    ) -> MyNotificationSettings:
        ctx = info.context
        user = await ctx.user()
        await preferences.set_preference(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            user_id=user.id,
            type_key=type,
            channel=channel,
            enabled=enabled,
        )
        return await _my_settings(ctx, user.id)

    @mutation(signed_in=True, description="Receive messages on WeChat (code from WeChat OAuth)")
    async def bind_wechat(self, info: strawberry.Info, code: str) -> MyNotificationSettings:
        ctx = info.context
        user = await ctx.user()
        async with httpx.AsyncClient(timeout=ctx.runtime.settings.notify_http_timeout_s) as client:
            await preferences.bind_wechat(
                ctx.session, ctx.runtime, ctx.tenant, user_id=user.id, code=code, client=client
            )
        return await _my_settings(ctx, user.id)

    @mutation(signed_in=True)
    async def unbind_wechat(self, info: strawberry.Info) -> MyNotificationSettings:
        ctx = info.context
        user = await ctx.user()
        await preferences.unbind_wechat(ctx.session, user.id)
        return await _my_settings(ctx, user.id)

    # --- staff -----------------------------------------------------------------------------

    @mutation(NOTIFY_SETTINGS_MANAGE)
    async def update_notification_settings(
        self, info: strawberry.Info, input: NotificationSettingsInput
    ) -> NotificationSettings:
        ctx = info.context
        row = await admin.update_settings(ctx.session, ctx.runtime, ctx.tenant, _change(input))
        ctx.audit_target = ("NotifySettings", "1")
        return NotificationSettings.of(row)

    @mutation(NOTIFY_SETTINGS_MANAGE)
    async def set_message_template(
        self, info: strawberry.Info, type: str, locale: str, subject: str, body: str
    ) -> MessageTemplateInfo:
        ctx = info.context
        user = await ctx.user()
        t = await admin.set_template(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            type_key=type,
            locale=locale,
            subject=subject,
            body=body,
            user_id=user.id,
        )
        ctx.audit_target = ("MessageTemplate", f"{type}:{locale}")
        return await _one_template_info(ctx, t)

    @mutation(NOTIFY_SETTINGS_MANAGE, description="Back to the default wording for one locale")
    async def reset_message_template(
        self, info: strawberry.Info, type: str, locale: str
    ) -> MessageTemplateInfo:
        ctx = info.context
        t = await admin.reset_template(
            ctx.session, ctx.runtime, ctx.tenant, type_key=type, locale=locale
        )
        ctx.audit_target = ("MessageTemplate", f"{type}:{locale}")
        return await _one_template_info(ctx, t)


@strawberry.type
class NotifySubscription:
    @subscription(
        signed_in=True,
        description="Your unread count, whenever a message arrives or you read some "
        "(on any device)",
    )
    async def inbox_changed(self, info: strawberry.Info) -> AsyncGenerator[InboxChange, None]:
        ctx = info.context
        user = await ctx.user()
        async for event in ctx.events(inbox_topic(user.id)):
            mid = event.get("messageId")
            yield InboxChange(
                unread_count=await inbox.unread_count(ctx.session, user.id),
                reason=str(event.get("reason", "")),
                message_id=gid("Message", int(mid)) if isinstance(mid, int) else None,
            )
