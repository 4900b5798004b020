"""Estate API: bulk import and export (批量导入导出).

- ``estateImportTemplate(kind, format)``: the documented template of a kind.
- ``startEstateImport(input)``: validate every row, then apply all or none; files of more
  than ``importing.ASYNC_THRESHOLD`` rows are queued for the ``run_estate_import`` job.
- ``estateImport(id)`` / ``estateImports``: status, progress and the row-by-row report.
- ``exportEstate(input)``: a list in the template's format, limited to the data scope; also
  the export-only lists (vehicles, parking lots, unit claims, staff, departments, staff
  transfers), which the import and its templates refuse.

Import needs ``estate.import``; export needs ``estate.view`` (plus ``estate.residents.view``
for residents, vehicles and unit claims; residents' and vehicle owners' phone and ID numbers
are masked without ``estate.residents.view_sensitive``). Both respect the caller's data
scope; the organisation lists (staff, departments, transfers) are tenant-wide, as the org
API is.
"""

from __future__ import annotations

import base64
import enum
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import defer

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, encode_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.permissions import grants
from wuye.modules.estate import exporting, importing
from wuye.modules.estate.jobs import run_estate_import
from wuye.modules.estate.models import Community, ImportJob
from wuye.modules.estate.permissions import IMPORT, RESIDENTS_VIEW, VIEW, VIEW_SENSITIVE
from wuye.outbox import enqueue_after_commit


@strawberry.enum(
    description="What a sheet holds. VEHICLES to STAFF_TRANSFERS are export-only: "
    "startEstateImport and estateImportTemplate refuse them"
)
class EstateImportKind(enum.Enum):
    COMMUNITIES = "communities"
    BUILDINGS = "buildings"
    UNITS = "units"
    PARKING_SPACES = "parking_spaces"
    RESIDENTS = "residents"
    VEHICLES = "vehicles"
    PARKING_LOTS = "parking_lots"
    UNIT_CLAIMS = "unit_claims"
    STAFF = "staff"
    DEPARTMENTS = "departments"
    STAFF_TRANSFERS = "staff_transfers"


@strawberry.enum
class EstateFileFormat(enum.Enum):
    CSV = "csv"
    XLSX = "xlsx"


@strawberry.enum
class EstateImportStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    APPLIED = "applied"
    REJECTED = "rejected"
    FAILED = "failed"


@strawberry.type(description="A file for download: name, MIME type, content in base64")
class EstateFile:
    filename: str
    content_type: str
    base64: str

    @classmethod
    def of(cls, filename: str, content_type: str, data: bytes) -> EstateFile:
        return cls(
            filename=filename, content_type=content_type, base64=base64.b64encode(data).decode()
        )


@strawberry.type(description="One problem in an import: the sheet row (header = 1) and column")
class EstateImportError:
    row: int
    column: str = strawberry.field(description="The column header as the template shows it")
    field: str = strawberry.field(description="The column's English key")
    message: str


@strawberry.type
class EstateImport:
    id: strawberry.ID
    kind: EstateImportKind
    filename: str
    status: EstateImportStatus
    total_rows: int
    processed_rows: int
    errors: list[EstateImportError]
    message: str
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: ImportJob, lang: str) -> EstateImport:
        en = lang == "en"
        return cls(
            id=strawberry.ID(encode_id("EstateImport", job.id)),
            kind=EstateImportKind(job.kind),
            filename=job.filename,
            status=EstateImportStatus(job.status),
            total_rows=job.total_rows,
            processed_rows=job.processed_rows,
            errors=[
                EstateImportError(
                    row=e["row"],
                    column=e["column"],
                    field=e["field"],
                    message=e["en"] if en else e["zh"],
                )
                for e in job.errors
            ],
            message=importing.message_for(job, lang),
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


@strawberry.input
class StartEstateImportInput:
    kind: EstateImportKind
    filename: str
    base64: str = strawberry.field(description="The CSV or XLSX file, base64-encoded")


@strawberry.input
class ExportEstateInput:
    kind: EstateImportKind
    format: EstateFileFormat
    community_id: strawberry.ID | None = None


# Reads never load the stored file of a queued import.
_JOBS = select(ImportJob).options(defer(ImportJob.content))


async def _job(session: Any, pk: int) -> ImportJob | None:
    return await session.scalar(
        _JOBS.where(ImportJob.id == pk).execution_options(populate_existing=True)
    )


async def _visible(ctx: Any, created_by: int | None) -> bool:
    """Staff limited to some communities see their own imports only: another's error report
    may name communities outside their scope."""
    if (await ctx.data_scope()).all_communities:
        return True
    return created_by == (await ctx.user()).id


@strawberry.type
class TransferQuery:
    @query(IMPORT, description="The documented import template of a kind, as CSV or XLSX")
    async def estate_import_template(
        self, info: strawberry.Info, kind: EstateImportKind, format: EstateFileFormat
    ) -> EstateFile:
        return EstateFile.of(*exporting.template(kind.value, format.value))

    @query(IMPORT, description="An import: status, progress and its row-by-row error report")
    async def estate_import(self, info: strawberry.Info, id: strawberry.ID) -> EstateImport:
        ctx = info.context
        job = await _job(ctx.session, decode_id(id, "EstateImport"))
        if job is None or not await _visible(ctx, job.created_by):
            raise AppError("NOT_FOUND")
        return EstateImport.of(job, ctx.lang)

    @query(IMPORT, description="Imports, newest first")
    async def estate_imports(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[EstateImport]:
        ctx = info.context
        stmt = _JOBS.order_by(ImportJob.id.desc())
        if not (await ctx.data_scope()).all_communities:
            stmt = stmt.where(ImportJob.created_by == (await ctx.user()).id)
        return await paginate(
            ctx, stmt, first=first, after=after, to_node=lambda j: EstateImport.of(j, ctx.lang)
        )


@strawberry.type
class TransferMutation:
    @mutation(
        IMPORT,
        description="Import a filled template: every row is validated first, then all rows "
        "are applied or none. Large files are queued; poll estateImport(id).",
    )
    async def start_estate_import(
        self, info: strawberry.Info, input: StartEstateImportInput
    ) -> EstateImport:
        ctx = info.context
        content = importing.decode_upload(input.base64)
        # The audit row records the input: keep the file's size there, not the file.
        input.base64 = f"<{len(content)} bytes>"
        user = await ctx.user()
        tenant = ctx.tenant

        async def enqueue(import_id: int) -> None:
            await enqueue_after_commit(ctx, job=run_estate_import, args={"import_id": import_id})

        job = await importing.start(
            ctx.session,
            tenant=tenant.slug,
            secret=ctx.runtime.settings.secret_key,
            scope=await ctx.data_scope(),
            user_id=user.id,
            kind=input.kind.value,
            filename=input.filename,
            content=content,
            enqueue=enqueue,
        )
        ctx.audit_target = ("EstateImport", str(job.id))
        return EstateImport.of(job, ctx.lang)

    @mutation(
        VIEW,
        description="Export a list in its import template's format, or an export-only list "
        "(limited to your communities; residents' phone and ID numbers masked unless you may "
        "see them; residents, vehicles and unit claims need estate.residents.view)",
    )
    async def export_estate(self, info: strawberry.Info, input: ExportEstateInput) -> EstateFile:
        ctx = info.context
        kind = input.kind.value
        permissions = await ctx.permissions()
        if kind in exporting.RESIDENT_KINDS and not grants(permissions, RESIDENTS_VIEW.key):
            raise AppError("FORBIDDEN")
        scope = await ctx.data_scope()
        community_pk = None
        if input.community_id is not None:
            community_pk = decode_id(input.community_id, "Community")
            scope.check(community_pk)
            exists = await ctx.session.scalar(
                select(Community.id).where(Community.id == community_pk)
            )
            if exists is None:
                raise AppError("NOT_FOUND")
        rows = await exporting.rows_of(
            ctx.session,
            kind,
            scope=scope,
            community_id=community_pk,
            sensitive=grants(permissions, VIEW_SENSITIVE.key),
            tenant=ctx.tenant.slug,
            secret=ctx.runtime.settings.secret_key,
            time_zone=ctx.tenant.time_zone,
        )
        return EstateFile.of(*exporting.encode(kind, input.format.value, rows))
