"""Estate arq jobs."""

from __future__ import annotations

from typing import Any

from wuye.modules.estate.importing import run_import_job
from wuye.workers.jobs import tenant_job


@tenant_job(module="estate")
async def run_estate_import(
    ctx: dict[str, Any], tenant: str, *, session: Any, import_id: int
) -> str:
    """Validate and apply a large bulk import (queued by ``startEstateImport``); idempotent."""
    return await run_import_job(ctx["runtime"], tenant, session, import_id)
