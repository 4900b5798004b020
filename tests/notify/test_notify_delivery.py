"""The delivery job against a real SMTP server and real Redis: de-duplication, a job run
twice, throttles, quiet hours, retries with back-off, permanent failures, stale claims and
tenant isolation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from channel_servers import SmtpServer, free_port
from conftest import Services, TenantFixture, build_runtime, make_tenant
from sqlalchemy import select, update

from wuye.identity import service as identity
from wuye.notify.jobs import deliver_messages
from wuye.notify.models import Message, NotifySettings
from wuye.notify.service import Notifier
from wuye.notify.types import MessageType, Template, Throttle, registry
from wuye.runtime import Runtime
from wuye.settings import Settings

NEWS = MessageType(
    key="test.news",
    title_zh="新闻",
    title_en="News",
    zh=Template("新闻：{{headline}}", "{{headline}}"),
    en=Template("News: {{headline}}", "{{headline}}"),
    variables=("headline",),
    channels=("email",),
    default_channels=("email",),
    throttle=Throttle(limit=1, window_s=3600, group="push"),
)
ALARM = MessageType(
    key="test.alarm",
    title_zh="警报",
    title_en="Alarm",
    zh=Template("警报：{{headline}}", "{{headline}}"),
    en=Template("Alarm: {{headline}}", "{{headline}}"),
    variables=("headline",),
    channels=("email",),
    default_channels=("email",),
    urgent=True,
    throttle=None,
)


@pytest.fixture(scope="module")
def smtp() -> AsyncIterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
async def rt(settings: Settings, services: Services, smtp: SmtpServer) -> AsyncIterator[Runtime]:
    own = settings.model_copy(
        update={
            "email_provider": "smtp",
            "smtp_port": smtp.port,
            "redis_prefix": f"{settings.redis_prefix}:{secrets.token_hex(3)}",
            "notify_retry_base_s": 30,
            "notify_max_attempts": 3,
        }
    )
    runtime = build_runtime(own, services)
    runtime.__dict__["notifier"] = Notifier(registry([NEWS, ALARM]))
    yield runtime
    await runtime.close()


async def _user(rt: Runtime, tenant: TenantFixture, email: str) -> int:
    async with rt.db.tenant_session(tenant.schema) as s:
        user = await identity.create_user(s, kind="resident", name="收件人", email=email)
        await s.commit()
        return user.id


async def _notify(
    rt: Runtime,
    tenant: TenantFixture,
    users: list[int],
    *,
    kind: MessageType = NEWS,
    headline: str = "停水",
    dedup: str | None = None,
) -> None:
    async with rt.db.tenant_session(tenant.schema) as s:
        await rt.notifier.notify(
            s,
            runtime=rt,
            tenant=tenant.slug,
            type_key=kind.key,
            users=users,
            variables={"headline": headline},
            dedup=dedup,
        )
        await s.commit()


async def _deliver(rt: Runtime, tenant: TenantFixture) -> dict[str, int]:
    return await deliver_messages({"runtime": rt}, tenant.slug)  # type: ignore[no-any-return]


async def _emails(rt: Runtime, tenant: TenantFixture) -> list[Message]:
    async with rt.db.tenant_session(tenant.schema) as s:
        return list(
            await s.scalars(select(Message).where(Message.channel == "email").order_by(Message.id))
        )


def _to(smtp: SmtpServer, address: str) -> int:
    return sum(address in r.rcpt_tos for r in smtp.handler.received)


async def test_sent_once_even_if_recorded_twice_and_delivered_concurrently(
    rt: Runtime, smtp: SmtpServer
) -> None:
    tenant = await make_tenant(rt)
    address = f"a-{secrets.token_hex(3)}@example.com"
    uid = await _user(rt, tenant, address)
    await _notify(rt, tenant, [uid], dedup="news:1")
    await _notify(rt, tenant, [uid], dedup="news:1")  # the same event again: nothing new
    results = await asyncio.gather(_deliver(rt, tenant), _deliver(rt, tenant))
    assert sum(r.get("sent", 0) for r in results) == 1
    await _deliver(rt, tenant)  # and once more, afterwards
    [email] = await _emails(rt, tenant)
    assert email.status == "sent" and email.attempts == 1
    assert email.provider_id.startswith(f"<wuye.{tenant.slug}.{email.id}@")
    assert _to(smtp, address) == 1
    [received] = [r for r in smtp.handler.received if address in r.rcpt_tos]
    assert received.message["Subject"] == "新闻：停水"


async def test_throttle_allows_one_non_urgent_per_window_but_urgent_passes(
    rt: Runtime, smtp: SmtpServer
) -> None:
    tenant = await make_tenant(rt)
    address = f"b-{secrets.token_hex(3)}@example.com"
    uid = await _user(rt, tenant, address)
    await _notify(rt, tenant, [uid], headline="一")
    await _notify(rt, tenant, [uid], headline="二")
    await _notify(rt, tenant, [uid], kind=ALARM, headline="火警")
    await _deliver(rt, tenant)
    statuses = [(m.type, m.status) for m in await _emails(rt, tenant)]
    assert statuses == [("test.news", "sent"), ("test.news", "throttled"), ("test.alarm", "sent")]
    assert _to(smtp, address) == 2
    # another user has a budget of their own
    other = await _user(rt, tenant, f"c-{secrets.token_hex(3)}@example.com")
    await _notify(rt, tenant, [other], headline="三")
    await _deliver(rt, tenant)
    assert [m.status for m in await _emails(rt, tenant)][-1] == "sent"


async def test_quiet_hours_hold_non_urgent_until_morning_without_spending_attempts(
    rt: Runtime, smtp: SmtpServer
) -> None:
    tenant = await make_tenant(rt)
    address = f"d-{secrets.token_hex(3)}@example.com"
    uid = await _user(rt, tenant, address)
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    start, end = (local - timedelta(hours=1)).time(), (local + timedelta(hours=1)).time()
    async with rt.db.tenant_session(tenant.schema) as s:
        await s.execute(
            update(NotifySettings).values(quiet_enabled=True, quiet_start=start, quiet_end=end)
        )
        await s.commit()
    await _notify(rt, tenant, [uid], headline="晚安")
    await _notify(rt, tenant, [uid], kind=ALARM, headline="燃气泄漏")
    await _deliver(rt, tenant)
    news, alarm = await _emails(rt, tenant)
    assert alarm.status == "sent"
    assert news.status == "queued" and news.attempts == 0 and news.error == "quiet hours"
    expected_end = (local + timedelta(hours=1)).astimezone(UTC)
    assert abs((news.next_attempt_at - expected_end).total_seconds()) < 61
    assert _to(smtp, address) == 1
    # when the quiet hours are over it goes out
    async with rt.db.tenant_session(tenant.schema) as s:
        await s.execute(update(NotifySettings).values(quiet_enabled=False))
        await s.execute(
            update(Message).where(Message.id == news.id).values(next_attempt_at=datetime.now(UTC))
        )
        await s.commit()
    await _deliver(rt, tenant)
    assert [m.status for m in await _emails(rt, tenant)] == ["sent", "sent"]


async def test_temporary_failures_back_off_then_fail_permanent_ones_fail_at_once(
    rt: Runtime, smtp: SmtpServer
) -> None:
    tenant = await make_tenant(rt)
    busy = await _user(rt, tenant, f"busy-{secrets.token_hex(3)}@example.com")
    nobody = await _user(rt, tenant, f"nobody-{secrets.token_hex(3)}@example.com")
    await _notify(rt, tenant, [busy, nobody], kind=ALARM)
    before = datetime.now(UTC)
    await _deliver(rt, tenant)
    by_user = {m.user_id: m for m in await _emails(rt, tenant)}
    assert by_user[nobody].status == "failed" and "550" in by_user[nobody].error
    retry = by_user[busy]
    assert retry.status == "queued" and retry.attempts == 1 and "451" in retry.error
    assert 29 <= (retry.next_attempt_at - before).total_seconds() <= 40  # base 30 s
    # not due yet: a run now leaves it alone
    await _deliver(rt, tenant)
    assert (await _emails(rt, tenant))[0].attempts == 1
    for attempt in (2, 3):  # make it due, try again: 60 s back-off, then failed at max (3)
        async with rt.db.tenant_session(tenant.schema) as s:
            await s.execute(
                update(Message)
                .where(Message.id == retry.id)
                .values(next_attempt_at=datetime.now(UTC))
            )
            await s.commit()
        await _deliver(rt, tenant)
        current = {m.user_id: m for m in await _emails(rt, tenant)}[busy]
        assert current.attempts == attempt
    assert current.status == "failed"


async def test_smtp_down_is_retried(rt: Runtime, settings: Settings, services: Services) -> None:
    down = build_runtime(
        settings.model_copy(
            update={"email_provider": "smtp", "smtp_port": free_port(), "smtp_timeout_s": 2}
        ),
        services,
    )
    down.__dict__["notifier"] = rt.notifier
    try:
        tenant = await make_tenant(down)
        uid = await _user(down, tenant, f"e-{secrets.token_hex(3)}@example.com")
        await _notify(down, tenant, [uid], kind=ALARM)
        await deliver_messages({"runtime": down}, tenant.slug)
        [m] = await _emails(down, tenant)
        assert m.status == "queued" and m.attempts == 1 and m.error
    finally:
        await down.close()


async def test_stale_claims_return_to_the_queue(rt: Runtime, smtp: SmtpServer) -> None:
    tenant = await make_tenant(rt)
    address = f"f-{secrets.token_hex(3)}@example.com"
    uid = await _user(rt, tenant, address)
    await _notify(rt, tenant, [uid], kind=ALARM)
    async with rt.db.tenant_session(tenant.schema) as s:  # a worker died holding it
        await s.execute(
            update(Message)
            .where(Message.channel == "email")
            .values(status="sending", claimed_at=datetime.now(UTC) - timedelta(minutes=11))
        )
        await s.commit()
    result = await _deliver(rt, tenant)
    assert result["requeued_stale"] == 1 and result["sent"] == 1
    assert _to(smtp, address) == 1


async def test_a_tenants_job_delivers_only_its_own_messages(rt: Runtime, smtp: SmtpServer) -> None:
    a, b = await make_tenant(rt), await make_tenant(rt)
    ua = await _user(rt, a, f"g-{secrets.token_hex(3)}@example.com")
    ub = await _user(rt, b, f"h-{secrets.token_hex(3)}@example.com")
    await _notify(rt, a, [ua], kind=ALARM)
    await _notify(rt, b, [ub], kind=ALARM)
    await _deliver(rt, a)
    assert [m.status for m in await _emails(rt, a)] == ["sent"]
    assert [m.status for m in await _emails(rt, b)] == ["queued"]
    # and B's user id means nothing in A: notifying it there records nothing
    async with rt.db.tenant_session(a.schema) as s:
        recorded = await rt.notifier.notify(
            s,
            runtime=rt,
            tenant=a.slug,
            type_key=ALARM.key,
            users=[ub + 10_000],
            variables={"headline": "x"},
        )
    assert recorded.count() == 0
