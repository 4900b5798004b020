"""Shared test kit: a small estate (communities, buildings, units by name), residents who
live in it, staff accounts, a burst worker, worker processes (to kill), and the two
GraphQL answer checks.

Every test folder can import it (``tests/`` is on the path, like ``conftest``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from conftest import TEST_PASSWORD, Api, TenantFixture, login, new_phone, signed_in

from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.modules.estate.models import Building, Community, Occupancy, Person, Unit
from wuye.runtime import Runtime
from wuye.settings import Settings
from wuye.tenancy.service import set_module
from wuye.workers.runner import create_worker


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


@dataclass
class Place:
    """Communities -> buildings -> units by name: ``ids["A/3/301"]`` is a unit id."""

    ids: dict[str, int] = field(default_factory=dict)

    def gid(self, key: str) -> str:
        kind = {1: "Community", 2: "Building", 3: "Unit"}[key.count("/") + 1]
        return encode_id(kind, self.ids[key])


async def make_place(
    runtime: Runtime,
    tenant: TenantFixture,
    layout: dict[str, dict[str, list[str]]],
    *,
    floors: int = 20,
    area: Decimal = Decimal("90"),
    **community: Any,
) -> Place:
    """``{"X": {"1号楼": ["101", "102"]}}`` -> community X, building 1号楼, rooms 101, 102
    (``community`` fields, e.g. an address, go to every community)."""
    place = Place()
    async with runtime.db.tenant_session(tenant.schema) as s:
        for cname, buildings in layout.items():
            c = Community(name=cname, **community)
            s.add(c)
            await s.flush()
            place.ids[cname] = c.id
            for bname, rooms in buildings.items():
                b = Building(community_id=c.id, name=bname, floors=floors)
                s.add(b)
                await s.flush()
                place.ids[f"{cname}/{bname}"] = b.id
                for room in rooms:
                    u = Unit(
                        community_id=c.id,
                        building_id=b.id,
                        floor=1,
                        room_no=room,
                        building_area=area,
                    )
                    s.add(u)
                    await s.flush()
                    place.ids[f"{cname}/{bname}/{room}"] = u.id
        await s.commit()
    return place


@dataclass
class Resident:
    user_id: int
    phone: str
    token: str

    @property
    def gid(self) -> str:
        return encode_id("User", self.user_id)


async def add_resident(
    api: Api, runtime: Runtime, tenant: TenantFixture, unit_id: int | None, **user: Any
) -> Resident:
    """A resident account living in ``unit_id`` (None: living nowhere), signed in."""
    phone = new_phone()
    async with runtime.db.tenant_session(tenant.schema) as s:
        account = await identity.create_user(
            s,
            kind="resident",
            name=user.pop("name", f"住户{secrets.token_hex(2)}"),
            phone=phone,
            role_keys=("resident",),
            password_hash=runtime.passwords.hash(TEST_PASSWORD),
            **user,
        )
        if unit_id is not None:
            unit = await s.get(Unit, unit_id)
            assert unit is not None
            person = Person(name=account.name, user_id=account.id, phone=phone)
            s.add(person)
            await s.flush()
            s.add(
                Occupancy(
                    community_id=unit.community_id,
                    unit_id=unit.id,
                    person_id=person.id,
                    relation="owner",
                )
            )
        await s.commit()
    token = str((await login(api, tenant.slug, phone))["accessToken"])
    return Resident(account.id, phone, token)


async def add_staff(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...],
    communities: tuple[int, ...] = (),
    all_communities: bool = True,
) -> Resident:
    a = await signed_in(
        api,
        runtime,
        tenant,
        roles=roles,
        communities=communities,
        all_communities=all_communities,
    )
    return Resident(a.user_id, a.phone, a.token)


async def drain(runtime: Runtime) -> None:
    """Run a worker until the queue is empty (outbox intents, fan-outs, deliveries)."""
    worker = create_worker(runtime.settings, runtime=runtime, burst=True, poll_delay=0.01)
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def set_module_config(
    runtime: Runtime, tenant: TenantFixture, module: str, config: dict[str, Any]
) -> None:
    """Switch ``module`` on with ``config``."""
    await switch_module(runtime, tenant, module, enabled=True, config=config)


async def switch_module(
    runtime: Runtime,
    tenant: TenantFixture,
    module: str,
    *,
    enabled: bool,
    config: dict[str, Any] | None = None,
) -> None:
    """Switch ``module`` on or off, as an operator would, and forget the cached tenant so
    the next request sees it."""
    async with runtime.db.shared_session() as s:
        await set_module(
            s,
            slug=tenant.slug,
            key=module,
            enabled=enabled,
            config=config,
            changed_by="tests",
            modules=runtime.modules,
        )
        await s.commit()
    runtime.directory.clear_local()


class WorkerProcesses:
    """Worker processes a test starts (and may kill), all writing to one log."""

    def __init__(self, log: IO[bytes]) -> None:
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, settings: Settings, script: Path, **env: str) -> subprocess.Popen[bytes]:
        """``script`` (which runs a worker) in a process of its own, on the database, Redis
        and queue of ``settings``."""
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env={
                **os.environ,
                "WUYE_ENV": "test",
                "WUYE_SECRET_KEY": settings.secret_key,
                "WUYE_DATABASE_URL": settings.database_url,
                "WUYE_REDIS_URL": settings.redis_url,
                "WUYE_QUEUE_NAME": settings.queue_name,
                "WUYE_REDIS_PREFIX": settings.redis_prefix,
                "WUYE_OUTBOX_SWEEP_AFTER_S": str(settings.outbox_sweep_after_s),
                **env,
            },
            cwd=tempfile.gettempdir(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc


@contextlib.contextmanager
def worker_processes(folder: Path) -> Iterator[WorkerProcesses]:
    """Start worker processes through the yielded object; when the block fails their output
    is printed, and whatever still runs at the end is killed."""
    with open(folder / "workers.log", "w+b") as log:
        workers = WorkerProcesses(log)
        try:
            yield workers
        except BaseException:
            log.seek(0)
            print(log.read().decode(errors="replace")[-5000:])
            raise
        finally:
            for proc in workers.procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = 10.0) -> Any:
    """``check()``'s first truthy answer, polled every 50 ms; fails after ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
