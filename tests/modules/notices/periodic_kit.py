"""Helpers for the periodic-message tests: a tenant with the notices module, buildings 3 and
5 with residents, staff, the job run at a chosen "now", inbox rows, GraphQL documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from conftest import Api, TenantFixture, login, make_tenant, new_phone, signed_in
from sqlalchemy import select

from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.modules.estate.models import Building, Community, Occupancy, Person, Unit
from wuye.modules.notices.jobs import send_periodic_messages
from wuye.modules.notices.models import PeriodicMessage
from wuye.notify.models import Message
from wuye.runtime import Runtime

FIELDS = """id name title body rule audience targets { kind refId } channels active
  nextRunAt lastRunAt lastRunCount"""
CREATE = f"""mutation($i: CreatePeriodicMessageInput!) {{
  createPeriodicMessage(input: $i) {{ {FIELDS} }} }}"""
UPDATE = f"""mutation($i: UpdatePeriodicMessageInput!) {{
  updatePeriodicMessage(input: $i) {{ {FIELDS} }} }}"""
PAUSE = f"""mutation($i: PeriodicMessageIdInput!) {{
  pausePeriodicMessage(input: $i) {{ {FIELDS} }} }}"""
RESUME = f"""mutation($i: PeriodicMessageIdInput!) {{
  resumePeriodicMessage(input: $i) {{ {FIELDS} }} }}"""
DELETE = "mutation($i: PeriodicMessageIdInput!) { deletePeriodicMessage(input: $i) }"
ONE = f"""query($id: ID!, $n: Int!) {{ periodicMessage(id: $id) {{ {FIELDS} preview(count: $n)
  }} }}"""
LIST = f"""query($active: Boolean) {{ periodicMessages(active: $active) {{ totalCount
  edges {{ node {{ {FIELDS} }} }} }} }}"""


def failure(body: dict[str, Any]) -> tuple[str, str | None]:
    """(code, field) of the one error of a response."""
    assert len(body.get("errors", [])) == 1, body
    ext = body["errors"][0].get("extensions", {})
    return ext.get("code"), ext.get("field")


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


@dataclass
class World:
    """One tenant: community 阳光花园 with buildings 3号楼 and 5号楼, one unit each."""

    tenant: TenantFixture
    admin: str  # access token
    community: int
    buildings: dict[str, int] = field(default_factory=dict)  # "3" / "5" -> id
    units: dict[str, int] = field(default_factory=dict)  # "3" / "5" -> id

    def target(self, kind: str, pk: int | None = None) -> dict[str, Any]:
        ref = None if pk is None else encode_id(kind.capitalize(), pk)
        return {"kind": kind, "refId": ref}

    def building(self, name: str) -> dict[str, Any]:
        return self.target("building", self.buildings[name])


async def make_world(runtime: Runtime, api: Api) -> World:
    tenant = await make_tenant(runtime, modules=("notices",))
    token = (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
    async with runtime.db.tenant_session(tenant.schema) as s:
        c = Community(name="阳光花园", address="阳光路1号", hotline="400-800-0000")
        s.add(c)
        await s.flush()
        world = World(tenant, token, c.id)
        for name in ("3", "5"):
            b = Building(community_id=c.id, name=f"{name}号楼", floors=10)
            s.add(b)
            await s.flush()
            u = Unit(
                community_id=c.id,
                building_id=b.id,
                floor=1,
                room_no=f"{name}01",
                building_area=Decimal("90"),
            )
            s.add(u)
            await s.flush()
            world.buildings[name], world.units[name] = b.id, u.id
        await s.commit()
    return world


async def add_resident(
    runtime: Runtime, world: World, building: str, name: str, birth_date: date | None = None
) -> int:
    """An active resident account living in the unit of ``building``: its user id."""
    async with runtime.db.tenant_session(world.tenant.schema) as s:
        user = await identity.create_user(
            s, kind="resident", name=f"账号{name}", phone=new_phone(), role_keys=["resident"]
        )
        person = Person(name=name, user_id=user.id, birth_date=birth_date)
        s.add(person)
        await s.flush()
        unit = world.units[building]
        s.add(
            Occupancy(
                community_id=world.community, unit_id=unit, person_id=person.id, relation="owner"
            )
        )
        await s.commit()
        return user.id


async def resident_token(runtime: Runtime, api: Api, world: World) -> str:
    account = await signed_in(api, runtime, world.tenant, kind="resident", roles=("resident",))
    return account.token


async def staff_token(
    runtime: Runtime,
    api: Api,
    world: World,
    *,
    roles: tuple[str, ...],
    communities: tuple[int, ...] = (),
    all_communities: bool = False,
) -> str:
    account = await signed_in(
        api,
        runtime,
        world.tenant,
        roles=roles,
        communities=communities,
        all_communities=all_communities,
    )
    return account.token


async def create(api: Api, world: World, **fields: Any) -> dict[str, Any]:
    i = {
        "name": "月度提醒",
        "title": "缴费提醒",
        "body": "请按时缴纳物业费",
        "rule": "0 9 1 * *",
        "targets": [world.target("tenant")],
        "channels": [],
        **fields,
    }
    body = await api(CREATE, {"i": i}, tenant=world.tenant.slug, token=world.admin)
    return ok(body)["createPeriodicMessage"]


async def run_job(runtime: Runtime, slug: str, now: datetime) -> Any:
    """The tenant job as a worker runs it (wrapper: tenant checks, routing, commit)."""
    return await send_periodic_messages({"runtime": runtime}, slug, now=now)


async def set_due(runtime: Runtime, schema: str, pk: int, at: datetime) -> None:
    async with runtime.db.tenant_session(schema) as s:
        row = await s.get(PeriodicMessage, pk)
        assert row is not None
        row.next_run_at = at
        await s.commit()


async def row(runtime: Runtime, schema: str, pk: int) -> PeriodicMessage:
    async with runtime.db.tenant_session(schema) as s:
        found = await s.get(PeriodicMessage, pk)
        assert found is not None
        return found


async def inbox(runtime: Runtime, schema: str, source: str | None = None) -> list[Message]:
    """Inbox rows of the schema, of ``source`` (default: any periodic message)."""
    async with runtime.db.tenant_session(schema) as s:
        where = Message.source == source if source else Message.source.like("periodic:%")
        return list(
            await s.scalars(
                select(Message).where(Message.channel == "inbox", where).order_by(Message.id)
            )
        )


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(birth: str, serial: str = "123") -> str:
    """An 18-digit resident ID with a valid checksum, born ``birth`` (YYYYMMDD, unchecked)."""
    body = "110105" + birth + serial
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]
