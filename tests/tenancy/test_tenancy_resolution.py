"""Resolution: Host / custom domain / X-Tenant -> tenant; clear errors; cache invalidation."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from conftest import make_tenant
from sqlalchemy import text
from tenancy_support import error_code, operator_login, unique_host

from wuye.tenancy import service
from wuye.tenancy.directory import TenantDirectory

TENANT_Q = "{ tenant { slug } }"
SUSPEND = """mutation($i: TenantSlugInput!) { suspendTenant(input: $i) { slug status } }"""
REACTIVATE = """mutation($i: TenantSlugInput!) { reactivateTenant(input: $i) { slug status } }"""


async def resolved_slug(api, **kw) -> str:
    r = await api.post(TENANT_Q, **kw)
    assert r.status_code == 200, r.text
    return r.json()["data"]["tenant"]["slug"]


async def refused(api, status: int, **kw) -> str:
    r = await api.post(TENANT_Q, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/graphql-response+json")
    body = r.json()
    assert "data" not in body
    return error_code(body)


async def test_subdomain_of_the_platform_domain_resolves(api, tenant, settings):
    assert settings.platform_domain == "localhost"
    assert await resolved_slug(api, headers={"host": f"{tenant.slug}.localhost"}) == tenant.slug
    # host names are case-insensitive and may carry a port
    host = f"{tenant.slug.upper()}.LOCALHOST:8443"
    assert await resolved_slug(api, headers={"host": host}) == tenant.slug


async def test_custom_domain_resolves(api, runtime, tenant):
    # given a custom domain registered for the tenant in shared.domains
    host = unique_host()
    async with runtime.db.shared_session() as s:
        await service.add_domain(s, slug=tenant.slug, hostname=host.upper(), primary=True)
        await s.commit()
    await runtime.directory.invalidate()
    # when a request arrives for that host, then it is the tenant's
    assert await resolved_slug(api, headers={"host": host}) == tenant.slug
    assert await resolved_slug(api, headers={"host": f"{host}:443"}) == tenant.slug
    info = await runtime.directory.by_host(host)
    assert info is not None and info.schema == tenant.schema


async def test_x_tenant_header_resolves_and_wins_over_host(api, runtime):
    a, b = await make_tenant(runtime), await make_tenant(runtime)
    assert await resolved_slug(api, tenant=a.slug) == a.slug
    assert await resolved_slug(api, tenant=a.slug.upper()) == a.slug
    both = await resolved_slug(api, tenant=b.slug, headers={"host": f"{a.slug}.localhost"})
    assert both == b.slug


@pytest.mark.parametrize(
    "headers",
    [
        {"x-tenant": "no-such-tenant"},
        {"host": "no-such-tenant.localhost"},
        {"host": "unknown.example.cn"},
        {},  # the client's default Host ("test"): no tenant there
        {"host": "localhost"},  # the bare platform domain is nobody's
    ],
)
async def test_unknown_tenant_is_a_404_never_a_fallback(api, tenant, headers):
    # given at least one tenant exists (it must not become anyone's default)
    assert await refused(api, 404, headers=headers) == "TENANT_NOT_FOUND"


async def test_lookalike_hosts_do_not_resolve(api, tenant):
    for host in (
        f"x.{tenant.slug}.localhost",
        f"{tenant.slug}.localhost.evil.example",
        f"{tenant.slug}localhost",
        f"evil{tenant.slug}.localhost",
    ):
        assert await refused(api, 404, headers={"host": host}) == "TENANT_NOT_FOUND", host


async def test_suspended_tenant_is_a_403(api, runtime, tenant):
    # given a suspended tenant
    async with runtime.db.shared_session() as s:
        await service.set_status(s, slug=tenant.slug, status="suspended")
        await s.commit()
    await runtime.directory.invalidate()
    # when it is addressed in any way, including a public login, then it is refused
    assert await refused(api, 403, tenant=tenant.slug) == "TENANT_SUSPENDED"
    assert (
        await refused(api, 403, headers={"host": f"{tenant.slug}.localhost"}) == "TENANT_SUSPENDED"
    )
    r = await api.post('mutation { logout(input: {refreshToken: "x"}) }', tenant=tenant.slug)
    assert r.status_code == 403
    # and it is not among the active tenants the workers fan out to
    assert tenant.slug not in {t.slug for t in await runtime.directory.all_active()}


async def test_suspending_through_the_admin_api_takes_effect_on_the_next_request(
    api, admin_api, runtime, tenant
):
    _, op_token = await operator_login(admin_api, runtime)
    # given the tenant is resolved (and cached) by a first request
    assert await resolved_slug(api, tenant=tenant.slug) == tenant.slug
    # when an operator suspends it
    body = await admin_api(SUSPEND, {"i": {"slug": tenant.slug}}, token=op_token)
    assert body["data"]["suspendTenant"]["status"] == "suspended"
    # then the very next request is refused (the cache was invalidated on commit)
    assert await refused(api, 403, tenant=tenant.slug) == "TENANT_SUSPENDED"
    # and reactivating lets it in again straight away
    body = await admin_api(REACTIVATE, {"i": {"slug": tenant.slug}}, token=op_token)
    assert body["data"]["reactivateTenant"]["status"] == "active"
    assert await resolved_slug(api, tenant=tenant.slug) == tenant.slug


async def _wait_for(predicate) -> None:
    """Poll ``predicate`` (another task or process changes what it reads) for up to 3 s."""
    async with asyncio.timeout(3):
        for _ in range(10_000):
            if await predicate():
                return
            await asyncio.sleep(0.02)


async def test_another_process_clears_its_cache_when_invalidation_is_published(
    runtime, services, settings, tenant
):
    # given a second directory (another process) with its own Redis connection, listening
    other_redis = aioredis.from_url(services.redis_url)
    other = TenantDirectory(
        runtime.db,
        platform_domain=settings.platform_domain,
        redis=other_redis,
        channel=runtime.directory.channel,
    )
    listener = asyncio.create_task(other.listen_for_invalidation())

    async def subscribed() -> bool:
        counts = dict(await runtime.redis.pubsub_numsub(runtime.directory.channel))
        return counts.get(runtime.directory.channel.encode(), 0) >= 1

    try:
        await _wait_for(subscribed)
        await asyncio.sleep(0.1)  # let the listener finish its post-subscribe clear
        assert (await other.by_slug(tenant.slug)).active
        # when the tenant is suspended in the database, the other process still has it cached
        async with runtime.db.shared_session() as s:
            await service.set_status(s, slug=tenant.slug, status="suspended")
            await s.commit()
        assert (await other.by_slug(tenant.slug)).active
        # and once this process publishes the invalidation
        await runtime.directory.invalidate()

        # then the other process drops its cache and sees the suspension
        async def other_sees_suspension() -> bool:
            return not (await other.by_slug(tenant.slug)).active

        await _wait_for(other_sees_suspension)
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener
        await other_redis.aclose()


async def test_directory_negative_lookups_and_direct_api(runtime, tenant):
    d = runtime.directory
    assert await d.by_slug("nobody-here") is None
    assert await d.by_host("nobody-here.localhost") is None
    info = await d.by_host(f"{tenant.slug}.localhost")
    assert info is not None and (info.slug, info.schema) == (tenant.slug, tenant.schema)
    assert info.active and info.cluster == "default"
    with pytest.raises(Exception) as failure:
        await d.for_request({"host": "localhost"})
    assert getattr(failure.value, "code", None) == "TENANT_NOT_FOUND"


async def test_a_lookup_racing_an_invalidation_is_not_cached(runtime, settings, tenant):
    # given a directory that starts loading the tenant and is held up half-way: it has read
    # the tenant row (active) but waits for the module switches, locked by another transaction
    d = TenantDirectory(runtime.db, platform_domain=settings.platform_domain)
    blocker = runtime.db.shared_session()
    await blocker.execute(text("LOCK TABLE shared.tenant_modules IN ACCESS EXCLUSIVE MODE"))
    lookup = asyncio.create_task(d.by_slug(tenant.slug))

    async def lookup_is_waiting() -> bool:
        async with runtime.db.shared_session() as s:
            return bool(
                await s.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted "
                        "AND relation = 'shared.tenant_modules'::regclass"
                    )
                )
            )

    try:
        await _wait_for(lookup_is_waiting)
        # when the tenant is suspended and the cache invalidated meanwhile
        async with runtime.db.shared_session() as s:
            await service.set_status(s, slug=tenant.slug, status="suspended")
            await s.commit()
        await d.invalidate()
    finally:
        await blocker.rollback()
        await blocker.close()
    # then the held-up lookup returns what it read, but does not cache it
    assert (await lookup).active
    assert not (await d.by_slug(tenant.slug)).active


async def test_the_cache_stays_bounded_under_random_host_headers(api, runtime, settings, tenant):
    d = TenantDirectory(runtime.db, platform_domain=settings.platform_domain, max_entries=8)
    await d.by_slug(tenant.slug)
    for i in range(40):
        assert await d.by_host(f"junk-{i}.example.invalid") is None
        assert len(d._cache) <= 8
    assert (await d.by_slug(tenant.slug)).slug == tenant.slug
