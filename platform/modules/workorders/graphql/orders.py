"""Work orders API: residents submit and follow their orders; customer service, dispatchers
and workers move them through the workflow (one mutation per step, each checked against
``workflow.ACTIONS``); everyone sees the timeline they are allowed to see.

Root fields are ``signed_in``: who may act on an order depends on the order (its community,
type, level, worker), so the service decides per order and denies by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import Select, any_, func, literal, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.passwords import mask_phone
from wuye.modules.estate.models import Community
from wuye.modules.estate.property import unit_labels
from wuye.modules.workorders import orders, threads, workflow
from wuye.modules.workorders.graphql.common import order_id, users_by_id, viewer_of
from wuye.modules.workorders.models import Category, OrderEvent, WorkOrder
from wuye.modules.workorders.permissions import VIEW, WORK
from wuye.storage import service as storage
from wuye.storage.graphql import File, file_id
from wuye.storage.models import StoredFile

# --- batched lookups -----------------------------------------------------------------------


async def _community_names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    rows = await session.execute(select(Community.id, Community.name).where(Community.id.in_(ids)))
    return {r[0]: r[1] for r in rows}


async def _categories(session: AsyncSession, ids: list[int]) -> dict[int, Category]:
    return {c.id: c for c in await session.scalars(select(Category).where(Category.id.in_(ids)))}


def _last_events(*, staff: bool) -> Any:
    """The latest event of each order; residents' latest skips staff-only remarks."""

    async def fetch(session: AsyncSession, ids: list[int]) -> dict[int, OrderEvent]:
        stmt = select(OrderEvent).where(OrderEvent.order_id.in_(ids))
        if not staff:
            stmt = stmt.where(OrderEvent.internal.is_(False))
        rows = await session.scalars(
            stmt.ext(distinct_on(OrderEvent.order_id)).order_by(
                OrderEvent.order_id, OrderEvent.id.desc()
            )
        )
        return {e.order_id: e for e in rows}

    return fetch


async def _events(session: AsyncSession, ids: list[int]) -> dict[int, list[OrderEvent]]:
    found: dict[int, list[OrderEvent]] = {}
    rows = await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id.in_(ids)).order_by(OrderEvent.id)
    )
    for e in rows:
        found.setdefault(e.order_id, []).append(e)
    return found


def _files_of(kind: str) -> Any:
    async def fetch(session: AsyncSession, ids: list[int]) -> dict[int, list[StoredFile]]:
        return await storage.attached_files(session, kind, ids)

    return fetch


# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="WorkOrderPerson")
class PersonType:
    id: strawberry.ID
    name: str
    phone: str | None


@strawberry.type(name="WorkOrderCategory")
class CategoryType:
    id: strawberry.ID
    name_zh: str
    name_en: str
    types: list[str] = strawberry.field(description="Order types it applies to; empty: all")
    default_team_id: strawberry.ID | None
    response_minutes: int
    completion_minutes: int
    escalation_minutes: int
    active: bool
    sort: int

    @classmethod
    def of(cls, c: Category) -> CategoryType:
        return cls(
            id=gid("WorkOrderCategory", c.id),
            name_zh=c.name_zh,
            name_en=c.name_en,
            types=list(c.types or []),
            default_team_id=None
            if c.default_team_id is None
            else gid("Department", c.default_team_id),
            response_minutes=c.response_minutes,
            completion_minutes=c.completion_minutes,
            escalation_minutes=c.escalation_minutes,
            active=c.active,
            sort=c.sort,
        )


@strawberry.type(name="WorkOrderMaterial")
class MaterialType:
    name: str
    quantity: float
    unit: str
    price_fen: int


@strawberry.type(name="WorkOrderEvent")
class EventType:
    action: str
    from_status: str | None
    to_status: str
    actor: PersonType | None
    note: str
    at: datetime


@strawberry.type(name="WorkOrder")
class OrderType:
    id: strawberry.ID
    number: str
    type: str = strawberry.field(
        description="repair | appointment | complaint | consultation | suggestion"
    )
    status: str
    source: str = strawberry.field(description="app | phone | staff")
    description: str
    location: str
    contact_name: str
    preferred_start: datetime | None
    preferred_end: datetime | None
    arrival_at: datetime | None
    fee_standard: str
    fee_fen: int | None = strawberry.field(description="Fee in fen (分) for a paid repair")
    completion_notes: str
    materials: list[MaterialType]
    rating: int | None
    rating_comment: str
    reason: str = strawberry.field(description="Why it was rejected, paused or reopened")
    reopen_count: int
    response_due_at: datetime | None
    completion_due_at: datetime | None
    overdue: bool
    accepted_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[WorkOrder]

    @classmethod
    def of(cls, o: WorkOrder) -> OrderType:
        return cls(
            id=gid("WorkOrder", o.id),
            number=o.number,
            type=o.type,
            status=o.status,
            source=o.source,
            description=o.description,
            location=o.location,
            contact_name=o.contact_name,
            preferred_start=o.preferred_start,
            preferred_end=o.preferred_end,
            arrival_at=o.arrival_at,
            fee_standard=o.fee_standard,
            fee_fen=o.fee_fen,
            completion_notes=o.completion_notes,
            materials=[MaterialType(**m) for m in o.materials or []],
            rating=o.rating,
            rating_comment=o.rating_comment,
            reason=o.reason,
            reopen_count=o.reopen_count,
            response_due_at=o.response_due_at,
            completion_due_at=o.completion_due_at,
            overdue=o.overdue_at is not None,
            accepted_at=o.accepted_at,
            completed_at=o.completed_at,
            closed_at=o.closed_at,
            created_at=o.created_at,
            updated_at=o.updated_at,
            row=o,
        )

    async def _actors(self, info: strawberry.Info) -> set[str]:
        viewer = await viewer_of(info.context)
        return orders.actors_of(viewer, self.row, info.context.tenant)

    @strawberry.field(description="Where: 小区 楼栋 房号, or the community and location")
    async def place(self, info: strawberry.Info) -> str:
        o = self.row
        if o.unit_id is not None:
            return await batch(info.context, "wo.places", unit_labels, "").load(o.unit_id)
        name = await batch(info.context, "wo.communities", _community_names, "").load(
            o.community_id
        )
        return " ".join(p for p in (name, o.location) if p)

    @strawberry.field
    def community_id(self) -> strawberry.ID:
        return gid("Community", self.row.community_id)

    @strawberry.field
    def unit_id(self) -> strawberry.ID | None:
        return None if self.row.unit_id is None else gid("Unit", self.row.unit_id)

    @strawberry.field
    async def category(self, info: strawberry.Info) -> CategoryType | None:
        if self.row.category_id is None:
            return None
        found = await batch(info.context, "wo.categories", _categories, None).load(
            self.row.category_id
        )
        return CategoryType.of(found) if found else None

    @strawberry.field(description="Full number for those handling it or who asked; masked else")
    async def contact_phone(self, info: strawberry.Info) -> str:
        actors = await self._actors(info)
        if actors & {"resident", "desk", "dispatcher", "assignee"}:
            return self.row.contact_phone
        return mask_phone(self.row.contact_phone) or ""

    @strawberry.field
    async def resident(self, info: strawberry.Info) -> PersonType | None:
        return await self._person(info, self.row.resident_id, masked=True)

    @strawberry.field(description="The worker it is dispatched to (name and phone)")
    async def worker(self, info: strawberry.Info) -> PersonType | None:
        return await self._person(info, self.row.worker_id, masked=False)

    async def _person(
        self, info: strawberry.Info, user_id: int | None, *, masked: bool
    ) -> PersonType | None:
        if user_id is None:
            return None
        user = await batch(info.context, "wo.users", users_by_id, None).load(user_id)
        if user is None:
            return None
        phone = user.phone
        if masked and not (await self._actors(info)) & {"resident", "desk", "assignee"}:
            phone = mask_phone(phone)
        return PersonType(id=gid("User", user.id), name=user.name, phone=phone)

    @strawberry.field(description="Photos taken when it was reported")
    async def photos(self, info: strawberry.Info) -> list[File]:
        loader = batch(info.context, "wo.photos", _files_of(orders.BEFORE), list[StoredFile]())
        return [File.of(f) for f in await loader.load(self.row.id)]

    @strawberry.field(description="Photos the worker took when done")
    async def after_photos(self, info: strawberry.Info) -> list[File]:
        loader = batch(info.context, "wo.after_photos", _files_of(orders.AFTER), list[StoredFile]())
        return [File.of(f) for f in await loader.load(self.row.id)]

    @strawberry.field(description="The latest step (residents: the latest they may see)")
    async def last_event(self, info: strawberry.Info) -> EventType | None:
        staff = (await viewer_of(info.context)).is_staff
        loader = batch(info.context, f"wo.last_event.{staff}", _last_events(staff=staff), None)
        event = await loader.load(self.row.id)
        return None if event is None else (await _event_types(info, [event]))[0]

    @strawberry.field(description="Consultations: messages from the other side I have not read")
    async def unread_messages(self, info: strawberry.Info) -> int:
        viewer = await viewer_of(info.context)

        async def fetch(session: AsyncSession, ids: list[int]) -> dict[int, int]:
            return await threads.unread_counts(session, viewer, ids)

        return await batch(info.context, "wo.unread", fetch, 0).load(self.row.id)

    @strawberry.field(description="The timeline (residents do not see staff-only remarks)")
    async def events(self, info: strawberry.Info) -> list[EventType]:
        found = await batch(info.context, "wo.events", _events, list[OrderEvent]()).load(
            self.row.id
        )
        if not (await viewer_of(info.context)).is_staff:
            found = [e for e in found if not e.internal]
        return await _event_types(info, found)

    @strawberry.field(description="The steps I can take now (the buttons to show)")
    async def actions(self, info: strawberry.Info) -> list[str]:
        return workflow.available(
            status=self.row.status, order_type=self.row.type, actors=await self._actors(info)
        )


async def _event_types(info: strawberry.Info, events: list[OrderEvent]) -> list[EventType]:
    loader = batch(info.context, "wo.users", users_by_id, None)
    actors = await loader.load_many([e.actor_id or 0 for e in events])
    return [
        EventType(
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            actor=None if a is None else PersonType(id=gid("User", a.id), name=a.name, phone=None),
            note=e.note,
            at=e.created_at,
        )
        for e, a in zip(events, actors, strict=True)
    ]


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class SubmitWorkOrderInput:
    type: str = strawberry.field(
        description="repair | appointment | complaint | consultation | suggestion"
    )
    description: str
    unit_id: strawberry.ID | None = None
    community_id: strawberry.ID | None = strawberry.field(
        default=None, description="For a public area (no unit)"
    )
    category_id: strawberry.ID | None = None
    location: str = ""
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None
    photo_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    contact_name: str = ""
    contact_phone: str = ""
    resident_id: strawberry.ID | None = strawberry.field(
        default=None, description="Staff reporting a phone call for this resident"
    )


@strawberry.input
class MaterialInput:
    name: str
    quantity: float = 1
    unit: str = ""
    price_fen: int = 0


@strawberry.input
class WorkOrderStepInput:
    """One step; each mutation reads the fields its step needs."""

    id: strawberry.ID
    reason: str = ""
    note: str = ""
    worker_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    into_id: strawberry.ID | None = None
    arrival_at: datetime | None = None
    fee_standard: str = ""
    fee_fen: int | None = None
    materials: list[MaterialInput] = strawberry.field(default_factory=list)
    photo_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    rating: int | None = None
    comment: str = ""


def _opt(global_id: strawberry.ID | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, type_name, field)


def _new_order(i: SubmitWorkOrderInput) -> orders.NewOrder:
    return orders.NewOrder(
        type=i.type,
        description=i.description,
        community_id=_opt(i.community_id, "Community", "communityId"),
        unit_id=_opt(i.unit_id, "Unit", "unitId"),
        category_id=_opt(i.category_id, "WorkOrderCategory", "categoryId"),
        location=i.location,
        preferred_start=i.preferred_start,
        preferred_end=i.preferred_end,
        photo_file_ids=[file_id(p, "photoIds") for p in i.photo_ids],
        contact_name=i.contact_name,
        contact_phone=i.contact_phone,
        resident_id=_opt(i.resident_id, "User", "residentId"),
    )


def _step(i: WorkOrderStepInput) -> orders.Step:
    return orders.Step(
        reason=i.reason,
        note=i.note,
        worker_id=_opt(i.worker_id, "User", "workerId"),
        team_id=_opt(i.team_id, "Department", "teamId"),
        into_id=_opt(i.into_id, "WorkOrder", "intoId"),
        arrival_at=i.arrival_at,
        fee_standard=i.fee_standard,
        fee_fen=i.fee_fen,
        materials=[
            {"name": m.name, "quantity": m.quantity, "unit": m.unit, "price_fen": m.price_fen}
            for m in i.materials
        ],
        photo_file_ids=[file_id(p, "photoIds") for p in i.photo_ids],
        rating=i.rating,
        comment=i.comment,
    )


async def _take(info: strawberry.Info, action: str, i: WorkOrderStepInput) -> OrderType:
    ctx = info.context
    order = await orders.act(
        ctx.session,
        ctx.runtime,
        ctx.tenant,
        await viewer_of(ctx),
        order_id(i.id),
        action,
        _step(i),
    )
    return OrderType.of(order)


# --- API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: list[str] | None
    type: str | None
    community_id: strawberry.ID | None
    overdue: bool | None
    search: str | None


def _filtered(stmt: Select[Any], f: Filters) -> Select[Any]:
    if f.status:
        stmt = stmt.where(WorkOrder.status.in_(f.status))
    if f.type is not None:
        stmt = stmt.where(WorkOrder.type == f.type)
    if f.community_id is not None:
        stmt = stmt.where(
            WorkOrder.community_id == decode_id(f.community_id, "Community", "communityId")
        )
    if f.overdue is not None:
        stmt = stmt.where(
            WorkOrder.overdue_at.is_not(None) if f.overdue else WorkOrder.overdue_at.is_(None)
        )
    if f.search:
        like = f"%{f.search.strip()}%"
        stmt = stmt.where(
            WorkOrder.number.ilike(like)
            | WorkOrder.description.ilike(like)
            | WorkOrder.contact_name.ilike(like)
        )
    return stmt


def _newest_first(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())


@strawberry.type
class OrderQuery:
    @query(
        VIEW, description="Staff: orders of my communities (complaints at my level), newest first"
    )
    async def work_orders(
        self,
        info: strawberry.Info,
        status: list[str] | None = None,
        type: str | None = None,
        community_id: strawberry.ID | None = None,
        overdue: bool | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[OrderType]:
        ctx = info.context
        viewer = await viewer_of(ctx)
        stmt = select(WorkOrder).where(orders.desk_sees(viewer))
        stmt = _filtered(stmt, Filters(status, type, community_id, overdue, search))
        return await paginate(
            ctx, _newest_first(stmt), first=first, after=after, to_node=OrderType.of
        )

    @query(WORK, description="Worker: my open orders, my team's to confirm, and the grab pool")
    async def my_work_queue(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[OrderType]:
        ctx = info.context
        viewer = await viewer_of(ctx)
        stmt = select(WorkOrder).where(orders.worker_queue(viewer, ctx.tenant))
        return await paginate(
            ctx, _newest_first(stmt), first=first, after=after, to_node=OrderType.of
        )

    @query(signed_in=True, description="Resident: the orders I submitted (or were filed for me)")
    async def my_work_orders(
        self,
        info: strawberry.Info,
        status: list[str] | None = None,
        type: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[OrderType]:
        ctx = info.context
        user = await ctx.user()
        stmt = select(WorkOrder).where(WorkOrder.resident_id == user.id)
        stmt = _filtered(stmt, Filters(status, type, None, None, None))
        return await paginate(
            ctx, _newest_first(stmt), first=first, after=after, to_node=OrderType.of
        )

    @query(signed_in=True, description="One order I may see (resident, staff or worker)")
    async def work_order(self, info: strawberry.Info, id: strawberry.ID) -> OrderType:
        ctx = info.context
        found = await orders.get_order(ctx.session, await viewer_of(ctx), ctx.tenant, order_id(id))
        return OrderType.of(found)

    @query(signed_in=True, description="Categories residents and staff can pick (active ones)")
    async def work_order_categories(
        self, info: strawberry.Info, type: str | None = None
    ) -> list[CategoryType]:
        stmt = select(Category).where(Category.active).order_by(Category.sort, Category.id)
        if type is not None:
            stmt = stmt.where(
                (func.cardinality(Category.types) == 0) | (literal(type) == any_(Category.types))
            )
        return [CategoryType.of(c) for c in await info.context.session.scalars(stmt)]


def _step_mutation(action: str, description: str) -> Any:
    @mutation(signed_in=True, description=description)
    async def resolve(self: Any, info: strawberry.Info, input: WorkOrderStepInput) -> OrderType:
        return await _take(info, action, input)

    return resolve


@strawberry.type
class OrderMutation:
    @mutation(signed_in=True, description="Resident: report; customer service: file a call")
    async def submit_work_order(
        self, info: strawberry.Info, input: SubmitWorkOrderInput
    ) -> OrderType:
        ctx = info.context
        order = await orders.submit(
            ctx.session, ctx.runtime, ctx.tenant, await viewer_of(ctx), _new_order(input)
        )
        return OrderType.of(order)

    accept_work_order = _step_mutation("accept", "Customer service: accept (受理)")
    reject_work_order = _step_mutation("reject", "Customer service: reject, with a reason")
    merge_work_order = _step_mutation("merge", "Customer service: merge a duplicate into intoId")
    cancel_work_order = _step_mutation("cancel", "Resident or customer service, before dispatch")
    dispatch_work_order = _step_mutation("dispatch", "Dispatch (派工) to workerId or teamId")
    grab_work_order = _step_mutation("grab", "Worker: take an open order (抢单), if allowed")
    transfer_work_order = _step_mutation("transfer", "Dispatcher: give it to another worker")
    confirm_work_order = _step_mutation(
        "confirm", "Worker: confirm with arrival time (and fee standard for paid repairs)"
    )
    start_work_order = _step_mutation("start", "Worker: on site, work begins")
    take_up_work_order = _step_mutation(
        "take_up", "Customer service: start on a consultation or suggestion"
    )
    pause_work_order = _step_mutation("pause", "Pause, with a reason")
    resume_work_order = _step_mutation("resume", "Resume a paused order")
    complete_work_order = _step_mutation(
        "complete", "Worker: done, with notes, materials and after photos"
    )
    answer_work_order = _step_mutation(
        "answer", "Customer service: answer a consultation or suggestion"
    )
    rate_work_order = _step_mutation("rate", "Resident: 1-5 stars and a comment")
    close_work_order = _step_mutation("close", "Customer service: close a completed order")
    reopen_work_order = _step_mutation("reopen", "Resident: not fixed, reopen (within N days)")
