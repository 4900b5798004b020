"""Schema migrations: ``shared`` once, then every tenant schema in its own transaction.

``migrate_all`` is what ``wuye migrate`` runs. It never runs at app start-up. Tenants at
head are skipped after one query over all version tables; each other tenant migrates in
its own transaction and its outcome is recorded in ``shared.tenants``, so a rerun resumes
with what failed or is still behind. Many tenants behind are split over up to
``parallelism`` worker processes (Alembic's ``context``/``op`` are process-global, so
threads cannot run migrations side by side).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import QueuePool

from wuye.db import DEFAULT_CLUSTER, SHARED_SCHEMA, validate_schema_name

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_VERSION_CHUNK = 500  # version tables read per UNION ALL statement
# Alembic's `context` and `op` are module-global proxies: two migrations running at once in
# one process would use each other's connection and schema. Parallel runs use processes.
_ALEMBIC_LOCK = threading.Lock()
MIN_TENANTS_PER_PROCESS = 20  # below this a worker process costs more than it saves


def alembic_config(env: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / env))
    return cfg


@cache
def head(env: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(env)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"{env} migrations must have exactly one head, found {heads}")
    return heads[0]


def sync_engine(url: str, pool_size: int = 1) -> Engine:
    # Migrations may legitimately run long: no statement_timeout here.
    return create_engine(url, poolclass=QueuePool, pool_size=pool_size, max_overflow=0)


def migrate_shared(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SHARED_SCHEMA}")
        # Fail closed: a connection that was never routed sees no tenant table at all.
        conn.exec_driver_sql(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET search_path TO "
            + SHARED_SCHEMA
            + "', current_database()); END $$"
        )
        cfg = alembic_config("shared")
        cfg.attributes["connection"] = conn
        with _ALEMBIC_LOCK:
            command.upgrade(cfg, "head")


def upgrade_tenant(conn: Connection, schema: str) -> None:
    """Upgrade one tenant schema to head inside ``conn``'s current transaction."""
    cfg = alembic_config("tenant")
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = validate_schema_name(schema)
    with _ALEMBIC_LOCK:
        command.upgrade(cfg, "head")


def stamp_tenant(conn: Connection, schema: str) -> None:
    """Mark a schema built by ``create_all`` as being at head (what provisioning does)."""
    schema = validate_schema_name(schema)
    conn.exec_driver_sql(
        f"CREATE TABLE {schema}.alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    conn.exec_driver_sql(f"INSERT INTO {schema}.alembic_version VALUES (%s)", (head("tenant"),))


def tenant_versions(conn: Connection, schemas: list[str]) -> dict[str, str | None]:
    """Current revision of each schema (None: no version table), in few statements."""
    have_table = set(
        conn.execute(
            text(
                "SELECT table_schema FROM information_schema.tables "
                "WHERE table_name = 'alembic_version' AND table_schema = ANY(:s)"
            ),
            {"s": schemas},
        ).scalars()
    )
    versions: dict[str, str | None] = {s: None for s in schemas}
    with_table = [validate_schema_name(s) for s in schemas if s in have_table]
    for i in range(0, len(with_table), _VERSION_CHUNK):
        chunk = with_table[i : i + _VERSION_CHUNK]
        sql = " UNION ALL ".join(
            f"SELECT '{s}' AS s, version_num FROM {s}.alembic_version" for s in chunk
        )
        versions.update(dict(conn.exec_driver_sql(sql).all()))
    return versions


@dataclass
class MigrateReport:
    tenants: int = 0
    at_head: int = 0
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def _record(engine: Engine, slug: str, revision: str | None, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE shared.tenants SET schema_revision = coalesce(:rev, schema_revision), "
                "migration_status = :status, migration_error = :err, updated_at = now() "
                "WHERE slug = :slug"
            ),
            {"rev": revision, "status": "failed" if error else "ok", "err": error, "slug": slug},
        )


def _migrate_one(engine: Engine, registry: Engine, slug: str, schema: str) -> str | None:
    """Migrate one tenant on its cluster's ``engine``; record the outcome in the registry."""
    try:
        with engine.begin() as conn:
            upgrade_tenant(conn, schema)
    except Exception as exc:  # recorded and reported; the next run retries this tenant
        log.exception("migration failed for tenant %s", slug)
        _record(registry, slug, None, f"{type(exc).__name__}: {exc}"[:2000])
        return str(exc)
    _record(registry, slug, head("tenant"), None)
    return None


def _migrate_batch(url: str, registry_url: str, tenants: list[tuple[str, str]]) -> list[str | None]:
    """Migrate (slug, schema) pairs one after another; the error of each, or None.

    Runs in this process or in a worker process (so it takes URLs, not engines)."""
    engine = sync_engine(url)
    registry = engine if url == registry_url else sync_engine(registry_url)
    try:
        return [_migrate_one(engine, registry, slug, schema) for slug, schema in tenants]
    finally:
        engine.dispose()
        registry.dispose()


def _migrate_spread(
    url: str, registry_url: str, tenants: list[tuple[str, str]], processes: int
) -> list[str | None]:
    """``_migrate_batch`` over ``processes`` worker processes (or here, for one)."""
    if processes <= 1:
        return _migrate_batch(url, registry_url, tenants)
    chunks = [tenants[i::processes] for i in range(processes)]
    spawn = multiprocessing.get_context("spawn")  # no forked copies of pools or event loops
    with ProcessPoolExecutor(processes, mp_context=spawn) as pool:
        results = pool.map(_migrate_batch, [url] * processes, [registry_url] * processes, chunks)
        errors = {
            slug: err
            for chunk, res in zip(chunks, results, strict=True)
            for (slug, _), err in zip(chunk, res, strict=True)
        }
    return [errors[slug] for slug, _ in tenants]


def migrate_tenants(
    urls: dict[str, str],
    *,
    parallelism: int = 4,
    only: list[str] | None = None,
    min_per_process: int = MIN_TENANTS_PER_PROCESS,
) -> MigrateReport:
    started = time.perf_counter()
    report = MigrateReport()
    target = head("tenant")
    registry_url = urls[DEFAULT_CLUSTER]
    registry = sync_engine(registry_url)
    try:
        with registry.connect() as conn:
            rows = conn.execute(
                text("SELECT slug, schema_name, cluster FROM shared.tenants ORDER BY id")
            ).all()
    finally:
        registry.dispose()
    if only is not None:
        wanted = set(only)
        rows = [r for r in rows if r.slug in wanted]
    report.tenants = len(rows)
    by_cluster: dict[str, list[Any]] = {}
    for r in rows:
        by_cluster.setdefault(r.cluster, []).append(r)
    for cluster, tenants in by_cluster.items():
        engine = sync_engine(urls[cluster])
        try:
            with engine.connect() as conn:
                versions = tenant_versions(conn, [t.schema_name for t in tenants])
        finally:
            engine.dispose()
        behind = [(t.slug, t.schema_name) for t in tenants if versions.get(t.schema_name) != target]
        report.at_head += len(tenants) - len(behind)
        processes = max(1, min(parallelism, len(behind) // max(min_per_process, 1)))
        errors = _migrate_spread(urls[cluster], registry_url, behind, processes)
        for (slug, _), error in zip(behind, errors, strict=True):
            if error is None:
                report.migrated.append(slug)
            else:
                report.failed[slug] = error
    report.seconds = time.perf_counter() - started
    return report


def migrate_all(urls: dict[str, str], *, parallelism: int = 4) -> MigrateReport:
    engine = sync_engine(urls[DEFAULT_CLUSTER])
    try:
        migrate_shared(engine)
    finally:
        engine.dispose()
    return migrate_tenants(urls, parallelism=parallelism)
