"""Estate arq jobs."""

from __future__ import annotations

from typing import Any

from wuye.workers.jobs import tenant_job


@tenant_job(module="estate")
async def run_estate_import(
    ctx: dict[str, Any], tenant: str, *, session: Any, import_id: int
) -> str:
    """Apply a large bulk import (scaffold: built with the importer)."""
    raise NotImplementedError
