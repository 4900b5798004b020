"""Yellow pages API (社区黄页).

``yellowPages`` is for everyone signed in: residents get their communities' entries and the
tenant-wide ones, staff those within their data scope; active entries only, grouped by
category. Management (``yellowPageCategories``, ``yellowPageEntries``, writes) needs
``notices.directory.manage``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.notices import yellowpages as yp
from wuye.modules.notices.graphql.readers import reader_scope
from wuye.modules.notices.models import YellowPageCategory, YellowPageEntry
from wuye.modules.notices.permissions import DIRECTORY_MANAGE

# --- types ---------------------------------------------------------------------------------


@strawberry.type
class YellowPagePhone:
    number: str = strawberry.field(description="Display form, e.g. 0571-88886666")
    tel_uri: str = strawberry.field(description="For a dial link, e.g. tel:+86-571-88886666")


@strawberry.type(name="YellowPageCategory")
class YellowPageCategoryType:
    id: strawberry.ID
    name: str = strawberry.field(description="In the request's language")
    name_zh: str
    name_en: str
    sort: int

    @classmethod
    def of(cls, c: YellowPageCategory, lang: str) -> YellowPageCategoryType:
        english = lang.startswith("en") and bool(c.name_en)
        return cls(
            id=gid("YellowPageCategory", c.id),
            name=c.name_en if english else c.name_zh,
            name_zh=c.name_zh,
            name_en=c.name_en,
            sort=c.sort,
        )


@strawberry.type(name="YellowPageEntry")
class YellowPageEntryType:
    id: strawberry.ID
    category_id: strawberry.ID
    community_id: strawberry.ID | None = strawberry.field(description="None: every community")
    name: str
    phones: list[YellowPagePhone]
    hours: str
    address: str
    notes: str
    sort: int
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, e: YellowPageEntry) -> YellowPageEntryType:
        return cls(
            id=gid("YellowPageEntry", e.id),
            category_id=gid("YellowPageCategory", e.category_id),
            community_id=optional_gid("Community", e.community_id),
            name=e.name,
            phones=[YellowPagePhone(number=p, tel_uri=yp.tel_uri(p)) for p in e.phones],
            hours=e.hours,
            address=e.address,
            notes=e.notes,
            sort=e.sort,
            active=e.active,
            created_at=e.created_at,
        )


@strawberry.type
class YellowPageSection:
    category: YellowPageCategoryType
    entries: list[YellowPageEntryType]


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreateYellowPageCategoryInput:
    name_zh: str
    name_en: str = ""
    sort: int = 0


@strawberry.input
class UpdateYellowPageCategoryInput:
    id: strawberry.ID
    name_zh: str
    name_en: str = ""
    sort: int = 0


@strawberry.input
class YellowPageIdInput:
    id: strawberry.ID


@strawberry.input
class CreateYellowPageEntryInput:
    category_id: strawberry.ID
    community_id: strawberry.ID | None = strawberry.field(
        default=None, description="None: every community (needs an all-communities scope)"
    )
    name: str
    phones: list[str] = strawberry.field(
        description="Mobiles, landlines (0571-88886666), hotlines (400...), short numbers (110)"
    )
    hours: str = ""
    address: str = ""
    notes: str = ""
    sort: int = 0
    active: bool = True


@strawberry.input
class UpdateYellowPageEntryInput(CreateYellowPageEntryInput):
    """Replaces every field of the entry."""

    id: strawberry.ID


# --- helpers -------------------------------------------------------------------------------


def _entry_data(i: CreateYellowPageEntryInput) -> yp.EntryData:
    return yp.EntryData(
        category_id=decode_id(i.category_id, "YellowPageCategory", "categoryId"),
        community_id=optional_id(i.community_id, "Community", "communityId"),
        name=i.name,
        phones=i.phones,
        hours=i.hours,
        address=i.address,
        notes=i.notes,
        sort=i.sort,
        active=i.active,
    )


async def _reader_communities(ctx: Any, community_id: int | None) -> list[int] | None:
    """The communities whose entries the caller reads (None: all); NOT_FOUND for a community
    that is not theirs."""
    scope = await reader_scope(ctx)
    if community_id is not None:
        scope.check(community_id)
        return [community_id]
    return None if scope.all_communities else sorted(scope.community_ids)


# --- queries -------------------------------------------------------------------------------


@strawberry.type
class YellowPagesQuery:
    @query(
        signed_in=True,
        description="The yellow pages by category: a community's entries (default: all of "
        "the caller's communities) and the tenant-wide ones; active entries only",
    )
    async def yellow_pages(
        self, info: strawberry.Info, community_id: strawberry.ID | None = None
    ) -> list[YellowPageSection]:
        ctx = info.context
        ids = await _reader_communities(ctx, optional_id(community_id, "Community", "communityId"))
        sections = await yp.directory(ctx.session, community_ids=ids)
        return [
            YellowPageSection(
                category=YellowPageCategoryType.of(s.category, ctx.lang),
                entries=[YellowPageEntryType.of(e) for e in s.entries],
            )
            for s in sections
        ]

    @query(DIRECTORY_MANAGE, description="Every category, in display order")
    async def yellow_page_categories(self, info: strawberry.Info) -> list[YellowPageCategoryType]:
        ctx = info.context
        return [
            YellowPageCategoryType.of(c, ctx.lang) for c in await yp.list_categories(ctx.session)
        ]

    @query(
        DIRECTORY_MANAGE,
        description="Entries within the caller's scope, inactive ones too; communityId: only "
        "that community's own entries",
    )
    async def yellow_page_entries(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        community_id: strawberry.ID | None = None,
        category_id: strawberry.ID | None = None,
        search: str | None = None,
    ) -> Connection[YellowPageEntryType]:
        ctx = info.context
        scope = await ctx.data_scope()
        community_pk = optional_id(community_id, "Community", "communityId")
        if community_pk is not None:
            scope.check(community_pk)
        stmt = yp.entries_query(
            scope=scope,
            community_id=community_pk,
            category_id=optional_id(category_id, "YellowPageCategory", "categoryId"),
            search=search,
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=YellowPageEntryType.of)

    @query(DIRECTORY_MANAGE)
    async def yellow_page_entry(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> YellowPageEntryType:
        ctx = info.context
        entry = await yp.get_entry(
            ctx.session,
            scope=await ctx.data_scope(),
            entry_id=decode_id(id, "YellowPageEntry", "id"),
        )
        return YellowPageEntryType.of(entry)


# --- mutations -----------------------------------------------------------------------------


@strawberry.type
class YellowPagesMutation:
    @mutation(DIRECTORY_MANAGE, description="Categories are shared: needs an all-communities scope")
    async def create_yellow_page_category(
        self, info: strawberry.Info, input: CreateYellowPageCategoryInput
    ) -> YellowPageCategoryType:
        ctx = info.context
        category = await yp.create_category(
            ctx.session,
            scope=await ctx.data_scope(),
            name_zh=input.name_zh,
            name_en=input.name_en,
            sort=input.sort,
        )
        ctx.audit_target = ("YellowPageCategory", str(category.id))
        return YellowPageCategoryType.of(category, ctx.lang)

    @mutation(DIRECTORY_MANAGE)
    async def update_yellow_page_category(
        self, info: strawberry.Info, input: UpdateYellowPageCategoryInput
    ) -> YellowPageCategoryType:
        ctx = info.context
        category = await yp.update_category(
            ctx.session,
            scope=await ctx.data_scope(),
            category_id=decode_id(input.id, "YellowPageCategory", "id"),
            name_zh=input.name_zh,
            name_en=input.name_en,
            sort=input.sort,
        )
        ctx.audit_target = ("YellowPageCategory", str(category.id))
        return YellowPageCategoryType.of(category, ctx.lang)

    @mutation(DIRECTORY_MANAGE, description="Only an empty category (CONFLICT otherwise)")
    async def delete_yellow_page_category(
        self, info: strawberry.Info, input: YellowPageIdInput
    ) -> bool:
        ctx = info.context
        pk = decode_id(input.id, "YellowPageCategory", "id")
        await yp.delete_category(ctx.session, scope=await ctx.data_scope(), category_id=pk)
        ctx.audit_target = ("YellowPageCategory", str(pk))
        return True

    @mutation(DIRECTORY_MANAGE)
    async def create_yellow_page_entry(
        self, info: strawberry.Info, input: CreateYellowPageEntryInput
    ) -> YellowPageEntryType:
        ctx = info.context
        entry = await yp.create_entry(
            ctx.session, scope=await ctx.data_scope(), data=_entry_data(input)
        )
        ctx.audit_target = ("YellowPageEntry", str(entry.id))
        return YellowPageEntryType.of(entry)

    @mutation(DIRECTORY_MANAGE, description="Replace every field of an entry")
    async def update_yellow_page_entry(
        self, info: strawberry.Info, input: UpdateYellowPageEntryInput
    ) -> YellowPageEntryType:
        ctx = info.context
        entry = await yp.update_entry(
            ctx.session,
            scope=await ctx.data_scope(),
            entry_id=decode_id(input.id, "YellowPageEntry", "id"),
            data=_entry_data(input),
        )
        ctx.audit_target = ("YellowPageEntry", str(entry.id))
        return YellowPageEntryType.of(entry)

    @mutation(DIRECTORY_MANAGE)
    async def delete_yellow_page_entry(
        self, info: strawberry.Info, input: YellowPageIdInput
    ) -> bool:
        ctx = info.context
        pk = decode_id(input.id, "YellowPageEntry", "id")
        await yp.delete_entry(ctx.session, scope=await ctx.data_scope(), entry_id=pk)
        ctx.audit_target = ("YellowPageEntry", str(pk))
        return True
