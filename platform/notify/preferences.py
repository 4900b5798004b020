"""A user's own notification choices (which types reach them on which channel) and their
WeChat binding.

Choices are stored as ``notify_preferences`` rows and resolved exactly as ``notify`` does
(``service.wants``): type/channel, then type/*, then */channel, then */*; on by default;
urgent types ignore them. Turning an urgent type off is refused rather than silently
ignored, so the screen never shows a switch that does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import decrypt_field
from wuye.errors import AppError
from wuye.notify.channels.base import EXTERNAL_CHANNELS
from wuye.notify.channels.wechat import exchange_oauth_code
from wuye.notify.delivery import WECHAT_SECRET_PURPOSE, tenant_settings
from wuye.notify.models import NotifyAddress, NotifyPreference
from wuye.notify.service import wants
from wuye.notify.types import MessageType

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

ANY = "*"


def visible_types(runtime: Runtime, tenant: TenantInfo | None) -> list[MessageType]:
    """Core types plus those of the modules the tenant runs, in declaration order."""
    owner = {t.key: m.key for m in runtime.modules for t in m.message_types}
    return [
        t
        for key, t in runtime.notifier.types.items()
        if key not in owner or runtime.module_enabled(tenant, owner[key])
    ]


def find_type(runtime: Runtime, tenant: TenantInfo | None, key: str) -> MessageType:
    """The type ``key`` if this tenant can send it; NOT_FOUND otherwise (a disabled
    module's type is as unknown to the tenant as a misspelt one)."""
    for t in visible_types(runtime, tenant):
        if t.key == key:
            return t
    raise AppError("NOT_FOUND", type=key)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    channel: str
    enabled: bool  # what ``notify`` would do for this user now
    by_default: bool  # the type uses this channel unless the sender picks others


@dataclass(frozen=True)
class TypeChoices:
    type: MessageType
    channels: list[ChannelChoice]


async def _preferences(session: AsyncSession, user_id: int) -> dict[str, bool]:
    rows = await session.execute(
        select(NotifyPreference.type, NotifyPreference.channel, NotifyPreference.enabled).where(
            NotifyPreference.user_id == user_id
        )
    )
    return {f"{t}/{c}": enabled for t, c, enabled in rows}


def effective(prefs: Mapping[str, bool], message_type: MessageType, channel: str) -> bool:
    return wants(prefs, message_type, channel)


async def my_choices(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo | None, user_id: int
) -> list[TypeChoices]:
    """Each type with an external channel, and whether each channel reaches the user."""
    prefs = await _preferences(session, user_id)
    return [
        TypeChoices(
            type=t,
            channels=[
                ChannelChoice(c, effective(prefs, t, c), c in t.default_channels)
                for c in t.channels
            ],
        )
        for t in visible_types(runtime, tenant)
        if t.channels  # an inbox-only type has nothing to choose
    ]


async def wechat_bound(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(NotifyAddress.user_id).where(
            NotifyAddress.user_id == user_id, NotifyAddress.channel == "wechat"
        )
    )
    return found is not None


# --- changing ------------------------------------------------------------------------------


def _check_choice(
    runtime: Runtime, tenant: TenantInfo | None, type_key: str, channel: str, enabled: bool
) -> None:
    allowed: Sequence[str] = EXTERNAL_CHANNELS
    if type_key != ANY:
        message_type = find_type(runtime, tenant, type_key)
        if message_type.urgent and not enabled:
            raise AppError("URGENT_NOT_OPTIONAL", type=type_key)
        allowed = message_type.channels
    if (channel == ANY and not allowed) or (channel != ANY and channel not in allowed):
        raise AppError("CHANNEL_NOT_ALLOWED", type=type_key, channel=channel)


async def set_preference(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo | None,
    *,
    user_id: int,
    type_key: str,
    channel: str,
    enabled: bool,
) -> None:
    _check_choice(runtime, tenant, type_key, channel, enabled)
    stmt = insert(NotifyPreference).values(
        user_id=user_id, type=type_key, channel=channel, enabled=enabled
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                NotifyPreference.user_id,
                NotifyPreference.type,
                NotifyPreference.channel,
            ],
            set_={"enabled": enabled, "updated_at": func.now()},
        )
    )


async def bind_wechat(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    user_id: int,
    code: str,
    client: httpx.AsyncClient,
) -> None:
    """Store the openid behind a WeChat web-authorisation ``code`` as the user's address."""
    settings = await tenant_settings(session)
    if not settings.wechat_app_id or not settings.wechat_app_secret_enc:
        raise AppError(
            "VALIDATION_FAILED",
            "本物业尚未配置微信公众号",
            "This company has not set up a WeChat official account",
            field="code",
        )
    secret = decrypt_field(
        runtime.settings.secret_key,
        purpose=WECHAT_SECRET_PURPOSE,
        tenant=tenant.slug,
        blob=settings.wechat_app_secret_enc,
    )
    openid = await exchange_oauth_code(
        runtime.settings, client, settings.wechat_app_id, secret, code
    )
    stmt = insert(NotifyAddress).values(user_id=user_id, channel="wechat", address=openid)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[NotifyAddress.user_id, NotifyAddress.channel],
            set_={"address": openid, "created_at": func.now()},
        )
    )


async def unbind_wechat(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(
        delete(NotifyAddress).where(
            NotifyAddress.user_id == user_id, NotifyAddress.channel == "wechat"
        )
    )
    return bool(getattr(result, "rowcount", 0))
