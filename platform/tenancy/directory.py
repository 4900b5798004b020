"""Host -> tenant resolution with an in-process cache, invalidated on change.

A change (suspend, module switch, new domain) calls ``invalidate()``, which clears this
process's cache and publishes on Redis so every other process clears its own; the TTL is
only a backstop. There is never a fallback tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from wuye.db import Database
from wuye.errors import AppError
from wuye.tenancy.models import Domain, Tenant, TenantModule

log = logging.getLogger(__name__)
INVALIDATION_CHANNEL = "wuye:tenant-directory"  # default; Runtime namespaces it per deployment
_NEGATIVE_TTL_S = 5.0
_MAX_ENTRIES = 10_000  # Host headers are client input: the cache must not grow without bound


@dataclass(frozen=True)
class TenantInfo:
    id: int
    slug: str
    schema: str
    cluster: str
    status: str
    name_zh: str
    name_en: str
    app_name: str
    logo_url: str
    primary_color: str
    accent_color: str
    time_zone: str
    locale: str
    modules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # enabled -> config

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    def today(self, now: datetime | None = None) -> date:
        """The tenant's local date (of ``now``, default the current time)."""
        return (now or datetime.now(UTC)).astimezone(self.zone).date()


DEFAULT_TIME_ZONE = "Asia/Shanghai"


def utc_bounds(start: date, end: date, time_zone: str | None) -> tuple[datetime, datetime]:
    """[since, until) in UTC of the local dates ``start``..``end`` (both inclusive) in
    ``time_zone``: what a report "from 1 to 31 October" means to a tenant."""
    zone = zone_named(time_zone)
    since = datetime.combine(start, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone).astimezone(
        UTC
    )
    return since, until


def zone_named(name: str | None) -> ZoneInfo:
    """The time zone ``name`` (a tenant's), or Asia/Shanghai when it is empty or unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _info(t: Tenant, modules: Mapping[str, Mapping[str, Any]]) -> TenantInfo:
    return TenantInfo(
        id=t.id,
        slug=t.slug,
        schema=t.schema_name,
        cluster=t.cluster,
        status=t.status,
        name_zh=t.name_zh,
        name_en=t.name_en,
        app_name=t.app_name,
        logo_url=t.logo_url,
        primary_color=t.primary_color,
        accent_color=t.accent_color,
        time_zone=t.time_zone,
        locale=t.locale,
        modules=dict(modules),
    )


class TenantDirectory:
    def __init__(
        self,
        db: Database,
        *,
        platform_domain: str,
        ttl_s: float = 60.0,
        redis: Any = None,
        channel: str = INVALIDATION_CHANNEL,
        max_entries: int = _MAX_ENTRIES,
    ) -> None:
        self.db = db
        self.channel = channel
        self.platform_domain = platform_domain.lower().strip(".")
        self.ttl_s = ttl_s
        self.redis = redis
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, TenantInfo | None]] = {}
        self._generation = 0  # bumped by every invalidation

    # --- lookups ---------------------------------------------------------------------------

    async def by_slug(self, slug: str) -> TenantInfo | None:
        return await self._cached(f"slug:{slug}", lambda: self._load(Tenant.slug == slug))

    async def by_host(self, host: str) -> TenantInfo | None:
        host = host.split(":", 1)[0].strip().lower().rstrip(".")
        suffix = "." + self.platform_domain
        if host.endswith(suffix) and "." not in host[: -len(suffix)]:
            return await self.by_slug(host[: -len(suffix)])
        return await self._cached(f"host:{host}", lambda: self._load_by_domain(host))

    async def for_request(self, headers: Mapping[str, str]) -> TenantInfo:
        """The tenant a request addresses (``X-Tenant`` first, then ``Host``), or AppError."""
        slug = headers.get("x-tenant")
        info = await (
            self.by_slug(slug.strip().lower()) if slug else self.by_host(headers.get("host", ""))
        )
        if info is None:
            raise AppError("TENANT_NOT_FOUND")
        if not info.active:
            raise AppError("TENANT_SUSPENDED")
        return info

    async def all_active(self) -> list[TenantInfo]:
        """Every active tenant (uncached: used by cron fan-out and migrations)."""
        async with self.db.shared_session() as s:
            tenants = (
                await s.scalars(select(Tenant).where(Tenant.status == "active").order_by(Tenant.id))
            ).all()
            modules = await _enabled_modules(s, [t.id for t in tenants])
        return [_info(t, modules.get(t.id, {})) for t in tenants]

    # --- cache -----------------------------------------------------------------------------

    async def _cached(self, key: str, load: Any) -> TenantInfo | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        generation = self._generation
        info = await load()
        # An invalidation while we were loading means what we read may predate the change:
        # serve it to this one caller, but do not cache it.
        if generation == self._generation:
            if key not in self._cache and len(self._cache) >= self.max_entries:
                self._evict(now)
            self._cache[key] = (now + (self.ttl_s if info else _NEGATIVE_TTL_S), info)
        return info

    def _evict(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]
        while len(self._cache) >= self.max_entries:
            del self._cache[next(iter(self._cache))]  # the oldest entry

    def clear_local(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def invalidate(self) -> None:
        """Forget every cached tenant here and in every other process."""
        self.clear_local()
        if self.redis is not None:
            await self.redis.publish(self.channel, "all")

    async def listen_for_invalidation(self) -> None:
        """Run as a background task: clear the local cache when another process says so."""
        if self.redis is None:
            return
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.clear_local()  # we may have missed messages while (re)subscribing
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.clear_local()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: keep serving from TTL, retry shortly
                log.warning("tenant cache invalidation listener lost Redis; retrying")
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    # --- loading ---------------------------------------------------------------------------

    async def fresh(self, slug: str) -> TenantInfo | None:
        """The tenant as the registry says right now (jobs: a suspension a second ago counts)."""
        return await self._load(Tenant.slug == slug)

    async def _load(self, where: Any) -> TenantInfo | None:
        async with self.db.shared_session() as s:
            return await read_tenant(s, where)

    async def _load_by_domain(self, host: str) -> TenantInfo | None:
        return await self._load(
            Tenant.id == select(Domain.tenant_id).where(Domain.hostname == host).scalar_subquery()
        )


async def read_tenant(session: Any, where: Any) -> TenantInfo | None:
    """The one tenant matching ``where`` (e.g. ``Tenant.slug == slug``), read in ``session``."""
    tenant = await session.scalar(select(Tenant).where(where))
    if tenant is None:
        return None
    modules = await _enabled_modules(session, [tenant.id])
    return _info(tenant, modules.get(tenant.id, {}))


async def _enabled_modules(session: Any, tenant_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await session.execute(
        select(TenantModule.tenant_id, TenantModule.module_key, TenantModule.config).where(
            TenantModule.tenant_id.in_(tenant_ids), TenantModule.enabled
        )
    )
    out: dict[int, dict[str, Any]] = {}
    for tenant_id, key, config in rows:
        out.setdefault(tenant_id, {})[key] = config or {}
    return out
