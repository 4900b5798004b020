"""Platform registry tables in schema ``shared``."""

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
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wuye.db import DEFAULT_CLUSTER, SharedBase


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Tenant(SharedBase):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("slug ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'", name="slug"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    schema_name: Mapped[str] = mapped_column(String(42), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), server_default="")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    cluster: Mapped[str] = mapped_column(String(40), server_default=DEFAULT_CLUSTER)
    # branding, shown by the tenant's apps before login
    app_name: Mapped[str] = mapped_column(String(100), server_default="")
    logo_url: Mapped[str] = mapped_column(String(500), server_default="")
    primary_color: Mapped[str] = mapped_column(String(9), server_default="#1677ff")
    accent_color: Mapped[str] = mapped_column(String(9), server_default="#fa8c16")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(10), server_default="zh-CN")
    # migration bookkeeping, so `wuye migrate` can resume and report
    schema_revision: Mapped[str | None] = mapped_column(String(32))
    migration_status: Mapped[str] = mapped_column(String(16), server_default="ok")
    migration_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    domains: Mapped[list[Domain]] = relationship(back_populates="tenant", lazy="raise")
    modules: Mapped[list[TenantModule]] = relationship(back_populates="tenant", lazy="raise")


class Domain(SharedBase):
    __tablename__ = "domains"
    __table_args__ = (
        Index("uq_domains_primary", "tenant_id", unique=True, postgresql_where=text("is_primary")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _now()

    tenant: Mapped[Tenant] = relationship(back_populates="domains", lazy="raise")


class TenantModule(SharedBase):
    __tablename__ = "tenant_modules"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    module_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    changed_at: Mapped[datetime] = _now()
    changed_by: Mapped[str] = mapped_column(String(200), server_default="")

    tenant: Mapped[Tenant] = relationship(back_populates="modules", lazy="raise")
