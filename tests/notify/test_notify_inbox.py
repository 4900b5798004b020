"""The inbox API: unread first then newest, keyset pages, counts, marking read, and that
nobody -- another user, another tenant -- can see or touch someone else's messages."""

from __future__ import annotations

from datetime import datetime

from conftest import count_statements
from notify_kit import NOTICE, URGENT, codes, member, messages, notices_tenant, notify, ok
from sqlalchemy import text

from wuye.graphql.ids import encode_id
from wuye.notify import inbox

MY_MESSAGES = """query($first: Int, $after: String, $unread: Boolean) {
  myMessages(first: $first, after: $after, unreadOnly: $unread) {
    totalCount
    edges { cursor node { id type title body source urgent createdAt readAt } }
    pageInfo { hasNextPage endCursor } } }"""
UNREAD = "{ unreadMessageCount }"
MARK = "mutation($ids: [ID!]!) { markMessagesRead(ids: $ids) }"
MARK_ALL = "mutation { markAllMessagesRead }"


async def _all_pages(api, tenant, token, *, first: int, unread: bool = False) -> list[dict]:
    nodes, after = [], None
    while True:
        data = ok(
            await api(
                MY_MESSAGES,
                {"first": first, "after": after, "unread": unread},
                tenant=tenant.slug,
                token=token,
            )
        )["myMessages"]
        nodes += [e["node"] for e in data["edges"]]
        assert len(data["edges"]) <= first
        if not data["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["pageInfo"]["endCursor"]


async def test_unread_first_then_newest_across_pages(api, runtime):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    for i in range(7):
        await notify(runtime, tenant, [me.id], source=f"notice:{i}", channels=[])
    rows = await messages(runtime, tenant, me.id)
    assert [r.channel for r in rows] == ["inbox"] * 7
    # read the 2nd and 5th (by age): they go to the end, newest of them first
    read = [encode_id("Message", rows[1].id), encode_id("Message", rows[4].id)]
    assert ok(await api(MARK, {"ids": read}, tenant=tenant.slug, token=me.token)) == {
        "markMessagesRead": 2
    }

    nodes = await _all_pages(api, tenant, me.token, first=2)
    assert [n["source"] for n in nodes] == [f"notice:{i}" for i in (6, 5, 3, 2, 0, 4, 1)]
    assert [n["readAt"] is None for n in nodes] == [True] * 5 + [False] * 2
    assert nodes[0]["title"] == "停水通知" and nodes[0]["type"] == NOTICE
    assert nodes[0]["urgent"] is False and datetime.fromisoformat(nodes[0]["createdAt"])

    unread = await _all_pages(api, tenant, me.token, first=3, unread=True)
    assert [n["source"] for n in unread] == [f"notice:{i}" for i in (6, 5, 3, 2, 0)]
    first = ok(await api(MY_MESSAGES, {"first": 1}, tenant=tenant.slug, token=me.token))
    assert first["myMessages"]["totalCount"] == 7


async def test_unread_count_and_mark_all(api, runtime):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    await notify(runtime, tenant, [me.id], channels=[])
    await notify(runtime, tenant, [me.id], type_key=URGENT, channels=[])
    # a verification code has no inbox row, so it never counts
    await notify(
        runtime,
        tenant,
        [me.id],
        type_key="identity.verification_code",
        variables={"code": "123456", "minutes": 5},
    )
    assert ok(await api(UNREAD, tenant=tenant.slug, token=me.token)) == {"unreadMessageCount": 2}

    assert ok(await api(MARK_ALL, tenant=tenant.slug, token=me.token)) == {"markAllMessagesRead": 2}
    assert ok(await api(UNREAD, tenant=tenant.slug, token=me.token)) == {"unreadMessageCount": 0}
    inbox_rows = [r for r in await messages(runtime, tenant, me.id) if r.channel == "inbox"]
    assert {(r.status, r.read_at is not None) for r in inbox_rows} == {("read", True)}
    # marking again changes nothing
    assert ok(await api(MARK_ALL, tenant=tenant.slug, token=me.token))["markAllMessagesRead"] == 0


async def test_users_see_and_mark_only_their_own(api, runtime):
    tenant = await notices_tenant(runtime)
    alice = await member(api, runtime, tenant)
    bob = await member(api, runtime, tenant, kind="staff")
    await notify(runtime, tenant, [alice.id], source="notice:a", channels=[])
    await notify(runtime, tenant, [bob.id], source="notice:b", channels=[])
    alice_ids = [encode_id("Message", r.id) for r in await messages(runtime, tenant, alice.id)]

    bobs = await _all_pages(api, tenant, bob.token, first=10)
    assert [n["source"] for n in bobs] == ["notice:b"]
    # Bob's attempt on Alice's ids (mixed with junk) counts nothing and changes nothing
    marked = await api(MARK, {"ids": [*alice_ids, "junk"]}, tenant=tenant.slug, token=bob.token)
    assert ok(marked) == {"markMessagesRead": 0}
    assert [r.read_at for r in await messages(runtime, tenant, alice.id)] == [None]
    assert ok(await api(UNREAD, tenant=tenant.slug, token=bob.token))["unreadMessageCount"] == 1

    assert ok(await api(MARK, {"ids": alice_ids}, tenant=tenant.slug, token=alice.token)) == {
        "markMessagesRead": 1
    }
    assert ok(await api(MARK, {"ids": alice_ids}, tenant=tenant.slug, token=alice.token)) == {
        "markMessagesRead": 0
    }
    assert ok(await api(UNREAD, tenant=tenant.slug, token=bob.token))["unreadMessageCount"] == 1


async def test_anonymous_is_refused(api, runtime):
    tenant = await notices_tenant(runtime)
    for doc in (MY_MESSAGES, UNREAD, MARK, MARK_ALL):
        body = await api(doc, {"ids": []} if doc == MARK else None, tenant=tenant.slug)
        assert codes(body) == ["UNAUTHENTICATED"], body


async def test_other_tenants_token_and_ids_do_nothing(api, runtime):
    a = await notices_tenant(runtime)
    b = await notices_tenant(runtime)
    alice = await member(api, runtime, a)
    bert = await member(api, runtime, b)
    await notify(runtime, a, [alice.id], channels=[])
    alice_ids = [encode_id("Message", r.id) for r in await messages(runtime, a, alice.id)]

    # tenant A's token at tenant B: refused, whatever the field
    for doc, variables in ((MY_MESSAGES, None), (UNREAD, None), (MARK, {"ids": alice_ids})):
        body = await api(doc, variables, tenant=b.slug, token=alice.token)
        assert codes(body) == ["UNAUTHENTICATED"] and not body.get("data"), body

    # tenant A's message ids sent by a tenant B user: nothing happens in either tenant
    assert ok(await api(MARK, {"ids": alice_ids}, tenant=b.slug, token=bert.token)) == {
        "markMessagesRead": 0
    }
    assert [r.read_at for r in await messages(runtime, a, alice.id)] == [None]
    assert ok(await api(UNREAD, tenant=a.slug, token=alice.token))["unreadMessageCount"] == 1
    assert ok(await api(MY_MESSAGES, tenant=b.slug, token=bert.token))["myMessages"]["edges"] == []


async def test_bad_cursor_and_page_size_are_validation_errors(api, runtime):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    for variables in ({"after": "bm9wZQ=="}, {"first": 10_000}):
        body = await api(MY_MESSAGES, variables, tenant=tenant.slug, token=me.token)
        assert codes(body) == ["VALIDATION_FAILED"], body
    too_many = [encode_id("Message", i) for i in range(inbox.MAX_MARK_IDS + 1)]
    body = await api(MARK, {"ids": too_many}, tenant=tenant.slug, token=me.token)
    assert codes(body) == ["VALIDATION_FAILED"], body


async def test_my_messages_statements_do_not_grow_with_the_page(api, runtime):
    tenant = await notices_tenant(runtime)
    me = await member(api, runtime, tenant)
    await notify(runtime, tenant, [me.id], channels=[])

    async def statements(first: int) -> int:
        with count_statements(runtime) as seen:
            body = await api(MY_MESSAGES, {"first": first}, tenant=tenant.slug, token=me.token)
        assert len(ok(body)["myMessages"]["edges"]) == min(first, 1 + (first > 1) * 24)
        return len([s for s in seen if "messages" in s.lower()])

    small = await statements(1)
    for _ in range(24):
        await notify(runtime, tenant, [me.id], channels=[])
    big = await statements(25)
    # one page query and one count, however many rows
    assert small == big == 2


async def test_inbox_queries_use_the_inbox_indexes(runtime):
    tenant = await notices_tenant(runtime)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(text("SET LOCAL enable_seqscan = off"))
        for stmt in (
            inbox.page_statement(1, limit=21, after=None, unread_only=False),
            inbox.count_statement(1, unread_only=True),
        ):
            compiled = stmt.compile(compile_kwargs={"literal_binds": True})
            plan = "\n".join(r[0] for r in await s.execute(text(f"EXPLAIN {compiled}")))
            assert "Seq Scan" not in plan, plan
            assert "ix_messages_inbox" in plan or "ix_messages_unread" in plan, plan
