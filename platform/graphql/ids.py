"""Global IDs: ``base64url("<Type>:<pk>")``, opaque to clients and checked for their type."""

from __future__ import annotations

import base64
import binascii

from wuye.errors import AppError


def encode_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_id(global_id: str, type_name: str) -> int:
    """The integer key inside ``global_id``; NOT_FOUND for anything else (no hints)."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        kind, _, pk = raw.partition(":")
        if kind == type_name and pk.isdigit():
            return int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise AppError("NOT_FOUND")
