"""Engines, declarative bases and tenant-routed sessions.

Routing rule (see docs/architecture.md): a tenant-bound session runs
``set_config('search_path', '<schema>, shared', true)`` -- i.e. ``SET LOCAL`` -- at the
start of *every* transaction. PostgreSQL drops it at commit/rollback, so no pooled
connection ever carries a tenant. Never cache "already routed": that is how
django-tenants #1262 served another tenant's rows.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session

SHARED_SCHEMA = "shared"
DEFAULT_CLUSTER = "default"
_SCHEMA_RE = re.compile(r"^t_[a-z0-9_]{1,40}$")

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class SharedBase(DeclarativeBase):
    """Platform tables, always schema-qualified ``shared.<table>``."""

    metadata = MetaData(schema=SHARED_SCHEMA, naming_convention=_NAMING)


class TenantBase(DeclarativeBase):
    """Tenant tables: declared without a schema, found through the routed search_path."""

    metadata = MetaData(naming_convention=_NAMING)


class InvalidSchemaName(ValueError):
    pass


def validate_schema_name(name: str) -> str:
    """Return ``name`` if it is a tenant schema name; refuse anything else before it nears SQL."""
    if not _SCHEMA_RE.fullmatch(name):
        raise InvalidSchemaName(f"not a tenant schema name: {name!r}")
    return name


def schema_for_slug(slug: str) -> str:
    return validate_schema_name("t_" + slug.replace("-", "_"))


class RoutedSession(Session):
    """Sync session class under every AsyncSession we hand out; see module docstring."""


class SerialAsyncSession(AsyncSession):
    """An AsyncSession that one request's concurrent resolvers can share.

    graphql-core resolves sibling fields concurrently, and DataLoaders dispatch their batches
    side by side; a session is one connection in one transaction and must see one operation
    at a time, so each operation waits for the one before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._one_at_a_time = asyncio.Lock()


def _one_at_a_time(name: str) -> Any:
    operation = getattr(AsyncSession, name)

    @functools.wraps(operation)
    async def serialized(self: SerialAsyncSession, *args: Any, **kwargs: Any) -> Any:
        async with self._one_at_a_time:
            return await operation(self, *args, **kwargs)

    return serialized


# The operations that reach the connection themselves (scalars, for one, goes via execute).
for _name in (
    "execute",
    "scalar",
    "get",
    "get_one",
    "delete",
    "merge",
    "flush",
    "refresh",
    "run_sync",
    "rollback",
    "commit",
    "close",
    "connection",
):
    setattr(SerialAsyncSession, _name, _one_at_a_time(_name))


@event.listens_for(RoutedSession, "after_begin")
def _route_transaction(session: Session, transaction: Any, connection: Any) -> None:
    schema = session.info.get("tenant_schema")
    if schema is None:
        return  # shared-only session: the database default search_path is `shared`
    connection.exec_driver_sql(
        "SELECT set_config('search_path', %s, true)",
        (f"{validate_schema_name(schema)}, {SHARED_SCHEMA}",),
    )


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int | None = None,
    **kw: Any,
) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if statement_timeout_ms is not None:
        # A server-side default per connection: one slow statement cannot hold a worker.
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        connect_args=connect_args,
        **kw,
    )


class Database:
    """One engine per database cluster; hands out shared and tenant-routed sessions."""

    def __init__(self, urls: Mapping[str, str], **engine_kw: Any) -> None:
        if DEFAULT_CLUSTER not in urls:
            raise ValueError("a 'default' database cluster is required")
        self.urls = dict(urls)
        self.engines: dict[str, AsyncEngine] = {
            key: make_engine(url, **engine_kw) for key, url in self.urls.items()
        }
        self._factories = {
            key: async_sessionmaker(
                eng,
                class_=SerialAsyncSession,
                sync_session_class=RoutedSession,
                expire_on_commit=False,
            )
            for key, eng in self.engines.items()
        }

    @property
    def engine(self) -> AsyncEngine:
        return self.engines[DEFAULT_CLUSTER]

    def shared_session(self, cluster: str = DEFAULT_CLUSTER) -> AsyncSession:
        return self._factories[cluster]()

    def tenant_session(self, schema: str, cluster: str = DEFAULT_CLUSTER) -> AsyncSession:
        session = self._factories[cluster]()
        session.info["tenant_schema"] = validate_schema_name(schema)
        return session

    async def dispose(self) -> None:
        for eng in self.engines.values():
            await eng.dispose()


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The text of a CHECK constraint: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# --- after-commit hooks ----------------------------------------------------------------------
# Side effects that must wait for the data they announce (enqueueing a job that reads it)
# hang on the session, so a service function can register one wherever it is called from:
# the request (``Context.finish``) and the job wrapper (``tenant_job``) run them after commit.

AfterCommit = Callable[[], Awaitable[Any]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    session.info.setdefault("after_commit", []).append(callback)


def take_after_commit(session: AsyncSession) -> list[AfterCommit]:
    """The session's pending hooks, removed from it (call after commit, or to drop them)."""
    return session.info.pop("after_commit", [])


async def commit_then_hooks(session: AsyncSession) -> None:
    """Commit a session a service function owns itself, then run its hooks."""
    await session.commit()
    for hook in take_after_commit(session):
        await hook()
