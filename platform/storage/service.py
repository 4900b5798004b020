"""Uploads and downloads: slots, confirmation, attaching files to records, download URLs.

1. ``request_upload``: purpose, module, permission, type, size and the user's hourly quota
   are checked; a ``pending`` row is written and a presigned POST handed out.
2. The client uploads straight to the storage.
3. ``confirm_upload``: the owner confirms; the object is checked (HEAD: size and type as
   declared) and the row becomes ``ready`` (or ``rejected``, the object deleted).
4. A module ``attach``es ready files to its record after its own checks, and shows them with
   ``download_url`` (or the GraphQL ``File`` type) after its own permission check.

Every tenant's ``files`` table lives in its own schema, and every key starts with
``tenants/<slug>/``; both are checked, so one tenant's key never serves another.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.db import after_commit
from wuye.errors import AppError
from wuye.identity.permissions import grants
from wuye.storage.backends import UploadForm
from wuye.storage.models import StoredFile
from wuye.storage.purposes import UploadPurpose

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

THUMBNAIL_JOB = "make_thumbnail"
THUMBNAIL_SUFFIX = ".thumb.jpg"


def key_prefix(tenant_slug: str) -> str:
    return f"tenants/{tenant_slug}/"


def belongs_to(file: StoredFile, tenant_slug: str) -> bool:
    """Defence in depth beside the schema routing: the key names the session's tenant."""
    return file.key.startswith(key_prefix(tenant_slug))


def _invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


# --- upload slots --------------------------------------------------------------------------


async def check_quota(runtime: Runtime, tenant_slug: str, user_id: int) -> None:
    """Count one upload slot in the user's fixed one-hour window; TOO_MANY_ATTEMPTS over it."""
    limit = runtime.settings.storage_uploads_per_hour
    now = int(time.time())
    window = now // 3600
    key = f"{runtime.settings.redis_prefix}:uploads:{tenant_slug}:{user_id}:{window}"
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 3700)
        count, _ = await pipe.execute()
    if int(count) > limit:
        raise AppError("TOO_MANY_ATTEMPTS", retry_after=max((window + 1) * 3600 - now, 1))


def purpose_for(runtime: Runtime, tenant: TenantInfo, key: str) -> UploadPurpose:
    purpose = runtime.upload_purposes.get(key)
    if purpose is None:
        raise _invalid("purpose", "未知的上传用途", "Unknown upload purpose")
    if not runtime.module_enabled(tenant, purpose.module):
        raise AppError("MODULE_DISABLED", module=purpose.module)
    return purpose


async def request_upload(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    user_id: int,
    permissions: Iterable[str],
    *,
    purpose_key: str,
    content_type: str,
    size: int,
    filename: str = "",
) -> tuple[StoredFile, UploadForm]:
    """A ``pending`` file row and the presigned POST to upload it with. ``permissions``: the
    signed-in user's (``ctx.permissions()``)."""
    purpose = purpose_for(runtime, tenant, purpose_key)
    if purpose.permission is not None and not grants(permissions, purpose.permission.key):
        raise AppError("FORBIDDEN")
    content_type = content_type.strip().lower()
    rule = purpose.rule
    if content_type not in rule.content_types:
        raise _invalid(
            "contentType",
            "不支持该文件类型：" + ", ".join(sorted(rule.content_types)),
            "This file type is not allowed: " + ", ".join(sorted(rule.content_types)),
        )
    if size < 1 or size > rule.max_size:
        mb = rule.max_size // (1024 * 1024)
        raise _invalid(
            "size", f"文件大小须在 1 字节至 {mb} MB 之间", f"Files are 1 byte to {mb} MB"
        )
    filename = filename.strip().replace("/", "_").replace("\\", "_")
    if len(filename) > 255:
        raise _invalid("filename", "文件名过长", "The file name is too long")
    await check_quota(runtime, tenant.slug, user_id)
    key = f"{key_prefix(tenant.slug)}{purpose.module}/{uuid.uuid4().hex}"
    row = StoredFile(
        key=key,
        purpose=purpose.key,
        module=purpose.module,
        owner_id=user_id,
        content_type=content_type,
        size=size,
        status="pending",
        filename=filename,
        thumbnail_status="none",
    )
    session.add(row)
    await session.flush()
    # The exact declared size: confirm refuses anything else, so the policy says so too.
    form = await runtime.storage.presigned_post(
        key, content_type, size, size, runtime.settings.storage_upload_ttl_s
    )
    return row, form


async def _own_file(
    session: AsyncSession, tenant: TenantInfo, user_id: int, file_id: int, *, lock: bool = False
) -> StoredFile:
    stmt = select(StoredFile).where(StoredFile.id == file_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = await session.scalar(stmt)
    if row is None or row.owner_id != user_id or not belongs_to(row, tenant.slug):
        raise AppError("NOT_FOUND", field="id")
    return row


async def my_upload(
    session: AsyncSession, tenant: TenantInfo, user_id: int, file_id: int
) -> StoredFile:
    """One of the user's own uploads (NOT_FOUND for anyone else's)."""
    return await _own_file(session, tenant, user_id, file_id)


async def confirm_upload(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, user_id: int, file_id: int
) -> StoredFile:
    """The owner says the upload is done: check the object and mark the row ``ready``.

    An object that differs from what was declared is deleted and the row marked
    ``rejected`` in a transaction of its own (committed even though this call fails and the
    caller's transaction rolls back)."""
    row = await _own_file(session, tenant, user_id, file_id)
    if row.status == "ready":
        return row  # confirming twice is harmless
    if row.status != "pending":
        raise AppError("INVALID_TRANSITION", status=row.status)
    info = await runtime.storage.head(row.key)
    if info is None:
        raise _invalid("id", "文件尚未上传", "The file has not been uploaded yet")
    if info.size != row.size or info.content_type.lower() != row.content_type:
        await runtime.storage.delete(row.key)
        async with runtime.db.tenant_session(tenant.schema, tenant.cluster) as own:
            await own.execute(
                update(StoredFile)
                .where(StoredFile.id == row.id, StoredFile.status == "pending")
                .values(status="rejected")
            )
            await own.commit()
        raise _invalid(
            "id",
            "上传的文件与申请的类型或大小不符，已删除",
            "The uploaded file does not match the declared type or size; it was deleted",
        )
    row = await _own_file(session, tenant, user_id, file_id, lock=True)
    if row.status != "pending":  # a concurrent confirm got there first
        if row.status == "ready":
            return row
        raise AppError("INVALID_TRANSITION", status=row.status)
    row.status = "ready"
    row.checksum = info.checksum[:100]
    row.confirmed_at = datetime.now(UTC)
    purpose = runtime.upload_purposes.get(row.purpose)
    if purpose is not None and purpose.thumbnails and row.content_type.startswith("image/"):
        row.thumbnail_status = "pending"
        after_commit(session, functools.partial(kick_thumbnail, runtime, tenant.slug, row.id))
    await session.flush()
    return row


async def kick_thumbnail(runtime: Runtime, tenant_slug: str, file_id: int) -> None:
    from wuye.workers.jobs import enqueue, job_id

    await enqueue(
        runtime,
        THUMBNAIL_JOB,
        tenant_slug,
        file_id=file_id,
        _job_id=job_id(runtime, "thumbnail", tenant_slug, file_id),
    )


# --- for modules ---------------------------------------------------------------------------


async def attach(
    session: AsyncSession,
    tenant_slug: str,
    file_ids: Sequence[int],
    *,
    owner_id: int | None,
    purpose_key: str,
    kind: str,
    target_id: int,
    field: str = "fileIds",
) -> list[StoredFile]:
    """Attach ready uploads to a module's record (``kind``, ``target_id``), in the caller's
    transaction, after the module's own checks. Each file must be ``ready``, of
    ``purpose_key``, uploaded by ``owner_id`` (unless None) and not attached elsewhere
    (attaching again to the same record is a no-op). Errors name ``field``."""
    ids = list(dict.fromkeys(file_ids))
    if not ids:
        return []
    rows = list(
        await session.scalars(
            select(StoredFile)
            .where(StoredFile.id.in_(ids))
            .order_by(StoredFile.id)
            .with_for_update()
        )
    )
    by_id = {r.id: r for r in rows}
    for file_id in ids:
        row = by_id.get(file_id)
        if (
            row is None
            or not belongs_to(row, tenant_slug)
            or (owner_id is not None and row.owner_id != owner_id)
        ):
            raise AppError("NOT_FOUND", field=field)
        if row.status != "ready" or row.purpose != purpose_key:
            raise _invalid(
                field, "文件未上传完成或用途不符", "The file is not a finished upload for this use"
            )
        if row.attached_kind is not None and (row.attached_kind, row.attached_id) != (
            kind,
            target_id,
        ):
            raise AppError("CONFLICT", field=field)
    for row in rows:
        row.attached_kind, row.attached_id = kind, target_id
    await session.flush()
    return [by_id[i] for i in ids]


async def attached_files(
    session: AsyncSession, kind: str, target_ids: Sequence[int]
) -> dict[int, list[StoredFile]]:
    """The ready files attached to each record (in upload order), for a module's resolver or
    DataLoader."""
    result: dict[int, list[StoredFile]] = {i: [] for i in target_ids}
    if not target_ids:
        return result
    rows = await session.scalars(
        select(StoredFile)
        .where(
            StoredFile.attached_kind == kind,
            StoredFile.attached_id.in_(list(target_ids)),
            StoredFile.status == "ready",
        )
        .order_by(StoredFile.id)
    )
    for row in rows:
        result.setdefault(row.attached_id or 0, []).append(row)
    return result


async def download_url(
    runtime: Runtime, tenant_slug: str, file: StoredFile, *, thumbnail: bool = False
) -> str | None:
    """A short-lived URL for a ready file (or its thumbnail: None until there is one). The
    caller has checked the reader may see it."""
    if file.status != "ready" or not belongs_to(file, tenant_slug):
        return None
    ttl = runtime.settings.storage_download_ttl_s
    if thumbnail:
        if file.thumbnail_status != "ready" or not file.thumbnail_key:
            return None
        if not file.thumbnail_key.startswith(key_prefix(tenant_slug)):
            return None
        return await runtime.storage.presigned_get(file.thumbnail_key, ttl)
    return await runtime.storage.presigned_get(file.key, ttl, file.filename or None)
