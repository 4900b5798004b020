"""Photo thumbnails: a 480 px JPEG beside each confirmed photo, without any EXIF (so no GPS
location), turned upright first. Enqueued after a confirm commits; idempotent."""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.storage.models import StoredFile
from wuye.storage.service import THUMBNAIL_SUFFIX, key_prefix
from wuye.workers.jobs import tenant_job

log = logging.getLogger(__name__)
THUMBNAIL_PX = 480
MAX_PIXELS = 50_000_000  # a decompression bomb fails rather than eating the worker


class NotAnImage(Exception):
    pass


def render_thumbnail(data: bytes, max_px: int = THUMBNAIL_PX) -> bytes:
    """A JPEG at most ``max_px`` on its long side, upright, with no metadata at all."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise NotAnImage("too many pixels")
                img.load()
                upright = ImageOps.exif_transpose(img)
                upright.thumbnail((max_px, max_px))
                if upright.mode not in ("RGB", "L"):
                    background = Image.new("RGB", upright.size, (255, 255, 255))
                    rgba = upright.convert("RGBA")
                    background.paste(rgba, mask=rgba.getchannel("A"))
                    upright = background
                # A fresh image: nothing of the original's info (EXIF, XMP, ICC) travels.
                clean = Image.new(upright.mode, upright.size)
                clean.paste(upright)
                out = io.BytesIO()
                clean.save(out, "JPEG", quality=82, optimize=True)
                return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(str(exc)) from exc
    except Image.DecompressionBombWarning as exc:
        raise NotAnImage(str(exc)) from exc


@tenant_job()
async def make_thumbnail(
    ctx: dict[str, Any], tenant: str, *, session: AsyncSession, file_id: int
) -> str:
    runtime = ctx["runtime"]
    row = await session.scalar(
        select(StoredFile).where(StoredFile.id == file_id).with_for_update(skip_locked=True)
    )
    if row is None or row.status != "ready" or row.thumbnail_status != "pending":
        return "nothing to do"  # done already, or another run holds it
    if not row.key.startswith(key_prefix(tenant)):
        row.thumbnail_status = "failed"
        return "foreign key"
    data = await runtime.storage.get_bytes(row.key)
    try:
        thumb = await asyncio.to_thread(render_thumbnail, data)
    except NotAnImage as exc:
        # HEIC needs a plug-in Pillow may not have: say so rather than "failed"
        row.thumbnail_status = "unsupported" if row.content_type == "image/heic" else "failed"
        log.info("no thumbnail for file %s: %s", row.id, exc)
        return row.thumbnail_status
    key = row.key + THUMBNAIL_SUFFIX
    await runtime.storage.put_bytes(key, thumb, "image/jpeg")
    row.thumbnail_key = key
    row.thumbnail_status = "ready"
    return "ready"


JOBS = (make_thumbnail,)
