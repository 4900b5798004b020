"""Helpers for the staff-organisation tests: communities and staff written straight into the
tenant schema, GraphQL documents, and small assertions on errors."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from conftest import Api, TenantFixture, add_account, login
from sqlalchemy import func, select

from wuye.graphql.ids import encode_id
from wuye.identity.models import User
from wuye.modules.estate.models import Community
from wuye.runtime import Runtime

DEPT_FIELDS = "id name kind parentId communityId path depth"
CREATE_DEPT = f"""mutation($i: CreateDepartmentInput!) {{
  createDepartment(input: $i) {{ {DEPT_FIELDS} }} }}"""
RENAME_DEPT = f"""mutation($i: RenameDepartmentInput!) {{
  renameDepartment(input: $i) {{ {DEPT_FIELDS} }} }}"""
MOVE_DEPT = f"""mutation($i: MoveDepartmentInput!) {{
  moveDepartment(input: $i) {{ {DEPT_FIELDS} }} }}"""
DELETE_DEPT = "mutation($i: DepartmentIdInput!) { deleteDepartment(input: $i) }"
DEPARTMENTS = f"{{ departments {{ {DEPT_FIELDS} }} }}"
DEPARTMENT = f"query($id: ID!) {{ department(id: $id) {{ {DEPT_FIELDS} }} }}"
CREATE_POSITION = "mutation($i: CreatePositionInput!) { createPosition(input: $i) { id name } }"
RENAME_POSITION = "mutation($i: RenamePositionInput!) { renamePosition(input: $i) { id name } }"
POSITIONS = "{ positions { id name } }"
STAFF_FIELDS = """id name phone employeeNo joinedOn allCommunities
  department { id name path } position { id name } communities { id name }"""
SET_PROFILE = f"""mutation($i: SetStaffProfileInput!) {{
  setStaffProfile(input: $i) {{ {STAFF_FIELDS} }} }}"""
SET_COMMUNITIES = f"""mutation($i: SetStaffCommunitiesInput!) {{
  setStaffCommunities(input: $i) {{ {STAFF_FIELDS} }} }}"""
STAFF = f"""query($first: Int, $after: String, $dept: ID, $sub: Boolean!, $community: ID,
  $search: String) {{
  staffMembers(first: $first, after: $after, departmentId: $dept,
    includeSubdepartments: $sub, communityId: $community, search: $search) {{
    edges {{ node {{ {STAFF_FIELDS} }} }} totalCount }} }}"""
TRANSFER = """mutation($i: TransferStaffInput!) { transferStaff(input: $i) {
  id userId fromDepartmentId toDepartmentId effectiveOn reason recordedBy } }"""
TRANSFERS = """query($user: ID, $dept: ID) { staffTransfers(userId: $user, departmentId: $dept) {
  id userId fromDepartmentId toDepartmentId effectiveOn reason } }"""
SET_TEAM = """mutation($i: SetCommunityTeamInput!) { setCommunityTeam(input: $i) {
  userId name phone duty position { name } } }"""
TEAM = """query($c: ID!) { communityTeam(communityId: $c) {
  userId name phone duty position { name } } }"""


@dataclass
class Staff:
    id: int
    phone: str
    token: str

    @property
    def gid(self) -> str:
        return encode_id("User", self.id)


class Org:
    """One tenant seen by one signed-in caller."""

    def __init__(self, api: Api, tenant: TenantFixture, token: str) -> None:
        self.api = api
        self.tenant = tenant
        self.token = token

    async def raw(self, q: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api(q, variables, tenant=self.tenant.slug, token=self.token)

    async def ok(self, q: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.raw(q, variables)
        assert "errors" not in body, body
        return body["data"]

    async def dept(
        self, name: str, parent: str | None = None, kind: str = "team", community: int | None = None
    ) -> dict[str, Any]:
        i: dict[str, Any] = {"name": name, "kind": kind, "parentId": parent}
        if community is not None:
            i["communityId"] = encode_id("Community", community)
        return (await self.ok(CREATE_DEPT, {"i": i}))["createDepartment"]

    async def tree(self) -> dict[str, dict[str, Any]]:
        return {d["name"]: d for d in (await self.ok(DEPARTMENTS))["departments"]}

    def as_(self, token: str) -> Org:
        return Org(self.api, self.tenant, token)


def failure(body: dict[str, Any]) -> tuple[str, str | None]:
    """(code, field) of the one error of a response."""
    assert len(body.get("errors", [])) == 1, body
    ext = body["errors"][0].get("extensions", {})
    return ext.get("code"), ext.get("field")


async def add_community(runtime: Runtime, tenant: TenantFixture, name: str | None = None) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        c = Community(name=name or f"小区{secrets.token_hex(3)}")
        s.add(c)
        await s.flush()
        await s.commit()
        return c.id


async def add_staff(
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...] = (),
    all_communities: bool = False,
    communities: tuple[int, ...] = (),
    name: str | None = None,
) -> int:
    account = await add_account(
        runtime,
        tenant,
        roles=roles,
        all_communities=all_communities,
        communities=communities,
        name=name or f"员工{secrets.token_hex(2)}",
    )
    return account.user_id


async def signed_in_staff(
    api: Api,
    runtime: Runtime,
    tenant: TenantFixture,
    *,
    roles: tuple[str, ...],
    all_communities: bool = False,
    communities: tuple[int, ...] = (),
) -> Staff:
    user_id = await add_staff(
        runtime, tenant, roles=roles, all_communities=all_communities, communities=communities
    )
    async with runtime.db.tenant_session(tenant.schema) as s:
        phone = await s.scalar(select(User.phone).where(User.id == user_id))
    pair = await login(api, tenant.slug, phone or "")
    return Staff(user_id, phone or "", pair["accessToken"])


async def count_rows(runtime: Runtime, tenant: TenantFixture, model: Any) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)
