"""Work-order setup API (``workorders.settings.manage``): categories with their deadlines,
and residents' customer levels.

Residents and the phone desk pick from ``workOrderCategories`` (active ones, in
``graphql/orders.py``); ``workOrderCategoryList`` is the settings screen's list, inactive
ones too. Categories are switched off, never deleted: orders refer to them.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.models import User
from wuye.identity.passwords import mask_phone
from wuye.modules.workorders import setup
from wuye.modules.workorders.graphql.orders import CategoryType
from wuye.modules.workorders.models import CustomerLevel
from wuye.modules.workorders.permissions import SETTINGS

# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="WorkOrderCustomerLevel")
class CustomerLevelType:
    user_id: strawberry.ID
    name: str
    phone: str | None = strawberry.field(description="Masked")
    level: str = strawberry.field(description="normal | vip")
    updated_at: datetime

    @classmethod
    def of(cls, row: CustomerLevel, user: User) -> CustomerLevelType:
        return cls(
            user_id=gid("User", user.id),
            name=user.name,
            phone=mask_phone(user.phone),
            level=row.level,
            updated_at=row.updated_at,
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreateWorkOrderCategoryInput:
    name_zh: str
    name_en: str = ""
    types: list[str] = strawberry.field(
        default_factory=list,
        description="Order types it applies to (repair, appointment, complaint, "
        "consultation, suggestion); empty: all",
    )
    default_team_id: strawberry.ID | None = strawberry.field(
        default=None, description="A department of kind team: new orders go to it"
    )
    response_minutes: int = strawberry.field(
        default=30, description="Accept within this many minutes of submission"
    )
    completion_minutes: int = strawberry.field(
        default=1440, description="Finish within this many minutes of submission"
    )
    escalation_minutes: int = strawberry.field(
        default=120, description="Escalate this many minutes after a missed deadline"
    )
    sort: int = 0


@strawberry.input
class UpdateWorkOrderCategoryInput(CreateWorkOrderCategoryInput):
    """Replaces every field of the category (but whether it is active). New deadlines count
    for orders submitted from now on."""

    id: strawberry.ID


@strawberry.input
class SetWorkOrderCategoryActiveInput:
    id: strawberry.ID
    active: bool


@strawberry.input
class SetCustomerLevelInput:
    user_id: strawberry.ID
    level: str = strawberry.field(description="normal | vip")


def _data(i: CreateWorkOrderCategoryInput) -> setup.CategoryData:
    return setup.CategoryData(
        name_zh=i.name_zh,
        name_en=i.name_en,
        types=i.types,
        default_team_id=optional_id(i.default_team_id, "Department", "defaultTeamId"),
        response_minutes=i.response_minutes,
        completion_minutes=i.completion_minutes,
        escalation_minutes=i.escalation_minutes,
        sort=i.sort,
    )


def _category_id(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "WorkOrderCategory", "id")


# --- API -----------------------------------------------------------------------------------


@strawberry.type
class SetupQuery:
    @query(SETTINGS, description="Every category for the settings screen, in display order")
    async def work_order_category_list(
        self, info: strawberry.Info, include_inactive: bool = False
    ) -> list[CategoryType]:
        found = await setup.list_categories(info.context.session, include_inactive=include_inactive)
        return [CategoryType.of(c) for c in found]

    @query(
        SETTINGS,
        description="Residents with a customer level set (in my communities), most recently "
        "changed first; level: only those at it",
    )
    async def customer_levels(
        self,
        info: strawberry.Info,
        level: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CustomerLevelType]:
        ctx = info.context
        stmt = setup.customer_levels_query(await ctx.data_scope(), level=level)
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            scalars=False,
            to_node=lambda row: CustomerLevelType.of(row[0], row[1]),
        )


@strawberry.type
class SetupMutation:
    @mutation(SETTINGS, description="A new category (name unique: CONFLICT)")
    async def create_work_order_category(
        self, info: strawberry.Info, input: CreateWorkOrderCategoryInput
    ) -> CategoryType:
        category = await setup.create_category(info.context.session, _data(input))
        return CategoryType.of(category)

    @mutation(SETTINGS, description="Change a category (every field but active)")
    async def update_work_order_category(
        self, info: strawberry.Info, input: UpdateWorkOrderCategoryInput
    ) -> CategoryType:
        category = await setup.update_category(
            info.context.session, _category_id(input.id), _data(input)
        )
        return CategoryType.of(category)

    @mutation(
        SETTINGS,
        description="Switch a category off (hidden from new orders; orders keep it) or on",
    )
    async def set_work_order_category_active(
        self, info: strawberry.Info, input: SetWorkOrderCategoryActiveInput
    ) -> CategoryType:
        category = await setup.set_category_active(
            info.context.session, _category_id(input.id), input.active
        )
        return CategoryType.of(category)

    @mutation(
        SETTINGS,
        description="A resident's customer level (vip complaints need workorders.complaints.vip); "
        "orders take it when submitted",
    )
    async def set_customer_level(
        self, info: strawberry.Info, input: SetCustomerLevelInput
    ) -> CustomerLevelType:
        ctx = info.context
        row, user = await setup.set_customer_level(
            ctx.session,
            scope=await ctx.data_scope(),
            actor_id=(await ctx.user()).id,
            user_id=decode_id(input.user_id, "User", "userId"),
            level=input.level,
        )
        return CustomerLevelType.of(row, user)
