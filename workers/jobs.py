"""Tenant jobs: arq tasks whose first argument is the tenant slug.

``@tenant_job(module="workorders")`` wraps ``async def job(ctx, tenant, *, session, **kw)``:
before each run it re-reads the tenant from the registry (never the directory cache: a
suspension or module switch made a second ago must count), skips a suspended or unknown
tenant or a disabled module, then runs the job in a session routed to the tenant's schema
and commits. The job must not commit itself, and must be idempotent: arq may run it twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arq.jobs import Job
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.db import take_after_commit
from wuye.modules.base import Module
from wuye.observability import tenant_var
from wuye.tenancy.directory import TenantInfo, read_tenant
from wuye.tenancy.models import Tenant

if TYPE_CHECKING:
    from wuye.runtime import Runtime

log = logging.getLogger(__name__)
_SPEC_ATTR = "__wuye_tenant_job__"
_ENQUEUE_CHUNK = 100  # concurrent enqueues (each takes a Redis connection)


@dataclass(frozen=True)
class TenantJob:
    name: str  # the arq function name: the job function's own name
    fn: Callable[..., Awaitable[Any]]  # undecorated: (ctx, tenant, *, session, **kwargs)
    module: str | None  # None: runs for any active tenant


def tenant_job(
    module: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        spec = TenantJob(fn.__name__, fn, module)

        @functools.wraps(fn)
        async def run(ctx: dict[str, Any], tenant: str, **kwargs: Any) -> Any:
            runtime: Runtime = ctx["runtime"]
            info = await fresh_tenant(runtime, tenant)
            reason = skip_reason(runtime, info, module)
            if reason is not None:
                log.info("job %s skipped for tenant %s: %s", spec.name, tenant, reason)
                return {"skipped": reason}
            assert info is not None
            token = tenant_var.set(tenant)
            try:
                # Leaving the block without commit (an error) closes the session, which
                # rolls the transaction back.
                async with runtime.db.tenant_session(info.schema, info.cluster) as session:
                    result = await fn(ctx, tenant, session=session, **kwargs)
                    await session.commit()
                    callbacks = take_after_commit(session)
                for callback in callbacks:
                    await callback()
            finally:
                tenant_var.reset(token)
            return result

        setattr(run, _SPEC_ATTR, spec)
        return run

    return decorate


def spec_of(job: Callable[..., Any]) -> TenantJob:
    spec = getattr(job, _SPEC_ATTR, None)
    if spec is None:
        raise TypeError(f"{job!r} is not a tenant job: decorate it with @tenant_job()")
    return spec


def tenant_jobs(
    modules: Sequence[Module], core: Sequence[Callable[..., Awaitable[Any]]] = ()
) -> dict[str, Callable[..., Awaitable[Any]]]:
    """Every core and module job (``jobs`` and ``cron``) by name; a name may be used once."""
    found: dict[str, Callable[..., Awaitable[Any]]] = {job.__name__: job for job in core}
    for module in modules:
        for job in [*module.jobs, *(c.job for c in module.cron)]:
            name = spec_of(job).name
            if found.get(name, job) is not job:
                raise ValueError(f"two jobs are named {name!r} (module {module.key!r})")
            found[name] = job
    return found


# --- tenant checks -------------------------------------------------------------------------


async def load_tenant(session: AsyncSession, slug: str) -> TenantInfo | None:
    """The tenant as the registry says right now, read in ``session`` (a default-cluster one)."""
    return await read_tenant(session, Tenant.slug == slug)


async def fresh_tenant(runtime: Runtime, slug: str) -> TenantInfo | None:
    return await runtime.directory.fresh(slug)


def skip_reason(runtime: Runtime, info: TenantInfo | None, module: str | None) -> str | None:
    """Why a job must not run for this tenant now, or None if it may."""
    if info is None:
        return "unknown tenant"
    if not info.active:
        return f"tenant {info.status}"
    if module is not None and not runtime.module_enabled(info, module):
        return f"module {module} disabled"
    return None


# --- enqueueing ----------------------------------------------------------------------------


def job_id(runtime: Runtime, *parts: object) -> str:
    """A deterministic arq job id. arq's job/result keys are global (``arq:job:<id>``), so the
    queue name comes first: deployments or test runs sharing a Redis never collide."""
    return ":".join([runtime.settings.queue_name, *map(str, parts)])


async def enqueue(
    runtime: Runtime,
    job: str | Callable[..., Any],
    *args: Any,
    _job_id: str | None = None,
    **kwargs: Any,
) -> Job | None:
    """Enqueue on this deployment's queue (``runtime.redis`` defaults to arq's global one).
    Returns None if a job with ``_job_id`` is queued, running or its result is still kept."""
    name = job if isinstance(job, str) else spec_of(job).name
    return await runtime.redis.enqueue_job(
        name, *args, _job_id=_job_id, _queue_name=runtime.settings.queue_name, **kwargs
    )


async def gather_chunked(
    fn: Callable[[Any], Awaitable[Any]], items: Iterable[Any], size: int = _ENQUEUE_CHUNK
) -> list[Any]:
    """``fn`` over ``items``, a few at a time: 10,000 tenants must not open 10,000 Redis
    connections at once."""
    items = list(items)
    results: list[Any] = []
    for i in range(0, len(items), size):
        results.extend(await asyncio.gather(*(fn(item) for item in items[i : i + size])))
    return results
