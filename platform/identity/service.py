"""Tenant accounts, roles, data scopes and invites. Plain async functions, explicit session."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import Invite, RefreshToken, Role, User, UserCommunityScope, UserRole
from wuye.identity.passwords import Passwords, normalize_email, normalize_phone
from wuye.identity.permissions import (
    CORE_PERMISSIONS,
    DEFAULT_ROLES,
    Permission,
    granting_keys,
)
from wuye.identity.tokens import hash_token, new_opaque_token
from wuye.notify.permissions import NOTIFY_PERMISSIONS

_ROLE_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")


def known_permissions(modules: Iterable[object]) -> dict[str, Permission]:
    perms = {p.key: p for p in (*CORE_PERMISSIONS, *NOTIFY_PERMISSIONS)}
    for m in modules:
        perms.update({p.key: p for p in getattr(m, "permissions", ())})
    return perms


async def seed_roles(session: AsyncSession, modules: Sequence[object]) -> None:
    """The default roles, with each module's grants; used when a tenant is created."""
    grants: dict[str, list[str]] = {r.key: list(r.permissions) for r in DEFAULT_ROLES}
    for m in modules:
        for role_key, perms in getattr(m, "role_grants", {}).items():
            grants.setdefault(role_key, []).extend(perms)
    await session.execute(
        insert(Role),
        [
            {
                "key": r.key,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "permissions": sorted(set(grants[r.key])),
                "is_system": True,
            }
            for r in DEFAULT_ROLES
        ],
    )


async def _roles_by_key(session: AsyncSession, keys: Sequence[str]) -> list[Role]:
    roles = list(await session.scalars(select(Role).where(Role.key.in_(keys))))
    missing = set(keys) - {r.key for r in roles}
    if missing:
        raise AppError(
            "VALIDATION_FAILED",
            f"角色不存在：{', '.join(sorted(missing))}",
            f"Unknown roles: {', '.join(sorted(missing))}",
            field="roles",
        )
    return roles


async def create_user(
    session: AsyncSession,
    *,
    kind: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    role_keys: Sequence[str] = (),
    all_communities: bool = False,
    password_hash: str | None = None,
    region: str = "CN",
) -> User:
    if not name.strip():
        raise AppError("VALIDATION_FAILED", "姓名不能为空", "A name is required", field="name")
    if not phone and not email:
        raise AppError(
            "VALIDATION_FAILED",
            "请填写手机号或邮箱",
            "A phone number or e-mail address is required",
            field="phone",
        )
    user = User(
        kind=kind,
        name=name.strip(),
        phone=normalize_phone(phone, region) if phone else None,
        email=normalize_email(email) if email else None,
        all_communities=all_communities,
        password_hash=password_hash,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise AppError(
            "CONFLICT",
            "该手机号或邮箱已注册",
            "This phone number or e-mail address is already registered",
        ) from None
    if role_keys:
        await set_user_roles(session, user_id=user.id, role_keys=role_keys)
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise AppError("NOT_FOUND")
    return user


def staff_holding(permission: Permission, *, community_id: int | None = None) -> Any:
    """A select of the ids of active staff whose roles grant ``permission`` (and, given a
    community, whose data scope covers it): who to ask, alert or dispatch to."""
    stmt = select(User.id).where(
        User.kind == "staff",
        User.is_active,
        exists()
        .where(UserRole.user_id == User.id, Role.id == UserRole.role_id)
        .where(Role.permissions.overlap(granting_keys(permission.key))),
    )
    if community_id is not None:
        stmt = stmt.where(
            or_(
                User.all_communities,
                exists().where(
                    UserCommunityScope.user_id == User.id,
                    UserCommunityScope.community_id == community_id,
                ),
            )
        )
    return stmt


async def set_user_roles(session: AsyncSession, *, user_id: int, role_keys: Sequence[str]) -> None:
    await get_user(session, user_id)
    roles = await _roles_by_key(session, role_keys)
    await session.execute(delete(UserRole).where(UserRole.user_id == user_id))
    if roles:
        await session.execute(
            insert(UserRole), [{"user_id": user_id, "role_id": r.id} for r in roles]
        )


async def set_user_scope(
    session: AsyncSession, *, user_id: int, all_communities: bool, community_ids: Sequence[int]
) -> None:
    user = await get_user(session, user_id)
    user.all_communities = all_communities
    await session.execute(delete(UserCommunityScope).where(UserCommunityScope.user_id == user_id))
    if community_ids and not all_communities:
        await session.execute(
            insert(UserCommunityScope),
            [{"user_id": user_id, "community_id": c} for c in sorted(set(community_ids))],
        )


async def set_user_active(session: AsyncSession, *, user_id: int, active: bool) -> User:
    user = await get_user(session, user_id)
    user.is_active = active
    if not active:
        await revoke_all_sign_ins(session, user_id=user_id)
    return user


async def revoke_all_sign_ins(session: AsyncSession, *, user_id: int) -> None:
    """Signs the user out everywhere: no refresh token of theirs works any more."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.subject_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def create_invite(session: AsyncSession, *, user: User, ttl_s: int) -> str:
    """A one-time token to set a password; earlier unused invites of the user stop working."""
    await session.execute(
        update(Invite)
        .where(Invite.user_id == user.id, Invite.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
    )
    raw, digest = new_opaque_token()
    session.add(
        Invite(
            token_hash=digest,
            user_id=user.id,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
        )
    )
    return raw


async def accept_invite(
    session: AsyncSession, *, raw: str, password: str, passwords: Passwords
) -> User:
    invite = await session.scalar(
        select(Invite).where(Invite.token_hash == hash_token(raw)).with_for_update()
    )
    if invite is None or invite.used_at is not None or invite.expires_at <= datetime.now(UTC):
        raise AppError("NOT_FOUND", "邀请链接无效或已过期", "This invitation is invalid or expired")
    user = await get_user(session, invite.user_id)
    user.password_hash = passwords.hash(password)
    invite.used_at = datetime.now(UTC)
    return user


def _check_role_input(
    key: str | None, permissions: Sequence[str], known: dict[str, Permission]
) -> None:
    if key is not None and not _ROLE_KEY_RE.fullmatch(key):
        raise AppError(
            "VALIDATION_FAILED",
            "角色标识只能包含小写字母、数字和下划线",
            "A role key uses lower-case letters, digits and underscores",
            field="key",
        )
    unknown = [
        p
        for p in permissions
        if p not in known
        and p != "*"
        and not (p.endswith(".*") and any(k.startswith(p[:-1]) for k in known))
    ]
    if unknown:
        raise AppError(
            "VALIDATION_FAILED",
            f"未知权限：{', '.join(unknown)}",
            f"Unknown permissions: {', '.join(unknown)}",
            field="permissions",
        )


async def create_role(
    session: AsyncSession,
    *,
    key: str,
    name_zh: str,
    name_en: str,
    permissions: Sequence[str],
    known: dict[str, Permission],
) -> Role:
    _check_role_input(key, permissions, known)
    role = Role(key=key, name_zh=name_zh, name_en=name_en, permissions=sorted(set(permissions)))
    try:
        async with session.begin_nested():
            session.add(role)
            await session.flush()
    except IntegrityError:
        raise AppError("CONFLICT", "角色标识已存在", "A role with this key exists") from None
    return role


async def update_role(
    session: AsyncSession,
    *,
    key: str,
    name_zh: str | None,
    name_en: str | None,
    permissions: Sequence[str] | None,
    known: dict[str, Permission],
) -> Role:
    role = await session.scalar(select(Role).where(Role.key == key))
    if role is None:
        raise AppError("NOT_FOUND")
    if permissions is not None:
        if role.key == "tenant_admin":
            raise AppError(
                "CONFLICT",
                "不能修改系统管理员的权限",
                "The tenant administrator keeps every permission",
            )
        _check_role_input(None, permissions, known)
        role.permissions = sorted(set(permissions))
    if name_zh is not None:
        role.name_zh = name_zh
    if name_en is not None:
        role.name_en = name_en
    return role


async def delete_role(session: AsyncSession, *, key: str) -> None:
    role = await session.scalar(select(Role).where(Role.key == key))
    if role is None:
        raise AppError("NOT_FOUND")
    if role.is_system:
        raise AppError("CONFLICT", "系统预置角色不能删除", "A built-in role cannot be deleted")
    await session.delete(role)
