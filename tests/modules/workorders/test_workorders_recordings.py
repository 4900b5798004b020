"""Call recordings through GraphQL: attached to a complaint or a return visit (real uploads
through the local storage backend), listed as metadata to staff who see the order, played
only with ``workorders.recordings.listen`` through the audited ``playRecording`` mutation,
never exposed as a ``File`` link, and never across tenants."""

from __future__ import annotations

from typing import Any

from conftest import Api
from kit import Resident, add_staff, codes, ok
from sqlalchemy import select
from wo_kit import REQUEST_UPLOAD, Crew, make_crew, submit, take, upload

from wuye.graphql.ids import decode_id
from wuye.identity.models import AuditLog
from wuye.runtime import Runtime

MY_UPLOAD = "query($id: ID!) { myUpload(id: $id) { id url } }"
ATTACH = """mutation($i: AttachComplaintRecordingInput!) {
  attachComplaintRecording(input: $i) { id source contentType size createdAt } }"""
RECORDINGS = """query($id: ID!) {
  workOrderRecordings(orderId: $id) { id source contentType size createdAt } }"""
PLAY = "mutation($id: ID!) { playRecording(fileId: $id) { url expiresAt } }"
RECORD_VISIT = """mutation($i: RecordReturnVisitInput!) { recordReturnVisit(input: $i) {
  id recording { id source size contentType } } }"""
VISITS = "query($id: ID!) { returnVisits(orderId: $id) { id recording { id source } } }"
RECORDING_TYPE = """{ __type(name: "WorkOrderRecording") { fields { name } } }"""

CALL = b"ID3" + bytes(range(256)) * 8
PNG_BYTES = b"\x89PNG" + bytes(40)


async def record(
    api: Api,
    crew: Crew,
    who: Resident,
    *,
    purpose: str = "workorders.recording",
    content_type: str = "audio/mpeg",
) -> str:
    """A confirmed call recording (or another upload) of ``who``."""
    return await upload(api, crew, who, purpose, content_type, CALL)


async def call(api: Api, crew: Crew, who: Resident, query: str, **variables: Any) -> dict[str, Any]:
    return await api(query, variables, tenant=crew.tenant.slug, token=who.token)


async def plays(runtime: Runtime, crew: Crew) -> list[tuple[int | None, str, str]]:
    """The audit rows of playRecording: (actor, object type, object id)."""
    async with runtime.db.tenant_session(crew.tenant.schema) as s:
        rows = await s.scalars(
            select(AuditLog).where(AuditLog.action == "playRecording").order_by(AuditLog.id)
        )
        return [(r.actor_id, r.object_type, r.object_id) for r in rows]


async def play(api: Api, crew: Crew, who: Resident, file_gid: str) -> dict[str, Any]:
    return await call(api, crew, who, PLAY, id=file_gid)


async def test_complaint_recordings_are_listed_to_staff_and_played_with_an_audit_row(
    api: Api, runtime: Runtime
) -> None:
    crew = await make_crew(api, runtime)
    complaint = str((await submit(api, crew, type="complaint", description="夜间施工噪音"))["id"])
    # uploading a recording needs workorders.handle (the purpose's permission)
    refused = await call(
        api,
        crew,
        crew.worker,
        REQUEST_UPLOAD,
        i={"purpose": "workorders.recording", "contentType": "audio/mpeg", "size": 10},
    )
    assert codes(refused) == ["FORBIDDEN"]
    recording = await record(api, crew, crew.desk)
    pk = decode_id(recording, "File")

    # only customer service at the desk attaches, only to a complaint
    consultation = str((await submit(api, crew, type="consultation", description="咨询"))["id"])
    body = await call(
        api, crew, crew.desk, ATTACH, i={"orderId": consultation, "fileId": recording}
    )
    assert codes(body) == ["VALIDATION_FAILED"]
    body = await call(
        api, crew, crew.resident, ATTACH, i={"orderId": complaint, "fileId": recording}
    )
    assert codes(body) == ["FORBIDDEN"]
    # someone else's upload, or a photo, is refused
    manager_call = await record(api, crew, crew.manager)
    body = await call(
        api, crew, crew.desk, ATTACH, i={"orderId": complaint, "fileId": manager_call}
    )
    assert codes(body) == ["NOT_FOUND"]
    photo = await upload(api, crew, crew.desk, "workorders.photo", "image/png", PNG_BYTES)
    body = await call(api, crew, crew.desk, ATTACH, i={"orderId": complaint, "fileId": photo})
    assert codes(body) == ["VALIDATION_FAILED"]

    attached = ok(
        await call(api, crew, crew.desk, ATTACH, i={"orderId": complaint, "fileId": recording})
    )
    shown = attached["attachComplaintRecording"]
    assert shown == {
        "id": recording,
        "source": "complaint",
        "contentType": "audio/mpeg",
        "size": len(CALL),
        "createdAt": shown["createdAt"],
    }

    # listing (metadata, no link) for staff who see the order; not for the resident
    for who in (crew.desk, crew.manager):
        listed = ok(await call(api, crew, who, RECORDINGS, id=complaint))["workOrderRecordings"]
        assert [r["id"] for r in listed] == [recording]
    assert codes(await call(api, crew, crew.resident, RECORDINGS, id=complaint)) == ["FORBIDDEN"]
    assert codes(await call(api, crew, crew.worker, RECORDINGS, id=complaint)) == ["NOT_FOUND"]
    fields = ok(await call(api, crew, crew.desk, RECORDING_TYPE))["__type"]["fields"]
    assert "url" not in {f["name"] for f in fields}

    # playing: customer service and the manager hold the listen permission; each play is
    # one audit row naming the actor and the file
    assert await plays(runtime, crew) == []
    first = ok(await play(api, crew, crew.desk, recording))["playRecording"]
    assert first["url"] and first["expiresAt"]
    assert (await api.client.get(first["url"])).content == CALL
    ok(await play(api, crew, crew.desk, recording))
    ok(await play(api, crew, crew.manager, recording))
    expected = [
        (crew.desk.user_id, "File", str(pk)),
        (crew.desk.user_id, "File", str(pk)),
        (crew.manager.user_id, "File", str(pk)),
    ]
    assert await plays(runtime, crew) == expected

    # refused plays write nothing: no permission (worker, resident), the order out of sight
    # (customer service of another community, who holds the permission), not a recording
    elsewhere = await add_staff(
        api,
        runtime,
        crew.tenant,
        roles=("customer_service",),
        communities=(crew.place.ids["B"],),
        all_communities=False,
    )
    assert codes(await play(api, crew, crew.worker, recording)) == ["FORBIDDEN"]
    assert codes(await play(api, crew, crew.resident, recording)) == ["FORBIDDEN"]
    assert codes(await play(api, crew, elsewhere, recording)) == ["NOT_FOUND"]
    assert codes(await play(api, crew, crew.desk, photo)) == ["NOT_FOUND"]
    assert codes(await play(api, crew, crew.desk, manager_call)) == ["NOT_FOUND"]  # unattached
    assert codes(await play(api, crew, crew.desk, "not-an-id")) == ["NOT_FOUND"]
    assert await plays(runtime, crew) == expected


async def test_a_return_visit_recording(api: Api, runtime: Runtime) -> None:
    crew = await make_crew(api, runtime)
    oid = str((await submit(api, crew, type="consultation", description="咨询"))["id"])
    for action, extra in (("accept", {}), ("take_up", {}), ("answer", {"note": "已答复"})):
        ok(await take(api, crew, crew.desk, action, oid, **extra))
    ok(await take(api, crew, crew.desk, "close", oid))
    recording = await record(api, crew, crew.desk)
    # a voice-message upload is not a call recording
    voice = await record(api, crew, crew.desk, purpose="workorders.voice", content_type="audio/amr")
    visit = {"orderId": oid, "outcome": "reached", "satisfaction": 5, "recordingId": voice}
    body = await call(api, crew, crew.desk, RECORD_VISIT, i=visit)
    assert codes(body) == ["VALIDATION_FAILED"]
    assert body["errors"][0]["extensions"]["field"] == "recordingId"
    visit["recordingId"] = recording
    made = ok(await call(api, crew, crew.desk, RECORD_VISIT, i=visit))["recordReturnVisit"]
    assert made["recording"] == {
        "id": recording,
        "source": "return_visit",
        "size": len(CALL),
        "contentType": "audio/mpeg",
    }
    listed = ok(await call(api, crew, crew.manager, VISITS, id=oid))["returnVisits"]
    assert [v["recording"] for v in listed] == [{"id": recording, "source": "return_visit"}]
    recordings = ok(await call(api, crew, crew.desk, RECORDINGS, id=oid))["workOrderRecordings"]
    assert [(r["id"], r["source"]) for r in recordings] == [(recording, "return_visit")]

    played = ok(await play(api, crew, crew.manager, recording))["playRecording"]
    assert (await api.client.get(played["url"])).content == CALL
    assert codes(await play(api, crew, crew.worker, recording)) == ["FORBIDDEN"]
    pk = str(decode_id(recording, "File"))
    assert await plays(runtime, crew) == [(crew.manager.user_id, "File", pk)]


async def test_recordings_and_orders_never_cross_tenants(api: Api, runtime: Runtime) -> None:
    a = await make_crew(api, runtime)
    b = await make_crew(api, runtime)
    complaint = str((await submit(api, a, type="complaint", description="噪音"))["id"])
    await record(api, a, a.desk)  # so that A's recording has an id no file of B has
    recording = await record(api, a, a.desk)
    ok(await call(api, a, a.desk, ATTACH, i={"orderId": complaint, "fileId": recording}))

    # tenant B's manager (every permission, every community of B) with A's ids
    assert codes(await play(api, b, b.manager, recording)) == ["NOT_FOUND"]
    assert codes(await call(api, b, b.manager, RECORDINGS, id=complaint)) == ["NOT_FOUND"]
    assert codes(await call(api, b, b.manager, VISITS, id=complaint)) == ["NOT_FOUND"]
    b_recording = await record(api, b, b.desk)
    body = await call(api, b, b.desk, ATTACH, i={"orderId": complaint, "fileId": b_recording})
    assert codes(body) == ["NOT_FOUND"]
    # B's complaint with A's recording id: B's own files table has no such file
    b_complaint = str((await submit(api, b, type="complaint", description="噪音"))["id"])
    assert decode_id(recording, "File") > decode_id(b_recording, "File")
    body = await call(api, b, b.desk, ATTACH, i={"orderId": b_complaint, "fileId": recording})
    assert codes(body) == ["NOT_FOUND"]
    ok(await call(api, b, b.desk, ATTACH, i={"orderId": b_complaint, "fileId": b_recording}))
    # A's token is not accepted by tenant B at all
    body = await api(PLAY, {"id": recording}, tenant=b.tenant.slug, token=a.desk.token)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert await plays(runtime, b) == []


async def test_the_uploader_gets_no_link_to_an_attached_recording(
    api: Api, runtime: Runtime
) -> None:
    crew = await make_crew(api, runtime)
    complaint = str((await submit(api, crew, type="complaint", description="噪音"))["id"])
    recording = await record(api, crew, crew.desk)
    ok(await call(api, crew, crew.desk, ATTACH, i={"orderId": complaint, "fileId": recording}))
    mine = ok(await call(api, crew, crew.desk, MY_UPLOAD, id=recording))["myUpload"]
    assert mine["url"] is None
