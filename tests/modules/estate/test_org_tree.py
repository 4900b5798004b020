"""The department tree: build, rename, move (whole subtree, one path rewrite), delete rules."""

from __future__ import annotations

import pytest
from org_kit import DELETE_DEPT, DEPARTMENT, MOVE_DEPT, RENAME_DEPT, Org, add_staff, failure
from sqlalchemy import select

from wuye.graphql.ids import decode_id
from wuye.identity.models import AuditLog
from wuye.modules.estate.models import Department, StaffProfile


@pytest.fixture
def org(api, tenant, admin_token) -> Org:
    return Org(api, tenant, admin_token)


def _pk(gid: str) -> int:
    return decode_id(gid, "Department")


async def _company(org: Org) -> dict[str, dict]:
    """公司 -> 华东区域 -> 阳光花园项目 -> 工程组, 公司 -> 华北区域."""
    co = await org.dept("公司", kind="company")
    east = await org.dept("华东区域", co["id"], kind="region")
    proj = await org.dept("阳光花园项目", east["id"], kind="project")
    await org.dept("工程组", proj["id"])
    await org.dept("华北区域", co["id"], kind="region")
    return await org.tree()


async def test_a_tree_is_listed_flat_with_parent_depth_and_path(org):
    # given a four-level tree
    tree = await _company(org)
    # then every node carries its parent, depth and materialised path
    co, east, proj, team = (tree[n] for n in ("公司", "华东区域", "阳光花园项目", "工程组"))
    assert co["parentId"] is None and co["depth"] == 0 and co["path"] == f"/{_pk(co['id'])}/"
    assert team["parentId"] == proj["id"] and team["depth"] == 3
    assert team["path"] == f"{proj['path']}{_pk(team['id'])}/"
    assert proj["path"].startswith(east["path"]) and east["path"].startswith(co["path"])
    # and parents come before their children
    names = [d["name"] for d in (await org.ok("{ departments { name } }"))["departments"]]
    assert names.index("公司") < names.index("华东区域") < names.index("阳光花园项目")
    # and one department can be read by id
    one = (await org.ok(DEPARTMENT, {"id": team["id"]}))["department"]
    assert one == team


async def test_moving_a_department_rewrites_the_paths_of_its_whole_subtree(org):
    # given 阳光花园项目 (with 工程组 below it) under 华东区域
    tree = await _company(org)
    proj, north = tree["阳光花园项目"], tree["华北区域"]
    # when it moves under 华北区域
    moved = (await org.ok(MOVE_DEPT, {"i": {"id": proj["id"], "parentId": north["id"]}}))[
        "moveDepartment"
    ]
    # then it and its descendants have consistent paths and depths
    after = await org.tree()
    assert moved["parentId"] == north["id"]
    assert after["阳光花园项目"]["path"] == f"{north['path']}{_pk(proj['id'])}/"
    assert (
        after["工程组"]["path"] == f"{after['阳光花园项目']['path']}{_pk(after['工程组']['id'])}/"
    )
    assert after["工程组"]["parentId"] == proj["id"]  # descendants keep their parent
    assert after["工程组"]["depth"] == 3
    # and every path is its parent's path plus its own id
    by_id = {d["id"]: d for d in after.values()}
    for d in after.values():
        parent_path = by_id[d["parentId"]]["path"] if d["parentId"] else "/"
        assert d["path"] == f"{parent_path}{_pk(d['id'])}/", d
    # and the rest of the tree is untouched
    assert after["华东区域"]["path"] == tree["华东区域"]["path"]


async def test_a_department_can_become_a_root(org):
    tree = await _company(org)
    proj = tree["阳光花园项目"]
    await org.ok(MOVE_DEPT, {"i": {"id": proj["id"], "parentId": None}})
    after = await org.tree()
    assert after["阳光花园项目"]["path"] == f"/{_pk(proj['id'])}/"
    assert after["阳光花园项目"]["depth"] == 0 and after["工程组"]["depth"] == 1


@pytest.mark.parametrize("target", ["阳光花园项目", "工程组"])
async def test_a_department_cannot_move_under_itself_or_a_descendant(org, target):
    # given the tree
    tree = await _company(org)
    # when 阳光花园项目 is moved under itself or its own 工程组
    body = await org.raw(
        MOVE_DEPT, {"i": {"id": tree["阳光花园项目"]["id"], "parentId": tree[target]["id"]}}
    )
    # then it is refused, naming the parent, and nothing changed
    assert failure(body) == ("VALIDATION_FAILED", "parentId")
    assert await org.tree() == tree


async def test_renaming_keeps_names_unique_among_siblings(org):
    tree = await _company(org)
    body = await org.raw(RENAME_DEPT, {"i": {"id": tree["华北区域"]["id"], "name": "华东区域"}})
    assert failure(body) == ("CONFLICT", "name")
    done = await org.ok(RENAME_DEPT, {"i": {"id": tree["华北区域"]["id"], "name": "华南区域"}})
    assert done["renameDepartment"]["name"] == "华南区域"
    assert set(await org.tree()) == set(tree) - {"华北区域"} | {"华南区域"}


async def test_moving_next_to_a_namesake_is_a_conflict(org):
    tree = await _company(org)
    await org.dept("工程组", tree["华北区域"]["id"])
    body = await org.raw(
        MOVE_DEPT, {"i": {"id": tree["工程组"]["id"], "parentId": tree["华北区域"]["id"]}}
    )
    assert failure(body) == ("CONFLICT", "name")


async def test_only_an_empty_department_can_be_deleted(org, runtime, tenant):
    # given a tree with a staff member in 华北区域
    tree = await _company(org)
    north = tree["华北区域"]
    user_id = await add_staff(runtime, tenant)
    async with runtime.db.tenant_session(tenant.schema) as s:
        s.add(StaffProfile(user_id=user_id, department_id=_pk(north["id"])))
        await s.commit()
    # when a department with children is deleted -> conflict
    body = await org.raw(DELETE_DEPT, {"i": {"id": tree["阳光花园项目"]["id"]}})
    assert failure(body)[0] == "CONFLICT"
    # when a department with staff is deleted -> conflict
    body = await org.raw(DELETE_DEPT, {"i": {"id": north["id"]}})
    assert failure(body)[0] == "CONFLICT"
    assert set(await org.tree()) == set(tree)
    # when a leaf without staff is deleted -> gone
    assert (await org.ok(DELETE_DEPT, {"i": {"id": tree["工程组"]["id"]}}))["deleteDepartment"]
    assert "工程组" not in await org.tree()
    body = await org.raw(DEPARTMENT, {"id": tree["工程组"]["id"]})
    assert failure(body)[0] == "NOT_FOUND"
    # and the mutation was audited with its target
    async with runtime.db.tenant_session(tenant.schema) as s:
        row = await s.scalar(select(AuditLog).where(AuditLog.action == "deleteDepartment").limit(1))
        assert row is not None and row.object_type == "Department"
        assert row.object_id == str(_pk(tree["工程组"]["id"]))
        assert await s.get(Department, _pk(tree["工程组"]["id"])) is None
