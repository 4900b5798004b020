"""Identity tables: tenant users (tenant schema) and platform operators (``shared``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wuye.db import SharedBase, TenantBase


def _created() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# --- columns shared by tenant and platform tables ---------------------------------------


class _RefreshTokenColumns:
    """Rotating refresh tokens, stored as SHA-256 hashes; a family is one login."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str] = mapped_column(String(300), server_default="")
    created_at: Mapped[datetime] = _created()


class _AuditColumns:
    """Who did what, when, from where. Rows are only ever inserted."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # staff | resident | operator | anonymous
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(60), server_default="")
    object_id: Mapped[str] = mapped_column(String(100), server_default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str] = mapped_column(String(300), server_default="")
    request_id: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


# --- tenant schema -------------------------------------------------------------------------


class User(TenantBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("kind IN ('staff', 'resident')", name="kind"),
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="login"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # lower-cased
    password_hash: Mapped[str | None] = mapped_column(String(200))  # None until invite accepted
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # Data scope for staff: every community, or only those in user_community_scopes.
    all_communities: Mapped[bool] = mapped_column(Boolean, server_default="false")
    locale: Mapped[str] = mapped_column(String(10), server_default="zh-CN")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="raise")


class Role(TenantBase):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), server_default="")
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(80)), server_default="{}")
    is_system: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created()


class UserRole(TenantBase):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class UserCommunityScope(TenantBase):
    """The communities a staff member may see when ``all_communities`` is false."""

    __tablename__ = "user_community_scopes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    community_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class RefreshToken(_RefreshTokenColumns, TenantBase):
    __tablename__ = "refresh_tokens"

    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Invite(TenantBase):
    """A one-time link to set a password (first admin, staff, invited residents)."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class AuditLog(_AuditColumns, TenantBase):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


# --- shared schema -------------------------------------------------------------------------


class Operator(SharedBase):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class OperatorRefreshToken(_RefreshTokenColumns, SharedBase):
    __tablename__ = "operator_refresh_tokens"

    subject_id: Mapped[int] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )


class OperatorAuditLog(_AuditColumns, SharedBase):
    __tablename__ = "operator_audit_log"

    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tenant_slug: Mapped[str] = mapped_column(String(40), server_default="", index=True)
