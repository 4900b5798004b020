"""Demo data for `wuye dev`: yellow pages, knowledge base articles and two notices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.notices import knowledge, notices, yellowpages
from wuye.modules.notices.audience import Target
from wuye.modules.notices.models import Notice

_NOTICES = (
    notices.NoticeDraft(
        title="关于二次供水设施清洗的停水通知",
        body=(
            "尊敬的各位业主：\n\n为保障饮用水卫生，本周六 **9:00–15:00** 将对二次供水水箱进行"
            "清洗消毒，期间全小区停水。请提前做好储水准备，给您带来不便，敬请谅解。"
        ),
        targets=(Target("tenant"),),
        category="urgent",
        pinned=True,
        channels=("wechat",),
    ),
    notices.NoticeDraft(
        title="元旦快乐 · 新年活动预告",
        body="物业服务中心祝您元旦快乐！1月1日上午在中心广场举办新年游园会，欢迎参加。",
        targets=(Target("tenant"),),
        category="holiday",
    ),
)


async def seed_notices_demo(*, session: AsyncSession, tenant: Any, runtime: Any) -> None:
    await yellowpages.seed_directory_demo(session)
    await knowledge.seed_directory_demo(session)
    if await session.scalar(select(func.count()).select_from(Notice)):
        return
    admin = await session.scalar(select(User).where(User.kind == "staff").order_by(User.id))
    if admin is None:
        return
    everywhere = DataScope(all_communities=True)
    for draft in _NOTICES:
        notice = await notices.create_notice(
            session, runtime, author=admin, scope=everywhere, draft=draft
        )
        await notices.publish_notice(session, runtime, tenant, notice_id=notice.id, actor=admin)
