"""Helpers for the property tests: staff accounts, estate data written straight into the
tenant schema (fast), GraphQL documents, statement counting and error assertions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from conftest import Api, TenantFixture, new_phone, signed_in
from sqlalchemy import func, insert, select

from wuye.graphql.ids import encode_id
from wuye.modules.estate.models import (
    Building,
    Community,
    Occupancy,
    Person,
    Unit,
)
from wuye.runtime import Runtime

UNIT_FIELDS = """id roomNo floor entrance layout buildingArea innerArea propertyType status
  building { id name floors entrances } community { id name }
  residents { personId name phone relation isPrimary }
  statusHistory { fromStatus toStatus reason changedAt }"""
UNITS = f"""query($first: Int, $after: String, $c: ID, $b: ID, $status: String, $search: String) {{
  units(first: $first, after: $after, communityId: $c, buildingId: $b, status: $status,
    search: $search) {{
    edges {{ cursor node {{ {UNIT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}
    totalCount }} }}"""
UNIT = f"query($id: ID!) {{ unit(id: $id) {{ {UNIT_FIELDS} }} }}"
COMMUNITY_FIELDS = """id name address district latitude longitude areaM2 hotline createdAt
  profile { intro serviceItems { name standard } prices { item amountFen unit }
    contacts { role name phone } }"""
COMMUNITIES = f"""query($search: String) {{ communities(first: 100, search: $search) {{
  edges {{ node {{ {COMMUNITY_FIELDS} }} }} totalCount }} }}"""
COMMUNITY = f"query($id: ID!) {{ community(id: $id) {{ {COMMUNITY_FIELDS} }} }}"
BUILDINGS = """query($c: ID) { buildings(communityId: $c, first: 100) {
  edges { node { id name floors entrances community { id name } } } totalCount } }"""
BUILDING = "query($id: ID!) { building(id: $id) { id name floors entrances } }"
PARKING_LOTS = """query($c: ID) { parkingLots(communityId: $c) {
  edges { node { id name community { id } } } totalCount } }"""
SPACES = """query($c: ID, $lot: ID, $status: String) {
  parkingSpaces(communityId: $c, lotId: $lot, status: $status, first: 100) {
  edges { node { id number kind status monthlyRentFen lotId communityId } } totalCount } }"""
VEHICLES = """query($search: String, $c: ID) { vehicles(search: $search, communityId: $c) {
  edges { node { id plate newEnergy personId communityId } } totalCount } }"""

CREATE_COMMUNITY = f"""mutation($i: CreateCommunityInput!) {{
  createCommunity(input: $i) {{ {COMMUNITY_FIELDS} }} }}"""
UPDATE_COMMUNITY = f"""mutation($i: UpdateCommunityInput!) {{
  updateCommunity(input: $i) {{ {COMMUNITY_FIELDS} }} }}"""
CREATE_BUILDING = """mutation($i: CreateBuildingInput!) { createBuilding(input: $i) {
  id name floors entrances community { id name } } }"""
UPDATE_BUILDING = """mutation($i: UpdateBuildingInput!) { updateBuilding(input: $i) {
  id name floors entrances } }"""
CREATE_UNIT = f"""mutation($i: CreateUnitInput!) {{ createUnit(input: $i) {{ {UNIT_FIELDS} }} }}"""
UPDATE_UNIT = f"""mutation($i: UpdateUnitInput!) {{ updateUnit(input: $i) {{ {UNIT_FIELDS} }} }}"""
CHANGE_STATUS = f"""mutation($i: ChangeUnitStatusInput!) {{
  changeUnitStatus(input: $i) {{ {UNIT_FIELDS} }} }}"""
CREATE_LOT = """mutation($i: CreateParkingLotInput!) { createParkingLot(input: $i) {
  id name community { id } } }"""
CREATE_SPACE = """mutation($i: CreateParkingSpaceInput!) { createParkingSpace(input: $i) {
  id number kind status monthlyRentFen lotId communityId } }"""
ASSIGN = """mutation($i: AssignParkingSpaceInput!) { assignParkingSpace(input: $i) {
  id spaceId unitId personId startsOn endsOn monthlyRentFen } }"""
END_ASSIGNMENT = """mutation($i: EndParkingAssignmentInput!) { endParkingAssignment(input: $i) {
  id spaceId endsOn } }"""
REGISTER_VEHICLE = """mutation($i: RegisterVehicleInput!) { registerVehicle(input: $i) {
  id plate newEnergy personId communityId } }"""
REMOVE_VEHICLE = """mutation($i: VehicleIdInput!) { removeVehicle(input: $i) {
  id plate } }"""


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def error(body: dict[str, Any]) -> dict[str, Any]:
    """The extensions of the one error of a response (and no data)."""
    assert len(body.get("errors", [])) == 1, body
    return body["errors"][0]["extensions"]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


async def staff(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...] = ("manager",),
    communities: tuple[int, ...] | None = None,
    kind: str = "staff",
) -> str:
    """A signed-in account's access token: ``communities`` None = every community."""
    account = await signed_in(
        api,
        runtime,
        tenant,
        kind=kind,
        roles=roles,
        all_communities=communities is None,
        communities=communities or (),
    )
    return account.token


@dataclass
class Estate:
    """Ids of estate rows written for a test."""

    community_id: int
    building_id: int
    unit_ids: list[int]
    person_ids: list[int]

    @property
    def community(self) -> str:
        return gid("Community", self.community_id)

    @property
    def building(self) -> str:
        return gid("Building", self.building_id)

    def unit(self, i: int = 0) -> str:
        return gid("Unit", self.unit_ids[i])

    def person(self, i: int = 0) -> str:
        return gid("Person", self.person_ids[i])


async def seed_estate(
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    units: int = 3,
    residents_per_unit: int = 0,
    name: str | None = None,
    building: str = "1号楼",
) -> Estate:
    """A community with one building of ``units`` units (and residents), by bulk inserts."""
    async with runtime.db.tenant_session(tenant.schema) as s:
        community = Community(name=name or f"小区{secrets.token_hex(3)}", hotline="400-800-1234")
        s.add(community)
        await s.flush()
        b = Building(community_id=community.id, name=building, floors=30, entrances=2)
        s.add(b)
        await s.flush()
        unit_ids = list(
            await s.scalars(
                insert(Unit).returning(Unit.id),
                [
                    {
                        "community_id": community.id,
                        "building_id": b.id,
                        "room_no": f"{1 + i // 10}-{(i % 10) + 1:02d}{i:04d}",
                        "floor": 1 + (i % 30),
                        "building_area": Decimal("89.50"),
                    }
                    for i in range(units)
                ],
            )
        )
        person_ids: list[int] = []
        if residents_per_unit:
            rows = [
                {"name": f"住户{u}-{k}", "phone": new_phone()}
                for u in range(units)
                for k in range(residents_per_unit)
            ]
            person_ids = list(await s.scalars(insert(Person).returning(Person.id), rows))
            await s.execute(
                insert(Occupancy),
                [
                    {
                        "community_id": community.id,
                        "unit_id": unit_ids[n // residents_per_unit],
                        "person_id": pid,
                        "relation": "owner" if n % residents_per_unit == 0 else "family",
                        "is_primary": n % residents_per_unit == 0,
                    }
                    for n, pid in enumerate(person_ids)
                ],
            )
        await s.commit()
        return Estate(community.id, b.id, unit_ids, person_ids)


async def count_rows(runtime: Runtime, tenant: TenantFixture, model: Any) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)
