"""The demo tenant gets notices (published and fanned out), yellow pages and articles, once."""

from __future__ import annotations

from conftest import make_tenant
from notices_kit import drain
from sqlalchemy import func, select

from wuye.db import take_after_commit
from wuye.identity import service as identity
from wuye.identity.models import User
from wuye.modules.estate.demo import seed_estate_demo
from wuye.modules.estate.models import Person
from wuye.modules.notices.demo import seed_notices_demo
from wuye.modules.notices.models import KbArticle, Notice, NoticeRecipient, YellowPageEntry
from wuye.notify.models import Message


async def test_demo_notices_reach_the_demo_residents(runtime):
    tenant = await make_tenant(runtime, modules=("notices",))
    info = await runtime.directory.by_slug(tenant.slug)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await seed_estate_demo(session=s, tenant=info, runtime=runtime)
        for i, person in enumerate((await s.scalars(select(Person).limit(3))).all()):
            user = await identity.create_user(
                s, kind="resident", name=person.name, phone=f"+861360000{i:04d}"
            )
            person.user_id = user.id  # three demo residents have the app
        await s.commit()
    for _ in range(2):
        async with runtime.db.tenant_session(tenant.schema) as s:
            await seed_notices_demo(session=s, tenant=info, runtime=runtime)
            await s.commit()
            for hook in take_after_commit(s):
                await hook()
    await drain(runtime)
    async with runtime.db.tenant_session(tenant.schema) as s:
        statuses = (await s.scalars(select(Notice.status))).all()
        assert statuses == ["published", "published"]
        residents = await s.scalar(
            select(func.count()).select_from(User).where(User.kind == "resident")
        )
        targeted = await s.scalar(select(func.count()).select_from(NoticeRecipient))
        inbox = await s.scalar(
            select(func.count()).select_from(Message).where(Message.channel == "inbox")
        )
        assert residents == 3 and targeted == inbox == 2 * residents
        assert await s.scalar(select(func.count()).select_from(YellowPageEntry)) > 5
        assert await s.scalar(select(func.count()).select_from(KbArticle)) >= 5
