"""在线客服: the thread of a consultation between its resident and customer service, through
GraphQL: posting, newest-first paging, read marks and unread counts on both sides, who may
not read or post, image and voice messages (real uploads through the local storage
backend), the reply notification, and a constant number of statements per page.

Uploads go through ``requestUpload``, the HTTP form POST and ``confirmUpload``, except two
places where the upload path is not the point and ready ``files`` rows are inserted: the
oversized voice clip (3 MB) and the 50-message statement-count thread."""

from __future__ import annotations

import io
import uuid
from typing import Any

from conftest import Api, count_statements
from kit import Resident, add_resident, add_staff, codes, ok
from sqlalchemy import select
from wo_kit import Crew, make_crew, submit, take, upload

from wuye.graphql.ids import decode_id, encode_id
from wuye.modules.workorders.models import ThreadMessage
from wuye.notify.models import Message
from wuye.runtime import Runtime
from wuye.storage.models import StoredFile

MESSAGE_FIELDS = """id kind body fromStaff mine createdAt sender { id name }
  file { id purpose contentType url thumbnailUrl }"""
POST = f"""mutation($i: PostWorkOrderMessageInput!) {{
  postWorkOrderMessage(input: $i) {{ {MESSAGE_FIELDS} }} }}"""
MESSAGES = f"""query($id: ID!, $first: Int, $after: String) {{
  workOrderMessages(orderId: $id, first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ {MESSAGE_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"""
READ = """mutation($id: ID!, $upTo: ID) {
  markWorkOrderMessagesRead(orderId: $id, upToId: $upTo) { orderId unread } }"""
COUNTS = """query($ids: [ID!]!) { workOrderUnreadCounts(orderIds: $ids) { orderId unread } }"""
BADGE = "{ myUnreadWorkOrderMessages }"


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def consultation(api: Api, crew: Crew, text: str = "请问物业费怎么交？") -> str:
    return str((await submit(api, crew, type="consultation", description=text))["id"])


async def post(api: Api, crew: Crew, who: Resident, oid: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("kind", "text")
    return await api(
        POST, {"i": {"orderId": oid, **fields}}, tenant=crew.tenant.slug, token=who.token
    )


async def say(api: Api, crew: Crew, who: Resident, oid: str, body: str) -> dict[str, Any]:
    return ok(await post(api, crew, who, oid, body=body))["postWorkOrderMessage"]


async def unread(api: Api, crew: Crew, who: Resident, *oids: str) -> dict[str, int]:
    body = await api(COUNTS, {"ids": list(oids)}, tenant=crew.tenant.slug, token=who.token)
    return {r["orderId"]: r["unread"] for r in ok(body)["workOrderUnreadCounts"]}


async def badge(api: Api, crew: Crew, who: Resident) -> int:
    body = await api(BADGE, tenant=crew.tenant.slug, token=who.token)
    return int(ok(body)["myUnreadWorkOrderMessages"])


async def read(api: Api, crew: Crew, who: Resident, oid: str, up_to: str | None = None) -> int:
    body = await api(READ, {"id": oid, "upTo": up_to}, tenant=crew.tenant.slug, token=who.token)
    return int(ok(body)["markWorkOrderMessagesRead"]["unread"])


async def thread(api: Api, crew: Crew, who: Resident, oid: str, **page: Any) -> dict[str, Any]:
    body = await api(MESSAGES, {"id": oid, **page}, tenant=crew.tenant.slug, token=who.token)
    return ok(body)["workOrderMessages"]


async def test_a_consultation_thread_with_unread_counts_on_both_sides(
    api: Api, runtime: Runtime
) -> None:
    crew = await make_crew(api, runtime)
    oid = await consultation(api, crew)
    other = await consultation(api, crew, "停车位怎么申请？")
    assert await unread(api, crew, crew.resident, oid, other) == {oid: 0, other: 0}

    first = await say(api, crew, crew.resident, oid, "  物业费可以线上交吗？ ")
    assert first["body"] == "物业费可以线上交吗？" and first["kind"] == "text"
    assert first["fromStaff"] is False and first["mine"] is True and first["file"] is None
    assert first["sender"]["name"] == "王芳"
    await say(api, crew, crew.resident, oid, "还有，发票怎么开？")
    # the resident's own messages are never unread for them; the desk has two
    assert await unread(api, crew, crew.resident, oid) == {oid: 0}
    assert await unread(api, crew, crew.desk, oid, other) == {oid: 2, other: 0}

    # customer service accepts and takes it up: it becomes one of their threads
    ok(await take(api, crew, crew.desk, "accept", oid))
    ok(await take(api, crew, crew.desk, "take_up", oid))
    assert await badge(api, crew, crew.desk) == 2
    # reading up to the first message leaves one; reading all leaves none
    assert await read(api, crew, crew.desk, oid, first["id"]) == 1
    assert await read(api, crew, crew.desk, oid, first["id"]) == 1  # never moves back
    assert await read(api, crew, crew.desk, oid) == 0
    assert await badge(api, crew, crew.desk) == 0

    reply = await say(api, crew, crew.desk, oid, "可以，在应用的缴费页面支付。")
    assert reply["fromStaff"] is True and reply["mine"] is True
    await say(api, crew, crew.desk, oid, "发票在缴费记录里申请。")
    assert await unread(api, crew, crew.resident, oid) == {oid: 2}
    assert await badge(api, crew, crew.resident) == 2
    assert await unread(api, crew, crew.desk, oid) == {oid: 0}  # posting marks read

    # newest first, paged with keyset cursors
    page = await thread(api, crew, crew.resident, oid, first=3)
    bodies = [e["node"]["body"] for e in page["edges"]]
    assert bodies == [
        "发票在缴费记录里申请。",
        "可以，在应用的缴费页面支付。",
        "还有，发票怎么开？",
    ]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["mine"] for e in page["edges"]] == [False, False, True]
    rest = await thread(api, crew, crew.resident, oid, first=3, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["body"] for e in rest["edges"]] == ["物业费可以线上交吗？"]
    assert rest["pageInfo"]["hasNextPage"] is False and rest["pageInfo"]["hasPreviousPage"]
    bad = await api(
        MESSAGES, {"id": oid, "after": "nope"}, tenant=crew.tenant.slug, token=crew.resident.token
    )
    assert codes(bad) == ["VALIDATION_FAILED"]

    assert await read(api, crew, crew.resident, oid) == 0
    assert await badge(api, crew, crew.resident) == 0
    # the resident answers: the desk's count goes up again
    await say(api, crew, crew.resident, oid, "好的，谢谢")
    assert await unread(api, crew, crew.desk, oid) == {oid: 1}
    assert await badge(api, crew, crew.desk) == 1

    # two replies within ten minutes told the resident once (inbox only)
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        told = list(
            await s.scalars(
                select(Message).where(
                    Message.user_id == crew.resident.user_id, Message.type == "workorders.replied"
                )
            )
        )
    assert [(m.channel, m.source) for m in told] == [
        ("inbox", f"workorders:{decode_id(oid, 'WorkOrder')}")
    ]

    # what a message may hold
    for fields, field in (
        ({"body": "   "}, "body"),
        ({"body": "长" * 2001}, "body"),
        ({"body": "x", "kind": "video"}, "kind"),
        ({"kind": "image"}, "fileId"),
        ({"kind": "voice", "body": "听"}, "fileId"),
    ):
        body = await post(api, crew, crew.resident, oid, **fields)
        assert codes(body) == ["VALIDATION_FAILED"], fields
        assert body["errors"][0]["extensions"]["field"] == field
    assert ok(await post(api, crew, crew.resident, oid, body="长" * 2000))

    # answered, the thread still takes messages; closed, it is read-only
    ok(await take(api, crew, crew.desk, "answer", oid, note="已在线答复"))
    await say(api, crew, crew.resident, oid, "还有一个问题")
    ok(await take(api, crew, crew.desk, "close", oid))
    for who in (crew.resident, crew.desk):
        assert codes(await post(api, crew, who, oid, body="在吗")) == ["INVALID_TRANSITION"]
    assert (await thread(api, crew, crew.desk, oid))["totalCount"] == 7
    # the badge only counts customer service's open threads
    assert await badge(api, crew, crew.desk) == 0
    assert (await unread(api, crew, crew.desk, oid))[oid] == 3

    # a cancelled consultation is closed to messages too; a repair has no thread
    ok(await take(api, crew, crew.resident, "cancel", other))
    assert codes(await post(api, crew, crew.resident, other, body="?")) == ["INVALID_TRANSITION"]
    repair = (await submit(api, crew))["id"]
    assert codes(await post(api, crew, crew.resident, repair, body="?")) == ["VALIDATION_FAILED"]
    assert codes(
        await api(MESSAGES, {"id": repair}, tenant=crew.tenant.slug, token=crew.resident.token)
    ) == ["VALIDATION_FAILED"]


async def test_only_the_resident_and_their_customer_service_read_or_post(
    api: Api, runtime: Runtime
) -> None:
    crew = await make_crew(api, runtime)
    oid = await consultation(api, crew)
    message = await say(api, crew, crew.resident, oid, "电梯什么时候修好？")
    neighbour = await add_resident(api, runtime, crew.tenant, crew.place.ids["A/1号楼/102"])
    elsewhere = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        communities=(crew.place.ids["B"],),
        all_communities=False,
    )
    cashier = await add_staff(api, runtime, crew.tenant, roles=("cashier",))
    for outsider in (crew.worker, neighbour, elsewhere, cashier):
        for body in (
            await api(MESSAGES, {"id": oid}, tenant=crew.tenant.slug, token=outsider.token),
            await post(api, crew, outsider, oid, body="我也想知道"),
            await api(READ, {"id": oid}, tenant=crew.tenant.slug, token=outsider.token),
        ):
            assert codes(body) == ["NOT_FOUND"], body
        assert await unread(api, crew, outsider, oid) == {}
        assert await badge(api, crew, outsider) == 0
    # a read mark stops at the thread's last message: later ones are unread
    mine = await consultation(api, crew, "另一个问题")
    assert await read(api, crew, crew.resident, mine, message["id"]) == 0
    assert await read(api, crew, crew.resident, mine, encode_id("WorkOrderMessage", 10**12)) == 0
    await say(api, crew, crew.desk, mine, "请讲")
    assert await unread(api, crew, crew.resident, mine) == {mine: 1}

    # the manager may answer (workorders.handle in every community)
    reply = await say(api, crew, crew.manager, oid, "预计明天")
    assert reply["fromStaff"] is True and reply["sender"]["id"] == crew.manager.gid
    assert await unread(api, crew, crew.desk, oid) == {oid: 1}  # read marks are per person
    assert await unread(api, crew, crew.resident, oid) == {oid: 1}
    assert (await thread(api, crew, crew.resident, oid))["totalCount"] == 2
    # nothing was written for the outsiders' attempts
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        senders = set(
            await s.scalars(
                select(ThreadMessage.sender_id).where(
                    ThreadMessage.order_id == decode_id(oid, "WorkOrder")
                )
            )
        )
    assert senders == {crew.resident.user_id, crew.manager.user_id}


async def test_image_and_voice_messages_attach_uploads(api: Api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    oid = await consultation(api, crew)
    image = png()
    photo = await upload(api, crew, crew.resident, "workorders.photo", "image/png", image)
    sent = ok(await post(api, crew, crew.resident, oid, kind="image", fileId=photo, body="漏水处"))
    shown = sent["postWorkOrderMessage"]
    assert shown["kind"] == "image" and shown["body"] == "漏水处"
    assert shown["file"]["id"] == photo and shown["file"]["purpose"] == "workorders.photo"

    clip = b"#!AMR\n" + bytes(range(200)) * 5
    voice = await upload(api, crew, crew.desk, "workorders.voice", "audio/amr", clip)
    spoken = ok(await post(api, crew, crew.desk, oid, kind="voice", fileId=voice))
    assert spoken["postWorkOrderMessage"]["file"]["contentType"] == "audio/amr"

    # both sides read the files back through the thread
    page = await thread(api, crew, crew.resident, oid)
    files = {e["node"]["kind"]: e["node"]["file"] for e in page["edges"]}
    assert (await api.client.get(files["image"]["url"])).content == image
    assert (await api.client.get(files["voice"]["url"])).content == clip
    page = await thread(api, crew, crew.desk, oid)
    assert [e["node"]["kind"] for e in page["edges"]] == ["voice", "image"]

    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        rows = {
            r.id: r
            for r in await s.scalars(
                select(StoredFile).where(
                    StoredFile.id.in_([decode_id(photo, "File"), decode_id(voice, "File")])
                )
            )
        }
        messages = {
            m.kind: m
            for m in await s.scalars(
                select(ThreadMessage).where(ThreadMessage.order_id == decode_id(oid, "WorkOrder"))
            )
        }
    assert {(r.attached_kind, r.attached_id) for r in rows.values()} == {
        ("wo_message", messages["image"].id),
        ("wo_message", messages["voice"].id),
    }
    assert messages["image"].file_id == decode_id(photo, "File")

    async def refused(who: Resident, **fields: Any) -> tuple[str, str]:
        body = await post(api, crew, who, oid, **fields)
        error = body["errors"][0]["extensions"]
        assert len(body["errors"]) == 1
        return error["code"], error.get("field")

    # someone else's upload, an upload for another purpose, one already attached
    desk_photo = await upload(api, crew, crew.desk, "workorders.photo", "image/png", image)
    assert await refused(crew.resident, kind="image", fileId=desk_photo) == ("NOT_FOUND", "fileId")
    my_clip = await upload(api, crew, crew.resident, "workorders.voice", "audio/amr", clip)
    assert await refused(crew.resident, kind="image", fileId=my_clip) == (
        "VALIDATION_FAILED",
        "fileId",
    )
    my_photo = await upload(api, crew, crew.resident, "workorders.photo", "image/png", image)
    assert await refused(crew.resident, kind="voice", fileId=my_photo) == (
        "VALIDATION_FAILED",
        "fileId",
    )
    assert await refused(crew.resident, kind="image", fileId=photo) == ("CONFLICT", "fileId")
    assert await refused(crew.resident, kind="text", body="x", fileId=my_photo) == (
        "VALIDATION_FAILED",
        "fileId",
    )
    # a call recording is no voice message
    recording = await upload(api, crew, crew.desk, "workorders.recording", "audio/mpeg", clip)
    assert await refused(crew.desk, kind="voice", fileId=recording) == (
        "VALIDATION_FAILED",
        "fileId",
    )
    # a voice message is short (a ready 3 MB clip, inserted: the upload is not the point)
    long_clip = await _ready_file(runtime, crew, crew.resident, "workorders.voice", 3 << 20)
    assert await refused(crew.resident, kind="voice", fileId=long_clip) == (
        "VALIDATION_FAILED",
        "fileId",
    )
    # nothing was attached by the refused posts
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        loose = await s.scalars(
            select(StoredFile.attached_kind).where(
                StoredFile.id.in_(
                    [decode_id(f, "File") for f in (desk_photo, my_clip, my_photo, long_clip)]
                )
            )
        )
        assert set(loose) == {None}
    assert (await thread(api, crew, crew.desk, oid))["totalCount"] == 2


async def _ready_file(
    runtime: Runtime, crew: Crew, owner: Resident, purpose: str, size: int
) -> str:
    """A ready upload row, inserted (no object behind it)."""
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        row = StoredFile(
            key=f"tenants/{crew.tenant.slug}/workorders/{uuid.uuid4().hex}",
            purpose=purpose,
            module="workorders",
            owner_id=owner.user_id,
            content_type="image/png" if purpose == "workorders.photo" else "audio/amr",
            size=size,
            status="ready",
        )
        s.add(row)
        await s.commit()
        return encode_id("File", row.id)


async def test_a_page_of_messages_costs_the_same_statements_whatever_its_size(
    api: Api, runtime: Runtime
) -> None:
    crew = await make_crew(api, runtime)
    oid = await consultation(api, crew)
    order_pk = decode_id(oid, "WorkOrder")

    async def add(n: int) -> None:
        """``n`` messages from both sides, every third an image and every fifth a voice
        clip, with their (inserted, ready) files."""
        async with runtime.db.tenant_session(crew.tenant.schema) as s:
            for i in range(n):
                staff = i % 2 == 1
                who = crew.desk if staff else crew.resident
                kind = "image" if i % 3 == 0 else "voice" if i % 5 == 0 else "text"
                f = None
                if kind != "text":
                    f = StoredFile(
                        key=f"tenants/{crew.tenant.slug}/workorders/{uuid.uuid4().hex}",
                        purpose="workorders.photo" if kind == "image" else "workorders.voice",
                        module="workorders",
                        owner_id=who.user_id,
                        content_type="image/png" if kind == "image" else "audio/amr",
                        size=100,
                        status="ready",
                    )
                    s.add(f)
                    await s.flush()
                message = ThreadMessage(
                    order_id=order_pk,
                    sender_id=who.user_id,
                    from_staff=staff,
                    kind=kind,
                    body=f"消息{i}",
                    file_id=f.id if f else None,
                )
                s.add(message)
                await s.flush()
                if f is not None:
                    f.attached_kind, f.attached_id = "wo_message", message.id
            await s.commit()

    async def statements(size: int) -> int:
        with count_statements(runtime) as seen:
            page = await thread(api, crew, crew.desk, oid, first=size)
        assert len(page["edges"]) == size
        assert all(e["node"]["sender"]["name"] for e in page["edges"])
        images = [e["node"]["file"] for e in page["edges"] if e["node"]["kind"] == "image"]
        assert images and all(f["url"] for f in images)
        return len(seen)

    await add(5)
    small = await statements(5)
    await add(45)
    assert await statements(50) == small
    assert small <= 10, small  # principal, permissions, team, order, page, users, files, count


async def test_unread_counts_of_many_orders_take_one_statement(api: Api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    oids = [await consultation(api, crew, f"问题{i}") for i in range(6)]
    for i, oid in enumerate(oids):
        for n in range(i):
            await say(api, crew, crew.resident, oid, f"补充{n}")

    async def statements(ids: list[str]) -> int:
        with count_statements(runtime) as seen:
            counts = await unread(api, crew, crew.desk, *ids)
        assert counts == {oid: oids.index(oid) for oid in ids}
        return len(seen)

    assert await statements(oids[:1]) == await statements(oids)
    many = [oids[0]] * 101
    body = await api(COUNTS, {"ids": many}, tenant=crew.tenant.slug, token=crew.desk.token)
    assert codes(body) == ["VALIDATION_FAILED"]
