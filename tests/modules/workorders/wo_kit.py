"""Helpers for the work-order tests: a tenant with the module on, a small estate, a crew
(resident, customer service, worker, manager), categories, and the GraphQL documents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conftest import Api, TenantFixture, make_tenant
from kit import Place, Resident, add_resident, add_staff, make_place, ok, set_module_config

from wuye.graphql.ids import encode_id
from wuye.modules.estate.models import Department, StaffProfile
from wuye.modules.workorders.models import Category
from wuye.runtime import Runtime

ORDER_FIELDS = """id number type status source description place contactName contactPhone
  reason reopenCount rating ratingComment feeFen arrivalAt overdue actions
  worker { id name phone } resident { id name phone } category { id nameZh }
  lastEvent { action toStatus note }"""

SUBMIT = f"""mutation($i: SubmitWorkOrderInput!) {{
  submitWorkOrder(input: $i) {{ {ORDER_FIELDS} }} }}"""
ORDER = f"""query($id: ID!) {{ workOrder(id: $id) {{ {ORDER_FIELDS}
  events {{ action fromStatus toStatus note actor {{ name }} }} }} }}"""

# workflow action -> its mutation
MUTATIONS = {
    "accept": "acceptWorkOrder",
    "reject": "rejectWorkOrder",
    "merge": "mergeWorkOrder",
    "cancel": "cancelWorkOrder",
    "dispatch": "dispatchWorkOrder",
    "grab": "grabWorkOrder",
    "transfer": "transferWorkOrder",
    "confirm": "confirmWorkOrder",
    "start": "startWorkOrder",
    "take_up": "takeUpWorkOrder",
    "pause": "pauseWorkOrder",
    "resume": "resumeWorkOrder",
    "complete": "completeWorkOrder",
    "answer": "answerWorkOrder",
    "rate": "rateWorkOrder",
    "close": "closeWorkOrder",
    "reopen": "reopenWorkOrder",
}


def step_doc(action: str) -> str:
    name = MUTATIONS[action]
    return f"""mutation($i: WorkOrderStepInput!) {{ {name}(input: $i) {{ {ORDER_FIELDS} }} }}"""


@dataclass
class Crew:
    tenant: TenantFixture
    place: Place
    resident: Resident
    desk: Resident  # customer service
    worker: Resident
    manager: Resident
    team_id: int


async def wo_tenant(runtime: Runtime, **config: Any) -> TenantFixture:
    tenant = await make_tenant(runtime, modules=("workorders",))
    if config:
        await set_config(runtime, tenant, config)
    return tenant


async def set_config(runtime: Runtime, tenant: TenantFixture, config: dict[str, Any]) -> None:
    """Change the tenant's workorders module config (e.g. allow_grab) as an operator would."""
    await set_module_config(runtime, tenant, "workorders", config)


async def make_crew(api: Api, runtime: Runtime, tenant: TenantFixture | None = None) -> Crew:
    tenant = tenant or await wo_tenant(runtime)
    place = await make_place(runtime, tenant, {"A": {"1号楼": ["101", "102"]}, "B": {"9": ["1"]}})
    resident = await add_resident(api, runtime, tenant, place.ids["A/1号楼/101"], name="王芳")
    desk = await add_staff(api, runtime, tenant, roles=("customer_service",))
    worker = await add_staff(api, runtime, tenant, roles=("maintenance_worker",))
    manager = await add_staff(api, runtime, tenant, roles=("manager",))
    team_id = await add_team(runtime, tenant, [worker.user_id], community_id=place.ids["A"])
    return Crew(tenant, place, resident, desk, worker, manager, team_id)


async def add_team(
    runtime: Runtime, tenant: TenantFixture, members: list[int], *, community_id: int | None
) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        team = Department(
            name=f"维修班{len(members)}-{members[0]}", kind="team", community_id=community_id
        )
        s.add(team)
        await s.flush()
        for user_id in members:
            s.add(StaffProfile(user_id=user_id, department_id=team.id))
        await s.commit()
        return team.id


async def add_category(runtime: Runtime, tenant: TenantFixture, **values: Any) -> int:
    values.setdefault("name_zh", f"水电{len(values)}")
    async with runtime.db.tenant_session(tenant.schema) as s:
        category = Category(**values)
        s.add(category)
        await s.commit()
        return category.id


async def submit(
    api: Api, crew: Crew, who: Resident | None = None, **fields: Any
) -> dict[str, Any]:
    """An order submitted (by the crew's resident unless ``who``), as GraphQL returns it."""
    fields.setdefault("type", "repair")
    fields.setdefault("description", "厨房水管漏水")
    if "unitId" not in fields and "communityId" not in fields:
        fields["unitId"] = crew.place.gid("A/1号楼/101")
    who = who or crew.resident
    body = await api(SUBMIT, {"i": fields}, tenant=crew.tenant.slug, token=who.token)
    return ok(body)["submitWorkOrder"]


async def take(
    api: Api, crew: Crew, who: Resident, action: str, order_id: str, **fields: Any
) -> dict[str, Any]:
    """The raw answer to one workflow step (check with ``ok`` or ``codes``)."""
    return await api(
        step_doc(action),
        {"i": {"id": order_id, **fields}},
        tenant=crew.tenant.slug,
        token=who.token,
    )


def user_gid(user_id: int) -> str:
    return encode_id("User", user_id)


REQUEST_UPLOAD = """mutation($i: RequestUploadInput!) { requestUpload(input: $i) {
  file { id } url fields { name value } } }"""
CONFIRM_UPLOAD = "mutation($id: ID!) { confirmUpload(id: $id) { id status } }"


async def upload(
    api: Api, crew: Crew, who: Resident, purpose: str, content_type: str, data: bytes
) -> str:
    """A confirmed upload of ``who`` (slot, form POST to the local backend, confirmation)."""
    body = await api(
        REQUEST_UPLOAD,
        {"i": {"purpose": purpose, "contentType": content_type, "size": len(data)}},
        tenant=crew.tenant.slug,
        token=who.token,
    )
    slot = ok(body)["requestUpload"]
    fields = {f["name"]: f["value"] for f in slot["fields"]}
    posted = await api.client.post(
        slot["url"], data=fields, files={"file": ("upload.bin", data, content_type)}
    )
    assert posted.status_code in (200, 201, 204), posted.text
    confirmed = await api(
        CONFIRM_UPLOAD, {"id": slot["file"]["id"]}, tenant=crew.tenant.slug, token=who.token
    )
    assert ok(confirmed)["confirmUpload"]["status"] == "ready"
    return str(slot["file"]["id"])
