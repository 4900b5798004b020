"""The process-wide runtime: settings, databases, Redis, tenant directory, auth, APIs.

The app, the worker and the tests each build one with ``Runtime.create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from arq.connections import ArqRedis

from wuye.db import DEFAULT_CLUSTER, Database
from wuye.graphql.realtime import Broker
from wuye.identity.auth import Auth
from wuye.identity.passwords import Passwords
from wuye.identity.permissions import Permission
from wuye.identity.service import known_permissions
from wuye.identity.throttle import LoginThrottle
from wuye.identity.tokens import Tokens
from wuye.modules.base import Module, check_modules
from wuye.notify.channels.base import Channel
from wuye.notify.service import Notifier
from wuye.notify.types import CORE_MESSAGE_TYPES, registry
from wuye.settings import Settings
from wuye.storage.backends import LocalStorage, S3Storage, build_storage
from wuye.storage.purposes import UploadPurpose, collect_purposes
from wuye.tenancy.directory import TenantDirectory, TenantInfo


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        redis: ArqRedis,
        modules: Sequence[Module],
        passwords: Passwords | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.modules = check_modules(modules)
        self._by_key = {m.key: m for m in self.modules}
        self.directory = TenantDirectory(
            db,
            platform_domain=settings.platform_domain,
            ttl_s=settings.tenant_cache_ttl_s,
            redis=redis,
            channel=f"{settings.redis_prefix}:tenant-directory",
        )
        self.tokens = Tokens(settings.secret_key, settings.access_token_ttl_s)
        self.passwords = passwords or Passwords()
        self.auth = Auth(
            tokens=self.tokens,
            passwords=self.passwords,
            throttle=LoginThrottle(
                redis,
                max_attempts=settings.login_max_attempts,
                window_s=settings.login_window_s,
                prefix=f"{settings.redis_prefix}:login",
            ),
            refresh_ttl_s=settings.refresh_token_ttl_s,
        )

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        database_url: str,
        redis_url: str,
        modules: Sequence[Module] | None = None,
        **kw: Any,
    ) -> Runtime:
        if modules is None:
            from wuye.modules.registry import MODULES

            modules = MODULES
        db = Database(
            {DEFAULT_CLUSTER: database_url, **settings.database_clusters},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        return cls(settings, db=db, redis=ArqRedis.from_url(redis_url), modules=modules, **kw)

    async def close(self) -> None:
        if "broker" in self.__dict__:
            await self.broker.close()
        if "channels" in self.__dict__:
            from wuye.notify.channels import close_channels

            await close_channels(self.channels)
        await self.redis.aclose()
        await self.db.dispose()

    # --- modules ---------------------------------------------------------------------------

    def module(self, key: str) -> Module:
        return self._by_key[key]

    def module_enabled(self, tenant: TenantInfo | None, key: str) -> bool:
        module = self._by_key.get(key)
        if module is None or tenant is None:
            return False
        return module.always_on or key in tenant.modules

    @cached_property
    def known_permissions(self) -> dict[str, Permission]:
        return known_permissions(self.modules)

    # --- notifications -----------------------------------------------------------------

    @cached_property
    def notifier(self) -> Notifier:
        types = [*CORE_MESSAGE_TYPES, *(t for m in self.modules for t in m.message_types)]
        return Notifier(registry(types))

    @cached_property
    def channels(self) -> dict[str, Channel]:
        from wuye.notify.channels import build_channels

        return build_channels(self.settings, self.redis, self.settings.redis_prefix)

    # --- file storage ----------------------------------------------------------------------

    @cached_property
    def storage(self) -> LocalStorage | S3Storage:
        return build_storage(self.settings)

    @cached_property
    def upload_purposes(self) -> dict[str, UploadPurpose]:
        return collect_purposes(self.modules)

    # --- real time -------------------------------------------------------------------------

    @cached_property
    def broker(self) -> Broker:
        """This process's real-time event broker (one Redis pub/sub connection)."""
        return Broker(self.redis, prefix=self.settings.redis_prefix)

    # --- GraphQL ---------------------------------------------------------------------------

    def _executor(self, schema: Any) -> Any:
        from wuye.graphql.executor import Executor

        s = self.settings
        return Executor(
            schema,
            max_depth=s.graphql_max_depth,
            max_aliases=s.graphql_max_aliases,
            max_tokens=s.graphql_max_tokens,
            cache_size=s.graphql_document_cache_size,
            introspection=not s.production,
        )

    @cached_property
    def tenant_api(self) -> Any:
        from wuye.graphql.schema import build_tenant_schema

        return self._executor(build_tenant_schema(self.modules))

    @cached_property
    def admin_api(self) -> Any:
        from wuye.graphql.schema import build_admin_schema

        return self._executor(build_admin_schema())
