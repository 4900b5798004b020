"""Notification tables (tenant schema): one message row per recipient and channel, the
users' preferences and channel addresses, the tenant's templates and delivery settings."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of
from wuye.notify.channels.base import CHANNELS

# queued -> sending -> sent (external) | delivered (inbox) -> read; or failed, throttled,
# suppressed (no address, account disabled). ``sending`` is a claim: a row left in it by a
# crashed worker goes back to ``queued`` after ``STALE_CLAIM``.
STATUSES = ("queued", "sending", "sent", "delivered", "failed", "read", "throttled", "suppressed")


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Message(TenantBase):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        # the delivery job's work list
        Index(
            "ix_messages_due",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
        ),
        Index("ix_messages_sending", "claimed_at", postgresql_where=text("status = 'sending'")),
        # a user's inbox, newest first, and the unread count
        Index("ix_messages_inbox", "user_id", "id", postgresql_where=text("channel = 'inbox'")),
        Index(
            "ix_messages_unread",
            "user_id",
            postgresql_where=text("channel = 'inbox' AND read_at IS NULL"),
        ),
        Index("ix_messages_source", "source", "channel"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    urgent: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # "<type>:<locale>" for the code's template, "tenant:<id>" for a tenant's own
    template: Mapped[str] = mapped_column(String(80), server_default="")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, server_default="")
    locale: Mapped[str] = mapped_column(String(10), server_default="zh-CN")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # what the message is about, e.g. "notice:12": links the inbox to the object and
    # counts reach
    source: Mapped[str] = mapped_column(String(80), server_default="")
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    address: Mapped[str] = mapped_column(String(300), server_default="")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str] = mapped_column(Text, server_default="")
    provider_id: Mapped[str] = mapped_column(String(120), server_default="")
    next_attempt_at: Mapped[datetime] = _now()
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotifyPreference(TenantBase):
    """A user's choice for one type (``*``: every non-urgent type) and channel."""

    __tablename__ = "notify_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(60), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = _now()


class NotifyAddress(TenantBase):
    """Where a channel reaches a user when the account has no such field (WeChat openid)."""

    __tablename__ = "notify_addresses"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    address: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = _now()


class NotifyTemplate(TenantBase):
    """A tenant's wording for a message type in one locale (replaces the code's default)."""

    __tablename__ = "notify_templates"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    locale: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (Index("uq_notify_templates_type_locale", "type", "locale", unique=True),)


class NotifySettings(TenantBase):
    """The tenant's delivery settings: one row (id 1), created with defaults on first use."""

    __tablename__ = "notify_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, server_default="1")
    # Non-urgent external messages wait for the end of quiet hours (tenant's time zone).
    quiet_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    quiet_start: Mapped[time] = mapped_column(Time, server_default="22:00")
    quiet_end: Mapped[time] = mapped_column(Time, server_default="08:00")
    sender_name: Mapped[str] = mapped_column(String(100), server_default="")
    sms_sign_name: Mapped[str] = mapped_column(String(40), server_default="")
    sms_templates: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    wechat_app_id: Mapped[str] = mapped_column(String(40), server_default="")
    wechat_app_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM
    wechat_templates: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    updated_at: Mapped[datetime] = _now()
