"""Uploads on the tenant surface (core): ask for an upload slot, confirm it, read it back.

Modules show their attached files with ``File.of(row)`` after their own permission check;
its ``url`` and ``thumbnailUrl`` are short-lived links.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import strawberry

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid
from wuye.storage import service
from wuye.storage.models import StoredFile


@strawberry.type
class File:
    id: strawberry.ID
    purpose: str
    content_type: str
    size: int
    filename: str
    status: str = strawberry.field(description="pending, ready or rejected")
    thumbnail_status: str = strawberry.field(
        description="none, pending, ready, unsupported or failed"
    )
    created_at: datetime
    row: strawberry.Private[StoredFile]

    @classmethod
    def of(cls, row: StoredFile) -> File:
        return cls(
            id=gid("File", row.id),
            purpose=row.purpose,
            content_type=row.content_type,
            size=row.size,
            filename=row.filename,
            status=row.status,
            thumbnail_status=row.thumbnail_status,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(
        description="A short-lived download link (ready files only; null for files such as "
        "call recordings that only their module hands out)"
    )
    async def url(self, info: strawberry.Info) -> str | None:
        ctx = info.context
        purpose = ctx.runtime.upload_purposes.get(self.row.purpose)
        if purpose is not None and not purpose.downloadable:
            return None
        return await service.download_url(ctx.runtime, ctx.tenant.slug, self.row)

    @strawberry.field(description="A short-lived link to the 480 px JPEG, once there is one")
    async def thumbnail_url(self, info: strawberry.Info) -> str | None:
        ctx = info.context
        return await service.download_url(ctx.runtime, ctx.tenant.slug, self.row, thumbnail=True)


@strawberry.type
class FormField:
    name: str
    value: str


@strawberry.type
class UploadSlot:
    file: File
    url: str = strawberry.field(description="POST multipart/form-data here")
    fields: list[FormField] = strawberry.field(
        description="Send these form fields first, in order, then the file as field 'file'"
    )
    expires_at: datetime


@strawberry.input
class RequestUploadInput:
    purpose: str = strawberry.field(description='e.g. "workorders.photo"')
    content_type: str
    size: int = strawberry.field(description="Bytes; the upload must be exactly this size")
    filename: str = ""


def file_id(global_id: strawberry.ID | str, field: str = "id") -> int:
    return decode_id(str(global_id), "File", field)


@strawberry.type
class StorageQuery:
    @query(signed_in=True, description="One of your own uploads")
    async def my_upload(self, info: strawberry.Info, id: strawberry.ID) -> File:
        ctx = info.context
        user = await ctx.user()
        return File.of(await service.my_upload(ctx.session, ctx.tenant, user.id, file_id(id)))


@strawberry.type
class StorageMutation:
    @mutation(
        signed_in=True,
        description="An upload slot: POST the file to url with fields, then confirmUpload",
    )
    async def request_upload(self, info: strawberry.Info, input: RequestUploadInput) -> UploadSlot:
        ctx = info.context
        user = await ctx.user()
        row, form = await service.request_upload(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            user.id,
            await ctx.permissions(),
            purpose_key=input.purpose,
            content_type=input.content_type,
            size=input.size,
            filename=input.filename,
        )
        await ctx.session.refresh(row)
        ctx.audit_target = ("File", str(row.id))
        ttl = ctx.runtime.settings.storage_upload_ttl_s
        return UploadSlot(
            file=File.of(row),
            url=form.url,
            fields=[FormField(name=k, value=v) for k, v in form.fields.items()],
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        )

    @mutation(signed_in=True, description="Your upload is done: it is checked and kept")
    async def confirm_upload(self, info: strawberry.Info, id: strawberry.ID) -> File:
        ctx = info.context
        user = await ctx.user()
        pk = file_id(id)
        ctx.audit_target = ("File", str(pk))
        row = await service.confirm_upload(ctx.session, ctx.runtime, ctx.tenant, user.id, pk)
        return File.of(row)
