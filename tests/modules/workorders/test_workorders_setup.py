"""Work-order setup: categories (CRUD, validation, who may), the defaults a tenant starts
with, customer levels and what a VIP's complaint means for who sees it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kit import add_resident, add_staff, codes, ok
from sqlalchemy import func, select
from wo_kit import ORDER, Crew, make_crew, submit, user_gid

from wuye.graphql.ids import decode_id, encode_id
from wuye.modules.estate.models import Department
from wuye.modules.workorders import setup
from wuye.modules.workorders.models import Category, WorkOrder
from wuye.runtime import Runtime
from wuye.tenancy.service import set_module

CATEGORY = """id nameZh nameEn types defaultTeamId responseMinutes completionMinutes
  escalationMinutes active sort"""
CREATE = f"""mutation($i: CreateWorkOrderCategoryInput!) {{
  createWorkOrderCategory(input: $i) {{ {CATEGORY} }} }}"""
UPDATE = f"""mutation($i: UpdateWorkOrderCategoryInput!) {{
  updateWorkOrderCategory(input: $i) {{ {CATEGORY} }} }}"""
SET_ACTIVE = """mutation($i: SetWorkOrderCategoryActiveInput!) {
  setWorkOrderCategoryActive(input: $i) { id active } }"""
LIST = (
    f"""query($all: Boolean!) {{ workOrderCategoryList(includeInactive: $all) {{ {CATEGORY} }} }}"""
)
PICK = "query { workOrderCategories { id nameZh } }"
SET_LEVEL = """mutation($i: SetCustomerLevelInput!) {
  setCustomerLevel(input: $i) { userId name phone level updatedAt } }"""
LEVELS = """query($level: String) { customerLevels(level: $level) {
  totalCount edges { node { userId name level } } } }"""
QUEUE = "query { workOrders { totalCount edges { node { id type description } } } }"

DEFAULT_NAMES = [zh for zh, *_ in setup.DEFAULT_CATEGORIES]


def field_of(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"].get("field")


async def call(api: Any, crew: Crew, who: Any, doc: str, variables: dict[str, Any]) -> Any:
    return await api(doc, variables, tenant=crew.tenant.slug, token=who.token)


async def test_a_tenant_starts_with_the_default_categories_once(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    listed = ok(await call(api, crew, crew.manager, LIST, {"all": True}))["workOrderCategoryList"]
    assert [c["nameZh"] for c in listed] == DEFAULT_NAMES
    by_name = {c["nameZh"]: c for c in listed}
    assert by_name["电梯"]["nameEn"] == "Elevator"
    assert by_name["电梯"]["responseMinutes"] < by_name["水电维修"]["responseMinutes"]
    assert by_name["噪音扰民"]["types"] == ["complaint"] and by_name["其他"]["types"] == []
    # residents pick from the same list
    picked = ok(await call(api, crew, crew.resident, PICK, {}))["workOrderCategories"]
    assert [c["nameZh"] for c in picked] == DEFAULT_NAMES

    # switching the module off and on again (and the hook run twice) adds nothing, even
    # after a default was renamed
    ok(
        await call(
            api, crew, crew.manager, UPDATE, {"i": {**_input(by_name["其他"]), "nameZh": "其它"}}
        )
    )
    for enabled in (False, True):
        async with runtime.db.shared_session() as s:
            await set_module(
                s,
                slug=crew.tenant.slug,
                key="workorders",
                enabled=enabled,
                config=None,
                changed_by="tests",
                modules=runtime.modules,
            )
            await s.commit()
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        assert await setup.seed_default_categories(s) == 0
        await s.commit()
        names = list(await s.scalars(select(Category.name_zh).order_by(Category.sort)))
    assert names == [*DEFAULT_NAMES[:-1], "其它"]


def _input(c: dict[str, Any]) -> dict[str, Any]:
    """An update input from a category as the API returned it."""
    return {
        "id": c["id"],
        "nameZh": c["nameZh"],
        "nameEn": c["nameEn"],
        "types": c["types"],
        "defaultTeamId": c["defaultTeamId"],
        "responseMinutes": c["responseMinutes"],
        "completionMinutes": c["completionMinutes"],
        "escalationMinutes": c["escalationMinutes"],
        "sort": c["sort"],
    }


async def test_categories_are_created_changed_and_switched_off(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    team = encode_id("Department", crew.team_id)
    made = ok(
        await call(
            api,
            crew,
            crew.manager,
            CREATE,
            {
                "i": {
                    "nameZh": " 空调维修 ",
                    "nameEn": "Air conditioning",
                    "types": ["appointment", "repair", "repair"],
                    "defaultTeamId": team,
                    "responseMinutes": 20,
                    "completionMinutes": 600,
                    "escalationMinutes": 60,
                    "sort": 5,
                }
            },
        )
    )["createWorkOrderCategory"]
    assert made["nameZh"] == "空调维修" and made["active"] is True
    assert made["types"] == ["repair", "appointment"] and made["defaultTeamId"] == team
    assert (made["responseMinutes"], made["completionMinutes"], made["escalationMinutes"]) == (
        20,
        600,
        60,
    )

    # an order in it goes to its team with its deadlines
    order = await submit(api, crew, categoryId=made["id"])
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        row = await s.get(WorkOrder, decode_id(order["id"], "WorkOrder"))
        assert row is not None and row.team_id == crew.team_id
        assert row.response_due_at and row.completion_due_at
        assert row.completion_due_at - row.response_due_at == timedelta(minutes=600 - 20)

    changed = ok(
        await call(
            api,
            crew,
            crew.manager,
            UPDATE,
            {"i": {**_input(made), "nameZh": "空调", "types": [], "defaultTeamId": None}},
        )
    )["updateWorkOrderCategory"]
    assert (changed["nameZh"], changed["types"], changed["defaultTeamId"]) == ("空调", [], None)

    # switched off: gone from the pick list and from new orders, kept in the settings list
    off = ok(
        await call(api, crew, crew.manager, SET_ACTIVE, {"i": {"id": made["id"], "active": False}})
    )
    assert off["setWorkOrderCategoryActive"]["active"] is False
    picked = ok(await call(api, crew, crew.resident, PICK, {}))["workOrderCategories"]
    assert made["id"] not in [c["id"] for c in picked]
    active_only = ok(await call(api, crew, crew.manager, LIST, {"all": False}))
    assert made["id"] not in [c["id"] for c in active_only["workOrderCategoryList"]]
    everything = ok(await call(api, crew, crew.manager, LIST, {"all": True}))
    assert made["id"] in [c["id"] for c in everything["workOrderCategoryList"]]
    body = await api(
        """mutation($i: SubmitWorkOrderInput!) { submitWorkOrder(input: $i) { id } }""",
        {
            "i": {
                "type": "repair",
                "description": "空调不制冷",
                "unitId": crew.place.gid("A/1号楼/101"),
                "categoryId": made["id"],
            }
        },
        tenant=crew.tenant.slug,
        token=crew.resident.token,
    )
    assert codes(body) == ["NOT_FOUND"] and field_of(body) == "categoryId"
    # the order made before keeps its category
    seen = ok(await call(api, crew, crew.resident, ORDER, {"id": order["id"]}))["workOrder"]
    assert seen["category"]["nameZh"] == "空调"
    back = await call(
        api, crew, crew.manager, SET_ACTIVE, {"i": {"id": made["id"], "active": True}}
    )
    assert ok(back)["setWorkOrderCategoryActive"]["active"] is True


async def test_bad_category_input_is_refused_and_writes_nothing(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        project = Department(name="项目部", kind="project")
        s.add(project)
        await s.commit()
        project_id = project.id
    good = {"nameZh": "管道疏通", "responseMinutes": 30, "completionMinutes": 60}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"nameZh": "  "}, "VALIDATION_FAILED", "nameZh"),
        ({"nameZh": "长" * 61}, "VALIDATION_FAILED", "nameZh"),
        ({"responseMinutes": 0}, "VALIDATION_FAILED", "responseMinutes"),
        ({"completionMinutes": -5}, "VALIDATION_FAILED", "completionMinutes"),
        ({"responseMinutes": 90}, "VALIDATION_FAILED", "completionMinutes"),  # > completion
        ({"escalationMinutes": 0}, "VALIDATION_FAILED", "escalationMinutes"),
        ({"types": ["repair", "bogus"]}, "VALIDATION_FAILED", "types"),
        ({"defaultTeamId": encode_id("Department", project_id)}, "NOT_FOUND", "defaultTeamId"),
        ({"defaultTeamId": encode_id("Department", 999_999)}, "NOT_FOUND", "defaultTeamId"),
        ({"defaultTeamId": encode_id("Unit", crew.team_id)}, "NOT_FOUND", "defaultTeamId"),
        ({"nameZh": "电梯"}, "CONFLICT", "nameZh"),  # a default's name
    ]
    for change, code, field in cases:
        body = await call(api, crew, crew.manager, CREATE, {"i": {**good, **change}})
        assert (codes(body), field_of(body)) == ([code], field), change

    made = ok(await call(api, crew, crew.manager, CREATE, {"i": good}))["createWorkOrderCategory"]
    for change, code, field in cases:
        body = await call(api, crew, crew.manager, UPDATE, {"i": {**_input(made), **change}})
        assert (codes(body), field_of(body)) == ([code], field), change
    missing = {**_input(made), "id": encode_id("WorkOrderCategory", 999_999)}
    assert codes(await call(api, crew, crew.manager, UPDATE, {"i": missing})) == ["NOT_FOUND"]
    off = {"id": encode_id("WorkOrderCategory", 999_999), "active": False}
    assert codes(await call(api, crew, crew.manager, SET_ACTIVE, {"i": off})) == ["NOT_FOUND"]

    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        row = await s.scalar(select(Category).where(Category.name_zh == "管道疏通"))
        assert row is not None
        assert (row.response_minutes, row.completion_minutes, row.types) == (30, 60, [])
        assert await s.scalar(select(func.count()).select_from(Category)) == 8


async def test_only_settings_managers_manage_categories_and_levels(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    listed = ok(await call(api, crew, crew.manager, LIST, {"all": True}))["workOrderCategoryList"]
    some = listed[0]
    attempts = [
        (CREATE, {"i": {"nameZh": "越权"}}),
        (UPDATE, {"i": {**_input(some), "nameZh": "越权"}}),
        (SET_ACTIVE, {"i": {"id": some["id"], "active": False}}),
        (LIST, {"all": True}),
        (SET_LEVEL, {"i": {"userId": crew.resident.gid, "level": "vip"}}),
        (LEVELS, {"level": None}),
    ]
    for who in (crew.desk, crew.worker, crew.resident):
        for doc, variables in attempts:
            assert codes(await call(api, crew, who, doc, variables)) == ["FORBIDDEN"], (who, doc)
    after = ok(await call(api, crew, crew.manager, LIST, {"all": True}))["workOrderCategoryList"]
    assert after == listed


async def test_customer_levels(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    b_resident = await add_resident(api, runtime, crew.tenant, crew.place.ids["B/9/1"])
    got = ok(
        await call(
            api, crew, crew.manager, SET_LEVEL, {"i": {"userId": crew.resident.gid, "level": "vip"}}
        )
    )["setCustomerLevel"]
    assert (got["userId"], got["name"], got["level"]) == (crew.resident.gid, "王芳", "vip")
    assert got["phone"] != crew.resident.phone and got["phone"].endswith(crew.resident.phone[-4:])
    ok(
        await call(
            api, crew, crew.manager, SET_LEVEL, {"i": {"userId": b_resident.gid, "level": "vip"}}
        )
    )
    # setting it again replaces it (one row per resident)
    ok(
        await call(
            api, crew, crew.manager, SET_LEVEL, {"i": {"userId": b_resident.gid, "level": "normal"}}
        )
    )

    listed = ok(await call(api, crew, crew.manager, LEVELS, {"level": None}))["customerLevels"]
    assert listed["totalCount"] == 2
    assert [e["node"]["level"] for e in listed["edges"]] == ["normal", "vip"]  # latest first
    vips = ok(await call(api, crew, crew.manager, LEVELS, {"level": "vip"}))["customerLevels"]
    assert [e["node"]["userId"] for e in vips["edges"]] == [crew.resident.gid]

    bad = [
        ({"userId": crew.resident.gid, "level": "gold"}, "VALIDATION_FAILED", "level"),
        ({"userId": user_gid(crew.desk.user_id), "level": "vip"}, "NOT_FOUND", "userId"),  # staff
        ({"userId": user_gid(999_999), "level": "vip"}, "NOT_FOUND", "userId"),
        ({"userId": crew.place.gid("A"), "level": "vip"}, "NOT_FOUND", "userId"),
    ]
    for i, code, field in bad:
        body = await call(api, crew, crew.manager, SET_LEVEL, {"i": i})
        assert (codes(body), field_of(body)) == ([code], field), i

    # a manager of community A only grades (and sees) residents living in A
    a_manager = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("manager",),
        communities=(crew.place.ids["A"],),
        all_communities=False,
    )
    body = await call(
        api, crew, a_manager, SET_LEVEL, {"i": {"userId": b_resident.gid, "level": "vip"}}
    )
    assert (codes(body), field_of(body)) == (["NOT_FOUND"], "userId")
    mine = ok(await call(api, crew, a_manager, LEVELS, {"level": None}))["customerLevels"]
    assert [e["node"]["userId"] for e in mine["edges"]] == [crew.resident.gid]


async def test_a_vip_complaint_is_for_staff_with_the_vip_permission(api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    vip = await add_resident(api, runtime, crew.tenant, crew.place.ids["A/1号楼/102"], name="李总")
    ok(await call(api, crew, crew.manager, SET_LEVEL, {"i": {"userId": vip.gid, "level": "vip"}}))
    listed = ok(await call(api, crew, crew.manager, LIST, {"all": False}))
    noise = next(c for c in listed["workOrderCategoryList"] if c["nameZh"] == "噪音扰民")
    vip_complaint = await submit(
        api,
        crew,
        vip,
        type="complaint",
        description="楼上深夜噪音",
        unitId=crew.place.gid("A/1号楼/102"),
        categoryId=noise["id"],
    )
    normal_complaint = await submit(
        api, crew, type="complaint", description="楼道堆物", categoryId=noise["id"]
    )
    # a level set later does not change orders already made
    ok(
        await call(
            api, crew, crew.manager, SET_LEVEL, {"i": {"userId": crew.resident.gid, "level": "vip"}}
        )
    )

    def ids(body: dict[str, Any]) -> set[str]:
        return {e["node"]["id"] for e in ok(body)["workOrders"]["edges"]}

    desk_sees = ids(await call(api, crew, crew.desk, QUEUE, {}))
    assert normal_complaint["id"] in desk_sees and vip_complaint["id"] not in desk_sees
    body = await call(api, crew, crew.desk, ORDER, {"id": vip_complaint["id"]})
    assert codes(body) == ["NOT_FOUND"]
    assert codes(await call(api, crew, crew.desk, ORDER, {"id": normal_complaint["id"]})) == []

    manager_sees = ids(await call(api, crew, crew.manager, QUEUE, {}))
    assert {vip_complaint["id"], normal_complaint["id"]} <= manager_sees
    seen = ok(await call(api, crew, crew.manager, ORDER, {"id": vip_complaint["id"]}))["workOrder"]
    assert seen["description"] == "楼上深夜噪音" and "accept" in seen["actions"]
    # the complainant sees their own, whatever their level
    assert ok(await call(api, crew, vip, ORDER, {"id": vip_complaint["id"]}))["workOrder"]

    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        levels = dict((await s.execute(select(WorkOrder.description, WorkOrder.level))).all())
    assert levels == {"楼上深夜噪音": "vip", "楼道堆物": "normal"}
