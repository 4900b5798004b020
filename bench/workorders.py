"""Benchmark: residents, customer service and workers driving work orders through GraphQL.

``--users`` concurrent simulated users (asyncio tasks, 50 by default) work one tenant with
the ``workorders`` module for ``--seconds`` (60): ~60% residents (each living in a unit of
their own) submit repairs, follow their active orders and rate the completed ones; ~10%
customer-service agents accept and dispatch from ``workOrders(status: ["submitted"])`` and
close the rated ones; ~30% workers confirm, start and complete from ``myWorkQueue``. Every
call is an HTTP GraphQL request against the real app, by default one uvicorn process on
loopback (graphql_overhead's server helper); ``--transport asgi`` runs it in this process
instead. Prints orders completed (closed) per second, and count / p50 / p99 per operation.

Expected races (two agents accepting the same order) answer INVALID_TRANSITION: counted as
conflicts, not errors. Any other GraphQL error is counted, and the first few are shown.
A sampler watches ``pg_stat_activity`` for backends waiting on a lock.

Uses its own fresh database (``WUYE_BENCH_DATABASE_URL`` / ``WUYE_BENCH_REDIS_URL``, or
embedded servers), dropped at the end. The last line printed is one JSON object.

    .venv/bin/python bench/workorders.py [--seconds 60] [--users 50] [--transport uvicorn]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from _common import (
    BENCH_ADMIN_PHONE,
    BENCH_PASSWORD,
    FAST_PASSWORDS,
    Services,
    _admin_url,
    bench_settings,
    cpu_seconds,
    emit_json,
    loop_name,
    mean,
    note,
    percentile,
    run_async,
    services,
    tenant_with_admin,
)
from graphql_overhead import start_server, wait_ready
from sqlalchemy import select, text

from wuye.app import create_app
from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.modules.estate.models import Building, Community, Occupancy, Person, Unit
from wuye.modules.workorders.models import Category
from wuye.runtime import Runtime
from wuye.settings import Settings

SLUG = "bench-workorders"
MAX_OPEN = 2  # a resident submits again once fewer of their orders are still open
RESIDENT_IDLE_S = 1.0  # a resident with nothing to do looks again after this
STAFF_IDLE_S = 0.5  # an agent or worker with an empty list looks again after this
DETAIL_SHARE = 0.2  # share of resident rounds that also open one order's timeline
DESK_PAGE = 20  # orders an agent lists per round; it takes its share of them (see ``share``)
DESK_TAKE = 3  # ... but at most this many per list, then it looks at its lists again
SOLO_ROUNDS = 3  # warm-up: orders driven through the whole flow one call at a time
ACTIVE = ["submitted", "accepted", "dispatched", "confirmed", "in_progress", "paused", "completed"]
NEXT_STEP = {"dispatched": "confirm", "confirmed": "start", "in_progress": "complete"}
CONFLICT = "INVALID_TRANSITION"
SHOW_ERRORS = 5

# --- GraphQL documents ---------------------------------------------------------------------

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken } }"""
CARD = """id number status type place contactName createdAt actions worker { id name }"""
SUBMIT = f"""mutation($i: SubmitWorkOrderInput!) {{ submitWorkOrder(input: $i) {{ {CARD} }} }}"""
MUTATIONS = {
    "accept": "acceptWorkOrder",
    "dispatch": "dispatchWorkOrder",
    "confirm": "confirmWorkOrder",
    "start": "startWorkOrder",
    "complete": "completeWorkOrder",
    "rate": "rateWorkOrder",
    "close": "closeWorkOrder",
}
STEP = {
    action: f"mutation($i: WorkOrderStepInput!) {{ {name}(input: $i) {{ {CARD} }} }}"
    for action, name in MUTATIONS.items()
}
QUEUE = (
    f"""query($first: Int) {{ myWorkQueue(first: $first) {{ edges {{ node {{ {CARD} }} }} }} }}"""
)
DESK_LIST = f"""query($status: [String!], $first: Int) {{
  workOrders(status: $status, first: $first) {{ edges {{ node {{ {CARD} }} }} }} }}"""
MY_ORDERS = f"""query($status: [String!], $first: Int) {{
  myWorkOrders(status: $status, first: $first) {{ edges {{ node {{ {CARD} }} }} }} }}"""
DETAIL = f"""query($id: ID!) {{ workOrder(id: $id) {{ {CARD} description arrivalAt feeFen rating
  events {{ action toStatus note at actor {{ name }} }} }} }}"""

# operation -> what it is, in table order
OPERATIONS = {
    "submit": "submitWorkOrder (resident)",
    "accept": "acceptWorkOrder (agent)",
    "dispatch": "dispatchWorkOrder (agent)",
    "confirm": "confirmWorkOrder (worker)",
    "start": "startWorkOrder (worker)",
    "complete": "completeWorkOrder (worker)",
    "rate": "rateWorkOrder (resident)",
    "close": "closeWorkOrder (agent)",
    "queue": "myWorkQueue (worker)",
    "desk_list": "workOrders(status) (agent)",
    "my_orders": "myWorkOrders (resident)",
    "detail": "workOrder(id) + events (resident)",
}
DESCRIPTIONS = ("厨房水管漏水", "卫生间灯不亮", "入户门锁卡住", "空调外机异响", "阳台地漏堵塞")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the run (60)")
    p.add_argument("--users", type=int, default=50, help="concurrent simulated users (50)")
    p.add_argument(
        "--transport",
        choices=["uvicorn", "asgi"],
        default="uvicorn",
        help="uvicorn: one server process on loopback (default); asgi: in this process",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed of the simulation (1)")
    a = p.parse_args()
    if a.seconds <= 0:
        p.error("--seconds must be positive")
    if a.users < 3:
        p.error("--users must be at least 3 (a resident, an agent and a worker)")
    return a


def crew_sizes(users: int) -> tuple[int, int, int]:
    """(residents, agents, workers): ~60% / ~10% / ~30%, at least one of each."""
    agents = max(1, round(users * 0.1))
    residents = max(1, min(users - agents - 1, round(users * 0.6)))
    return residents, agents, users - residents - agents


# --- the estate and its people -------------------------------------------------------------


@dataclass
class Member:
    user_id: int
    phone: str
    unit_gid: str = ""
    token: str = ""

    @property
    def gid(self) -> str:
        return encode_id("User", self.user_id)


@dataclass
class Crew:
    residents: list[Member]
    agents: list[Member]
    workers: list[Member]
    category_gids: list[str]


async def seed(runtime: Runtime, schema: str, sizes: tuple[int, int, int]) -> Crew:
    """One community, one unit and one resident account per resident, staff with roles."""
    n_residents, n_agents, n_workers = sizes
    password_hash = runtime.passwords.hash(BENCH_PASSWORD)
    crew = Crew([], [], [], [])
    async with runtime.db.tenant_session(schema) as s:
        community = Community(name="基准小区")
        s.add(community)
        await s.flush()
        building = Building(community_id=community.id, name="1号楼", floors=30)
        s.add(building)
        await s.flush()
        for i in range(1, n_residents + 1):
            unit = Unit(
                community_id=community.id,
                building_id=building.id,
                floor=(i - 1) // 4 + 1,
                room_no=f"{(i - 1) // 4 + 1}0{(i - 1) % 4 + 1}",
                building_area=Decimal("90"),
            )
            s.add(unit)
            phone = f"+86137{i:08d}"
            user = await identity.create_user(
                s,
                kind="resident",
                name=f"住户{i}",
                phone=phone,
                role_keys=("resident",),
                password_hash=password_hash,
            )
            person = Person(name=user.name, user_id=user.id, phone=phone)
            s.add(person)
            await s.flush()
            s.add(
                Occupancy(
                    community_id=community.id,
                    unit_id=unit.id,
                    person_id=person.id,
                    relation="owner",
                )
            )
            crew.residents.append(Member(user.id, phone, encode_id("Unit", unit.id)))
        for role, prefix, count, into in (
            ("customer_service", "+86136", n_agents, crew.agents),
            ("maintenance_worker", "+86135", n_workers, crew.workers),
        ):
            for i in range(1, count + 1):
                phone = f"{prefix}{i:08d}"
                user = await identity.create_user(
                    s,
                    kind="staff",
                    name=f"{'客服' if role == 'customer_service' else '维修工'}{i}",
                    phone=phone,
                    role_keys=(role,),
                    all_communities=True,
                    password_hash=password_hash,
                )
                await identity.set_user_scope(
                    s, user_id=user.id, all_communities=True, community_ids=()
                )
                into.append(Member(user.id, phone))
        # the default categories a resident may pick for a repair
        for c in await s.scalars(select(Category).where(Category.active).order_by(Category.id)):
            if not c.types or "repair" in c.types:
                crew.category_gids.append(encode_id("WorkOrderCategory", c.id))
        await s.commit()
    return crew


# --- the client: one HTTP GraphQL call, timed and classified -------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    conflicts: Counter[str] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    shown: list[str] = field(default_factory=list)
    requests: int = 0
    submitted_at: dict[str, float] = field(default_factory=dict)  # order id -> when
    flow_s: list[float] = field(default_factory=list)  # submit -> closed, per order
    closed_in_window: int = 0

    def error(self, op: str, code: str, detail: str) -> None:
        self.errors[(op, code)] += 1
        if len(self.shown) < SHOW_ERRORS:
            self.shown.append(f"{op}: {code}: {detail[:300]}")


class Client:
    def __init__(self, http: httpx.AsyncClient, tally: Tally) -> None:
        self.http = http
        self.tally = tally

    async def call(
        self, op: str, query: str, variables: dict[str, Any], token: str
    ) -> dict[str, Any] | None:
        """The data of one successful call; None after a conflict or an error (tallied)."""
        headers = {"x-tenant": SLUG, "authorization": f"Bearer {token}"}
        started = time.perf_counter()
        self.tally.requests += 1
        try:
            r = await self.http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body = r.json()
        except (httpx.HTTPError, ValueError) as err:
            self.tally.error(op, f"HTTP:{type(err).__name__}", str(err))
            return None
        elapsed = time.perf_counter() - started
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            codes = [(e.get("extensions") or {}).get("code") or "NO_CODE" for e in errors]
            if all(c == CONFLICT for c in codes):
                self.tally.conflicts[op] += 1
            else:
                code = next(c for c in codes if c != CONFLICT)
                self.tally.error(op, code, str(errors[0].get("message", errors[0])))
            return None
        if r.status_code != 200 or not isinstance(body.get("data"), dict):
            self.tally.error(op, f"HTTP_{r.status_code}", r.text)
            return None
        self.tally.latencies[op].append(elapsed)
        return body["data"]  # type: ignore[no-any-return]


def worker_step(action: str, order_id: str, rng: random.Random) -> dict[str, Any]:
    """A worker's step input, with the fields the step requires."""
    step: dict[str, Any] = {"id": order_id}
    if action == "confirm":
        arrival = datetime.now(UTC) + timedelta(minutes=rng.randint(30, 240))
        step.update(arrivalAt=arrival.isoformat(), feeFen=5000, feeStandard="上门费50元")
    elif action == "complete":
        step.update(
            note="更换角阀",
            materials=[{"name": "角阀", "quantity": 1, "unit": "个", "priceFen": 3500}],
        )
    return step


def nodes(data: dict[str, Any], root: str) -> list[dict[str, Any]]:
    return [e["node"] for e in data[root]["edges"]]


# --- the simulated users -------------------------------------------------------------------


class Sim:
    def __init__(self, client: Client, crew: Crew, seconds: float, rng: random.Random) -> None:
        self.c = client
        self.crew = crew
        self.rng = rng
        self.started = time.perf_counter()
        self.deadline = self.started + seconds
        self._workers = itertools.cycle([w.gid for w in crew.workers])

    def share(self, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An agent's pick from a list every agent sees: a random 1/agents of it (at least
        one, at most DESK_TAKE). Agents still collide now and then, as people at one desk
        do, but do not all race for every order of the page."""
        k = min(len(listed), DESK_TAKE, max(1, -(-len(listed) // len(self.crew.agents))))
        return self.rng.sample(listed, k)

    def done(self) -> bool:
        return time.perf_counter() >= self.deadline

    async def idle(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.deadline - time.perf_counter())))

    async def resident(self, me: Member) -> None:
        c, rng = self.c, self.rng
        while not self.done():
            data = await c.call("my_orders", MY_ORDERS, {"status": ACTIVE, "first": 20}, me.token)
            if data is None:
                await self.idle(RESIDENT_IDLE_S)
                continue
            mine = nodes(data, "myWorkOrders")
            acted = False
            for order in mine:
                if order["status"] == "completed" and not self.done():
                    step = {"id": order["id"], "rating": rng.randint(3, 5), "comment": "师傅很专业"}
                    await c.call("rate", STEP["rate"], {"i": step}, me.token)
                    acted = True
            still_open = sum(1 for o in mine if o["status"] != "completed")
            if still_open < MAX_OPEN and not self.done():
                new = {
                    "type": "repair",
                    "description": rng.choice(DESCRIPTIONS),
                    "unitId": me.unit_gid,
                    **(
                        {"categoryId": rng.choice(self.crew.category_gids)}
                        if self.crew.category_gids
                        else {}
                    ),
                }
                done = await c.call("submit", SUBMIT, {"i": new}, me.token)
                if done is not None:
                    self.c.tally.submitted_at[done["submitWorkOrder"]["id"]] = time.perf_counter()
                acted = True
            if mine and rng.random() < DETAIL_SHARE and not self.done():
                await c.call("detail", DETAIL, {"id": rng.choice(mine)["id"]}, me.token)
            if not acted:
                await self.idle(RESIDENT_IDLE_S)

    async def agent(self, me: Member) -> None:
        c, tally = self.c, self.c.tally
        while not self.done():
            acted = False
            data = await c.call(
                "desk_list", DESK_LIST, {"status": ["rated"], "first": 20}, me.token
            )
            rated = self.share(nodes(data, "workOrders") if data else [])
            for order in rated:
                if self.done():
                    break
                acted = True
                if await c.call("close", STEP["close"], {"i": {"id": order["id"]}}, me.token):
                    now = time.perf_counter()
                    if now <= self.deadline:
                        tally.closed_in_window += 1
                    if order["id"] in tally.submitted_at:
                        tally.flow_s.append(now - tally.submitted_at.pop(order["id"]))
            if self.done():
                break
            variables = {"status": ["submitted"], "first": DESK_PAGE}
            data = await c.call("desk_list", DESK_LIST, variables, me.token)
            submitted = self.share(nodes(data, "workOrders") if data else [])
            for order in submitted:
                if self.done():
                    break
                acted = True
                step = {"id": order["id"]}
                if await c.call("accept", STEP["accept"], {"i": step}, me.token) is None:
                    continue  # another agent took it (a conflict), or an error
                step = {"id": order["id"], "workerId": next(self._workers)}
                await c.call("dispatch", STEP["dispatch"], {"i": step}, me.token)
            if not acted:
                await self.idle(STAFF_IDLE_S)

    async def worker(self, me: Member) -> None:
        c, rng = self.c, self.rng
        while not self.done():
            data = await c.call("queue", QUEUE, {"first": 20}, me.token)
            queue = (
                [o for o in nodes(data, "myWorkQueue") if o["status"] in NEXT_STEP] if data else []
            )
            if not queue:
                await self.idle(STAFF_IDLE_S)
                continue
            order = queue[-1]  # newest first: the oldest is last
            status = order["status"]
            while status in NEXT_STEP and not self.done():
                action = NEXT_STEP[status]
                step = worker_step(action, order["id"], rng)
                done = await c.call(action, STEP[action], {"i": step}, me.token)
                if done is None:
                    break
                status = done[MUTATIONS[action]]["status"]

    async def guarded(
        self, role: Callable[[Member], Coroutine[Any, Any, None]], me: Member
    ) -> None:
        """A user whose client code failed (a bug here, a surprising answer) starts over."""
        while not self.done():
            try:
                await role(me)
            except Exception as err:  # counted and shown; the run goes on
                self.c.tally.error(role.__name__, f"CLIENT:{type(err).__name__}", repr(err))
                await self.idle(STAFF_IDLE_S)


# --- lock contention: who waits on a lock, sampled from pg_stat_activity --------------------

WAITING = """SELECT wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND state = 'active' AND wait_event_type = 'Lock'"""
DB_STATS = """SELECT xact_commit, xact_rollback, deadlocks
  FROM pg_stat_database WHERE datname = current_database()"""


@dataclass
class LockSamples:
    samples: int = 0
    with_waiters: int = 0
    waiters: list[int] = field(default_factory=list)
    queries: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    db_before: tuple[int, int, int] = (0, 0, 0)
    db_after: tuple[int, int, int] = (0, 0, 0)


async def sample_locks(url: str, out: LockSamples, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        out.db_before = (await (await conn.execute(DB_STATS)).fetchone()) or (0, 0, 0)
        while not stop.is_set():
            rows = await (await conn.execute(WAITING)).fetchall()
            out.samples += 1
            out.waiters.append(len(rows))
            if rows:
                out.with_waiters += 1
            for event, query in rows:
                out.events[event] += 1
                out.queries[query] += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
        out.db_after = (await (await conn.execute(DB_STATS)).fetchone()) or (0, 0, 0)


# --- the run -------------------------------------------------------------------------------


async def sign_in(http: httpx.AsyncClient, people: list[Member]) -> None:
    async def one(p: Member) -> None:
        variables = {"i": {"identifier": p.phone, "password": BENCH_PASSWORD}}
        r = await http.post(
            "/graphql", json={"query": LOGIN, "variables": variables}, headers={"x-tenant": SLUG}
        )
        body = r.json()
        if "errors" in body:
            raise SystemExit(f"sign-in of {p.phone} failed: {body['errors']}")
        p.token = body["data"]["login"]["accessToken"]

    await asyncio.gather(*(one(p) for p in people))


async def solo_flow(http: httpx.AsyncClient, crew: Crew) -> dict[str, float]:
    """Before the load: SOLO_ROUNDS orders driven through the whole flow one call at a time.
    Warms the server (connections, document and statement caches) and gives each
    operation's latency without any queueing (median, ms)."""
    tally = Tally()
    c, rng = Client(http, tally), random.Random(0)
    resident, agent, worker = crew.residents[0], crew.agents[0], crew.workers[0]
    for _ in range(SOLO_ROUNDS):
        new = {"type": "repair", "description": "水龙头滴水", "unitId": resident.unit_gid}
        data = await c.call("submit", SUBMIT, {"i": new}, resident.token)
        if data is None:
            break
        oid = data["submitWorkOrder"]["id"]
        desk = {"status": ["submitted"], "first": DESK_PAGE}
        await c.call("desk_list", DESK_LIST, desk, agent.token)
        await c.call("accept", STEP["accept"], {"i": {"id": oid}}, agent.token)
        step = {"id": oid, "workerId": worker.gid}
        await c.call("dispatch", STEP["dispatch"], {"i": step}, agent.token)
        await c.call("queue", QUEUE, {"first": 20}, worker.token)
        for action in ("confirm", "start", "complete"):
            await c.call(action, STEP[action], {"i": worker_step(action, oid, rng)}, worker.token)
        await c.call("my_orders", MY_ORDERS, {"status": ACTIVE, "first": 20}, resident.token)
        step = {"id": oid, "rating": 5, "comment": "很快"}
        await c.call("rate", STEP["rate"], {"i": step}, resident.token)
        await c.call("close", STEP["close"], {"i": {"id": oid}}, agent.token)
        await c.call("detail", DETAIL, {"id": oid}, resident.token)
    if tally.errors or tally.conflicts:
        raise SystemExit(f"the warm-up flow failed: {tally.shown or dict(tally.conflicts)}")
    return {op: statistics.median(lat) * 1000 for op, lat in tally.latencies.items()}


@dataclass
class Measured:
    tally: Tally
    locks: LockSamples
    solo_ms: dict[str, float]  # each operation alone, before the load (median)
    elapsed: float  # the load, until the last user stopped
    server_cpu_s: float  # the server process (uvicorn), or this whole process (asgi)
    client_cpu_s: float  # this process (uvicorn only; asgi: 0, it is in server_cpu_s)
    load_before: float  # 1-minute load average of the machine
    load_after: float
    by_status: dict[str, int] = field(default_factory=dict)
    odd_closed: int = 0


async def simulate(
    http: httpx.AsyncClient, crew: Crew, args: argparse.Namespace, db_url: str, server_pid: int
) -> Measured:
    await sign_in(http, crew.residents + crew.agents + crew.workers)
    solo = await solo_flow(http, crew)
    note(f"running {args.users} users for {args.seconds:g} s ...")
    tally, locks, stop = Tally(), LockSamples(), asyncio.Event()
    sampler = asyncio.create_task(sample_locks(db_url, locks, stop))
    load_before = os.getloadavg()[0]
    own_cpu = time.process_time()
    server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
    sim = Sim(Client(http, tally), crew, args.seconds, random.Random(args.seed))
    users = (
        [sim.guarded(sim.resident, p) for p in crew.residents]
        + [sim.guarded(sim.agent, p) for p in crew.agents]
        + [sim.guarded(sim.worker, p) for p in crew.workers]
    )
    await asyncio.gather(*users)
    elapsed = time.perf_counter() - sim.started
    own_cpu = time.process_time() - own_cpu
    server_cpu = cpu_seconds(server_pid) - server_cpu if server_pid else own_cpu
    stop.set()
    await sampler
    return Measured(
        tally,
        locks,
        solo,
        elapsed,
        server_cpu_s=server_cpu,
        client_cpu_s=own_cpu if server_pid else 0.0,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


async def order_summary(runtime: Runtime, schema: str) -> tuple[dict[str, int], int]:
    """(orders by status, closed orders whose timeline is not the 8 steps of the flow)."""
    async with runtime.db.tenant_session(schema) as s:
        by_status = {
            str(r[0]): int(r[1])
            for r in await s.execute(
                text("SELECT status, count(*) FROM work_orders GROUP BY status ORDER BY 2 DESC")
            )
        }
        odd = await s.scalar(
            text(
                """SELECT count(*) FROM work_orders o WHERE o.status = 'closed'
                   AND (SELECT count(*) FROM wo_events e WHERE e.order_id = o.id) <> 8"""
            )
        )
    return by_status, int(odd or 0)


def http_client(**kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=60, **kw)


async def run(svc: Services, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    runtime = Runtime.create(
        settings, database_url=svc.database_url, redis_url=svc.redis_url, passwords=FAST_PASSWORDS
    )
    server = None
    try:
        schema = await tenant_with_admin(runtime, SLUG, modules=("workorders",))
        sizes = crew_sizes(args.users)
        crew = await seed(runtime, schema, sizes)
        note(
            f"seeded {sizes[0]} residents (a unit each), {sizes[1]} customer-service agents, "
            f"{sizes[2]} workers; {len(crew.category_gids)} repair categories"
        )
        limits = httpx.Limits(max_connections=args.users + 5, max_keepalive_connections=args.users)
        if args.transport == "uvicorn":
            config = {
                "database_url": svc.database_url,
                "redis_url": svc.redis_url,
                "settings": settings.model_dump(mode="json"),
            }
            server = start_server("graphql", config)
            login = {"identifier": BENCH_ADMIN_PHONE, "password": BENCH_PASSWORD}
            await wait_ready(
                server, {"query": LOGIN, "variables": {"i": login}}, {"x-tenant": SLUG}
            )
            http = http_client(base_url=f"http://127.0.0.1:{server.port}", limits=limits)
            note(
                f"transport: HTTP/1.1 to one uvicorn process on 127.0.0.1:{server.port} "
                f"(graphql_overhead's server helper, {loop_name()}); httpx client in this "
                f"process, up to {args.users} keep-alive connections"
            )
        else:
            transport = httpx.ASGITransport(app=create_app(runtime))
            http = http_client(base_url="http://bench", transport=transport)
            note("transport: in-process httpx.ASGITransport (app and client share this process)")
        note(
            f"server: db pool {settings.db_pool_size} + {settings.db_max_overflow} overflow, "
            f"statement timeout {settings.statement_timeout_ms} ms; no arq worker running; "
            f"{os.cpu_count()} CPUs"
        )
        note(
            f"users poll when idle: residents every {RESIDENT_IDLE_S:g} s (at most {MAX_OPEN} "
            f"open orders each), agents and workers every {STAFF_IDLE_S:g} s"
        )
        async with http:
            measured = await simulate(
                http, crew, args, _admin_url(svc.database_url), server.proc.pid if server else 0
            )
        if server is not None:
            server.stop()
            server = None
        measured.by_status, measured.odd_closed = await order_summary(runtime, schema)
        return report(args, sizes, measured)
    finally:
        if server is not None:
            server.stop()
        await runtime.close()


def report(args: argparse.Namespace, sizes: tuple[int, int, int], m: Measured) -> dict[str, Any]:
    tally, locks, elapsed, ms = m.tally, m.locks, m.elapsed, 1000.0
    note("")
    note(
        f"{'operation':<36}{'ok':>7}{'confl.':>7}{'errors':>7}{'per s':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'alone ms':>10}"
    )
    figures: dict[str, Any] = {}
    for op, label in OPERATIONS.items():
        lat = tally.latencies.get(op, [])
        errors = sum(n for (o, _), n in tally.errors.items() if o == op)
        p50, p99 = percentile(lat, 50) * ms, percentile(lat, 99) * ms
        solo = m.solo_ms.get(op, 0.0)
        note(
            f"{label:<36}{len(lat):>7}{tally.conflicts[op]:>7}{errors:>7}"
            f"{len(lat) / elapsed:>8.1f}{p50:>9.1f}{p99:>9.1f}{max(lat, default=0) * ms:>9.1f}"
            f"{solo:>10.1f}"
        )
        figures[f"{op}_count"] = len(lat)
        figures[f"{op}_p50_ms"] = round(p50, 1)
        figures[f"{op}_p99_ms"] = round(p99, 1)
        figures[f"{op}_alone_ms"] = round(solo, 1)
    note(f"  (alone: median of {SOLO_ROUNDS} orders driven one call at a time before the load)")
    all_lat = [x for v in tally.latencies.values() for x in v]
    conflicts, errors = sum(tally.conflicts.values()), sum(tally.errors.values())
    closed = tally.closed_in_window
    flow50, flow99 = percentile(tally.flow_s, 50), percentile(tally.flow_s, 99)
    note("")
    note(
        f"orders closed within {args.seconds:g} s: {closed} -> {closed / args.seconds:.2f} "
        f"orders completed/s (submit -> closed: p50 {flow50:.2f} s, p99 {flow99:.2f} s)"
    )
    note(
        f"requests: {tally.requests} in {elapsed:.1f} s = {tally.requests / elapsed:.0f}/s; "
        f"all ok: p50 {percentile(all_lat, 50) * ms:.1f} ms, "
        f"p99 {percentile(all_lat, 99) * ms:.1f} ms, mean {mean(all_lat) * ms:.1f} ms"
    )
    per_request = m.server_cpu_s * ms / max(tally.requests, 1)
    if args.transport == "uvicorn":
        note(
            f"CPU: server {m.server_cpu_s / elapsed * 100:.0f}% of one core "
            f"({per_request:.2f} ms/request), client {m.client_cpu_s / elapsed * 100:.0f}%; "
            f"machine load average {m.load_before:.1f} -> {m.load_after:.1f}"
        )
    else:
        note(
            f"CPU: this process (app + client) {m.server_cpu_s / elapsed * 100:.0f}% of one "
            f"core ({per_request:.2f} ms/request); machine load average "
            f"{m.load_before:.1f} -> {m.load_after:.1f}"
        )
    note(f"orders by status at the end (incl. {SOLO_ROUNDS} warm-up orders): {m.by_status}")
    if m.odd_closed:
        note(f"  !! {m.odd_closed} closed orders do not have the 8 events of the full flow")
    note(f"conflicts (expected races, {CONFLICT}): {conflicts} {dict(tally.conflicts)}")
    note(f"unexpected errors: {errors}")
    for (op, code), n in tally.errors.most_common():
        note(f"  {op:<12} {code:<28} {n}")
    for line in tally.shown:
        note(f"  e.g. {line}")
    commits, rollbacks, deadlocks = (
        a - b for a, b in zip(locks.db_after, locks.db_before, strict=True)
    )
    waiting_pct = locks.with_waiters * 100 / max(locks.samples, 1)
    note(
        f"lock waits: {locks.with_waiters} of {locks.samples} samples ({waiting_pct:.0f}%) had a "
        f"backend waiting on a lock; most at once {max(locks.waiters, default=0)}, "
        f"mean {mean(locks.waiters):.2f}; {dict(locks.events)}"
    )
    for query, n in locks.queries.most_common(3):
        note(f"  {n:>5} x {query}")
    note(
        f"database: {commits / elapsed:.0f} commits/s, {rollbacks} rollbacks, {deadlocks} deadlocks"
    )
    return {
        "orders_completed_per_s": round(closed / args.seconds, 2),
        "orders_closed": closed,
        "orders_submitted": figures["submit_count"],
        "flow_p50_s": round(flow50, 2),
        "flow_p99_s": round(flow99, 2),
        **figures,
        "requests_per_s": round(tally.requests / elapsed, 1),
        "conflicts": conflicts,
        "errors": errors,
        "server_cpu_ms_per_request": round(per_request, 3),
        "server_cpu_pct": round(m.server_cpu_s / elapsed * 100, 1),
        "client_cpu_pct": round(m.client_cpu_s / elapsed * 100, 1),
        "load_avg": round(max(m.load_before, m.load_after), 2),
        "lock_wait_sample_pct": round(waiting_pct, 1),
        "lock_waiters_max": max(locks.waiters, default=0),
        "deadlocks": deadlocks,
        "users": args.users,
        "residents": sizes[0],
        "agents": sizes[1],
        "workers": sizes[2],
        "seconds": args.seconds,
        "transport": args.transport,
        "loop": loop_name(),
    }


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    with services() as svc:
        settings = bench_settings(access_token_ttl_s=24 * 3600)
        figures = run_async(lambda: run(svc, settings, args))
    emit_json(figures)


if __name__ == "__main__":
    main()
