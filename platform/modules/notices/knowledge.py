"""Knowledge base (知识库): service items and standards, price notices, policies, processes,
FAQ. Plain async functions, explicit session.

Who sees an article is a ``DataScope`` plus ``drafts``: staff pass their data scope, residents
a scope of the communities they live in; tenant-wide articles (``community_id`` None) are
visible to everyone, and only staff who manage the knowledge base see drafts.

Search: ``search_tokens`` holds the jieba words of title and text (``search.tokens``); a query
is segmented into words and matched as an AND of them through ``plainto_tsquery``, which
takes plain words only, so no user text is ever read as tsquery syntax.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, case, delete, false, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.estate import property as estate
from wuye.modules.notices import content, search
from wuye.modules.notices.models import KB_CATEGORIES, KbArticle

MAX_BODY = 100_000
MAX_QUERY = 100
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")


def invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


async def ready() -> None:
    """Build jieba's dictionary off the event loop the first time (~0.6 s)."""
    if not search.is_ready():
        await asyncio.to_thread(search.tokenizer)


# --- visibility ----------------------------------------------------------------------------


def visible(scope: DataScope, *, drafts: bool) -> ColumnElement[bool]:
    where = or_(KbArticle.community_id.is_(None), scope.filter(KbArticle.community_id))
    if not drafts:
        where = where & (KbArticle.status == "published")
    return where


async def get_article(
    session: AsyncSession, *, scope: DataScope, article_id: int, drafts: bool, lock: bool = False
) -> KbArticle:
    stmt = select(KbArticle).where(KbArticle.id == article_id, visible(scope, drafts=drafts))
    found = await session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise AppError("NOT_FOUND", field="id")
    return found


def _require_all(scope: DataScope) -> None:
    if not scope.all_communities:
        raise AppError(
            "FORBIDDEN",
            "仅管辖全部小区的员工可以修改全局知识库文章",
            "Only staff covering all communities can change tenant-wide articles",
        )


# --- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleData:
    category: str
    community_id: int | None
    title: str
    body: str
    body_format: str = "markdown"


async def _apply(
    session: AsyncSession,
    scope: DataScope,
    article: KbArticle,
    data: ArticleData,
    actor_id: int | None,
) -> None:
    """Validate all of ``data``, then write it into ``article`` (nothing changes on error)."""
    category = (data.category or "").strip().lower()
    if category not in KB_CATEGORIES:
        raise invalid(
            "category", "分类不正确", f"Category must be one of: {', '.join(KB_CATEGORIES)}"
        )
    title = (data.title or "").strip()
    if not title:
        raise invalid("title", "标题不能为空", "A title is required")
    if len(title) > 200:
        raise invalid("title", "标题不能超过200个字符", "A title has at most 200 characters")
    if len(data.body or "") > MAX_BODY:
        raise invalid("body", "正文过长", f"The body has at most {MAX_BODY} characters")
    body_html = content.to_html(data.body or "", data.body_format)
    if data.community_id is None:
        _require_all(scope)
    else:
        await estate.get_community(
            session=session, scope=scope, community_id=data.community_id, field="communityId"
        )
    await ready()
    article.category = category
    article.community_id = data.community_id
    article.title = title
    article.body_format = data.body_format
    article.body_source = data.body or ""
    article.body_html = body_html
    article.summary = content.summary(body_html)
    article.search_tokens = search.tokens(f"{title}\n{content.plain_text(body_html)}")
    article.updated_by = actor_id
    article.updated_at = func.now()


async def create_article(
    session: AsyncSession,
    *,
    scope: DataScope,
    data: ArticleData,
    actor_id: int | None,
    publish: bool = False,
) -> KbArticle:
    article = KbArticle(status="draft")
    await _apply(session, scope, article, data, actor_id)
    if publish:
        article.status = "published"
        article.published_at = func.now()
    session.add(article)
    await session.flush()
    await session.refresh(article)
    return article


async def _writable(session: AsyncSession, scope: DataScope, article_id: int) -> KbArticle:
    article = await get_article(session, scope=scope, article_id=article_id, drafts=True, lock=True)
    if article.community_id is None:
        _require_all(scope)
    return article


async def update_article(
    session: AsyncSession,
    *,
    scope: DataScope,
    article_id: int,
    data: ArticleData,
    actor_id: int | None,
) -> KbArticle:
    """Replace an article's content; its status stays."""
    article = await _writable(session, scope, article_id)
    await _apply(session, scope, article, data, actor_id)
    await session.flush()
    await session.refresh(article)
    return article


async def set_published(
    session: AsyncSession,
    *,
    scope: DataScope,
    article_id: int,
    published: bool,
    actor_id: int | None,
) -> KbArticle:
    """Publish (again: the date moves to now) or take back to draft."""
    article = await _writable(session, scope, article_id)
    article.status = "published" if published else "draft"
    article.published_at = func.now() if published else None
    article.updated_by = actor_id
    article.updated_at = func.now()
    await session.flush()
    await session.refresh(article)
    return article


async def delete_article(session: AsyncSession, *, scope: DataScope, article_id: int) -> None:
    article = await _writable(session, scope, article_id)
    await session.execute(delete(KbArticle).where(KbArticle.id == article.id))


# --- reading and search --------------------------------------------------------------------


async def search_terms(query: str) -> list[str]:
    """The words of a search query; VALIDATION_FAILED when it is blank or too long."""
    text = (query or "").strip()
    if not text:
        raise invalid("search", "请输入搜索内容", "Enter something to search for")
    if len(text) > MAX_QUERY:
        raise invalid("search", f"搜索内容不能超过{MAX_QUERY}个字符", "The search is too long")
    await ready()
    return search.query_terms(text)


def _ranked(stmt: Select[Any], terms: list[str]) -> Select[Any]:
    """Articles containing every term; those with the terms in the title first, then by
    ``ts_rank`` (normalised by length so long articles do not win by size alone)."""
    if not terms:  # only punctuation: nothing can match
        return stmt.where(false())
    tsquery = func.plainto_tsquery(_SIMPLE, bindparam("kb_terms", " ".join(terms)))
    title_hits: ColumnElement[int] = sum(
        (case((KbArticle.title.icontains(t, autoescape=True), 1), else_=0) for t in terms),
        start=literal_column("0"),
    )
    return stmt.where(KbArticle.search_vector.op("@@")(tsquery)).order_by(
        title_hits.desc(),
        func.ts_rank(KbArticle.search_vector, tsquery, 1).desc(),
        KbArticle.id.desc(),
    )


async def articles_query(
    *,
    scope: DataScope,
    drafts: bool,
    category: str | None = None,
    community_id: int | None = None,
    status: str | None = None,
    query: str | None = None,
) -> Select[Any]:
    """The articles a reader sees, filtered; newest first, or by relevance with ``query``."""
    stmt = select(KbArticle).where(visible(scope, drafts=drafts))
    if category:
        if category not in KB_CATEGORIES:
            raise invalid("category", "分类不正确", "Unknown category")
        stmt = stmt.where(KbArticle.category == category)
    if community_id is not None:
        stmt = stmt.where(KbArticle.community_id == community_id)
    if status:
        if status not in ("draft", "published"):
            raise invalid("status", "状态不正确", "Status is draft or published")
        stmt = stmt.where(KbArticle.status == status)
    if query is not None:
        return _ranked(stmt, await search_terms(query))
    return stmt.order_by(
        KbArticle.published_at.desc().nulls_first(),
        KbArticle.updated_at.desc(),
        KbArticle.id.desc(),
    )


# --- demo data -----------------------------------------------------------------------------

_DEMO = (
    (
        "service_item",
        "物业服务标准",
        """## 基本服务内容

- **客户服务**：物业服务中心 08:00-20:00 接待业主来访、咨询与投诉，24 小时值班电话。
- **秩序维护**：主出入口 24 小时值守，公共区域每 2 小时巡逻一次。
- **环境卫生**：楼道每日清扫，垃圾日产日清，按垃圾分类要求分类投放、收运。
- **绿化养护**：草坪每月修剪，乔灌木按季节修剪、施肥、防治病虫害。
- **共用设施设备**：电梯、消防、供水设施定期维护保养，故障 30 分钟内到场。
""",
    ),
    (
        "price",
        "收费标准（价格公示）",
        """| 项目 | 标准 | 依据 |
| --- | --- | --- |
| 物业费（住宅） | 2.50 元/平方米·月 | 物业服务合同 |
| 物业费（商铺） | 5.00 元/平方米·月 | 物业服务合同 |
| 地面停车费 | 150 元/月 | 价格主管部门备案 |
| 地下车位管理费 | 80 元/月 | 物业服务合同 |
| 装修押金 | 2000 元（验收合格后退还） | 装修管理规定 |

以上收费标准已在物业服务中心公示，如有疑问请致电物业服务中心。
""",
    ),
    (
        "policy",
        "专项维修基金使用办法",
        """住宅专项维修资金（俗称维修基金）专项用于住宅共用部位、共用设施设备保修期满后的
维修和更新、改造，例如电梯、屋面防水、外墙、消防设施等，不得挪作他用。

## 使用流程

1. 物业服务企业或业主委员会提出使用方案（维修项目、费用预算、分摊范围）；
2. 经专有部分面积占比三分之二以上且人数占比三分之二以上的业主参与表决，
   并经参与表决业主双过半同意；
3. 向住房和城乡建设主管部门申请划转资金；
4. 施工完成并验收后，按实际费用分摊到相关业主的分户账，结果在小区内公示。

紧急情况（如电梯故障危及安全、屋面严重渗漏）可按应急程序先行维修。
""",
    ),
    (
        "policy",
        "业主大会与业主委员会",
        """业主大会由物业管理区域内全体业主组成，决定制定和修改管理规约、选聘和解聘物业服务企业、
筹集和使用专项维修资金等重大事项。

业主委员会（业委会）是业主大会的执行机构，由业主大会选举产生，每届任期五年，
负责召集业主大会会议、与物业服务企业签订物业服务合同、监督管理规约的实施。

业主委员会办公室开放时间：每周六 09:00-11:00（会所二楼）。
""",
    ),
    (
        "process",
        "报修流程",
        """1. **提交报修**：在 App「报修」中填写位置、问题描述并上传照片，或拨打 24 小时报修热线；
2. **派单**：物业服务中心 15 分钟内派单给维修人员；
3. **上门维修**：维修人员 30 分钟内联系业主并预约上门时间；
4. **验收评价**：维修完成后业主在 App 中确认并评价。

室内维修可能产生材料费，收费标准见《收费标准（价格公示）》。
""",
    ),
)


async def seed_directory_demo(session: AsyncSession) -> None:
    """Published tenant-wide demo articles; does nothing when articles exist."""
    if await session.scalar(select(func.count()).select_from(KbArticle)):
        return
    everything = DataScope(all_communities=True)
    for category, title, body in _DEMO:
        await create_article(
            session,
            scope=everything,
            data=ArticleData(category=category, community_id=None, title=title, body=body),
            actor_id=None,
            publish=True,
        )
