"""Global IDs: ``base64url("<Type>:<pk>")``, opaque to clients and checked for their type."""

from __future__ import annotations

import base64
import binascii

import strawberry

from wuye.errors import AppError


def encode_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def gid(type_name: str, pk: int) -> strawberry.ID:
    """The global ID of a row, typed for Strawberry fields."""
    return strawberry.ID(encode_id(type_name, pk))


def optional_gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else gid(type_name, pk)


def optional_id(global_id: str | None, type_name: str, field: str | None = None) -> int | None:
    """``decode_id`` for an optional argument: None (or empty) stays None."""
    return decode_id(global_id, type_name, field) if global_id else None


def decode_id(global_id: str, type_name: str, field: str | None = None) -> int:
    """The integer key inside ``global_id``; NOT_FOUND for anything else (no hints beyond
    the input ``field`` it came from)."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        kind, _, pk = raw.partition(":")
        if kind == type_name and pk.isdigit():
            return int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise AppError("NOT_FOUND", field=field) if field else AppError("NOT_FOUND")
