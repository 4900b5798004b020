"""Estate API: staff organisation (基础资料) — departments, positions, staff, transfers,
community service teams.

Reads need ``estate.view`` and are tenant-wide (the organisation is not community data),
except ``communityTeam`` / ``setCommunityTeam``, which also check the caller's data scope
for that community. Writes need ``estate.org.manage``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, encode_id, optional_gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.graphql import check_may_manage
from wuye.identity.models import User
from wuye.identity.passwords import mask_phone
from wuye.modules.estate import org
from wuye.modules.estate.models import Community, Department, Position, StaffProfile
from wuye.modules.estate.permissions import ORG_MANAGE, VIEW

# --- ids -----------------------------------------------------------------------------------


# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="Department")
class DepartmentType:
    id: strawberry.ID
    name: str
    kind: str = strawberry.field(description="company | region | project | team")
    parent_id: strawberry.ID | None
    community_id: strawberry.ID | None
    path: str = strawberry.field(description="Ids from the root, e.g. /1/4/9/")
    depth: int = strawberry.field(description="0 for a root department")
    created_at: datetime

    @classmethod
    def of(cls, d: Department) -> DepartmentType:
        return cls(
            id=strawberry.ID(encode_id("Department", d.id)),
            name=d.name,
            kind=d.kind,
            parent_id=optional_gid("Department", d.parent_id),
            community_id=optional_gid("Community", d.community_id),
            path=d.path,
            depth=org.depth_of(d.path),
            created_at=d.created_at,
        )


@strawberry.type(name="Position")
class PositionType:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, p: Position) -> PositionType:
        return cls(id=strawberry.ID(encode_id("Position", p.id)), name=p.name)


@strawberry.type
class StaffCommunity:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, c: Community) -> StaffCommunity:
        return cls(id=strawberry.ID(encode_id("Community", c.id)), name=c.name)


@strawberry.type
class StaffMember:
    id: strawberry.ID = strawberry.field(description="The staff member's User id")
    name: str
    phone: str | None = strawberry.field(description="Masked")
    email: str | None
    is_active: bool
    department: DepartmentType | None
    position: PositionType | None
    employee_no: str
    joined_on: date | None
    all_communities: bool
    communities: list[StaffCommunity] = strawberry.field(
        description="The communities they work in (their data scope)"
    )
    _user_id: strawberry.Private[int]

    @classmethod
    def of(
        cls,
        user: User,
        profile: StaffProfile | None,
        dept: Department | None,
        position: Position | None,
    ) -> StaffMember:
        return cls(
            id=strawberry.ID(encode_id("User", user.id)),
            name=user.name,
            phone=mask_phone(user.phone),
            email=user.email,
            is_active=user.is_active,
            department=DepartmentType.of(dept) if dept is not None else None,
            position=PositionType.of(position) if position is not None else None,
            employee_no=profile.employee_no if profile is not None else "",
            joined_on=profile.joined_on if profile is not None else None,
            all_communities=user.all_communities,
            communities=[],
            _user_id=user.id,
        )


@strawberry.type
class StaffTransferType:
    id: strawberry.ID
    user_id: strawberry.ID
    from_department_id: strawberry.ID | None
    to_department_id: strawberry.ID | None
    effective_on: date
    reason: str
    recorded_by: strawberry.ID | None
    created_at: datetime


def _transfer(t: Any) -> StaffTransferType:
    return StaffTransferType(
        id=strawberry.ID(encode_id("StaffTransfer", t.id)),
        user_id=strawberry.ID(encode_id("User", t.user_id)),
        from_department_id=optional_gid("Department", t.from_department_id),
        to_department_id=optional_gid("Department", t.to_department_id),
        effective_on=t.effective_on,
        reason=t.reason,
        recorded_by=optional_gid("User", t.recorded_by),
        created_at=t.created_at,
    )


@strawberry.type
class CommunityTeamMemberType:
    user_id: strawberry.ID
    name: str
    phone: str | None = strawberry.field(description="Masked")
    duty: str
    position: PositionType | None


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreateDepartmentInput:
    name: str
    kind: str = strawberry.field(default="team", description="company | region | project | team")
    parent_id: strawberry.ID | None = None
    community_id: strawberry.ID | None = None


@strawberry.input
class RenameDepartmentInput:
    id: strawberry.ID
    name: str


@strawberry.input
class MoveDepartmentInput:
    id: strawberry.ID
    parent_id: strawberry.ID | None = strawberry.field(description="None: make it a root")


@strawberry.input
class DepartmentIdInput:
    id: strawberry.ID


@strawberry.input
class CreatePositionInput:
    name: str


@strawberry.input
class RenamePositionInput:
    id: strawberry.ID
    name: str


@strawberry.input
class SetStaffProfileInput:
    user_id: strawberry.ID
    department_id: strawberry.ID | None = None
    position_id: strawberry.ID | None = None
    employee_no: str = ""
    joined_on: date | None = None


@strawberry.input
class SetStaffCommunitiesInput:
    user_id: strawberry.ID
    all_communities: bool = False
    community_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input
class TransferStaffInput:
    user_id: strawberry.ID
    to_department_id: strawberry.ID
    effective_on: date
    reason: str = ""


@strawberry.input
class TeamMemberInput:
    user_id: strawberry.ID
    duty: str = ""


@strawberry.input
class SetCommunityTeamInput:
    community_id: strawberry.ID
    members: list[TeamMemberInput]


# --- helpers -------------------------------------------------------------------------------


async def _staff_member(ctx: Any, user_id: int) -> StaffMember:
    row = (
        await ctx.session.execute(
            org.staff_select().where(User.id == user_id).execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise org.not_found("userId")
    node = StaffMember.of(*row)
    communities = await org.communities_of(ctx.session, [user_id])
    node.communities = [StaffCommunity.of(c) for c in communities[user_id]]
    return node


async def _team(ctx: Any, community_id: int) -> list[CommunityTeamMemberType]:
    rows = await org.community_team(ctx.session, community_id=community_id)
    return [
        CommunityTeamMemberType(
            user_id=strawberry.ID(encode_id("User", user.id)),
            name=user.name,
            phone=mask_phone(user.phone),
            duty=member.duty,
            position=PositionType.of(position) if position is not None else None,
        )
        for member, user, position in rows
    ]


# --- queries -------------------------------------------------------------------------------


@strawberry.type
class OrgQuery:
    @query(VIEW, description="The whole department tree, flat, parents before children")
    async def departments(self, info: strawberry.Info) -> list[DepartmentType]:
        return [DepartmentType.of(d) for d in await org.list_departments(info.context.session)]

    @query(VIEW)
    async def department(self, info: strawberry.Info, id: strawberry.ID) -> DepartmentType:
        dept = await org.get_department(info.context.session, decode_id(id, "Department", "id"))
        return DepartmentType.of(dept)

    @query(VIEW)
    async def positions(self, info: strawberry.Info) -> list[PositionType]:
        return [PositionType.of(p) for p in await org.list_positions(info.context.session)]

    @query(VIEW, description="Staff with their department, position and communities")
    async def staff_members(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        department_id: strawberry.ID | None = None,
        include_subdepartments: bool = False,
        community_id: strawberry.ID | None = None,
        search: str | None = None,
    ) -> Connection[StaffMember]:
        ctx = info.context
        dept_pk = optional_id(department_id, "Department", "departmentId")
        subtree = None
        if dept_pk is not None and include_subdepartments:
            subtree = (await org.get_department(ctx.session, dept_pk, field="departmentId")).path
        stmt = org.staff_filter(
            org.staff_select(),
            subtree_path=subtree,
            department_id=dept_pk,
            community_id=optional_id(community_id, "Community", "communityId"),
            search=search,
        )
        page = await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=lambda row: StaffMember.of(*row),
            scalars=False,
        )
        nodes = [e.node for e in page.edges]
        communities = await org.communities_of(ctx.session, [n._user_id for n in nodes])
        for n in nodes:
            n.communities = [StaffCommunity.of(c) for c in communities[n._user_id]]
        return page

    @query(VIEW)
    async def staff_member(self, info: strawberry.Info, id: strawberry.ID) -> StaffMember:
        return await _staff_member(info.context, decode_id(id, "User", "id"))

    @query(VIEW, description="Transfers of one staff member or one department, newest first")
    async def staff_transfers(
        self,
        info: strawberry.Info,
        user_id: strawberry.ID | None = None,
        department_id: strawberry.ID | None = None,
    ) -> list[StaffTransferType]:
        rows = await org.list_transfers(
            info.context.session,
            user_id=optional_id(user_id, "User", "userId"),
            department_id=optional_id(department_id, "Department", "departmentId"),
        )
        return [_transfer(t) for t in rows]

    @query(VIEW, description="The service team of a community (within the caller's scope)")
    async def community_team(
        self, info: strawberry.Info, community_id: strawberry.ID
    ) -> list[CommunityTeamMemberType]:
        ctx = info.context
        pk = decode_id(community_id, "Community", "communityId")
        (await ctx.data_scope()).check(pk)
        return await _team(ctx, pk)


# --- mutations -----------------------------------------------------------------------------


@strawberry.type
class OrgMutation:
    @mutation(ORG_MANAGE)
    async def create_department(
        self, info: strawberry.Info, input: CreateDepartmentInput
    ) -> DepartmentType:
        ctx = info.context
        dept = await org.create_department(
            ctx.session,
            name=input.name,
            kind=input.kind,
            parent_id=optional_id(input.parent_id, "Department", "parentId"),
            community_id=optional_id(input.community_id, "Community", "communityId"),
        )
        ctx.audit_target = ("Department", str(dept.id))
        return DepartmentType.of(dept)

    @mutation(ORG_MANAGE)
    async def rename_department(
        self, info: strawberry.Info, input: RenameDepartmentInput
    ) -> DepartmentType:
        ctx = info.context
        dept = await org.rename_department(
            ctx.session, department_id=decode_id(input.id, "Department", "id"), name=input.name
        )
        ctx.audit_target = ("Department", str(dept.id))
        return DepartmentType.of(dept)

    @mutation(ORG_MANAGE, description="Re-parent a department with its whole subtree")
    async def move_department(
        self, info: strawberry.Info, input: MoveDepartmentInput
    ) -> DepartmentType:
        ctx = info.context
        dept = await org.move_department(
            ctx.session,
            department_id=decode_id(input.id, "Department", "id"),
            parent_id=optional_id(input.parent_id, "Department", "parentId"),
        )
        ctx.audit_target = ("Department", str(dept.id))
        return DepartmentType.of(dept)

    @mutation(ORG_MANAGE, description="Delete an empty department")
    async def delete_department(self, info: strawberry.Info, input: DepartmentIdInput) -> bool:
        ctx = info.context
        pk = decode_id(input.id, "Department", "id")
        await org.delete_department(ctx.session, department_id=pk)
        ctx.audit_target = ("Department", str(pk))
        return True

    @mutation(ORG_MANAGE)
    async def create_position(
        self, info: strawberry.Info, input: CreatePositionInput
    ) -> PositionType:
        ctx = info.context
        position = await org.create_position(ctx.session, name=input.name)
        ctx.audit_target = ("Position", str(position.id))
        return PositionType.of(position)

    @mutation(ORG_MANAGE)
    async def rename_position(
        self, info: strawberry.Info, input: RenamePositionInput
    ) -> PositionType:
        ctx = info.context
        position = await org.rename_position(
            ctx.session, position_id=decode_id(input.id, "Position", "id"), name=input.name
        )
        ctx.audit_target = ("Position", str(position.id))
        return PositionType.of(position)

    @mutation(ORG_MANAGE, description="Department, position, employee no. and join date")
    async def set_staff_profile(
        self, info: strawberry.Info, input: SetStaffProfileInput
    ) -> StaffMember:
        ctx = info.context
        user_id = decode_id(input.user_id, "User", "userId")
        await org.set_staff_profile(
            ctx.session,
            user_id=user_id,
            department_id=optional_id(input.department_id, "Department", "departmentId"),
            position_id=optional_id(input.position_id, "Position", "positionId"),
            employee_no=input.employee_no,
            joined_on=input.joined_on,
        )
        ctx.audit_target = ("User", str(user_id))
        return await _staff_member(ctx, user_id)

    @mutation(
        ORG_MANAGE,
        description="The communities a staff member works in (their data scope); "
        "nobody grants communities outside their own scope",
    )
    async def set_staff_communities(
        self, info: strawberry.Info, input: SetStaffCommunitiesInput
    ) -> StaffMember:
        ctx = info.context
        user_id = decode_id(input.user_id, "User", "userId")
        ids = [decode_id(c, "Community", "communityIds") for c in input.community_ids]
        await check_may_manage(ctx, user_id)
        scope = await ctx.data_scope()
        had_all, had = await org.current_scope(ctx.session, user_id)
        # a scoped caller neither grants nor takes away communities beyond their own scope
        if not scope.all_communities and (
            input.all_communities or had_all or any(not scope.allows(c) for c in [*ids, *had])
        ):
            raise AppError(
                "FORBIDDEN",
                "不能授予超出自身范围的小区",
                "You cannot grant communities outside your own scope",
            )
        await org.set_staff_communities(
            ctx.session, user_id=user_id, all_communities=input.all_communities, community_ids=ids
        )
        ctx.audit_target = ("User", str(user_id))
        return await _staff_member(ctx, user_id)

    @mutation(ORG_MANAGE, description="调入调出: move a staff member, recording the transfer")
    async def transfer_staff(
        self, info: strawberry.Info, input: TransferStaffInput
    ) -> StaffTransferType:
        ctx = info.context
        user_id = decode_id(input.user_id, "User", "userId")
        record = await org.transfer_staff(
            ctx.session,
            user_id=user_id,
            to_department_id=decode_id(input.to_department_id, "Department", "toDepartmentId"),
            effective_on=input.effective_on,
            reason=input.reason,
            recorded_by=(await ctx.user()).id,
        )
        await ctx.session.refresh(record)
        ctx.audit_target = ("User", str(user_id))
        return _transfer(record)

    @mutation(ORG_MANAGE, description="Replace a community's service team")
    async def set_community_team(
        self, info: strawberry.Info, input: SetCommunityTeamInput
    ) -> list[CommunityTeamMemberType]:
        ctx = info.context
        pk = decode_id(input.community_id, "Community", "communityId")
        (await ctx.data_scope()).check(pk)
        await org.set_community_team(
            ctx.session,
            community_id=pk,
            members=[
                org.TeamMemberInput(user_id=decode_id(m.user_id, "User", "members"), duty=m.duty)
                for m in input.members
            ],
        )
        ctx.audit_target = ("Community", str(pk))
        return await _team(ctx, pk)
