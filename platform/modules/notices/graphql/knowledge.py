"""Knowledge base API (知识库).

Reads are for everyone signed in: residents see published articles of their communities and
tenant-wide ones; staff see those within their data scope, drafts too when they hold
``notices.directory.manage``, which every write needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.permissions import grants
from wuye.identity.scope import DataScope
from wuye.modules.notices import knowledge as kb
from wuye.modules.notices.graphql.readers import reader_scope
from wuye.modules.notices.models import KbArticle
from wuye.modules.notices.permissions import DIRECTORY_MANAGE

# --- types ---------------------------------------------------------------------------------


@strawberry.type(name="KbArticle")
class KbArticleType:
    id: strawberry.ID
    category: str = strawberry.field(description="service_item | price | policy | process | faq")
    community_id: strawberry.ID | None = strawberry.field(description="None: every community")
    title: str
    body_format: str = strawberry.field(description="markdown | html")
    body_source: str | None = strawberry.field(description="Only for editors")
    body_html: str = strawberry.field(description="Sanitised HTML to render")
    summary: str
    status: str = strawberry.field(description="draft | published")
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: KbArticle, *, editor: bool) -> KbArticleType:
        return cls(
            id=gid("KbArticle", a.id),
            category=a.category,
            community_id=optional_gid("Community", a.community_id),
            title=a.title,
            body_format=a.body_format,
            body_source=a.body_source if editor else None,
            body_html=a.body_html,
            summary=a.summary,
            status=a.status,
            published_at=a.published_at,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreateKbArticleInput:
    category: str = strawberry.field(description="service_item | price | policy | process | faq")
    community_id: strawberry.ID | None = strawberry.field(
        default=None, description="None: every community (needs an all-communities scope)"
    )
    title: str
    body: str
    body_format: str = "markdown"
    publish: bool = strawberry.field(default=False, description="Publish at once")


@strawberry.input
class UpdateKbArticleInput:
    """Replaces the content; the status stays."""

    id: strawberry.ID
    category: str
    community_id: strawberry.ID | None = None
    title: str
    body: str
    body_format: str = "markdown"


@strawberry.input
class KbArticleIdInput:
    id: strawberry.ID


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reader:
    scope: DataScope
    editor: bool  # sees drafts and sources


async def _reader(ctx: Any) -> _Reader:
    user = await ctx.user()
    editor = user.kind == "staff" and grants(await ctx.permissions(), str(DIRECTORY_MANAGE))
    return _Reader(await reader_scope(ctx), editor)


def _data(i: CreateKbArticleInput | UpdateKbArticleInput) -> kb.ArticleData:
    return kb.ArticleData(
        category=i.category,
        community_id=optional_id(i.community_id, "Community", "communityId"),
        title=i.title,
        body=i.body,
        body_format=i.body_format,
    )


# --- queries -------------------------------------------------------------------------------


@strawberry.type
class KnowledgeQuery:
    @query(
        signed_in=True,
        description="Knowledge-base articles the caller may read, newest first; with "
        "`search`, those containing every word of it, best match first",
    )
    async def kb_articles(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        category: str | None = None,
        community_id: strawberry.ID | None = None,
        status: str | None = None,
        search: str | None = None,
    ) -> Connection[KbArticleType]:
        ctx = info.context
        reader = await _reader(ctx)
        community_pk = optional_id(community_id, "Community", "communityId")
        if community_pk is not None:
            reader.scope.check(community_pk)
        stmt = await kb.articles_query(
            scope=reader.scope,
            drafts=reader.editor,
            category=category,
            community_id=community_pk,
            status=status,
            query=search,
        )
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=lambda a: KbArticleType.of(a, editor=reader.editor),
        )

    @query(signed_in=True)
    async def kb_article(self, info: strawberry.Info, id: strawberry.ID) -> KbArticleType:
        ctx = info.context
        reader = await _reader(ctx)
        article = await kb.get_article(
            ctx.session,
            scope=reader.scope,
            article_id=decode_id(id, "KbArticle", "id"),
            drafts=reader.editor,
        )
        return KbArticleType.of(article, editor=reader.editor)


# --- mutations -----------------------------------------------------------------------------


@strawberry.type
class KnowledgeMutation:
    @mutation(DIRECTORY_MANAGE)
    async def create_kb_article(
        self, info: strawberry.Info, input: CreateKbArticleInput
    ) -> KbArticleType:
        ctx = info.context
        article = await kb.create_article(
            ctx.session,
            scope=await ctx.data_scope(),
            data=_data(input),
            actor_id=(await ctx.user()).id,
            publish=input.publish,
        )
        ctx.audit_target = ("KbArticle", str(article.id))
        return KbArticleType.of(article, editor=True)

    @mutation(DIRECTORY_MANAGE, description="Replace an article's content (status stays)")
    async def update_kb_article(
        self, info: strawberry.Info, input: UpdateKbArticleInput
    ) -> KbArticleType:
        ctx = info.context
        article = await kb.update_article(
            ctx.session,
            scope=await ctx.data_scope(),
            article_id=decode_id(input.id, "KbArticle", "id"),
            data=_data(input),
            actor_id=(await ctx.user()).id,
        )
        ctx.audit_target = ("KbArticle", str(article.id))
        return KbArticleType.of(article, editor=True)

    @mutation(DIRECTORY_MANAGE)
    async def publish_kb_article(
        self, info: strawberry.Info, input: KbArticleIdInput
    ) -> KbArticleType:
        return await _set_published(info, input, published=True)

    @mutation(DIRECTORY_MANAGE, description="Back to draft: residents no longer see it")
    async def unpublish_kb_article(
        self, info: strawberry.Info, input: KbArticleIdInput
    ) -> KbArticleType:
        return await _set_published(info, input, published=False)

    @mutation(DIRECTORY_MANAGE)
    async def delete_kb_article(self, info: strawberry.Info, input: KbArticleIdInput) -> bool:
        ctx = info.context
        pk = decode_id(input.id, "KbArticle", "id")
        await kb.delete_article(ctx.session, scope=await ctx.data_scope(), article_id=pk)
        ctx.audit_target = ("KbArticle", str(pk))
        return True


async def _set_published(
    info: strawberry.Info, input: KbArticleIdInput, *, published: bool
) -> KbArticleType:
    ctx = info.context
    article = await kb.set_published(
        ctx.session,
        scope=await ctx.data_scope(),
        article_id=decode_id(input.id, "KbArticle", "id"),
        published=published,
        actor_id=(await ctx.user()).id,
    )
    ctx.audit_target = ("KbArticle", str(article.id))
    return KbArticleType.of(article, editor=True)
