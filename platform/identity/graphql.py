"""Identity on the tenant surface (sign-in, me, users, roles, audit) and operator sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, encode_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity import service
from wuye.identity.auth import TokenPair, operator_realm, tenant_realm
from wuye.identity.models import AuditLog, Operator, Role, User, UserRole
from wuye.identity.passwords import mask_phone, split_identifier
from wuye.identity.permissions import (
    AUDIT_VIEW,
    ROLES_MANAGE,
    USERS_MANAGE,
    USERS_VIEW,
    grants,
)

# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="Role")
class RoleType:
    key: str
    name_zh: str
    name_en: str
    permissions: list[str]
    is_system: bool

    @classmethod
    def of(cls, r: Role) -> RoleType:
        return cls(
            key=r.key,
            name_zh=r.name_zh,
            name_en=r.name_en,
            permissions=list(r.permissions),
            is_system=r.is_system,
        )


@strawberry.type(name="Permission")
class PermissionType:
    key: str
    title_zh: str
    title_en: str


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    kind: str
    name: str
    phone: str | None = strawberry.field(description="Masked except on `me`")
    email: str | None
    is_active: bool
    all_communities: bool
    locale: str
    last_login_at: datetime | None
    created_at: datetime
    roles: list[RoleType]

    @classmethod
    def of(cls, u: User, *, full_phone: bool = False) -> UserType:
        return cls(
            id=strawberry.ID(encode_id("User", u.id)),
            kind=u.kind,
            name=u.name,
            phone=u.phone if full_phone else mask_phone(u.phone),
            email=u.email,
            is_active=u.is_active,
            all_communities=u.all_communities,
            locale=u.locale,
            last_login_at=u.last_login_at,
            created_at=u.created_at,
            roles=[RoleType.of(r) for r in u.roles],
        )


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires")


@strawberry.type
class UserAuthPayload(AuthPayload):
    user: UserType


@strawberry.type
class OperatorType:
    id: strawberry.ID
    email: str
    name: str


@strawberry.type
class OperatorAuthPayload(AuthPayload):
    operator: OperatorType


def operator_type(op: Operator) -> OperatorType:
    return OperatorType(
        id=strawberry.ID(encode_id("Operator", op.id)), email=op.email, name=op.name
    )


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    actor_kind: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: strawberry.scalars.JSON
    ip: str | None
    request_id: str
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> AuditEntry:
        return cls(
            id=strawberry.ID(encode_id("Audit", row.id)),
            actor_kind=row.actor_kind,
            actor_id=row.actor_id,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            detail=row.detail,
            ip=str(row.ip) if row.ip else None,
            request_id=row.request_id,
            created_at=row.created_at,
        )


@strawberry.type
class CreatedUserPayload:
    user: UserType
    invite_token: str = strawberry.field(description="One-time token to set a password")


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class LoginInput:
    identifier: str = strawberry.field(description="Phone number (+86 by default) or e-mail")
    password: str


@strawberry.input
class RefreshInput:
    refresh_token: str


@strawberry.input
class AcceptInviteInput:
    token: str
    password: str


@strawberry.input
class CreateStaffInput:
    name: str
    phone: str | None = None
    email: str | None = None
    roles: list[str] = strawberry.field(default_factory=list)
    all_communities: bool = False
    community_ids: list[int] = strawberry.field(default_factory=list)


@strawberry.input
class SetUserRolesInput:
    user_id: strawberry.ID
    roles: list[str]


@strawberry.input
class SetUserScopeInput:
    user_id: strawberry.ID
    all_communities: bool
    community_ids: list[int] = strawberry.field(default_factory=list)


@strawberry.input
class SetUserActiveInput:
    user_id: strawberry.ID
    active: bool


@strawberry.input
class UserIdInput:
    user_id: strawberry.ID


@strawberry.input
class CreateRoleInput:
    key: str
    name_zh: str
    name_en: str = ""
    permissions: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateRoleInput:
    key: str
    name_zh: str | None = None
    name_en: str | None = None
    permissions: list[str] | None = None


@strawberry.input
class RoleKeyInput:
    key: str


# --- helpers -------------------------------------------------------------------------------


def _pair_fields(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
    }


async def _revoke_family_now(ctx: Any, realm: Any, family: str) -> None:
    """Revoke in a transaction of its own: the failing request's one is rolled back."""
    async with ctx.new_session() as side:
        await ctx.runtime.auth.revoke_family(side, realm, family)
        await side.commit()


async def _user_with_roles(ctx: Any, user_id: int) -> User:
    user = await ctx.session.scalar(
        select(User)
        .options(selectinload(User.roles))
        .where(User.id == user_id)
        .execution_options(populate_existing=True)
    )
    if user is None:
        raise AppError("NOT_FOUND")
    return user


def _user_id(gid: str) -> int:
    return decode_id(gid, "User")


# --- tenant surface ------------------------------------------------------------------------


@strawberry.type
class IdentityQuery:
    @query(signed_in=True, description="The signed-in user")
    async def me(self, info: strawberry.Info) -> UserType:
        return UserType.of(await info.context.user(), full_phone=True)

    @query(USERS_VIEW)
    async def users(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        kind: str | None = None,
        search: str | None = None,
    ) -> Connection[UserType]:
        ctx = info.context
        stmt = select(User).options(selectinload(User.roles)).order_by(User.id)
        if kind:
            stmt = stmt.where(User.kind == kind)
        if search:
            like = f"%{search.strip()}%"
            stmt = stmt.where(
                or_(User.name.ilike(like), User.phone.like(like), User.email.ilike(like))
            )
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=UserType.of,
        )

    @query(USERS_VIEW)
    async def roles(self, info: strawberry.Info) -> list[RoleType]:
        rows = await info.context.session.scalars(select(Role).order_by(Role.id))
        return [RoleType.of(r) for r in rows]

    @query(ROLES_MANAGE, description="Every permission a role can hold")
    async def permissions(self, info: strawberry.Info) -> list[PermissionType]:
        known = info.context.runtime.known_permissions
        return [
            PermissionType(key=p.key, title_zh=p.title_zh, title_en=p.title_en)
            for p in known.values()
        ]

    @query(AUDIT_VIEW)
    async def audit_log(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        action: str | None = None,
    ) -> Connection[AuditEntry]:
        ctx = info.context
        stmt = select(AuditLog).order_by(AuditLog.id.desc())
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=AuditEntry.of,
        )


@strawberry.type
class IdentityMutation:
    @mutation(public=True)
    async def login(self, info: strawberry.Info, input: LoginInput) -> UserAuthPayload:
        ctx = info.context
        realm = tenant_realm(ctx.tenant.slug)
        field, value = split_identifier(input.identifier, ctx.runtime.settings.default_phone_region)
        user, pair = await ctx.runtime.auth.login(
            ctx.session,
            realm,
            where=getattr(User, field) == value,
            account=value,
            password=input.password,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
        )
        ctx.actor_override = (user.kind, user.id)
        ctx.audit_target = ("User", str(user.id))
        user = await _user_with_roles(ctx, user.id)
        return UserAuthPayload(**_pair_fields(pair), user=UserType.of(user, full_phone=True))

    @mutation(public=True)
    async def refresh_token(self, info: strawberry.Info, input: RefreshInput) -> UserAuthPayload:
        ctx = info.context
        realm = tenant_realm(ctx.tenant.slug)
        user, pair = await ctx.runtime.auth.refresh(
            ctx.session,
            realm,
            input.refresh_token,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            revoke_family=lambda fam: _revoke_family_now(ctx, realm, fam),
        )
        ctx.actor_override = (user.kind, user.id)
        user = await _user_with_roles(ctx, user.id)
        return UserAuthPayload(**_pair_fields(pair), user=UserType.of(user, full_phone=True))

    @mutation(public=True, description="Revoke the sign-in this refresh token belongs to")
    async def logout(self, info: strawberry.Info, input: RefreshInput) -> bool:
        ctx = info.context
        return await ctx.runtime.auth.logout(
            ctx.session, tenant_realm(ctx.tenant.slug), input.refresh_token
        )

    @mutation(public=True, description="Set a password from an invitation and sign in")
    async def accept_invite(
        self, info: strawberry.Info, input: AcceptInviteInput
    ) -> UserAuthPayload:
        ctx = info.context
        user = await service.accept_invite(
            ctx.session, raw=input.token, password=input.password, passwords=ctx.runtime.passwords
        )
        ctx.actor_override = (user.kind, user.id)
        ctx.audit_target = ("User", str(user.id))
        pair = await ctx.runtime.auth.issue(
            ctx.session, tenant_realm(ctx.tenant.slug), user, ip=ctx.ip, user_agent=ctx.user_agent
        )
        user = await _user_with_roles(ctx, user.id)
        return UserAuthPayload(**_pair_fields(pair), user=UserType.of(user, full_phone=True))

    @mutation(USERS_MANAGE)
    async def create_staff(
        self, info: strawberry.Info, input: CreateStaffInput
    ) -> CreatedUserPayload:
        ctx = info.context
        await _check_no_escalation(ctx, input.roles)
        user = await service.create_user(
            ctx.session,
            kind="staff",
            name=input.name,
            phone=input.phone,
            email=input.email,
            role_keys=input.roles,
            all_communities=input.all_communities,
            region=ctx.runtime.settings.default_phone_region,
        )
        await service.set_user_scope(
            ctx.session,
            user_id=user.id,
            all_communities=input.all_communities,
            community_ids=input.community_ids,
        )
        token = await service.create_invite(
            ctx.session, user=user, ttl_s=ctx.runtime.settings.invite_ttl_s
        )
        ctx.audit_target = ("User", str(user.id))
        return CreatedUserPayload(
            user=UserType.of(await _user_with_roles(ctx, user.id)), invite_token=token
        )

    @mutation(USERS_MANAGE)
    async def set_user_roles(self, info: strawberry.Info, input: SetUserRolesInput) -> UserType:
        ctx = info.context
        await _check_no_escalation(ctx, input.roles)
        user_id = _user_id(input.user_id)
        await check_may_manage(ctx, user_id)
        await service.set_user_roles(ctx.session, user_id=user_id, role_keys=input.roles)
        ctx.audit_target = ("User", str(user_id))
        return UserType.of(await _user_with_roles(ctx, user_id))

    @mutation(USERS_MANAGE)
    async def set_user_scope(self, info: strawberry.Info, input: SetUserScopeInput) -> UserType:
        ctx = info.context
        user_id = _user_id(input.user_id)
        await check_may_manage(ctx, user_id)
        await service.set_user_scope(
            ctx.session,
            user_id=user_id,
            all_communities=input.all_communities,
            community_ids=input.community_ids,
        )
        ctx.audit_target = ("User", str(user_id))
        return UserType.of(await _user_with_roles(ctx, user_id))

    @mutation(USERS_MANAGE, description="Disable (signs out everywhere) or re-enable an account")
    async def set_user_active(self, info: strawberry.Info, input: SetUserActiveInput) -> UserType:
        ctx = info.context
        user_id = _user_id(input.user_id)
        if user_id == (await ctx.user()).id and not input.active:
            raise AppError("CONFLICT", "不能停用自己的账号", "You cannot disable your own account")
        await check_may_manage(ctx, user_id)
        await service.set_user_active(ctx.session, user_id=user_id, active=input.active)
        ctx.audit_target = ("User", str(user_id))
        return UserType.of(await _user_with_roles(ctx, user_id))

    @mutation(USERS_MANAGE, description="A new invitation (the old one stops working)")
    async def reset_user_invite(self, info: strawberry.Info, input: UserIdInput) -> str:
        ctx = info.context
        user = await service.get_user(ctx.session, _user_id(input.user_id))
        await check_may_manage(ctx, user.id)
        ctx.audit_target = ("User", str(user.id))
        return await service.create_invite(
            ctx.session, user=user, ttl_s=ctx.runtime.settings.invite_ttl_s
        )

    @mutation(ROLES_MANAGE)
    async def create_role(self, info: strawberry.Info, input: CreateRoleInput) -> RoleType:
        ctx = info.context
        await _check_grantable(ctx, input.permissions)
        role = await service.create_role(
            ctx.session,
            key=input.key,
            name_zh=input.name_zh,
            name_en=input.name_en,
            permissions=input.permissions,
            known=ctx.runtime.known_permissions,
        )
        ctx.audit_target = ("Role", role.key)
        return RoleType.of(role)

    @mutation(ROLES_MANAGE)
    async def update_role(self, info: strawberry.Info, input: UpdateRoleInput) -> RoleType:
        ctx = info.context
        await _check_grantable(ctx, input.permissions or [])
        role = await service.update_role(
            ctx.session,
            key=input.key,
            name_zh=input.name_zh,
            name_en=input.name_en,
            permissions=input.permissions,
            known=ctx.runtime.known_permissions,
        )
        ctx.audit_target = ("Role", role.key)
        return RoleType.of(role)

    @mutation(ROLES_MANAGE)
    async def delete_role(self, info: strawberry.Info, input: RoleKeyInput) -> bool:
        ctx = info.context
        await service.delete_role(ctx.session, key=input.key)
        ctx.audit_target = ("Role", input.key)
        return True


async def _check_no_escalation(ctx: Any, role_keys: list[str]) -> None:
    """Nobody hands out a permission they do not hold themselves."""
    if not role_keys:
        return
    mine = await ctx.permissions()
    roles = await ctx.session.scalars(select(Role).where(Role.key.in_(role_keys)))
    for role in roles:
        if not all(grants(mine, p) for p in role.permissions):
            raise AppError(
                "FORBIDDEN",
                f"不能授予超出自身权限的角色：{role.key}",
                f"You cannot grant a role with more rights than yours: {role.key}",
            )


async def check_may_manage(ctx: Any, user_id: int) -> None:
    """Nobody manages an account with rights beyond their own (e.g. demotes the admin).

    Every module that changes a user's roles, scope or status calls this."""
    mine = await ctx.permissions()
    theirs = await ctx.session.scalars(
        select(Role.permissions)
        .join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)
    )
    if not all(grants(mine, p) for perms in theirs for p in perms):
        raise AppError(
            "FORBIDDEN",
            "不能管理权限高于自己的账号",
            "You cannot manage an account with more rights than yours",
        )


async def _check_grantable(ctx: Any, permissions: list[str]) -> None:
    """A role manager cannot put into a role a permission they do not hold themselves."""
    mine = await ctx.permissions()
    beyond = [p for p in permissions if not grants(mine, p)]
    if beyond:
        raise AppError(
            "FORBIDDEN",
            f"不能授予超出自身权限的权限：{', '.join(beyond)}",
            f"You cannot grant permissions you do not hold: {', '.join(beyond)}",
        )


# --- admin surface: operator sign-in -------------------------------------------------------


@strawberry.type
class OperatorAuthQuery:
    @query(signed_in=True, description="The signed-in operator")
    async def operator_me(self, info: strawberry.Info) -> OperatorType:
        return operator_type(await info.context.require_principal())


@strawberry.type
class OperatorAuthMutation:
    @mutation(public=True)
    async def operator_login(self, info: strawberry.Info, input: LoginInput) -> OperatorAuthPayload:
        ctx = info.context
        email = input.identifier.strip().lower()
        op, pair = await ctx.runtime.auth.login(
            ctx.session,
            operator_realm(),
            where=Operator.email == email,
            account=email,
            password=input.password,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
        )
        ctx.actor_override = ("operator", op.id)
        return OperatorAuthPayload(**_pair_fields(pair), operator=operator_type(op))

    @mutation(public=True)
    async def operator_refresh_token(
        self, info: strawberry.Info, input: RefreshInput
    ) -> OperatorAuthPayload:
        ctx = info.context
        realm = operator_realm()
        op, pair = await ctx.runtime.auth.refresh(
            ctx.session,
            realm,
            input.refresh_token,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            revoke_family=lambda fam: _revoke_family_now(ctx, realm, fam),
        )
        ctx.actor_override = ("operator", op.id)
        return OperatorAuthPayload(**_pair_fields(pair), operator=operator_type(op))

    @mutation(public=True)
    async def operator_logout(self, info: strawberry.Info, input: RefreshInput) -> bool:
        ctx = info.context
        return await ctx.runtime.auth.logout(ctx.session, operator_realm(), input.refresh_token)
