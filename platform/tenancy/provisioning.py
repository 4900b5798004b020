"""Tenant provisioning: registry rows, schema, tables, Alembic stamp, roles, first admin.

All of it happens in one transaction, so a failure leaves nothing behind (PostgreSQL DDL is
transactional). The tenant DDL is compiled once per process and sent as one statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateIndex, CreateTable

from wuye.db import SHARED_SCHEMA, schema_for_slug
from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.modules.base import Module, closure_with_dependencies
from wuye.tenancy import migrate
from wuye.tenancy.models import Domain, Tenant, TenantModule

_SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
RESERVED_SLUGS = frozenset(
    {
        "www",
        "admin",
        "api",
        "app",
        "static",
        "media",
        "partner",
        "shared",
        "public",
        "mail",
        "status",
    }
)


@dataclass
class NewTenant:
    slug: str
    name_zh: str
    name_en: str = ""
    domains: Sequence[str] = ()
    modules: Sequence[str] = ()
    app_name: str = ""
    logo_url: str = ""
    primary_color: str = "#1677ff"
    accent_color: str = "#fa8c16"
    time_zone: str = "Asia/Shanghai"
    locale: str = "zh-CN"
    cluster: str = "default"
    admin_name: str = ""
    admin_phone: str | None = None
    admin_email: str | None = None
    module_config: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Provisioned:
    tenant_id: int
    slug: str
    schema: str
    admin_user_id: int | None
    admin_invite: str | None


@cache
def tenant_ddl() -> str:
    """Every CREATE TABLE / CREATE INDEX of the tenant metadata, unqualified, as one script."""
    from wuye.models import load_all

    _, tenant_base = load_all()
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    parts: list[str] = []
    for table in tenant_base.metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        parts.extend(
            str(CreateIndex(ix).compile(dialect=dialect)).strip()
            for ix in sorted(table.indexes, key=lambda i: i.name or "")
        )
    return ";\n".join(parts) + ";"


def validate_new_tenant(spec: NewTenant, all_modules: Sequence[Module]) -> set[str]:
    """Refuse bad input before any write; return the module keys to enable (with deps)."""
    if not _SLUG_RE.fullmatch(spec.slug) or spec.slug in RESERVED_SLUGS:
        raise AppError(
            "VALIDATION_FAILED",
            "标识须为3-40位小写字母、数字或连字符，且未被保留",
            "The slug needs 3-40 lower-case letters, digits or hyphens, not reserved",
            field="slug",
        )
    if not spec.name_zh.strip():
        raise AppError(
            "VALIDATION_FAILED", "请填写公司中文名称", "A Chinese name is required", field="nameZh"
        )
    for color in (spec.primary_color, spec.accent_color):
        if not _COLOR_RE.fullmatch(color):
            raise AppError(
                "VALIDATION_FAILED", "颜色须为 #RRGGBB", "Colours are #RRGGBB", field="primaryColor"
            )
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(spec.time_zone)
    except Exception:
        raise AppError(
            "VALIDATION_FAILED", "时区无效", "Unknown time zone", field="timeZone"
        ) from None
    try:
        return closure_with_dependencies(all_modules, set(spec.modules)) | {
            m.key for m in all_modules if m.always_on
        }
    except ValueError as exc:
        raise AppError(
            "VALIDATION_FAILED", f"未知模块：{exc}", f"Unknown module: {exc}", field="modules"
        ) from None


async def create_tenant(
    session: AsyncSession,
    spec: NewTenant,
    *,
    modules: Sequence[Module],
    changed_by: str,
    invite_ttl_s: int,
    region: str = "CN",
) -> Provisioned:
    """Provision a tenant inside the caller's transaction (the caller commits)."""
    enabled = validate_new_tenant(spec, modules)
    schema = schema_for_slug(spec.slug)
    tenant = Tenant(
        slug=spec.slug,
        schema_name=schema,
        name_zh=spec.name_zh.strip(),
        name_en=spec.name_en.strip(),
        app_name=spec.app_name or spec.name_zh.strip(),
        logo_url=spec.logo_url,
        primary_color=spec.primary_color,
        accent_color=spec.accent_color,
        time_zone=spec.time_zone,
        locale=spec.locale,
        cluster=spec.cluster,
        schema_revision=migrate.head("tenant"),
    )
    try:
        async with session.begin_nested():
            session.add(tenant)
            await session.flush()
            hostnames = [h.strip().lower() for h in spec.domains if h.strip()]
            if hostnames:
                await session.execute(
                    insert(Domain),
                    [
                        {"hostname": h, "tenant_id": tenant.id, "is_primary": i == 0}
                        for i, h in enumerate(hostnames)
                    ],
                )
    except IntegrityError:
        raise AppError(
            "CONFLICT", "标识或域名已被使用", "This slug or domain is already taken"
        ) from None
    if enabled:
        await session.execute(
            insert(TenantModule),
            [
                {
                    "tenant_id": tenant.id,
                    "module_key": key,
                    "enabled": True,
                    "config": spec.module_config.get(key, {}),
                    "changed_by": changed_by,
                }
                for key in sorted(enabled)
            ],
        )

    ddl = f"CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}, {SHARED_SCHEMA};\n"
    await session.run_sync(lambda s: s.connection().exec_driver_sql(ddl + tenant_ddl()))
    await session.run_sync(lambda s: migrate.stamp_tenant(s.connection(), schema))
    await identity.seed_roles(session, modules)
    admin_id, invite = None, None
    if spec.admin_phone or spec.admin_email:
        admin = await identity.create_user(
            session,
            kind="staff",
            name=spec.admin_name or "管理员",
            phone=spec.admin_phone,
            email=spec.admin_email,
            role_keys=["tenant_admin"],
            all_communities=True,
            region=region,
        )
        admin_id = admin.id
        invite = await identity.create_invite(session, user=admin, ttl_s=invite_ttl_s)
    for module in modules:
        if module.key in enabled and module.on_enable is not None:
            await module.on_enable(session=session, tenant=tenant)
    await route_to(session, None)
    return Provisioned(tenant.id, tenant.slug, schema, admin_id, invite)


async def route_to(session: AsyncSession, schema: str | None) -> None:
    """Point the current transaction at ``schema`` (None: back to shared only)."""
    path = f"{schema}, {SHARED_SCHEMA}" if schema else SHARED_SCHEMA
    await session.execute(text("SELECT set_config('search_path', :p, true)"), {"p": path})
