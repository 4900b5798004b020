"""Tenancy on GraphQL: the public branding query (tenant surface) and the operators'
tenant administration (admin surface)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from strawberry.scalars import JSON

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import encode_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.graphql import AuditEntry
from wuye.identity.models import OperatorAuditLog
from wuye.tenancy import service
from wuye.tenancy.models import Tenant
from wuye.tenancy.provisioning import NewTenant, create_tenant

# --- tenant surface: public branding -------------------------------------------------------


@strawberry.type
class Branding:
    app_name: str
    logo_url: str
    primary_color: str
    accent_color: str


@strawberry.type
class PublicModule:
    key: str
    title_zh: str
    title_en: str


@strawberry.type
class PublicTenant:
    slug: str
    name_zh: str
    name_en: str
    time_zone: str
    locale: str
    branding: Branding
    modules: list[PublicModule]


@strawberry.type
class TenantPublicQuery:
    @query(public=True, description="Branding and enabled modules, for the login screen")
    async def tenant(self, info: strawberry.Info) -> PublicTenant:
        ctx = info.context
        t = ctx.tenant
        return PublicTenant(
            slug=t.slug,
            name_zh=t.name_zh,
            name_en=t.name_en,
            time_zone=t.time_zone,
            locale=t.locale,
            branding=Branding(
                app_name=t.app_name,
                logo_url=t.logo_url,
                primary_color=t.primary_color,
                accent_color=t.accent_color,
            ),
            modules=[
                PublicModule(key=m.key, title_zh=m.title_zh, title_en=m.title_en)
                for m in ctx.runtime.modules
                if ctx.runtime.module_enabled(t, m.key)
            ],
        )


# --- admin surface -------------------------------------------------------------------------


@strawberry.type
class DomainType:
    hostname: str
    is_primary: bool


@strawberry.type
class TenantModuleType:
    key: str
    enabled: bool
    config: JSON
    changed_at: datetime
    changed_by: str


@strawberry.type(name="Tenant")
class TenantType:
    id: strawberry.ID
    slug: str
    schema_name: str
    name_zh: str
    name_en: str
    status: str
    cluster: str
    time_zone: str
    locale: str
    branding: Branding
    domains: list[DomainType]
    modules: list[TenantModuleType]
    schema_revision: str | None
    migration_status: str
    created_at: datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantType:
        return cls(
            id=strawberry.ID(encode_id("Tenant", t.id)),
            slug=t.slug,
            schema_name=t.schema_name,
            name_zh=t.name_zh,
            name_en=t.name_en,
            status=t.status,
            cluster=t.cluster,
            time_zone=t.time_zone,
            locale=t.locale,
            branding=Branding(
                app_name=t.app_name,
                logo_url=t.logo_url,
                primary_color=t.primary_color,
                accent_color=t.accent_color,
            ),
            domains=[
                DomainType(hostname=d.hostname, is_primary=d.is_primary)
                for d in sorted(t.domains, key=lambda d: (not d.is_primary, d.hostname))
            ],
            modules=[
                TenantModuleType(
                    key=m.module_key,
                    enabled=m.enabled,
                    config=cast(JSON, m.config),
                    changed_at=m.changed_at,
                    changed_by=m.changed_by,
                )
                for m in sorted(t.modules, key=lambda m: m.module_key)
            ],
            schema_revision=t.schema_revision,
            migration_status=t.migration_status,
            created_at=t.created_at,
        )


@strawberry.type
class ModuleSpecType:
    key: str
    title_zh: str
    title_en: str
    depends_on: list[str]
    always_on: bool


@strawberry.input
class CreateTenantInput:
    slug: str
    name_zh: str
    name_en: str = ""
    domains: list[str] = strawberry.field(default_factory=list)
    modules: list[str] = strawberry.field(default_factory=list)
    app_name: str = ""
    logo_url: str = ""
    primary_color: str = "#1677ff"
    accent_color: str = "#fa8c16"
    time_zone: str = "Asia/Shanghai"
    locale: str = "zh-CN"
    admin_name: str = ""
    admin_phone: str | None = None
    admin_email: str | None = None


@strawberry.type
class CreateTenantPayload:
    tenant: TenantType
    admin_invite_token: str | None


@strawberry.input
class TenantSlugInput:
    slug: str


@strawberry.input
class SetTenantModuleInput:
    slug: str
    key: str
    enabled: bool
    config: JSON | None = None


@strawberry.input
class UpdateTenantInput:
    slug: str
    name_zh: str | None = None
    name_en: str | None = None
    app_name: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    accent_color: str | None = None
    time_zone: str | None = None
    locale: str | None = None


@strawberry.input
class TenantDomainInput:
    slug: str
    hostname: str
    primary: bool = False


@strawberry.input
class ResetTenantAdminInput:
    slug: str
    admin_name: str = "管理员"
    admin_phone: str | None = None
    admin_email: str | None = None


@strawberry.type
class ResetTenantAdminPayload:
    user_id: strawberry.ID
    invite_token: str


async def _tenant(ctx: Any, slug: str) -> TenantType:
    t = await ctx.session.scalar(
        select(Tenant)
        .options(selectinload(Tenant.domains), selectinload(Tenant.modules))
        .where(Tenant.slug == slug)
        .execution_options(populate_existing=True)
    )
    if t is None:
        from wuye.errors import AppError

        raise AppError("NOT_FOUND")
    return TenantType.of(t)


def _changed(ctx: Any, slug: str) -> None:
    """Audit target, and a cache invalidation everywhere once the change is committed."""
    ctx.audit_tenant = slug
    ctx.audit_target = ("Tenant", slug)
    ctx.after_commit(ctx.runtime.directory.invalidate)


@strawberry.type
class AdminQuery:
    @query(signed_in=True)
    async def tenants(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        status: str | None = None,
    ) -> Connection[TenantType]:
        ctx = info.context
        stmt = (
            select(Tenant)
            .options(selectinload(Tenant.domains), selectinload(Tenant.modules))
            .order_by(Tenant.id)
        )
        if search:
            like = f"%{search.strip()}%"
            stmt = stmt.where(
                or_(Tenant.slug.ilike(like), Tenant.name_zh.ilike(like), Tenant.name_en.ilike(like))
            )
        if status:
            stmt = stmt.where(Tenant.status == status)
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=TenantType.of,
        )

    @query(signed_in=True, name="tenant")
    async def tenant_by_slug(self, info: strawberry.Info, slug: str) -> TenantType:
        return await _tenant(info.context, slug)

    @query(signed_in=True, description="Modules the platform offers")
    async def modules(self, info: strawberry.Info) -> list[ModuleSpecType]:
        return [
            ModuleSpecType(
                key=m.key,
                title_zh=m.title_zh,
                title_en=m.title_en,
                depends_on=list(m.depends_on),
                always_on=m.always_on,
            )
            for m in info.context.runtime.modules
        ]

    @query(signed_in=True)
    async def audit_log(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        tenant: str | None = None,
        action: str | None = None,
    ) -> Connection[AuditEntry]:
        ctx = info.context
        stmt = select(OperatorAuditLog).order_by(OperatorAuditLog.id.desc())
        if tenant:
            stmt = stmt.where(OperatorAuditLog.tenant_slug == tenant)
        if action:
            stmt = stmt.where(OperatorAuditLog.action == action)
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=AuditEntry.of,
        )


@strawberry.type
class AdminMutation:
    @mutation(signed_in=True)
    async def create_tenant(
        self, info: strawberry.Info, input: CreateTenantInput
    ) -> CreateTenantPayload:
        ctx = info.context
        operator = await ctx.require_principal()
        spec = NewTenant(
            **{k: getattr(input, k) for k in NewTenant.__dataclass_fields__ if hasattr(input, k)}
        )
        done = await create_tenant(
            ctx.session,
            spec,
            modules=ctx.runtime.modules,
            changed_by=operator.email,
            invite_ttl_s=ctx.runtime.settings.invite_ttl_s,
            region=ctx.runtime.settings.default_phone_region,
        )
        _changed(ctx, done.slug)
        return CreateTenantPayload(
            tenant=await _tenant(ctx, done.slug), admin_invite_token=done.admin_invite
        )

    @mutation(signed_in=True)
    async def update_tenant(self, info: strawberry.Info, input: UpdateTenantInput) -> TenantType:
        ctx = info.context
        changes = {k: v for k, v in vars(input).items() if k != "slug"}
        await service.update_branding(ctx.session, slug=input.slug, changes=changes)
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(signed_in=True)
    async def suspend_tenant(self, info: strawberry.Info, input: TenantSlugInput) -> TenantType:
        ctx = info.context
        await service.set_status(ctx.session, slug=input.slug, status="suspended")
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(signed_in=True)
    async def reactivate_tenant(self, info: strawberry.Info, input: TenantSlugInput) -> TenantType:
        ctx = info.context
        await service.set_status(ctx.session, slug=input.slug, status="active")
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(signed_in=True, description="Enable or disable a module, with its config")
    async def set_tenant_module(
        self, info: strawberry.Info, input: SetTenantModuleInput
    ) -> TenantType:
        ctx = info.context
        operator = await ctx.require_principal()
        await service.set_module(
            ctx.session,
            slug=input.slug,
            key=input.key,
            enabled=input.enabled,
            config=cast(dict[str, Any] | None, input.config),
            changed_by=operator.email,
            modules=ctx.runtime.modules,
        )
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(signed_in=True)
    async def add_tenant_domain(
        self, info: strawberry.Info, input: TenantDomainInput
    ) -> TenantType:
        ctx = info.context
        await service.add_domain(
            ctx.session, slug=input.slug, hostname=input.hostname, primary=input.primary
        )
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(signed_in=True)
    async def remove_tenant_domain(
        self, info: strawberry.Info, input: TenantDomainInput
    ) -> TenantType:
        ctx = info.context
        await service.remove_domain(ctx.session, slug=input.slug, hostname=input.hostname)
        _changed(ctx, input.slug)
        return await _tenant(ctx, input.slug)

    @mutation(
        signed_in=True,
        description="New invitation for the tenant admin; old password and sign-ins stop working",
    )
    async def reset_tenant_admin(
        self, info: strawberry.Info, input: ResetTenantAdminInput
    ) -> ResetTenantAdminPayload:
        ctx = info.context
        user_id, token = await service.reset_admin_invite(
            ctx.session,
            slug=input.slug,
            invite_ttl_s=ctx.runtime.settings.invite_ttl_s,
            phone=input.admin_phone,
            email=input.admin_email,
            name=input.admin_name,
            region=ctx.runtime.settings.default_phone_region,
        )
        ctx.audit_tenant = input.slug
        ctx.audit_target = ("User", f"{input.slug}:{user_id}")
        return ResetTenantAdminPayload(
            user_id=strawberry.ID(encode_id("User", user_id)), invite_token=token
        )
