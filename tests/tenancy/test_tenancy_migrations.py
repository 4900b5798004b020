"""Migrations: create_all + stamp equals the migrated schema; migrate_tenants skips tenants
at head, migrates the others each in its own transaction, records failures and resumes."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import pytest
from conftest import make_tenant
from sqlalchemy import Engine, text

from wuye.db import schema_for_slug
from wuye.tenancy import migrate


@pytest.fixture(scope="module")
def engine(services):
    eng = migrate.sync_engine(services.database_url, pool_size=2)
    yield eng
    eng.dispose()


def snapshot(conn: Any, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything that makes up a schema, read from the catalogs, with its name normalised."""
    queries = {
        "columns": """SELECT table_name, column_name, ordinal_position, data_type, udt_name,
                             character_maximum_length, numeric_precision, datetime_precision,
                             is_nullable, column_default, is_identity
                      FROM information_schema.columns WHERE table_schema = :s""",
        "constraints": """SELECT cl.relname, con.conname, con.contype,
                                 pg_get_constraintdef(con.oid, true), con.condeferrable
                          FROM pg_constraint con
                          JOIN pg_class cl ON cl.oid = con.conrelid
                          JOIN pg_namespace n ON n.oid = cl.relnamespace
                          WHERE n.nspname = :s""",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
        "sequences": """SELECT sequence_name, data_type, start_value, increment
                        FROM information_schema.sequences WHERE sequence_schema = :s""",
        "tables": """SELECT table_name, table_type FROM information_schema.tables
                     WHERE table_schema = :s""",
    }
    name = re.compile(rf"\b{re.escape(schema)}\b")
    out = {}
    for key, sql in queries.items():
        rows = conn.execute(text(sql), {"s": schema}).all()
        out[key] = sorted(
            tuple(name.sub("<schema>", v) if isinstance(v, str) else v for v in r) for r in rows
        )
    return out


async def test_provisioned_schema_equals_the_migrated_schema(runtime, engine):
    # given a tenant built the fast way (CREATE SCHEMA + create_all + stamp head)
    provisioned = await make_tenant(runtime)
    # and a schema built by running every tenant migration from scratch
    scratch = f"t_scratch_{secrets.token_hex(3)}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {scratch}")
        migrate.upgrade_tenant(conn, scratch)
    try:
        with engine.connect() as conn:
            fast, migrated = snapshot(conn, provisioned.schema), snapshot(conn, scratch)
            versions = migrate.tenant_versions(conn, [provisioned.schema, scratch])
        # then both are identical: columns (types, nullability, defaults), constraints,
        # indexes, sequences, tables -- and both are at the tenant head
        assert fast["tables"], "snapshot read nothing"
        assert len(fast["columns"]) > 20 and fast["indexes"] and fast["constraints"]
        for part in fast:
            assert fast[part] == migrated[part], part
        assert versions == {
            provisioned.schema: migrate.head("tenant"),
            scratch: migrate.head("tenant"),
        }
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {scratch} CASCADE")


def add_registry_row(engine: Engine, *, conflicting_table: bool = False) -> tuple[str, str]:
    """A tenant row whose schema exists but was never migrated (an interrupted rollout)."""
    slug = f"m-{secrets.token_hex(4)}"
    schema = schema_for_slug(slug)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO shared.tenants (slug, schema_name, name_zh) "
                "VALUES (:slug, :schema, '迁移测试')"
            ),
            {"slug": slug, "schema": schema},
        )
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        if conflicting_table:  # the migration's CREATE TABLE users will fail on this
            conn.exec_driver_sql(f"CREATE TABLE {schema}.users (id int)")
    return slug, schema


def registry(engine: Engine, slug: str) -> Any:
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT schema_revision, migration_status, migration_error FROM shared.tenants "
                    "WHERE slug = :s"
                ),
                {"s": slug},
            )
            .mappings()
            .one()
        )


def tables_in(engine: Engine, schema: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalars()
        )


async def test_migrate_tenants_skips_head_migrates_behind_records_failures_and_resumes(
    runtime, engine, services
):
    head = migrate.head("tenant")
    urls = {"default": services.database_url}
    # given one tenant at head, two that are behind, and one whose migration will fail
    ready = await make_tenant(runtime)
    behind = [add_registry_row(engine) for _ in range(2)]
    broken_slug, broken_schema = add_registry_row(engine, conflicting_table=True)
    only = [ready.slug, *(slug for slug, _ in behind), broken_slug]

    # when the tenants are migrated (in parallel)
    report = await asyncio.to_thread(migrate.migrate_tenants, urls, parallelism=3, only=only)

    # then the tenant at head is skipped, the ones behind are migrated, the broken one fails
    assert report.tenants == 4 and report.at_head == 1
    assert sorted(report.migrated) == sorted(slug for slug, _ in behind)
    assert list(report.failed) == [broken_slug] and not report.ok
    for slug, schema in behind:
        assert registry(engine, slug) == {
            "schema_revision": head,
            "migration_status": "ok",
            "migration_error": None,
        }
        assert {"users", "roles", "audit_log", "alembic_version"} <= tables_in(engine, schema)
    # and the failure is recorded, with its cause, and its transaction left nothing half done
    failed = registry(engine, broken_slug)
    assert failed["migration_status"] == "failed" and failed["schema_revision"] is None
    assert "DuplicateTable" in failed["migration_error"]
    assert tables_in(engine, broken_schema) == {"users"}

    # when the cause is fixed and the migration runs again
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {broken_schema}.users")
    rerun = await asyncio.to_thread(migrate.migrate_tenants, urls, parallelism=3, only=only)
    # then only the tenant that failed is processed, and now it succeeds
    assert rerun.at_head == 3 and rerun.migrated == [broken_slug] and rerun.ok
    assert registry(engine, broken_slug) == {
        "schema_revision": head,
        "migration_status": "ok",
        "migration_error": None,
    }
    with engine.connect() as conn:
        assert migrate.tenant_versions(conn, [broken_schema]) == {broken_schema: head}

    # and a third run has nothing left to do
    third = await asyncio.to_thread(migrate.migrate_tenants, urls, only=only)
    assert (third.tenants, third.at_head, third.migrated, third.failed) == (4, 4, [], {})


async def test_parallel_migrations_each_land_in_their_own_schema(engine, services):
    # given several tenants behind at once, spread over worker processes
    # (Alembic's globals must not mix them up)
    rows = [add_registry_row(engine) for _ in range(6)]
    report = await asyncio.to_thread(
        migrate.migrate_tenants,
        {"default": services.database_url},
        parallelism=3,
        only=[slug for slug, _ in rows],
        min_per_process=2,
    )
    assert report.ok and sorted(report.migrated) == sorted(slug for slug, _ in rows)
    with engine.connect() as conn:
        versions = migrate.tenant_versions(conn, [schema for _, schema in rows])
    assert set(versions.values()) == {migrate.head("tenant")}
    expected = tables_in(engine, rows[0][1])
    assert all(tables_in(engine, schema) == expected for _, schema in rows)


def test_tenant_versions_reads_many_schemas_and_tolerates_unstamped(engine):
    slug, schema = add_registry_row(engine)
    try:
        with engine.connect() as conn:
            assert migrate.tenant_versions(conn, [schema]) == {schema: None}
            assert migrate.tenant_versions(conn, []) == {}
    finally:  # leave no unmigrated tenant for other tests that fan out to every tenant
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM shared.tenants WHERE slug = :s"), {"s": slug})
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def test_migrate_shared_is_idempotent_and_keeps_the_fail_closed_default(services, engine):
    migrate.migrate_shared(engine)  # a second run: nothing to do, no error
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT version_num FROM shared.alembic_version"
        ).scalar() == migrate.head("shared")
        setting = conn.exec_driver_sql(
            "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting r "
            "JOIN pg_database d ON d.oid = r.setdatabase "
            "WHERE d.datname = current_database() AND r.setrole = 0"
        ).scalar()
    assert "search_path=shared" in setting
