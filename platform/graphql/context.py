"""Per-request GraphQL context: tenant, principal, one database session, loaders, hooks."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from starlette.requests import Request

from wuye.db import take_after_commit
from wuye.errors import AppError
from wuye.identity.models import AuditLog, Operator, OperatorAuditLog, User, UserCommunityScope
from wuye.identity.permissions import Permission, grants
from wuye.identity.scope import NO_SCOPE, DataScope
from wuye.identity.tokens import AccessClaims

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

# Built once: constructing this statement costs more than running it does (on every request).
_USER_WITH_ROLES = (
    select(User).options(joinedload(User.roles)).where(User.id == bindparam("user_id"))
)
log = logging.getLogger(__name__)
_SECRET_HINTS = ("password", "token", "secret", "id_number", "credential")


class Surface(enum.StrEnum):
    TENANT = "tenant"
    ADMIN = "admin"


def redact(value: Any) -> Any:
    """Input as JSON-able data for the audit log, with secrets replaced."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {
            k: "***" if any(h in k.lower() for h in _SECRET_HINTS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Context:
    def __init__(
        self,
        *,
        runtime: Runtime,
        request: Request,
        surface: Surface,
        tenant: TenantInfo | None,
        lang: str,
        request_id: str,
        claims: AccessClaims | None,
    ) -> None:
        self.runtime = runtime
        self.request = request
        self.surface = surface
        self.tenant = tenant
        self.lang = lang
        self.request_id = request_id
        self.claims = claims
        self.loaders: dict[str, Any] = {}
        self._session: AsyncSession | None = None
        self._principal: Any = None
        self._principal_loaded = False
        self._principal_lock = asyncio.Lock()
        self._scope_lock = asyncio.Lock()
        self._permissions: frozenset[str] | None = None
        self._scope: DataScope | None = None
        self._after_commit: list[Callable[[], Awaitable[Any]]] = []
        # set by a login mutation so its audit row names the account that signed in
        self.actor_override: tuple[str, int] | None = None
        self.audit_target: tuple[str, str] | None = None  # (object type, id) a mutation changed
        self.audit_tenant = ""  # operator actions: the tenant acted upon

    # --- request facts ---------------------------------------------------------------------

    @property
    def ip(self) -> str | None:
        forwarded = self.request.headers.get("x-forwarded-for")
        if forwarded and self.runtime.settings.trust_forwarded_for:
            return forwarded.split(",")[0].strip()
        return self.request.client.host if self.request.client else None

    @property
    def user_agent(self) -> str:
        return self.request.headers.get("user-agent", "")[:300]

    # --- database --------------------------------------------------------------------------

    @property
    def session(self) -> AsyncSession:
        """The request's one session: routed to the tenant, or shared on the admin surface."""
        if self._session is None:
            self._session = self.new_session()
        return self._session

    def new_session(self) -> AsyncSession:
        db = self.runtime.db
        if self.tenant is not None:
            return db.tenant_session(self.tenant.schema, self.tenant.cluster)
        return db.shared_session()

    @property
    def has_session(self) -> bool:
        return self._session is not None

    def after_commit(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run ``callback`` only once the request's transaction has committed."""
        self._after_commit.append(callback)

    async def finish(self, *, commit: bool) -> None:
        callbacks, self._after_commit = self._after_commit, []
        if self._session is not None:
            try:
                if commit:
                    await self._session.commit()
                else:
                    await self._session.rollback()
            finally:
                callbacks += take_after_commit(self._session)
                await self._session.close()
                self._session = None
        if commit:
            for callback in callbacks:
                try:
                    await callback()
                except Exception:  # the change is committed: report success, log the rest
                    log.exception("after-commit hook failed")

    def loader(self, key: str, factory: Callable[[], Any]) -> Any:
        """One DataLoader per key per request."""
        found = self.loaders.get(key)
        if found is None:
            found = self.loaders[key] = factory()
        return found

    # --- principal -------------------------------------------------------------------------

    async def principal(self) -> User | Operator | None:
        """The signed-in user (tenant surface) or operator (admin surface), if any."""
        if self._principal_loaded:
            return self._principal
        async with self._principal_lock:  # sibling fields ask at the same time
            if self._principal_loaded:
                return self._principal
            if self.claims is not None:
                if self.surface is Surface.TENANT:
                    self._principal = await self.session.scalar(
                        _USER_WITH_ROLES, {"user_id": self.claims.subject_id}
                    )
                else:
                    self._principal = await self.session.get(Operator, self.claims.subject_id)
            self._principal_loaded = True
        return self._principal

    async def require_principal(self) -> Any:
        principal = await self.principal()
        if principal is None:
            raise AppError("UNAUTHENTICATED")
        if not principal.is_active:
            raise AppError("ACCOUNT_DISABLED")
        return principal

    async def user(self) -> User:
        principal = await self.require_principal()
        if not isinstance(principal, User):
            raise AppError("UNAUTHENTICATED")
        return principal

    async def permissions(self) -> frozenset[str]:
        if self._permissions is None:
            principal = await self.principal()
            if isinstance(principal, User) and principal.is_active:
                self._permissions = frozenset(p for r in principal.roles for p in r.permissions)
            else:
                self._permissions = frozenset()
        return self._permissions

    async def require(self, permission: Permission | str) -> None:
        await self.require_principal()
        if not grants(await self.permissions(), str(permission)):
            raise AppError("FORBIDDEN")

    async def data_scope(self) -> DataScope:
        """The communities the signed-in staff member may see (residents: none by scope)."""
        if self._scope is not None:
            return self._scope
        user = await self.user()
        async with self._scope_lock:  # sibling fields ask at the same time: read it once
            if self._scope is None:
                if user.kind != "staff":
                    self._scope = NO_SCOPE
                elif user.all_communities:
                    self._scope = DataScope(all_communities=True)
                else:
                    ids = await self.session.scalars(
                        select(UserCommunityScope.community_id).where(
                            UserCommunityScope.user_id == user.id
                        )
                    )
                    self._scope = DataScope(False, frozenset(ids))
        return self._scope

    # --- audit -----------------------------------------------------------------------------

    async def audit(self, action: str, detail: dict[str, Any]) -> None:
        """Write the audit row for a data-changing call into the request's transaction."""
        actor_id: int | None
        if self.actor_override is not None:
            actor_kind, actor_id = self.actor_override
        else:
            principal = await self.principal()
            actor_id = principal.id if principal is not None else None
            actor_kind = (
                "operator"
                if isinstance(principal, Operator)
                else principal.kind
                if principal is not None
                else "anonymous"
            )
        object_type, object_id = self.audit_target or ("", "")
        detail = json.loads(json.dumps(redact(detail), default=str))
        common = dict(
            actor_kind=actor_kind,
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
        )
        if self.surface is Surface.TENANT:
            self.session.add(AuditLog(**common))
        else:
            self.session.add(OperatorAuditLog(**common, tenant_slug=self.audit_tenant))
