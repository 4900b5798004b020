"""Helpers for the residents tests: estate rows written straight into a tenant schema,
accounts, a resident signed up over GraphQL, and the GraphQL documents used."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from conftest import TEST_PASSWORD, Api, TenantFixture, new_phone, signed_in
from kit import make_place

from wuye.graphql.ids import encode_id
from wuye.runtime import Runtime

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body: str | None = None) -> str:
    """A valid 18-character resident ID (checksum computed)."""
    body = body or "110105" + "19800101" + f"{secrets.randbelow(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors", [])) == 1, body
    return body["errors"][0]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


@dataclass
class Estate:
    """Communities, each with buildings, each with units (global ids by name)."""

    communities: dict[str, int] = field(default_factory=dict)
    buildings: dict[str, int] = field(default_factory=dict)  # "<community>/<building>"
    units: dict[str, int] = field(default_factory=dict)  # "<community>/<building>/<room>"

    def cid(self, community: str) -> str:
        return encode_id("Community", self.communities[community])

    def bid(self, key: str) -> str:
        return encode_id("Building", self.buildings[key])

    def uid(self, key: str) -> str:
        return encode_id("Unit", self.units[key])


async def make_estate(
    runtime: Runtime, tenant: TenantFixture, layout: dict[str, dict[str, list[str]]]
) -> Estate:
    """``{"X": {"1号楼": ["101", "102"]}}`` -> community X, building 1号楼, rooms 101, 102;
    each community with an address, a hotline and a published profile."""
    place = await make_place(
        runtime,
        tenant,
        layout,
        floors=30,
        area=Decimal("89.50"),
        address="幸福路1号",
        hotline="400-800-0000",
        profile={"services": ["保洁", "安保"], "fees": {"物业费": "2.5元/m²"}},
    )
    estate = Estate()
    for key, row_id in place.ids.items():
        by_depth = (estate.communities, estate.buildings, estate.units)
        by_depth[key.count("/")][key] = row_id
    return estate


async def staff(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...],
    communities: tuple[int, ...] = (),
    all_communities: bool = False,
) -> str:
    """A signed-in staff account with ``roles``, scoped to ``communities``: its access token."""
    account = await signed_in(
        api,
        runtime,
        tenant,
        roles=roles,
        communities=communities,
        all_communities=all_communities,
    )
    return account.token


REGISTER = """mutation($i: RegisterResidentInput!) { registerResident(input: $i) {
  accessToken refreshToken expiresIn user { id kind name roles { key } } } }"""


async def register(api: Api, tenant: TenantFixture, name: str = "张三") -> tuple[str, str]:
    """A resident signed up through the API: (access token, phone)."""
    phone = new_phone()
    body = await api(
        REGISTER,
        {"i": {"phone": phone, "password": TEST_PASSWORD, "name": name}},
        tenant=tenant.slug,
    )
    return ok(body)["registerResident"]["accessToken"], phone


PERSON_FIELDS = """id name phone idNumber hasAppAccount
  occupancies { id relation isPrimary moveInOn moveOutOn
    unit { id roomNo buildingName communityName } }"""
CREATE = f"""mutation($i: CreateResidentInput!) {{ createResident(input: $i) {{
  inviteToken person {{ {PERSON_FIELDS} }} }} }}"""
UPDATE = (
    f"""mutation($i: UpdateResidentInput!) {{ updateResident(input: $i) {{ {PERSON_FIELDS} }} }}"""
)
LINK = """mutation($i: LinkResidentUnitInput!) { linkResidentUnit(input: $i) {
  id relation isPrimary moveInOn moveOutOn unit { id roomNo } } }"""
MOVE_OUT = """mutation($i: MoveOutResidentInput!) { moveOutResident(input: $i) {
  id moveInOn moveOutOn isPrimary } }"""
SET_PRIMARY = (
    """mutation($i: OccupancyIdInput!) { setPrimaryContact(input: $i) { id isPrimary } }"""
)
PERSON = f"""query($id: ID!) {{ person(id: $id) {{ {PERSON_FIELDS} }} }}"""
PEOPLE = f"""query($first: Int, $after: String, $search: String, $communityId: ID,
  $buildingId: ID, $relation: String) {{
  people(first: $first, after: $after, search: $search, communityId: $communityId,
    buildingId: $buildingId, relation: $relation) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {PERSON_FIELDS} }} }} }} }}"""
CLAIM = """mutation($i: ClaimUnitInput!) { claimUnit(input: $i) {
  id status relation name reason unit { id roomNo buildingName communityName } } }"""
CLAIMS = """query($status: String, $communityId: ID) {
  unitClaims(status: $status, communityId: $communityId) {
    edges { node { id status name relation reason unit { id roomNo communityName } } } } }"""
APPROVE = """mutation($i: UnitClaimIdInput!) { approveUnitClaim(input: $i) { id status } }"""
REJECT = """mutation($i: RejectUnitClaimInput!) { rejectUnitClaim(input: $i) {
  id status reason } }"""
MY_UNITS = """{ myUnits { occupancyId relation isPrimary
  unit { id roomNo buildingName communityName } } }"""
MY_CO = """query($u: ID!) { myCoResidents(unitId: $u) { name relation isPrimary phone } }"""
MY_PROFILES = "{ myCommunityProfiles { id name address hotline profile } }"
MY_CLAIMS = "{ myUnitClaims { id status reason unit { roomNo } } }"
CLAIMABLE = "{ claimableCommunities { id name buildings { id name } } }"
