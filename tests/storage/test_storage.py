"""File storage: upload slots, real uploads, confirmation, downloads, quotas, thumbnails and
tenant isolation, each against both backends: local files served by the app, and S3 on a
real S3-compatible server (moto in server mode)."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import Api, Services, TenantFixture, build_runtime, client_for
from sqlalchemy import select
from storage_kit import (
    BUCKET,
    CONFIRM,
    MODULES_WITH_TEST,
    MY_UPLOAD,
    Env,
    error,
    free_port,
    jpeg_with_gps,
    ok,
)

from wuye.app import create_app
from wuye.errors import AppError
from wuye.graphql.ids import decode_id, encode_id
from wuye.identity.models import User
from wuye.settings import Settings
from wuye.storage import service
from wuye.storage.backends import LocalSigner, LocalStorage
from wuye.storage.jobs import make_thumbnail
from wuye.storage.models import StoredFile
from wuye.workers.jobs import job_id

QUOTA = 6


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["local", "s3"])
async def env(
    request: pytest.FixtureRequest,
    settings: Settings,
    services: Services,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Env]:
    update: dict[str, Any] = {"storage_backend": request.param, "storage_uploads_per_hour": QUOTA}
    if request.param == "local":
        update["storage_local_dir"] = tmp_path_factory.mktemp("files")
    else:
        update.update(
            s3_bucket=BUCKET,
            s3_region="us-east-1",
            s3_endpoint_url=request.getfixturevalue("s3_endpoint"),
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
            s3_addressing_style="path",
        )
    runtime = build_runtime(settings.model_copy(update=update), services, MODULES_WITH_TEST)
    async with client_for(create_app(runtime)) as http:
        yield Env(request.param, runtime, http, Api(http, "/graphql"))
    await runtime.close()


async def _row(env: Env, tenant: TenantFixture, file_id: int) -> StoredFile | None:
    async with env.runtime.db.tenant_session(tenant.schema) as s:
        return await s.scalar(select(StoredFile).where(StoredFile.id == file_id))


async def _uploaded(
    env: Env,
    tenant: TenantFixture,
    token: str,
    data: bytes,
    *,
    purpose: str = "filestest.recording",
    content_type: str = "audio/mpeg",
    filename: str = "",
) -> dict[str, Any]:
    """A slot, the real form upload, and the confirmation: the confirmed File."""
    slot = ok(
        await env.slot(
            tenant,
            token,
            purpose=purpose,
            content_type=content_type,
            size=len(data),
            filename=filename,
        )
    )["requestUpload"]
    posted = await env.post_form(slot, data, content_type)
    assert posted.status_code in (200, 201, 204), posted.text
    return ok(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))["confirmUpload"]


# --- the happy path ------------------------------------------------------------------------


async def test_upload_confirm_download_round_trip(env: Env) -> None:
    tenant = await env.tenant()
    token = await env.user(tenant)
    data = b"ID3" + bytes(range(256)) * 40
    slot = ok(await env.slot(tenant, token, size=len(data), filename="录音 1.mp3"))["requestUpload"]
    assert slot["file"]["status"] == "pending" and slot["file"]["url"] is None
    assert slot["file"]["filename"] == "录音 1.mp3"
    fields = {f["name"]: f["value"] for f in slot["fields"]}
    file_id = decode_id(slot["file"]["id"], "File")
    row = await _row(env, tenant, file_id)
    assert row is not None and row.key == fields["key"]
    assert row.key.startswith(f"tenants/{tenant.slug}/filestest/") and len(row.key.split("/")) == 4
    assert fields["Content-Type"] == "audio/mpeg"

    # not uploaded yet: nothing to confirm
    early = error(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))
    assert early["extensions"]["code"] == "VALIDATION_FAILED"

    posted = await env.post_form(slot, data, "audio/mpeg")
    assert posted.status_code in (200, 201, 204), posted.text
    done = ok(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))["confirmUpload"]
    assert done["status"] == "ready" and done["size"] == len(data)
    assert done["thumbnailStatus"] == "none" and done["thumbnailUrl"] is None
    got = await env.get(done["url"])
    assert got.status_code == 200 and got.content == data
    assert "attachment" in got.headers.get("content-disposition", "")

    row = await _row(env, tenant, file_id)
    assert row is not None and row.status == "ready" and row.confirmed_at is not None
    assert row.checksum == hashlib.md5(data).hexdigest()
    # confirming twice is harmless; the owner can read it back
    again = ok(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))
    assert again["confirmUpload"]["status"] == "ready"
    mine = ok(await env.call(tenant, token, MY_UPLOAD, {"id": slot["file"]["id"]}))["myUpload"]
    assert (await env.get(mine["url"])).content == data

    # someone else in the same tenant cannot see, confirm or read it
    other = await env.user(tenant)
    for query in (MY_UPLOAD, CONFIRM):
        body = await env.call(tenant, other, query, {"id": slot["file"]["id"]})
        assert error(body)["extensions"]["code"] == "NOT_FOUND"


# --- what a slot refuses -------------------------------------------------------------------


async def test_slot_checks_purpose_type_size_and_permission(env: Env) -> None:
    tenant = await env.tenant()
    token = await env.user(tenant)

    async def code(**kw: Any) -> tuple[str, str | None]:
        err = error(await env.slot(tenant, token, **kw))
        return err["extensions"]["code"], err["extensions"].get("field")

    assert await code(purpose="filestest.photo", content_type="image/gif", size=10) == (
        "VALIDATION_FAILED",
        "contentType",
    )
    assert await code(purpose="filestest.photo", content_type="audio/mpeg", size=10) == (
        "VALIDATION_FAILED",
        "contentType",
    )
    assert await code(
        purpose="filestest.photo", content_type="image/jpeg", size=10 * 1024 * 1024 + 1
    ) == ("VALIDATION_FAILED", "size")
    assert await code(size=0) == ("VALIDATION_FAILED", "size")
    assert await code(size=100 * 1024 * 1024 + 1) == ("VALIDATION_FAILED", "size")
    assert await code(purpose="filestest.nope", size=10) == ("VALIDATION_FAILED", "purpose")
    # a purpose with a permission: residents lack it, the tenant admin has it
    docs = dict(purpose="filestest.docs", content_type="application/pdf", size=10)
    assert (await code(**docs))[0] == "FORBIDDEN"
    admin = await env.user(tenant, kind="staff", roles=("tenant_admin",))
    ok(await env.slot(tenant, admin, **docs))  # type: ignore[arg-type]
    # the purpose's module must be on for the tenant
    plain = await env.tenant(modules=())
    plain_token = await env.user(plain)
    body = await env.slot(plain, plain_token, size=10)
    assert error(body)["extensions"]["code"] == "MODULE_DISABLED"
    # signed-in only
    anon = await env.api(
        'mutation { requestUpload(input: {purpose: "filestest.recording", '
        'contentType: "audio/mpeg", size: 10}) { url } }',
        tenant=tenant.slug,
    )
    assert error(anon)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_quota_per_user_per_hour(env: Env) -> None:
    tenant = await env.tenant()
    token = await env.user(tenant)
    for _ in range(QUOTA):
        ok(await env.slot(tenant, token, size=10))
    err = error(await env.slot(tenant, token, size=10))
    assert err["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    assert 0 < err["extensions"]["retry_after"] <= 3600
    # another user of the tenant has a budget of their own
    ok(await env.slot(tenant, await env.user(tenant), size=10))


# --- confirmation checks the object --------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "stored_type"),
    [(b"x" * 50, "audio/mpeg"), (b"x" * 150, "audio/mpeg"), (b"x" * 100, "image/png")],
    ids=["smaller", "larger", "other-type"],
)
async def test_confirm_rejects_an_object_unlike_the_slot(
    env: Env, stored: bytes, stored_type: str
) -> None:
    """The storage may not enforce the policy (moto does not; a misconfigured service may
    not): the HEAD check at confirmation still refuses it, deletes it, records nothing."""
    tenant = await env.tenant()
    token = await env.user(tenant)
    slot = ok(await env.slot(tenant, token, size=100))["requestUpload"]
    key = {f["name"]: f["value"] for f in slot["fields"]}["key"]
    await env.runtime.storage.put_bytes(key, stored, stored_type)
    err = error(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))
    assert (err["extensions"]["code"], err["extensions"]["field"]) == ("VALIDATION_FAILED", "id")
    row = await _row(env, tenant, decode_id(slot["file"]["id"], "File"))
    assert row is not None and row.status == "rejected"
    assert await env.runtime.storage.head(key) is None
    again = error(await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]}))
    assert again["extensions"]["code"] == "INVALID_TRANSITION"


async def test_s3_upload_of_the_wrong_size_is_rejected_at_confirm(env: Env) -> None:
    """A real form upload of other bytes than declared: S3 refuses it by policy (the local
    route does too); if it got through, the confirmation would reject it."""
    tenant = await env.tenant()
    token = await env.user(tenant)
    slot = ok(await env.slot(tenant, token, size=100))["requestUpload"]
    posted = await env.post_form(slot, b"y" * 60, "audio/mpeg")
    body = await env.call(tenant, token, CONFIRM, {"id": slot["file"]["id"]})
    assert error(body)["extensions"]["code"] == "VALIDATION_FAILED"
    if env.name == "local":
        assert posted.status_code == 400
    row = await _row(env, tenant, decode_id(slot["file"]["id"], "File"))
    assert row is not None and row.status != "ready"


# --- the local backend's own routes --------------------------------------------------------


async def test_local_upload_route_enforces_the_policy(env: Env) -> None:
    if env.name != "local":
        pytest.skip("the local backend's routes")
    tenant = await env.tenant()
    token = await env.user(tenant)
    storage = env.runtime.storage
    assert isinstance(storage, LocalStorage)
    slot = ok(await env.slot(tenant, token, size=20))["requestUpload"]
    fields = {f["name"]: f["value"] for f in slot["fields"]}

    async def post(data: bytes = b"z" * 20, **changes: str) -> int:
        form = {**fields, **changes}
        r = await env.http.post(slot["url"], data=form, files={"file": ("f", data, "audio/mpeg")})
        return r.status_code

    assert await post(**{"Content-Type": "audio/wav"}) == 403  # not the type signed for
    other_key = fields["key"][:-4] + "0000"
    assert await post(key=other_key) == 403  # not the key signed for
    assert await post(signature=fields["signature"][:-2] + "AA") == 403  # forged
    assert await post(b"z" * 19) == 400 and await post(b"z" * 21) == 400  # size range
    # an expired policy (signed correctly) is refused
    policy = storage.signer.policy(fields["key"], "audio/mpeg", 20, 20, int(time.time()) - 1)
    assert await post(policy=policy, signature=storage.signer.sign("post\n" + policy)) == 403
    # a policy made for another tenant's key cannot write into this slot's key
    assert await post() == 204
    assert await post() == 409  # the slot is used
    assert await storage.head(other_key) is None


async def test_local_download_signatures(env: Env) -> None:
    if env.name != "local":
        pytest.skip("the local backend's routes")
    storage = env.runtime.storage
    assert isinstance(storage, LocalStorage)
    tenant_a = await env.tenant()
    token = await env.user(tenant_a)
    done = await _uploaded(env, tenant_a, token, b"a-data" * 10)
    url = done["url"]
    assert (await env.http.get(url)).status_code == 200
    path, _, query = url.partition("?")
    key = path.removeprefix("/files/get/")
    # a valid signature for another key (tenant B's own file) does not open tenant A's
    tenant_b = await env.tenant()
    b_done = await _uploaded(env, tenant_b, await env.user(tenant_b), b"b-data" * 10)
    b_query = b_done["url"].partition("?")[2]
    assert (await env.http.get(f"/files/get/{key}?{b_query}")).status_code == 403
    # tampered expiry, signature, file name; expired
    exp = int(query.split("exp=")[1].split("&")[0])
    assert (await env.http.get(url.replace(f"exp={exp}", f"exp={exp + 1}"))).status_code == 403
    assert (await env.http.get(url[:-3] + "AAA")).status_code == 403
    assert (await env.http.get(url + "&dn=x.mp3")).status_code == 403
    old = int(time.time()) - 5
    sig = storage.signer.sign(LocalSigner.get_message(key, old, ""))
    assert (await env.http.get(f"/files/get/{key}?exp={old}&sig={sig}")).status_code == 403
    # path tricks never leave the root
    evil = "tenants/../../etc/passwd"
    sig = storage.signer.sign(LocalSigner.get_message(evil, old + 600, ""))
    r = await env.http.get(f"/files/get/{evil}?exp={old + 600}&sig={sig}")
    assert r.status_code in (403, 404)


# --- thumbnails ----------------------------------------------------------------------------


async def test_thumbnail_is_upright_small_and_has_no_exif(env: Env) -> None:
    from PIL import Image

    tenant = await env.tenant()
    token = await env.user(tenant)
    photo = jpeg_with_gps()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # it has a GPS position
    done = await _uploaded(
        env, tenant, token, photo, purpose="filestest.photo", content_type="image/jpeg"
    )
    assert done["thumbnailStatus"] == "pending" and done["thumbnailUrl"] is None
    file_id = decode_id(done["id"], "File")
    # the confirmation's commit enqueued the job (run here by hand, no worker in this test)
    queued = job_id(env.runtime, "thumbnail", tenant.slug, file_id)
    assert await env.runtime.redis.exists(f"arq:job:{queued}")
    ctx = {"runtime": env.runtime}
    assert await make_thumbnail(ctx, tenant.slug, file_id=file_id) == "ready"
    assert await make_thumbnail(ctx, tenant.slug, file_id=file_id) == "nothing to do"

    mine = ok(await env.call(tenant, token, MY_UPLOAD, {"id": done["id"]}))["myUpload"]
    assert mine["thumbnailStatus"] == "ready"
    got = await env.get(mine["thumbnailUrl"])
    assert got.status_code == 200
    thumb = Image.open(io.BytesIO(got.content))
    assert thumb.format == "JPEG" and thumb.size == (320, 480)  # turned upright, 480 px
    assert "exif" not in thumb.info and len(thumb.getexif()) == 0
    assert b"Exif" not in got.content and b"TestCam" not in got.content
    # the original is kept as uploaded
    assert (await env.get(mine["url"])).content == photo


async def test_thumbnail_of_unreadable_images(env: Env) -> None:
    tenant = await env.tenant()
    token = await env.user(tenant)
    ctx = {"runtime": env.runtime}
    for content_type, expected in (("image/png", "failed"), ("image/heic", "unsupported")):
        done = await _uploaded(
            env,
            tenant,
            token,
            b"\x00not an image" * 10,
            purpose="filestest.photo",
            content_type=content_type,
        )
        file_id = decode_id(done["id"], "File")
        assert await make_thumbnail(ctx, tenant.slug, file_id=file_id) == expected
        row = await _row(env, tenant, file_id)
        assert row is not None and row.thumbnail_status == expected and row.status == "ready"


# --- attaching, and tenant isolation -------------------------------------------------------


async def test_attach_rules(env: Env) -> None:
    tenant = await env.tenant()
    token = await env.user(tenant)
    done = await _uploaded(env, tenant, token, b"r" * 30)
    file_id = decode_id(done["id"], "File")
    owner = (await _row(env, tenant, file_id)).owner_id  # type: ignore[union-attr]
    pending = ok(await env.slot(tenant, token, size=5))["requestUpload"]["file"]
    pending_id = decode_id(pending["id"], "File")

    async def attach(ids: list[int], **kw: Any) -> str:
        args: dict[str, Any] = dict(
            owner_id=owner, purpose_key="filestest.recording", kind="ticket", target_id=1
        )
        args.update(kw)
        async with env.runtime.db.tenant_session(tenant.schema) as s:
            try:
                await service.attach(s, tenant.slug, ids, **args)
            except AppError as exc:
                return f"{exc.code}:{exc.params.get('field')}"
            await s.commit()
            return "ok"

    assert await attach([file_id], owner_id=owner + 1000) == "NOT_FOUND:fileIds"
    assert await attach([file_id], purpose_key="filestest.photo") == "VALIDATION_FAILED:fileIds"
    assert await attach([pending_id]) == "VALIDATION_FAILED:fileIds"
    assert await attach([987654]) == "NOT_FOUND:fileIds"
    assert await attach([file_id]) == "ok"
    assert await attach([file_id]) == "ok"  # again, same record: nothing changes
    assert await attach([file_id], target_id=2) == "CONFLICT:fileIds"
    assert await attach([file_id], owner_id=None, target_id=1) == "ok"
    async with env.runtime.db.tenant_session(tenant.schema) as s:
        found = await service.attached_files(s, "ticket", [1, 2])
    assert [f.id for f in found[1]] == [file_id] and found[2] == []


async def test_tenant_b_cannot_use_tenant_a_files(env: Env) -> None:
    a, b = await env.tenant(), await env.tenant()
    a_token, b_token = await env.user(a), await env.user(b)
    a_done = await _uploaded(env, a, a_token, b"secret of A" * 5)
    a_id = decode_id(a_done["id"], "File")
    a_row = await _row(env, a, a_id)
    assert a_row is not None
    # B presents A's file id: B's schema has no such file of B's user
    for query in (CONFIRM, MY_UPLOAD):
        body = await env.call(b, b_token, query, {"id": a_done["id"]})
        assert error(body)["extensions"]["code"] == "NOT_FOUND"
    # Even a row in B's schema naming A's key (a copied row, a restored backup) is refused
    # for confirm, attach and download: the key's tenant prefix is checked.
    async with env.runtime.db.tenant_session(b.schema) as s:
        b_owner = await s.scalar(select(User.id).order_by(User.id.desc()).limit(1))
    async with env.runtime.db.tenant_session(b.schema) as s:
        forged = StoredFile(
            key=a_row.key,
            purpose="filestest.recording",
            module="filestest",
            owner_id=b_owner,
            content_type=a_row.content_type,
            size=a_row.size,
            status="pending",
        )
        ready = StoredFile(
            key=a_row.key + "-copy",
            purpose="filestest.recording",
            module="filestest",
            owner_id=b_owner,
            content_type=a_row.content_type,
            size=a_row.size,
            status="ready",
        )
        s.add_all([forged, ready])
        await s.commit()
    b_info = await env.runtime.directory.fresh(b.slug)
    assert b_info is not None
    async with env.runtime.db.tenant_session(b.schema) as s:
        with pytest.raises(AppError) as exc:
            await service.confirm_upload(s, env.runtime, b_info, b_owner or 0, forged.id)
        assert exc.value.code == "NOT_FOUND"
        with pytest.raises(AppError) as exc:
            await service.attach(
                s,
                b.slug,
                [ready.id],
                owner_id=None,
                purpose_key="filestest.recording",
                kind="ticket",
                target_id=1,
            )
        assert exc.value.code == "NOT_FOUND"
        assert await service.download_url(env.runtime, b.slug, ready) is None
    body = await env.call(b, b_token, CONFIRM, {"id": _gid(forged.id)})
    assert error(body)["extensions"]["code"] == "NOT_FOUND"
    # A's object is untouched and still A's
    assert (await env.get(a_done["url"])).content == b"secret of A" * 5


def _gid(pk: int) -> str:
    return encode_id("File", pk)


def test_keys_are_validated() -> None:
    storage = LocalStorage(Path("/tmp/wuye-nowhere"), LocalSigner("k"))
    for bad in ("../x", "tenants/../../etc/passwd", "/abs/path", "Tenants/A/b", "a"):
        with pytest.raises(ValueError):
            storage.path(bad)
    assert storage.path("tenants/t-1/workorders/abc.thumb.jpg").name == "abc.thumb.jpg"
