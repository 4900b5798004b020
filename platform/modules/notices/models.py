"""Notices, their targets and recipients; periodic messages; yellow pages; knowledge base."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of

CATEGORIES = ("general", "urgent", "holiday", "policy", "activity")
# draft -> (pending ->) scheduled -> published -> withdrawn; pending only with approval on
STATUSES = ("draft", "pending", "scheduled", "published", "withdrawn")
TARGET_KINDS = ("tenant", "community", "building", "unit", "user")
KB_CATEGORIES = ("service_item", "price", "policy", "process", "faq")


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _user(ondelete: str = "SET NULL") -> Any:
    return mapped_column(ForeignKey("users.id", ondelete=ondelete))


# --- notices -------------------------------------------------------------------------------


class Notice(TenantBase):
    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint(one_of("category", CATEGORIES), name="category"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("body_format", ("markdown", "html")), name="body_format"),
        CheckConstraint(
            "expires_at IS NULL OR publish_at IS NULL OR expires_at > publish_at", name="dates"
        ),
        Index("ix_notices_listing", "status", "pinned", "published_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(10), server_default="general")
    body_format: Mapped[str] = mapped_column(String(10), server_default="markdown")
    body_source: Mapped[str] = mapped_column(Text, server_default="")
    body_html: Mapped[str] = mapped_column(Text, server_default="")
    summary: Mapped[str] = mapped_column(String(200), server_default="")
    # [{"name": ..., "url": ..., "size": ...}]; uploaded files arrive with storage
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    # external channels to push on publish (the inbox always gets it)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(10)), server_default="{}")
    status: Mapped[str] = mapped_column(String(10), server_default="draft")
    pinned: Mapped[bool] = mapped_column(Boolean, server_default="false")
    publish_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = _user()
    submitted_by: Mapped[int | None] = _user()
    approved_by: Mapped[int | None] = _user()
    review_note: Mapped[str] = mapped_column(String(500), server_default="")
    pushes: Mapped[int] = mapped_column(Integer, server_default="0")  # publish + re-pushes
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class NoticeTarget(TenantBase):
    """Who a notice is for; several rows are a union. ``ref_id`` is None for ``tenant``."""

    __tablename__ = "notice_targets"
    __table_args__ = (
        CheckConstraint(one_of("kind", TARGET_KINDS), name="kind"),
        CheckConstraint("(kind = 'tenant') = (ref_id IS NULL)", name="ref"),
        Index("ix_notice_targets_ref", "kind", "ref_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    ref_id: Mapped[int | None] = mapped_column(BigInteger)


class NoticeRecipient(TenantBase):
    """The audience as it was at publishing (``targeted``) and every read receipt."""

    __tablename__ = "notice_recipients"
    __table_args__ = (Index("ix_notice_recipients_user", "user_id", "notice_id"),)

    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    targeted: Mapped[bool] = mapped_column(Boolean, server_default="true")
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


# --- periodic messages ---------------------------------------------------------------------


class PeriodicMessage(TenantBase):
    """定期发送信息: a message sent on a cron rule (tenant's time zone) to an audience.

    ``audience`` is ``targets`` (same kinds as notices, in ``targets``) or ``birthday``
    (residents whose birthday is the day of the run).
    """

    __tablename__ = "periodic_messages"
    __table_args__ = (
        CheckConstraint(one_of("audience", ("targets", "birthday")), name="audience"),
        Index("ix_periodic_messages_due", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # may use {{name}}
    rule: Mapped[str] = mapped_column(String(100))  # "0 9 1 * *"
    audience: Mapped[str] = mapped_column(String(10), server_default="targets")
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(10)), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_count: Mapped[int] = mapped_column(Integer, server_default="0")
    created_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _now()


# --- yellow pages --------------------------------------------------------------------------


class YellowPageCategory(TenantBase):
    __tablename__ = "yellow_page_categories"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(60), unique=True)
    name_en: Mapped[str] = mapped_column(String(60), server_default="")
    sort: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _now()


class YellowPageEntry(TenantBase):
    """社区黄页 entry; ``community_id`` None means every community of the tenant."""

    __tablename__ = "yellow_page_entries"
    __table_args__ = (Index("ix_yellow_page_entries_listing", "community_id", "category_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("yellow_page_categories.id"))
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    phones: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    hours: Mapped[str] = mapped_column(String(100), server_default="")
    address: Mapped[str] = mapped_column(String(200), server_default="")
    notes: Mapped[str] = mapped_column(String(500), server_default="")
    sort: Mapped[int] = mapped_column(Integer, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = _now()


# --- knowledge base ------------------------------------------------------------------------


class KbArticle(TenantBase):
    """Knowledge base article. ``search_tokens`` is the title and text segmented into words
    (jieba), so PostgreSQL's ``simple`` parser can index Chinese."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        CheckConstraint(one_of("category", KB_CATEGORIES), name="category"),
        CheckConstraint(one_of("status", ("draft", "published")), name="status"),
        CheckConstraint(one_of("body_format", ("markdown", "html")), name="body_format"),
        Index("ix_kb_articles_search", "search_vector", postgresql_using="gin"),
        Index("ix_kb_articles_listing", "status", "category"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    body_format: Mapped[str] = mapped_column(String(10), server_default="markdown")
    body_source: Mapped[str] = mapped_column(Text, server_default="")
    body_html: Mapped[str] = mapped_column(Text, server_default="")
    summary: Mapped[str] = mapped_column(String(200), server_default="")
    status: Mapped[str] = mapped_column(String(10), server_default="draft")
    search_tokens: Mapped[str] = mapped_column(Text, server_default="")
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple'::regconfig, search_tokens)", persisted=True)
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
