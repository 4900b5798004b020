"""Routing: every transaction of a tenant session is pointed at that tenant's schema.

The pool has one connection, so both tenants' transactions share it: any search_path left
over from a previous transaction would show up as another tenant's rows.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from conftest import make_tenant, new_phone
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from wuye.db import Database, InvalidSchemaName, schema_for_slug, validate_schema_name
from wuye.identity.models import User


@pytest.fixture(scope="module")
async def pair(runtime):
    """Two tenants, each with an admin and one more staff member of its own."""
    a, b = await make_tenant(runtime), await make_tenant(runtime)
    phones = {}
    for t in (a, b):
        extra = new_phone()
        async with runtime.db.tenant_session(t.schema) as s:
            s.add(User(kind="staff", name=f"员工-{t.slug}", phone=extra))
            await s.commit()
        phones[t.schema] = {t.admin_phone, extra}
    return a, b, phones


@pytest.fixture
async def one_conn_db(services):
    db = Database({"default": services.database_url}, pool_size=1, max_overflow=0)
    yield db
    await db.dispose()


async def phones_seen(session) -> set[str]:
    return set(await session.scalars(select(User.phone)))


async def test_interleaved_tenants_on_one_connection_see_only_their_rows(pair, one_conn_db):
    # given two tenants and an engine whose pool holds exactly one connection
    a, b, phones = pair
    backends = set()
    # when their transactions alternate on that connection, two transactions per session
    for i in range(12):
        for t in (a, b) if i % 2 == 0 else (b, a):
            async with one_conn_db.tenant_session(t.schema) as s:
                backends.add(await s.scalar(text("SELECT pg_backend_pid()")))
                first = await phones_seen(s)
                await s.commit()
                second = await phones_seen(s)  # a new transaction: routed again
            # then each sees exactly its own users, every time
            assert first == phones[t.schema]
            assert second == phones[t.schema]
    assert len(backends) == 1  # really one physical connection, reused by both tenants


async def test_no_leak_after_rollback_or_error(pair, one_conn_db):
    a, b, phones = pair
    # given tenant A wrote a row and rolled it back
    async with one_conn_db.tenant_session(a.schema) as s:
        s.add(User(kind="staff", name="回滚", phone=new_phone()))
        await s.flush()
        assert len(await phones_seen(s)) == len(phones[a.schema]) + 1
        await s.rollback()
        # then the rollback is complete and the next transaction is still routed to A
        assert await phones_seen(s) == phones[a.schema]
    # when B uses the same connection next
    async with one_conn_db.tenant_session(b.schema) as s:
        assert await phones_seen(s) == phones[b.schema]
    # given A's transaction fails with a database error and is never rolled back explicitly
    async with one_conn_db.tenant_session(a.schema) as s:
        with pytest.raises(DBAPIError):
            await s.execute(text("SELECT 1 / 0"))
    # then B, and A again, still see only their own rows
    async with one_conn_db.tenant_session(b.schema) as s:
        assert await phones_seen(s) == phones[b.schema]
    async with one_conn_db.tenant_session(a.schema) as s:
        with pytest.raises(DBAPIError):
            await s.execute(text("SELECT * FROM no_such_table"))
        await s.rollback()
        assert await phones_seen(s) == phones[a.schema]  # same session, after the error
    # and the connection goes back to the pool unrouted
    async with one_conn_db.shared_session() as s:
        assert await s.scalar(text("SHOW search_path")) == "shared"


async def test_concurrent_requests_of_two_tenants_share_one_connection_safely(pair, one_conn_db):
    a, b, phones = pair

    async def request(t, n):
        seen = []
        for _ in range(n):
            async with one_conn_db.tenant_session(t.schema) as s:
                seen.append(await phones_seen(s))
                await asyncio.sleep(0)  # let the other tenant's task queue for the connection
        return t.schema, seen

    # when many requests of both tenants run at once on a one-connection pool
    results = await asyncio.gather(*(request(t, 5) for t in (a, b, a, b, a, b)))
    # then none of them ever saw the other tenant's rows
    for schema, seen in results:
        assert all(s == phones[schema] for s in seen)


async def test_raw_text_sql_is_routed_too(pair, runtime):
    a, b, phones = pair
    for t in (a, b):
        async with runtime.db.tenant_session(t.schema) as s:
            rows = set((await s.execute(text("SELECT phone FROM users"))).scalars())
            path = await s.scalar(text("SELECT current_setting('search_path')"))
        assert rows == phones[t.schema]
        assert path == f"{t.schema}, shared"


async def test_unrouted_session_fails_closed(pair, runtime, one_conn_db):
    a, _, _ = pair
    # given the database default search_path, set by the shared migration
    async with runtime.db.shared_session() as s:
        settings = await s.scalar(
            text(
                "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting r "
                "JOIN pg_database d ON d.oid = r.setdatabase "
                "WHERE d.datname = current_database() AND r.setrole = 0"
            )
        )
        assert "search_path=shared" in settings
        assert await s.scalar(text("SHOW search_path")) == "shared"
    # when an unrouted session queries a tenant table, through the ORM or raw SQL
    for stmt in (select(User.id), text("SELECT count(*) FROM users")):
        async with runtime.db.shared_session() as s:
            with pytest.raises(ProgrammingError) as failure:
                await s.execute(stmt)
        # then PostgreSQL refuses: there is no tenant table in `shared`
        assert isinstance(failure.value.orig, psycopg.errors.UndefinedTable)
    # and that still holds on a connection that served a tenant a moment ago
    async with one_conn_db.tenant_session(a.schema) as s:
        await s.scalar(select(User.id).limit(1))
        await s.commit()
    async with one_conn_db.shared_session() as s:
        with pytest.raises(ProgrammingError) as failure:
            await s.execute(text("SELECT count(*) FROM users"))
    assert isinstance(failure.value.orig, psycopg.errors.UndefinedTable)


@pytest.mark.parametrize(
    "name",
    [
        "public",
        "shared",
        "t_",
        "T_acme",
        "t_Acme",
        "acme",
        "t-acme",
        "t_acme;drop schema shared",
        "t_acme, public",
        't_acme"',
        "t_acme\n",
        " t_acme",
        "t_" + "a" * 41,
        "pg_catalog",
        "",
    ],
)
def test_invalid_schema_names_are_refused(name):
    with pytest.raises(InvalidSchemaName):
        validate_schema_name(name)


@pytest.mark.parametrize("name", ["t_a", "t_acme", "t_acme_2", "t_" + "a" * 40])
def test_valid_schema_names_pass(name):
    assert validate_schema_name(name) == name


async def test_bad_schema_never_reaches_sql(one_conn_db, runtime):
    # given names that would be SQL injection if interpolated
    # when a session is asked for them, then it refuses before opening a transaction
    with pytest.raises(InvalidSchemaName):
        one_conn_db.tenant_session("public")
    with pytest.raises(InvalidSchemaName):
        schema_for_slug("acme; DROP SCHEMA shared CASCADE")
    # and a session whose routing was tampered with fails at the start of its transaction
    session = one_conn_db.shared_session()
    session.info["tenant_schema"] = "shared; DROP TABLE shared.tenants"
    with pytest.raises(InvalidSchemaName):
        await session.execute(text("SELECT 1"))
    await session.close()
    async with runtime.db.shared_session() as s:
        assert await s.scalar(text("SELECT to_regclass('shared.tenants') IS NOT NULL"))


async def test_one_request_session_serves_concurrent_resolvers(runtime, tenant):
    """Given a fresh tenant session (no connection yet), when sibling resolvers use it at
    the same moment, then each operation waits its turn instead of failing."""
    import asyncio

    from sqlalchemy import text as sql

    async with runtime.db.tenant_session(tenant.schema) as session:
        results = await asyncio.gather(
            *(session.scalar(sql(f"SELECT {i} FROM (SELECT pg_sleep(0.05)) s")) for i in range(4))
        )
    assert results == [0, 1, 2, 3]
