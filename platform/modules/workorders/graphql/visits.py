"""回访 and call recordings API.

Recordings are shown as ``WorkOrderRecording`` (metadata, no link) and never as the core
``File`` (whose ``url`` would hand out a link without the listen check and the audit row).
The only way to a recording's bytes is the ``playRecording`` mutation: it needs
``workorders.recordings.listen`` and the order in sight, and, being a mutation, the
platform's ``Access`` extension writes an audit row for every successful play.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.workorders import visits
from wuye.modules.workorders.graphql.common import viewer_of
from wuye.modules.workorders.graphql.orders import OrderType, PersonType
from wuye.modules.workorders.graphql.threads import person
from wuye.modules.workorders.models import ReturnVisit, WorkOrder
from wuye.modules.workorders.permissions import HANDLE, RECORDINGS
from wuye.storage import service as storage
from wuye.storage.graphql import file_id
from wuye.storage.models import StoredFile


async def _visit_recordings(session: AsyncSession, ids: list[int]) -> dict[int, StoredFile | None]:
    found = await storage.attached_files(session, visits.VISIT_KIND, ids)
    return {k: (v[0] if v else None) for k, v in found.items()}


@strawberry.type(name="WorkOrderRecording")
class RecordingType:
    """A call recording's metadata; play it with ``playRecording(fileId: id)``."""

    id: strawberry.ID = strawberry.field(description="The file id, for playRecording")
    source: str = strawberry.field(description="complaint | return_visit")
    content_type: str
    size: int
    created_at: datetime

    @classmethod
    def of(cls, row: StoredFile) -> RecordingType:
        return cls(
            id=gid("File", row.id),
            source="complaint" if row.attached_kind == visits.COMPLAINT_KIND else "return_visit",
            content_type=row.content_type,
            size=row.size,
            created_at=row.created_at,
        )


@strawberry.type(name="WorkOrderReturnVisit")
class VisitType:
    id: strawberry.ID
    order_id: strawberry.ID
    method: str = strawberry.field(description="phone | visit | wechat")
    outcome: str = strawberry.field(description="reached | unreachable | refused")
    satisfaction: int | None = strawberry.field(description="1-5, when reached")
    notes: str
    created_at: datetime
    row: strawberry.Private[ReturnVisit]

    @classmethod
    def of(cls, v: ReturnVisit) -> VisitType:
        return cls(
            id=gid("WorkOrderReturnVisit", v.id),
            order_id=gid("WorkOrder", v.order_id),
            method=v.method,
            outcome=v.outcome,
            satisfaction=v.satisfaction,
            notes=v.notes,
            created_at=v.created_at,
            row=v,
        )

    @strawberry.field(description="Customer service who made the visit")
    async def visitor(self, info: strawberry.Info) -> PersonType | None:
        return await person(info, self.row.visitor_id)

    @strawberry.field(description="The call recording, if one was attached (metadata only)")
    async def recording(self, info: strawberry.Info) -> RecordingType | None:
        loader = batch(info.context, "wo.visit_recordings", _visit_recordings, None)
        found = await loader.load(self.row.id)
        return None if found is None else RecordingType.of(found)


@strawberry.type(name="RecordingPlayback")
class PlaybackType:
    url: str = strawberry.field(description="A short-lived link to the recording")
    expires_at: datetime


@strawberry.input
class RecordReturnVisitInput:
    order_id: strawberry.ID
    outcome: str = strawberry.field(description="reached | unreachable | refused")
    method: str = strawberry.field(default="phone", description="phone | visit | wechat")
    satisfaction: int | None = strawberry.field(
        default=None, description="1-5, required when reached, else empty"
    )
    notes: str = ""
    recording_id: strawberry.ID | None = strawberry.field(
        default=None, description="A workorders.recording upload of the call"
    )


@strawberry.input
class AttachComplaintRecordingInput:
    order_id: strawberry.ID
    file_id: strawberry.ID = strawberry.field(description="A workorders.recording upload")


def _order_id(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "WorkOrder", "orderId")


@strawberry.type
class VisitQuery:
    @query(signed_in=True, description="Staff: the return visits of an order I see")
    async def return_visits(
        self, info: strawberry.Info, order_id: strawberry.ID
    ) -> list[VisitType]:
        ctx = info.context
        order = await visits.staff_order(
            ctx.session, await viewer_of(ctx), ctx.tenant, _order_id(order_id)
        )
        return [VisitType.of(v) for v in await ctx.session.scalars(visits.visits_of(order.id))]

    @query(
        HANDLE,
        description="Customer service: closed orders waiting for a return visit (none yet, "
        "or nobody answered), oldest order first",
    )
    async def pending_return_visits(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[OrderType]:
        ctx = info.context
        stmt = select(WorkOrder).where(visits.pending(await viewer_of(ctx)))
        # keyset on the id: the list shrinks as visits are made, and offsets would skip
        return await paginate(
            ctx, stmt, first=first, after=after, to_node=OrderType.of, keyset=[WorkOrder.id]
        )

    @query(
        signed_in=True,
        description="Staff: the call recordings of an order I see (metadata; play them with "
        "playRecording)",
    )
    async def work_order_recordings(
        self, info: strawberry.Info, order_id: strawberry.ID
    ) -> list[RecordingType]:
        ctx = info.context
        rows = await visits.recordings_of(
            ctx.session, await viewer_of(ctx), ctx.tenant, _order_id(order_id)
        )
        return [RecordingType.of(r) for r in rows]


@strawberry.type
class VisitMutation:
    @mutation(HANDLE, description="Customer service: record a return visit of a closed order")
    async def record_return_visit(
        self, info: strawberry.Info, input: RecordReturnVisitInput
    ) -> VisitType:
        ctx = info.context
        oid = _order_id(input.order_id)
        ctx.audit_target = ("WorkOrder", str(oid))
        visit = await visits.record_visit(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await viewer_of(ctx),
            oid,
            input.method,
            input.outcome,
            input.satisfaction,
            input.notes,
            optional_id(input.recording_id, "File", "recordingId"),
        )
        await ctx.session.refresh(visit)
        return VisitType.of(visit)

    @mutation(HANDLE, description="Customer service: attach a call recording to a complaint")
    async def attach_complaint_recording(
        self, info: strawberry.Info, input: AttachComplaintRecordingInput
    ) -> RecordingType:
        ctx = info.context
        oid = _order_id(input.order_id)
        ctx.audit_target = ("WorkOrder", str(oid))
        row = await visits.attach_complaint_recording(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await viewer_of(ctx),
            oid,
            file_id(input.file_id, "fileId"),
        )
        return RecordingType.of(row)

    @mutation(
        RECORDINGS,
        description="Listen to a call recording: a short-lived link; every play is audited",
    )
    async def play_recording(self, info: strawberry.Info, file_id: strawberry.ID) -> PlaybackType:
        ctx = info.context
        pk = decode_id(file_id, "File", "fileId")
        row = await visits.recording_to_play(ctx.session, await viewer_of(ctx), ctx.tenant, pk)
        ctx.audit_target = ("File", str(row.id))
        url = await storage.download_url(ctx.runtime, ctx.tenant.slug, row)
        if url is None:
            raise AppError("NOT_FOUND", field="fileId")
        ttl = ctx.runtime.settings.storage_download_ttl_s
        return PlaybackType(url=url, expires_at=datetime.now(UTC) + timedelta(seconds=ttl))
