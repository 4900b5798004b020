"""Operator actions on tenants: status, modules, branding, domains, the first admin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.identity.models import Role, User, UserRole
from wuye.modules.base import Module, closure_with_dependencies
from wuye.tenancy.models import Domain, Tenant, TenantModule
from wuye.tenancy.provisioning import route_to


async def get_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise AppError("NOT_FOUND", "未找到该物业公司", "No such tenant")
    return tenant


async def set_status(session: AsyncSession, *, slug: str, status: str) -> Tenant:
    if status not in ("active", "suspended"):
        raise AppError("VALIDATION_FAILED", field="status")
    tenant = await get_tenant(session, slug)
    tenant.status = status
    tenant.updated_at = datetime.now(UTC)
    return tenant


async def enabled_modules(session: AsyncSession, tenant_id: int) -> set[str]:
    return set(
        await session.scalars(
            select(TenantModule.module_key).where(
                TenantModule.tenant_id == tenant_id, TenantModule.enabled
            )
        )
    )


async def set_module(
    session: AsyncSession,
    *,
    slug: str,
    key: str,
    enabled: bool,
    config: dict[str, Any] | None,
    changed_by: str,
    modules: Sequence[Module],
) -> Tenant:
    """Switch a module; enabling also enables what it depends on, and runs ``on_enable``
    for each module that was off (in the tenant's schema, same transaction)."""
    by_key = {m.key: m for m in modules}
    if key not in by_key:
        raise AppError(
            "VALIDATION_FAILED", f"未知模块：{key}", f"Unknown module: {key}", field="key"
        )
    tenant = await get_tenant(session, slug)
    before = await enabled_modules(session, tenant.id)
    if enabled:
        switch_on = closure_with_dependencies(modules, {key})
        rows = [
            {
                "tenant_id": tenant.id,
                "module_key": k,
                "enabled": True,
                "changed_by": changed_by,
                "changed_at": datetime.now(UTC),
                **({"config": config} if k == key and config is not None else {}),
            }
            for k in sorted(switch_on)
        ]
    else:
        if by_key[key].always_on:
            raise AppError("CONFLICT", "该模块不能关闭", "This module is always on")
        users = sorted(m.key for m in modules if key in m.depends_on and m.key in before)
        if users:
            raise AppError(
                "CONFLICT",
                f"请先关闭依赖它的模块：{', '.join(users)}",
                f"Disable the modules that depend on it first: {', '.join(users)}",
            )
        switch_on = set()
        rows = [
            {
                "tenant_id": tenant.id,
                "module_key": key,
                "enabled": False,
                "changed_by": changed_by,
                "changed_at": datetime.now(UTC),
                **({"config": config} if config is not None else {}),
            }
        ]
    for row in rows:
        stmt = insert(TenantModule).values(**row)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[TenantModule.tenant_id, TenantModule.module_key],
                set_={c: stmt.excluded[c] for c in row if c not in ("tenant_id", "module_key")},
            )
        )
    newly_on = [by_key[k] for k in sorted(switch_on - before) if by_key[k].on_enable]
    if newly_on:
        await route_to(session, tenant.schema_name)
        for module in newly_on:
            assert module.on_enable is not None
            await module.on_enable(session=session, tenant=tenant)
        await route_to(session, None)
    tenant.updated_at = datetime.now(UTC)
    return tenant


async def update_branding(session: AsyncSession, *, slug: str, changes: dict[str, Any]) -> Tenant:
    from wuye.tenancy.provisioning import _COLOR_RE

    tenant = await get_tenant(session, slug)
    allowed = {
        "name_zh",
        "name_en",
        "app_name",
        "logo_url",
        "primary_color",
        "accent_color",
        "time_zone",
        "locale",
    }
    for name, value in changes.items():
        if name not in allowed or value is None:
            continue
        if name.endswith("_color") and not _COLOR_RE.fullmatch(value):
            raise AppError(
                "VALIDATION_FAILED", "颜色须为 #RRGGBB", "Colours are #RRGGBB", field=name
            )
        if name == "name_zh" and not value.strip():
            raise AppError(
                "VALIDATION_FAILED",
                "请填写公司中文名称",
                "A Chinese name is required",
                field="nameZh",
            )
        if name == "time_zone" and not _known_time_zone(value):
            raise AppError("VALIDATION_FAILED", "时区无效", "Unknown time zone", field="timeZone")
        setattr(tenant, name, value)
    tenant.updated_at = datetime.now(UTC)
    return tenant


def _known_time_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


async def add_domain(session: AsyncSession, *, slug: str, hostname: str, primary: bool) -> Tenant:
    tenant = await get_tenant(session, slug)
    hostname = hostname.strip().lower().rstrip(".")
    if not hostname or " " in hostname:
        raise AppError("VALIDATION_FAILED", field="hostname")
    if primary:
        await session.execute(
            update(Domain).where(Domain.tenant_id == tenant.id).values(is_primary=False)
        )
    try:
        async with session.begin_nested():
            session.add(Domain(hostname=hostname, tenant_id=tenant.id, is_primary=primary))
            await session.flush()
    except IntegrityError:
        raise AppError("CONFLICT", "域名已被使用", "This domain is already taken") from None
    return tenant


async def remove_domain(session: AsyncSession, *, slug: str, hostname: str) -> Tenant:
    tenant = await get_tenant(session, slug)
    removed = await session.scalar(
        delete(Domain)
        .where(Domain.tenant_id == tenant.id, Domain.hostname == hostname.strip().lower())
        .returning(Domain.id)
    )
    if removed is None:
        raise AppError("NOT_FOUND")
    return tenant


async def reset_admin_invite(
    session: AsyncSession,
    *,
    slug: str,
    invite_ttl_s: int,
    phone: str | None = None,
    email: str | None = None,
    name: str = "管理员",
    region: str = "CN",
) -> tuple[int, str]:
    """A fresh invitation for the tenant's first admin (created if there is none yet).

    Returns (user id, raw invite token). The admin's old password stops working and every
    sign-in is revoked, as after a password reset.
    """
    tenant = await get_tenant(session, slug)
    await route_to(session, tenant.schema_name)
    admin = await session.scalar(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .join(Role, Role.id == UserRole.role_id)
        .where(Role.key == "tenant_admin")
        .order_by(User.id)
        .limit(1)
    )
    if admin is None:
        admin = await identity.create_user(
            session,
            kind="staff",
            name=name,
            phone=phone,
            email=email,
            role_keys=["tenant_admin"],
            all_communities=True,
            region=region,
        )
    else:
        admin.password_hash = None
        admin.is_active = True
        await identity.revoke_all_sign_ins(session, user_id=admin.id)
    token = await identity.create_invite(session, user=admin, ttl_s=invite_ttl_s)
    await route_to(session, None)
    return admin.id, token
