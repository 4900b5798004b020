"""Login, refresh-token rotation and logout, for tenant users and platform operators alike.

A *realm* is one kind of account: its table, its refresh-token table and its token
audience. Refresh tokens rotate on every use; presenting an already-rotated token means it
was stolen or replayed, so the whole family (that login) is revoked.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.passwords import Passwords
from wuye.identity.throttle import LoginThrottle
from wuye.identity.tokens import Tokens, hash_token, new_opaque_token


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Realm:
    audience: str
    subject: Any  # mapped class with id, password_hash, is_active, last_login_at
    refresh: Any  # mapped refresh-token class
    kind_of: Callable[[Any], str]


def _now() -> datetime:
    return datetime.now(UTC)


class Auth:
    def __init__(
        self, *, tokens: Tokens, passwords: Passwords, throttle: LoginThrottle, refresh_ttl_s: int
    ) -> None:
        self.tokens = tokens
        self.passwords = passwords
        self.throttle = throttle
        self.refresh_ttl_s = refresh_ttl_s

    async def login(
        self,
        session: AsyncSession,
        realm: Realm,
        *,
        where: Any,
        account: str,
        password: str,
        ip: str | None,
        user_agent: str,
    ) -> tuple[Any, TokenPair]:
        """Check the password of the one account matching ``where``; throttled per account/IP."""
        await self.throttle.check(realm.audience, account, ip)
        subject = await session.scalar(select(realm.subject).where(where))
        if subject is None or not self.passwords.verify(subject.password_hash, password):
            if subject is None:
                self.passwords.verify(None, password)  # same time as a wrong password
            await self.throttle.failed(realm.audience, account, ip)
            raise AppError("INVALID_CREDENTIALS")
        if not subject.is_active:
            raise AppError("ACCOUNT_DISABLED")
        await self.throttle.succeeded(realm.audience, account)
        subject.last_login_at = _now()
        return subject, await self.issue(session, realm, subject, ip=ip, user_agent=user_agent)

    async def issue(
        self,
        session: AsyncSession,
        realm: Realm,
        subject: Any,
        *,
        family: str | None = None,
        ip: str | None,
        user_agent: str,
    ) -> TokenPair:
        raw, digest = new_opaque_token()
        session.add(
            realm.refresh(
                subject_id=subject.id,
                token_hash=digest,
                family=family or secrets.token_hex(16),
                expires_at=_now() + timedelta(seconds=self.refresh_ttl_s),
                ip=ip,
                user_agent=user_agent[:300],
            )
        )
        access = self.tokens.issue_access(
            subject_id=subject.id, kind=realm.kind_of(subject), audience=realm.audience
        )
        return TokenPair(access, raw, self.tokens.access_ttl_s)

    async def refresh(
        self,
        session: AsyncSession,
        realm: Realm,
        raw: str,
        *,
        ip: str | None,
        user_agent: str,
        revoke_family: Callable[[str], Any],
    ) -> tuple[Any, TokenPair]:
        """Rotate a refresh token. ``revoke_family`` must commit on its own: the request that
        presented a replayed token fails, but the revocation has to stick."""

        row = await session.scalar(
            select(realm.refresh)
            .where(realm.refresh.token_hash == hash_token(raw))
            .with_for_update()
        )
        if row is None or row.expires_at <= _now():
            raise AppError("UNAUTHENTICATED")
        if row.revoked_at is not None or row.rotated_at is not None:
            family = row.family
            # Release our row lock first: the revoking transaction updates this very row and
            # would otherwise wait on us until the statement timeout.
            await session.rollback()
            await revoke_family(family)
            raise AppError("UNAUTHENTICATED")
        subject = await session.get(realm.subject, row.subject_id)
        if subject is None or not subject.is_active:
            raise AppError("ACCOUNT_DISABLED")
        row.rotated_at = _now()
        pair = await self.issue(
            session, realm, subject, family=row.family, ip=ip, user_agent=user_agent
        )
        return subject, pair

    @staticmethod
    async def revoke_family(session: AsyncSession, realm: Realm, family: str) -> None:
        await session.execute(
            update(realm.refresh)
            .where(realm.refresh.family == family, realm.refresh.revoked_at.is_(None))
            .values(revoked_at=_now())
        )

    async def logout(self, session: AsyncSession, realm: Realm, raw: str) -> bool:
        """Revoke the login (token family) this refresh token belongs to."""

        family = await session.scalar(
            select(realm.refresh.family).where(realm.refresh.token_hash == hash_token(raw))
        )
        if family is None:
            return False
        await self.revoke_family(session, realm, family)
        return True


def tenant_realm(slug: str) -> Realm:
    from wuye.identity.models import RefreshToken, User
    from wuye.identity.tokens import tenant_audience

    return Realm(tenant_audience(slug), User, RefreshToken, lambda user: user.kind)


def operator_realm() -> Realm:
    from wuye.identity.models import Operator, OperatorRefreshToken
    from wuye.identity.tokens import ADMIN_AUDIENCE

    return Realm(ADMIN_AUDIENCE, Operator, OperatorRefreshToken, lambda _: "operator")
