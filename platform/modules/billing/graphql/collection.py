"""Arrears API (欠费): the list, dunning letters and publication to residents.

- ``arrears(...)`` (``billing.arrears.view``, data scope): units with overdue amounts, aged.
- ``dunningLetters(input)`` (``billing.arrears.view``): one PDF, a 催费函 page per chosen
  unit, as an ``EstateFile``; a mutation so it is audited.
- ``publishArrears(input)`` (``billing.arrears.publish``, and the module config
  ``arrears_publication_enabled``, off by default): a masked snapshot of one community.
- ``arrearsNotices(communityId)`` (signed in): residents of that community, or staff with
  ``billing.arrears.view`` in scope; anyone else NOT_FOUND.
Amounts are 元 strings with two decimals.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import select

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.pagination import PageInfo, decode_cursor, encode_cursor, page_size
from wuye.identity.permissions import grants
from wuye.modules.billing import arrears as service
from wuye.modules.billing.models import ArrearsNotice
from wuye.modules.billing.money import parse_yuan, yuan
from wuye.modules.billing.permissions import ARREARS, ARREARS_PUBLISH
from wuye.modules.estate.graphql.transfer import EstateFile
from wuye.modules.estate.residents import places_of_user


@strawberry.enum(name="ArrearsSort")
class ArrearsSort(enum.Enum):
    TOTAL = "total"
    OLDEST = "oldest"


@strawberry.type(name="ArrearsBuckets", description="Overdue 元 by the age of each bill")
class BucketsType:
    d0_30: str = strawberry.field(name="days0To30")
    d31_90: str = strawberry.field(name="days31To90")
    d91_180: str = strawberry.field(name="days91To180")
    d181: str = strawberry.field(name="over180")

    @classmethod
    def of(cls, buckets: dict[str, int]) -> BucketsType:
        return cls(**{k: yuan(v) for k, v in buckets.items()})


@strawberry.type(name="UnitArrears")
class UnitArrearsType:
    unit_id: strawberry.ID
    community_id: strawberry.ID
    place: str
    payers: str = strawberry.field(description="Current owners (else occupants), 、-joined")
    buckets: BucketsType
    total: str
    oldest_days: int
    bills: int

    @classmethod
    def of(cls, r: service.UnitArrears) -> UnitArrearsType:
        return cls(
            unit_id=gid("Unit", r.unit_id),
            community_id=gid("Community", r.community_id),
            place=r.place,
            payers=r.payers,
            buckets=BucketsType.of(r.buckets),
            total=yuan(r.total_fen),
            oldest_days=r.oldest_days,
            bills=r.bills,
        )


@strawberry.type(name="ArrearsList")
class ArrearsListType:
    as_of: date = strawberry.field(description="Today in the company's time zone")
    total_count: int
    nodes: list[UnitArrearsType]
    page_info: PageInfo


@strawberry.type(name="ArrearsNoticeItem")
class NoticeItemType:
    place: str
    name: str = strawberry.field(description="Masked: the first character and **")
    amount: str
    days: int


@strawberry.type(name="ArrearsNotice")
class NoticeType:
    id: strawberry.ID
    community_id: strawberry.ID
    note: str
    as_of: date
    total: str
    items: list[NoticeItemType]
    published_at: datetime

    @classmethod
    def of(cls, n: ArrearsNotice) -> NoticeType:
        return cls(
            id=gid("ArrearsNotice", n.id),
            community_id=gid("Community", n.community_id),
            note=n.note,
            as_of=n.as_of,
            total=yuan(n.total_fen),
            items=[
                NoticeItemType(
                    place=i["place"], name=i["name"], amount=yuan(i["amount_fen"]), days=i["days"]
                )
                for i in n.items
            ],
            published_at=n.created_at,
        )


@strawberry.input(name="DunningLettersInput")
class LettersInput:
    unit_ids: list[strawberry.ID]


@strawberry.input(name="PublishArrearsInput")
class PublishInput:
    community_id: strawberry.ID
    note: str = ""


def _today(ctx: Any) -> date:
    return ctx.tenant.today()  # type: ignore[no-any-return]


@strawberry.type
class CollectionQuery:
    @query(ARREARS, description="Units with overdue amounts (your communities), aged")
    async def arrears(
        self,
        info: strawberry.Info,
        community_id: strawberry.ID | None = None,
        building_id: strawberry.ID | None = None,
        min_amount: str | None = None,
        sort: ArrearsSort = ArrearsSort.TOTAL,
        first: int | None = None,
        after: str | None = None,
    ) -> ArrearsListType:
        ctx = info.context
        settings = ctx.runtime.settings
        limit = page_size(
            first,
            default=settings.graphql_default_page_size,
            maximum=settings.graphql_max_page_size,
        )
        offset = decode_cursor(after) + 1 if after else 0
        try:
            min_fen = parse_yuan(min_amount) if min_amount else 0
        except (ValueError, ArithmeticError) as e:
            raise AppError("VALIDATION_FAILED", field="minAmount") from e
        page = await service.arrears(
            ctx.session,
            service.ArrearsFilters(
                community_id=optional_id(community_id, "Community", "communityId"),
                building_id=optional_id(building_id, "Building", "buildingId"),
                min_fen=min_fen,
                sort=sort.value,
                limit=limit,
                offset=offset,
            ),
            scope=await ctx.data_scope(),
            today=_today(ctx),
        )
        cursors = [encode_cursor(offset + i) for i in range(len(page.rows))]
        return ArrearsListType(
            as_of=page.as_of,
            total_count=page.total_count,
            nodes=[UnitArrearsType.of(r) for r in page.rows],
            page_info=PageInfo(
                has_next_page=offset + len(page.rows) < page.total_count,
                has_previous_page=offset > 0,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
        )

    @query(
        signed_in=True,
        description="Published arrears lists of a community (its residents; staff in scope)",
    )
    async def arrears_notices(
        self, info: strawberry.Info, community_id: strawberry.ID, first: int = 10
    ) -> list[NoticeType]:
        ctx = info.context
        cid = decode_id(community_id, "Community", "communityId")
        user = await ctx.user()
        if user.kind == "staff":
            allowed = grants(await ctx.permissions(), ARREARS.key) and (
                await ctx.data_scope()
            ).allows(cid)
        else:
            allowed = cid in (await places_of_user(ctx.session, user.id)).community_ids
        if not allowed:
            raise AppError("NOT_FOUND", field="communityId")
        rows = await ctx.session.scalars(
            select(ArrearsNotice)
            .where(ArrearsNotice.community_id == cid)
            .order_by(ArrearsNotice.id.desc())
            .limit(max(1, min(first, 50)))
        )
        return [NoticeType.of(n) for n in rows]


@strawberry.type
class CollectionMutation:
    @mutation(ARREARS, description="催费函: one PDF, a page per chosen unit (audited)")
    async def dunning_letters(self, info: strawberry.Info, input: LettersInput) -> EstateFile:
        ctx = info.context
        ids = [decode_id(i, "Unit", "unitIds") for i in input.unit_ids]
        today = _today(ctx)
        letters = await service.letters_of(
            ctx.session, ids, scope=await ctx.data_scope(), today=today
        )
        data = service.letter_pages(ctx.tenant, letters, today)
        return EstateFile.of(
            f"催费函-dunning-letters-{today.isoformat()}.pdf", "application/pdf", data
        )

    @mutation(
        ARREARS_PUBLISH,
        description="Publish a community's arrears list to its residents (names masked); "
        "only if the company turned arrears_publication_enabled on",
    )
    async def publish_arrears(self, info: strawberry.Info, input: PublishInput) -> NoticeType:
        ctx = info.context
        cid = decode_id(input.community_id, "Community", "communityId")
        user = await ctx.user()
        notice = await service.publish(
            ctx.session,
            ctx.tenant,
            community_id=cid,
            note=input.note,
            scope=await ctx.data_scope(),
            actor_id=user.id,
            today=_today(ctx),
        )
        await ctx.session.refresh(notice)
        return NoticeType.of(notice)
