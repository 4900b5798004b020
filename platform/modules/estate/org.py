"""Staff organisation (基础资料): the department tree, positions, staff profiles, transfers
(调入调出) and community service teams. Plain async functions, explicit session.

The tree is kept as a materialised ``path`` of ids from the root (``/1/4/9/``): a subtree is
one indexed ``LIKE '/1/4/%'`` and a move rewrites the whole subtree in one UPDATE. Staff
communities are the identity data scope (``user_community_scopes``), set through
``wuye.identity.service.set_user_scope``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.identity.models import User, UserCommunityScope
from wuye.modules.estate import validation as v
from wuye.modules.estate.models import (
    DEPARTMENT_KINDS,
    Community,
    CommunityTeamMember,
    Department,
    Position,
    StaffProfile,
    StaffTransfer,
)
from wuye.modules.rows import flush_unique, get_row

MAX_PATH = 400  # Department.path length


def not_found(field: str) -> AppError:
    return AppError("NOT_FOUND", field=field)


def depth_of(path: str) -> int:
    """0 for a root (``/1/``), 1 for its children, ..."""
    return max(path.count("/") - 2, 0)


# --- lookups -------------------------------------------------------------------------------


async def get_department(
    session: AsyncSession,
    department_id: int,
    *,
    field: str = "id",
    lock: bool = False,
    share: bool = False,
) -> Department:
    return await get_row(session, Department, department_id, field=field, lock=lock, share=share)


async def _check_community(session: AsyncSession, community_id: int, field: str) -> None:
    if await session.scalar(select(Community.id).where(Community.id == community_id)) is None:
        raise not_found(field)


async def _check_position(session: AsyncSession, position_id: int, field: str) -> None:
    if await session.scalar(select(Position.id).where(Position.id == position_id)) is None:
        raise not_found(field)


async def get_staff_user(session: AsyncSession, user_id: int, *, field: str = "userId") -> User:
    user = await session.scalar(select(User).where(User.id == user_id, User.kind == "staff"))
    if user is None:
        raise not_found(field)
    return user


async def _check_sibling_name(
    session: AsyncSession, *, parent_id: int | None, name: str, except_id: int | None = None
) -> None:
    """Names are unique among siblings (also among roots, which the UNIQUE cannot see)."""
    stmt = select(Department.id).where(
        Department.name == name,
        Department.parent_id.is_(None) if parent_id is None else Department.parent_id == parent_id,
    )
    if except_id is not None:
        stmt = stmt.where(Department.id != except_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise AppError(
            "CONFLICT",
            f"同级已有同名部门：{name}",
            f"A department named {name} already exists at this level",
            field="name",
        )


# --- departments ---------------------------------------------------------------------------


async def create_department(
    session: AsyncSession,
    *,
    name: str,
    kind: str,
    parent_id: int | None,
    community_id: int | None = None,
) -> Department:
    name = v.text(name, "name", max_len=100)
    kind = v.choice(kind, DEPARTMENT_KINDS, "kind")
    # FOR SHARE: a concurrent move of the parent waits, or we read its new path
    parent = (
        await get_department(session, parent_id, field="parentId", share=True)
        if parent_id
        else None
    )
    if community_id is not None:
        await _check_community(session, community_id, "communityId")
    await _check_sibling_name(session, parent_id=parent_id, name=name)
    prefix = parent.path if parent is not None else "/"
    new_id = int(await session.scalar(select(func.nextval("departments_id_seq"))) or 0)
    path = f"{prefix}{new_id}/"
    if len(path) > MAX_PATH:
        raise v.invalid("parentId", "部门层级过深", "The department tree is too deep here")
    dept = Department(
        id=new_id,
        parent_id=parent_id,
        name=name,
        kind=kind,
        community_id=community_id,
        path=path,
    )
    await flush_unique(
        session,
        add=dept,
        field="name",
        zh="同级已有同名部门",
        en="A department of this name exists here",
    )
    await session.refresh(dept)
    return dept


async def rename_department(session: AsyncSession, *, department_id: int, name: str) -> Department:
    dept = await get_department(session, department_id, lock=True)
    name = v.text(name, "name", max_len=100)
    await _check_sibling_name(session, parent_id=dept.parent_id, name=name, except_id=dept.id)
    dept.name = name
    await session.flush()
    return dept


async def move_department(
    session: AsyncSession, *, department_id: int, parent_id: int | None
) -> Department:
    """Re-parent a department; the paths of its whole subtree change in one UPDATE."""
    # Moves are rare: serialise them against every other tree change, so two concurrent
    # moves cannot make a cycle and no insert reads a path that is being rewritten.
    await session.execute(sql_text("LOCK TABLE departments IN SHARE ROW EXCLUSIVE MODE"))
    dept = await get_department(session, department_id, lock=True)
    parent = None
    if parent_id is not None:
        parent = await get_department(session, parent_id, field="parentId")
        if parent.path.startswith(dept.path):  # itself or one of its descendants
            raise v.invalid(
                "parentId",
                "不能移动到自身或其下级部门之下",
                "A department cannot move under itself or one of its sub-departments",
            )
    if dept.parent_id == parent_id:
        return dept
    await _check_sibling_name(session, parent_id=parent_id, name=dept.name, except_id=dept.id)
    old_path = dept.path
    new_path = f"{parent.path if parent is not None else '/'}{dept.id}/"
    deepest = await session.scalar(
        select(func.max(func.length(Department.path))).where(
            Department.path.startswith(old_path, autoescape=True)
        )
    )
    if (deepest or 0) - len(old_path) + len(new_path) > MAX_PATH:
        raise v.invalid("parentId", "部门层级过深", "The department tree is too deep here")
    await session.execute(
        update(Department)
        .where(Department.path.startswith(old_path, autoescape=True))
        .values(
            path=literal(new_path) + func.substr(Department.path, len(old_path) + 1),
            parent_id=case(
                (Department.id == dept.id, literal(parent_id, BigInteger)),
                else_=Department.parent_id,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(dept)
    return dept


async def delete_department(session: AsyncSession, *, department_id: int) -> None:
    """Only an empty department goes: no sub-departments, no staff, no transfer history."""
    dept = await get_department(session, department_id, lock=True)
    if await session.scalar(select(exists().where(Department.parent_id == dept.id))):
        raise AppError(
            "CONFLICT", "该部门下还有子部门", "This department still has sub-departments"
        )
    if await session.scalar(select(exists().where(StaffProfile.department_id == dept.id))):
        raise AppError("CONFLICT", "该部门下还有员工", "This department still has staff")
    if await session.scalar(
        select(
            exists().where(
                or_(
                    StaffTransfer.from_department_id == dept.id,
                    StaffTransfer.to_department_id == dept.id,
                )
            )
        )
    ):
        raise AppError(
            "CONFLICT",
            "该部门有调动记录，不能删除",
            "This department appears in the transfer history and cannot be deleted",
        )
    await session.delete(dept)
    await session.flush()


async def list_departments(session: AsyncSession) -> list[Department]:
    """The whole tree, flat, parents before children (ordered by path)."""
    return list(await session.scalars(select(Department).order_by(Department.path)))


# --- positions -----------------------------------------------------------------------------


async def _position_name_free(session: AsyncSession, name: str, except_id: int | None) -> None:
    stmt = select(Position.id).where(Position.name == name)
    if except_id is not None:
        stmt = stmt.where(Position.id != except_id)
    if await session.scalar(stmt) is not None:
        raise AppError(
            "CONFLICT", f"岗位已存在：{name}", f"A position named {name} exists", field="name"
        )


async def create_position(session: AsyncSession, *, name: str) -> Position:
    name = v.text(name, "name", max_len=60)
    await _position_name_free(session, name, None)
    position = Position(name=name)
    try:
        async with session.begin_nested():
            session.add(position)
            await session.flush()
    except IntegrityError:
        raise AppError("CONFLICT", "岗位已存在", "This position exists", field="name") from None
    return position


async def rename_position(session: AsyncSession, *, position_id: int, name: str) -> Position:
    position = await session.get(Position, position_id, with_for_update=True)
    if position is None:
        raise not_found("id")
    name = v.text(name, "name", max_len=60)
    await _position_name_free(session, name, position.id)
    position.name = name
    await session.flush()
    return position


async def list_positions(session: AsyncSession) -> list[Position]:
    return list(await session.scalars(select(Position).order_by(Position.name, Position.id)))


# --- staff ---------------------------------------------------------------------------------


async def set_staff_profile(
    session: AsyncSession,
    *,
    user_id: int,
    department_id: int | None,
    position_id: int | None,
    employee_no: str = "",
    joined_on: date | None = None,
) -> StaffProfile:
    """Create or replace a staff member's place in the organisation (initial placement;
    later moves between departments go through ``transfer_staff`` to keep the history)."""
    await get_staff_user(session, user_id)
    if department_id is not None:
        await get_department(session, department_id, field="departmentId")
    if position_id is not None:
        await _check_position(session, position_id, "positionId")
    employee_no = v.text(employee_no, "employeeNo", max_len=30, required=False)
    profile = await session.get(StaffProfile, user_id, with_for_update=True)
    if profile is None:
        profile = StaffProfile(user_id=user_id)
        session.add(profile)
    profile.department_id = department_id
    profile.position_id = position_id
    profile.employee_no = employee_no
    profile.joined_on = joined_on
    await session.flush()
    return profile


async def set_staff_communities(
    session: AsyncSession,
    *,
    user_id: int,
    all_communities: bool,
    community_ids: Sequence[int],
) -> None:
    """The communities a staff member works in = their data scope (identity owns it)."""
    await get_staff_user(session, user_id)
    wanted = sorted(set(community_ids))
    if wanted:
        found = set(await session.scalars(select(Community.id).where(Community.id.in_(wanted))))
        if len(found) != len(wanted):
            raise not_found("communityIds")
    await identity.set_user_scope(
        session, user_id=user_id, all_communities=all_communities, community_ids=wanted
    )


async def current_scope(session: AsyncSession, user_id: int) -> tuple[bool, set[int]]:
    """(all communities?, community ids) of a staff member's data scope."""
    user = await get_staff_user(session, user_id)
    ids = set(
        await session.scalars(
            select(UserCommunityScope.community_id).where(UserCommunityScope.user_id == user_id)
        )
    )
    return user.all_communities, ids


def staff_filter(
    stmt: Any,
    *,
    subtree_path: str | None = None,
    department_id: int | None = None,
    community_id: int | None = None,
    search: str | None = None,
) -> Any:
    """Filters of the staff list (``stmt`` selects from users outer-joined to profiles and
    departments)."""
    if subtree_path is not None:
        stmt = stmt.where(Department.path.startswith(subtree_path, autoescape=True))
    elif department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == department_id)
    if community_id is not None:
        stmt = stmt.where(
            or_(
                User.all_communities.is_(True),
                exists().where(
                    UserCommunityScope.user_id == User.id,
                    UserCommunityScope.community_id == community_id,
                ),
            )
        )
    if search and search.strip():
        term = search.strip()
        stmt = stmt.where(
            or_(
                User.name.icontains(term, autoescape=True),
                User.phone.contains(term, autoescape=True),
                StaffProfile.employee_no.icontains(term, autoescape=True),
            )
        )
    return stmt


def staff_select() -> Any:
    """Staff users with profile, department and position: one row each, one statement."""
    return (
        select(User, StaffProfile, Department, Position)
        .outerjoin(StaffProfile, StaffProfile.user_id == User.id)
        .outerjoin(Department, Department.id == StaffProfile.department_id)
        .outerjoin(Position, Position.id == StaffProfile.position_id)
        .where(User.kind == "staff")
        .order_by(User.id)
    )


async def communities_of(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, list[Community]]:
    """The scope communities of many users in one statement."""
    out: dict[int, list[Community]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    rows = await session.execute(
        select(UserCommunityScope.user_id, Community)
        .join(Community, Community.id == UserCommunityScope.community_id)
        .where(UserCommunityScope.user_id.in_(sorted(set(user_ids))))
        .order_by(Community.name, Community.id)
    )
    for uid, community in rows:
        out[uid].append(community)
    return out


# --- transfers -----------------------------------------------------------------------------


async def transfer_staff(
    session: AsyncSession,
    *,
    user_id: int,
    to_department_id: int,
    effective_on: date,
    reason: str = "",
    recorded_by: int | None = None,
) -> StaffTransfer:
    """调入调出: record the move (from = the current department) and move the profile."""
    await get_staff_user(session, user_id)
    await get_department(session, to_department_id, field="toDepartmentId")
    reason = v.text(reason, "reason", max_len=300, required=False)
    profile = await session.get(StaffProfile, user_id, with_for_update=True)
    if profile is None:
        profile = StaffProfile(user_id=user_id)
        session.add(profile)
    if profile.department_id == to_department_id:
        raise v.invalid(
            "toDepartmentId", "员工已在该部门", "The staff member is already in this department"
        )
    record = StaffTransfer(
        user_id=user_id,
        from_department_id=profile.department_id,
        to_department_id=to_department_id,
        effective_on=effective_on,
        reason=reason,
        recorded_by=recorded_by,
    )
    session.add(record)
    profile.department_id = to_department_id
    await session.flush()
    return record


async def list_transfers(
    session: AsyncSession, *, user_id: int | None = None, department_id: int | None = None
) -> list[StaffTransfer]:
    """History of one staff member or of one department (in and out), newest first."""
    if (user_id is None) == (department_id is None):
        raise v.invalid(
            "userId", "请指定员工或部门之一", "Give exactly one of userId and departmentId"
        )
    stmt = select(StaffTransfer).order_by(
        StaffTransfer.effective_on.desc(), StaffTransfer.id.desc()
    )
    if user_id is not None:
        stmt = stmt.where(StaffTransfer.user_id == user_id)
    else:
        stmt = stmt.where(
            or_(
                StaffTransfer.from_department_id == department_id,
                StaffTransfer.to_department_id == department_id,
            )
        )
    return list(await session.scalars(stmt))


# --- community service team ----------------------------------------------------------------


@dataclass(frozen=True)
class TeamMemberInput:
    user_id: int
    duty: str = ""


async def set_community_team(
    session: AsyncSession, *, community_id: int, members: Sequence[TeamMemberInput]
) -> None:
    """Replace the service team of a community."""
    await _check_community(session, community_id, "communityId")
    ids = [m.user_id for m in members]
    if len(set(ids)) != len(ids):
        raise v.invalid("members", "团队成员重复", "A staff member is listed twice")
    duties = [v.text(m.duty, "members.duty", max_len=60, required=False) for m in members]
    if ids:
        found = set(
            await session.scalars(select(User.id).where(User.id.in_(ids), User.kind == "staff"))
        )
        if len(found) != len(ids):
            raise not_found("members")
    # serialise concurrent replacements of the same team
    await session.execute(
        select(Community.id).where(Community.id == community_id).with_for_update()
    )
    await session.execute(
        delete(CommunityTeamMember).where(CommunityTeamMember.community_id == community_id)
    )
    if ids:
        await session.execute(
            insert(CommunityTeamMember),
            [
                {"community_id": community_id, "user_id": uid, "duty": duty}
                for uid, duty in zip(ids, duties, strict=True)
            ],
        )


async def community_team(session: AsyncSession, *, community_id: int) -> list[tuple]:
    """(member, user, position or None) rows of a community's team, one statement."""
    await _check_community(session, community_id, "communityId")
    rows = await session.execute(
        select(CommunityTeamMember, User, Position)
        .join(User, User.id == CommunityTeamMember.user_id)
        .outerjoin(StaffProfile, StaffProfile.user_id == User.id)
        .outerjoin(Position, Position.id == StaffProfile.position_id)
        .where(CommunityTeamMember.community_id == community_id)
        .order_by(User.name, User.id)
    )
    return [tuple(r) for r in rows]
