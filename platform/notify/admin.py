"""Staff side of notifications: the tenant's delivery settings, its template overrides and
the message log.

Settings are one row (id 1) made on first save. The WeChat app secret is write-only: it is
stored encrypted with the tenant's own key and only "is one set" is ever read back.
Provider mappings (SMS TemplateCode, WeChat template) are checked against the type's
declared channels and variables on save, so a mistake shows up in the settings screen and
not as failed deliveries later.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import encrypt_field
from wuye.errors import AppError
from wuye.identity.models import User
from wuye.notify.delivery import WECHAT_SECRET_PURPOSE, tenant_settings
from wuye.notify.models import STATUSES, Message, NotifySettings, NotifyTemplate
from wuye.notify.preferences import find_type
from wuye.notify.types import LOCALES, MessageType, Template, check_template

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# text any WeChat template field may show besides the type's own variables
_WECHAT_EXTRA_VARIABLES = ("subject", "body")


def invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


# --- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WechatTemplate:
    template_id: str
    fields: Mapping[str, str]  # WeChat field -> our variable
    url: str = ""


@dataclass(frozen=True)
class SettingsChange:
    """What to change; None leaves a value as it is."""

    quiet_enabled: bool | None = None
    quiet_start: str | None = None  # "HH:MM", tenant's time zone
    quiet_end: str | None = None
    sender_name: str | None = None
    sms_sign_name: str | None = None
    sms_templates: Mapping[str, str] | None = None  # replaces the whole mapping
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None  # "" removes it
    wechat_templates: Mapping[str, WechatTemplate] | None = None  # replaces the whole mapping


def format_time(value: time) -> str:
    return value.strftime("%H:%M")


def parse_time(value: str, field: str) -> time:
    match = _HHMM.match(value.strip())
    if match is None:
        raise invalid(field, "时间格式应为HH:MM", "Use HH:MM (24-hour clock)")
    return time(int(match.group(1)), int(match.group(2)))


def _bounded(value: str, limit: int, field: str) -> str:
    value = value.strip()
    if len(value) > limit:
        raise invalid(field, f"不能超过{limit}个字符", f"At most {limit} characters")
    return value


def _typed_for(
    runtime: Runtime, tenant: TenantInfo | None, type_key: str, channel: str
) -> MessageType:
    message_type = find_type(runtime, tenant, type_key)
    if channel not in message_type.channels:
        raise AppError("CHANNEL_NOT_ALLOWED", type=type_key, channel=channel)
    return message_type


def _sms_templates(
    runtime: Runtime, tenant: TenantInfo | None, given: Mapping[str, str]
) -> dict[str, str]:
    found = {}
    for type_key, code in given.items():
        _typed_for(runtime, tenant, type_key, "sms")
        found[type_key] = _bounded(code, 40, "smsTemplates")
        if not found[type_key]:
            raise invalid("smsTemplates", "模板编号不能为空", "The template code is empty")
    return found


def _wechat_templates(
    runtime: Runtime, tenant: TenantInfo | None, given: Mapping[str, WechatTemplate]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for type_key, mapping in given.items():
        message_type = _typed_for(runtime, tenant, type_key, "wechat")
        if not mapping.template_id.strip():
            raise invalid("wechatTemplates", "模板ID不能为空", "The template id is empty")
        known = {*message_type.variables, *_WECHAT_EXTRA_VARIABLES}
        unknown = sorted(set(mapping.fields.values()) - known)
        if unknown:
            raise AppError("TEMPLATE_UNKNOWN_VARIABLE", type=type_key, variables=", ".join(unknown))
        found[type_key] = {
            "template_id": mapping.template_id.strip(),
            "fields": dict(mapping.fields),
            "url": mapping.url.strip(),
        }
    return found


async def update_settings(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    change: SettingsChange,
) -> NotifySettings:
    """Validate everything first, then write: a rejected change leaves the row as it was."""
    values: dict[str, Any] = {}
    if change.quiet_enabled is not None:
        values["quiet_enabled"] = change.quiet_enabled
    if change.quiet_start is not None:
        values["quiet_start"] = parse_time(change.quiet_start, "quietHoursStart")
    if change.quiet_end is not None:
        values["quiet_end"] = parse_time(change.quiet_end, "quietHoursEnd")
    if change.sender_name is not None:
        values["sender_name"] = _bounded(change.sender_name, 100, "senderName")
    if change.sms_sign_name is not None:
        values["sms_sign_name"] = _bounded(change.sms_sign_name, 40, "smsSignName")
    if change.sms_templates is not None:
        values["sms_templates"] = _sms_templates(runtime, tenant, change.sms_templates)
    if change.wechat_app_id is not None:
        values["wechat_app_id"] = _bounded(change.wechat_app_id, 40, "wechatAppId")
    if change.wechat_app_secret is not None:
        secret = change.wechat_app_secret.strip()
        values["wechat_app_secret_enc"] = (
            encrypt_field(
                runtime.settings.secret_key,
                purpose=WECHAT_SECRET_PURPOSE,
                tenant=tenant.slug,
                plaintext=secret,
            )
            if secret
            else None
        )
    if change.wechat_templates is not None:
        values["wechat_templates"] = _wechat_templates(runtime, tenant, change.wechat_templates)
    row = await tenant_settings(session)
    if row not in session:  # never saved: the defaults become the row
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = func.now()
    await session.flush()
    await session.refresh(row)
    return row


# --- templates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    locale: str
    template: Template
    updated_at: datetime


async def overrides(session: AsyncSession) -> dict[str, list[Override]]:
    """type key -> the tenant's own templates, one query for every type."""
    rows = await session.execute(
        select(
            NotifyTemplate.type,
            NotifyTemplate.locale,
            NotifyTemplate.subject,
            NotifyTemplate.body,
            NotifyTemplate.updated_at,
        ).order_by(NotifyTemplate.type, NotifyTemplate.locale)
    )
    found: dict[str, list[Override]] = {}
    for type_key, locale, subject, body, updated_at in rows:
        found.setdefault(type_key, []).append(Override(locale, Template(subject, body), updated_at))
    return found


def _check_locale(locale: str) -> None:
    if locale not in LOCALES:
        raise invalid("locale", f"语言须为{'/'.join(LOCALES)}", f"locale must be one of {LOCALES}")


async def set_template(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo | None,
    *,
    type_key: str,
    locale: str,
    subject: str,
    body: str,
    user_id: int,
) -> MessageType:
    message_type = find_type(runtime, tenant, type_key)
    _check_locale(locale)
    subject = _bounded(subject, 200, "subject")
    if not subject:
        raise invalid("subject", "标题不能为空", "The subject is empty")
    check_template(message_type, Template(subject, body))
    stmt = insert(NotifyTemplate).values(
        type=type_key, locale=locale, subject=subject, body=body, updated_by=user_id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[NotifyTemplate.type, NotifyTemplate.locale],
            set_={
                "subject": subject,
                "body": body,
                "updated_by": user_id,
                "updated_at": func.now(),
            },
        )
    )
    return message_type


async def reset_template(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo | None,
    *,
    type_key: str,
    locale: str,
) -> MessageType:
    message_type = find_type(runtime, tenant, type_key)
    _check_locale(locale)
    await session.execute(
        delete(NotifyTemplate).where(
            NotifyTemplate.type == type_key, NotifyTemplate.locale == locale
        )
    )
    return message_type


# --- message log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    user_id: int | None = None
    status: str | None = None
    channel: str | None = None
    type: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class LogPage:
    rows: list[Any]  # Message columns plus user_name and user_phone
    cursors: list[str]
    has_next: bool


_LOG_PREFIX = "log:"


def _log_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_LOG_PREFIX}{message_id}".encode()).decode()


def _log_after(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if raw.startswith(_LOG_PREFIX) and raw[len(_LOG_PREFIX) :].isdigit():
            return int(raw[len(_LOG_PREFIX) :])
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid("after", "分页游标无效", "Invalid pagination cursor")


def log_statement(where: LogFilter) -> Select[Any]:
    """Newest first; the user's name and phone come in the same query (no per-row lookup)."""
    if where.status is not None and where.status not in STATUSES:
        raise invalid("status", "未知状态", f"status must be one of {', '.join(STATUSES)}")
    stmt: Any = select(
        Message.id,
        Message.user_id,
        Message.type,
        Message.channel,
        Message.status,
        Message.attempts,
        Message.error,
        Message.source,
        Message.created_at,
        Message.sent_at,
        Message.read_at,
        User.name.label("user_name"),
        User.phone.label("user_phone"),
    ).join(User, User.id == Message.user_id)
    for column, value in (
        (Message.user_id, where.user_id),
        (Message.status, where.status),
        (Message.channel, where.channel),
        (Message.type, where.type),
        (Message.source, where.source),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


async def log_page(
    session: AsyncSession, where: LogFilter, *, limit: int, after: str | None
) -> LogPage:
    stmt = log_statement(where)
    if after:
        stmt = stmt.where(Message.id < _log_after(after))
    rows = list(await session.execute(stmt.order_by(Message.id.desc()).limit(limit + 1)))
    has_next = len(rows) > limit
    rows = rows[:limit]
    return LogPage(rows=rows, cursors=[_log_cursor(r.id) for r in rows], has_next=has_next)
