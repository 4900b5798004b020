"""Helpers for the notices tests: a small estate, residents living in it, staff, GraphQL
documents, and a way to run the worker until the queue is empty."""

from __future__ import annotations

from typing import Any

from conftest import TenantFixture
from kit import (  # noqa: F401 (re-exported for the notices tests)
    Place,
    Resident,
    add_resident,
    add_staff,
    codes,
    drain,
    make_place,
    ok,
)
from sqlalchemy import select

from wuye.notify.models import Message
from wuye.runtime import Runtime


async def messages(
    runtime: Runtime, tenant: TenantFixture, *, source: str | None = None
) -> list[Message]:
    async with runtime.db.tenant_session(tenant.schema) as s:
        stmt = select(Message).order_by(Message.id)
        if source is not None:
            stmt = stmt.where(Message.source == source)
        return list((await s.scalars(stmt)).all())


NOTICE_FIELDS = """id title category status summary bodyHtml pinned channels publishAt
  expiresAt publishedAt reviewNote expired targets { kind refId }"""
CREATE = f"""mutation($i: NoticeInput!) {{ createNotice(input: $i) {{ {NOTICE_FIELDS} }} }}"""
UPDATE = f"""mutation($i: UpdateNoticeInput!) {{ updateNotice(input: $i) {{ {NOTICE_FIELDS} }} }}"""
PUBLISH = f"""mutation($id: ID!) {{ publishNotice(id: $id) {{ {NOTICE_FIELDS} }} }}"""
APPROVE = f"""mutation($id: ID!) {{ approveNotice(id: $id) {{ {NOTICE_FIELDS} }} }}"""
REJECT = f"""mutation($id: ID!, $n: String!) {{ rejectNotice(id: $id, note: $n) {{
  {NOTICE_FIELDS} }} }}"""
WITHDRAW = f"""mutation($id: ID!) {{ withdrawNotice(id: $id) {{ {NOTICE_FIELDS} }} }}"""
REPUSH = """mutation($id: ID!, $c: [String!]) { repushNotice(id: $id, channels: $c) { id } }"""
READ = """mutation($id: ID!) { readNotice(id: $id) { id title readAt } }"""
MY_NOTICES = """query($first: Int, $after: String) { myNotices(first: $first, after: $after) {
  edges { node { id title pinned readAt category } } totalCount } }"""
MY_NOTICE = (
    """query($id: ID!) { myNotice(id: $id) { id title bodyHtml attachments { name url } } }"""
)
NOTICES = f"""query($status: String) {{ notices(status: $status, first: 50) {{
  edges {{ node {{ {NOTICE_FIELDS} }} }} totalCount }} }}"""
REACH = """query($id: ID!) { notice(id: $id) { reach { targeted read unread readRate
  channels { channel total queued sent delivered read failed throttled suppressed } } } }"""


def notice_input(targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "title": extra.pop("title", "停水通知"),
        "body": extra.pop("body", "明天 **9:00-12:00** 停水，请提前储水。"),
        "targets": targets,
        **extra,
    }
