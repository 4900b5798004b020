"""The ``Module`` spec: what a feature module contributes to the platform."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wuye.identity.permissions import Permission
from wuye.notify.types import MessageType
from wuye.storage.purposes import UploadPurpose

OnEnable = Callable[..., Awaitable[None]]  # async (*, session, tenant) -> None


@dataclass(frozen=True)
class CronSpec:
    """A scheduled job that fans out to one run per tenant with the module enabled.

    ``job`` is a tenant job (see ``wuye.workers.jobs.tenant_job``); the time fields are
    arq's ``cron`` arguments (None = every).
    """

    job: Callable[..., Awaitable[Any]]
    minute: int | set[int] | None = 0
    hour: int | set[int] | None = None
    day: int | set[int] | None = None
    weekday: int | set[int] | None = None


@dataclass(frozen=True)
class Module:
    key: str
    title_zh: str
    title_en: str
    depends_on: tuple[str, ...] = ()
    always_on: bool = False  # e.g. estate: every tenant has it
    permissions: tuple[Permission, ...] = ()
    role_grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Strawberry types whose fields join the tenant Query / Mutation (one, or a tuple of
    # types when a large module splits its API by area)
    query: type | tuple[type, ...] | None = None
    mutation: type | tuple[type, ...] | None = None
    # ... and the tenant Subscription (fields declared with ``graphql.access.subscription``;
    # served over WebSocket, see docs/api.md "Real time")
    subscription: type | tuple[type, ...] | None = None
    # message types the module sends through the notification pipeline
    message_types: tuple[MessageType, ...] = ()
    jobs: Sequence[Callable[..., Awaitable[Any]]] = ()
    cron: Sequence[CronSpec] = ()
    on_enable: OnEnable | None = None
    # async (*, session, tenant, runtime) -> None: realistic demo data for `wuye dev`, run in
    # the demo tenant's schema; must be idempotent.
    demo: Callable[..., Awaitable[None]] | None = None
    # what people may upload for this module (photos, recordings, attachments): see
    # docs/storage.md
    upload_purposes: tuple[UploadPurpose, ...] = ()


class ModuleError(ValueError):
    pass


def check_modules(modules: Sequence[Module]) -> tuple[Module, ...]:
    """Refuse duplicate keys and dependencies on modules that are not registered."""
    keys = [m.key for m in modules]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ModuleError(f"duplicate module keys: {sorted(dupes)}")
    for m in modules:
        missing = set(m.depends_on) - set(keys)
        if missing:
            raise ModuleError(f"module {m.key!r} depends on unknown {sorted(missing)}")
        for p in m.permissions:
            if not p.key.startswith(m.key + "."):
                raise ModuleError(f"permission {p.key!r} must start with {m.key!r}.")
    return tuple(modules)


def closure_with_dependencies(modules: Sequence[Module], wanted: set[str]) -> set[str]:
    """``wanted`` plus every module it depends on, transitively."""
    by_key = {m.key: m for m in modules}
    result: set[str] = set()
    stack = list(wanted)
    while stack:
        key = stack.pop()
        if key in result:
            continue
        if key not in by_key:
            raise ModuleError(f"unknown module {key!r}")
        result.add(key)
        stack.extend(by_key[key].depends_on)
    return result
