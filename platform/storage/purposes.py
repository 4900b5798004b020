"""Upload purposes: what a module lets people upload, and the rules of each kind of file.

A module declares ``UploadPurpose``s (``Module.upload_purposes``); the runtime collects them
(``runtime.upload_purposes``). The kind fixes the allowed content types and the size cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wuye.identity.permissions import Permission

MB = 1024 * 1024


@dataclass(frozen=True)
class KindRule:
    content_types: frozenset[str]
    max_size: int


_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
KINDS: dict[str, KindRule] = {
    "photo": KindRule(_IMAGES, 10 * MB),
    "recording": KindRule(
        frozenset(
            {"audio/mpeg", "audio/mp4", "audio/x-m4a", "audio/wav", "audio/x-wav", "audio/amr"}
        ),
        100 * MB,
    ),
    "attachment": KindRule(
        _IMAGES
        | {
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        },
        20 * MB,
    ),
}


@dataclass(frozen=True)
class UploadPurpose:
    """``key``: "<module>.<name>", e.g. "workorders.photo"; ``permission`` None: anyone signed
    in may upload (e.g. residents' photos); ``thumbnails``: photos get a 480 px JPEG."""

    key: str
    module: str
    kind: str  # photo | recording | attachment
    permission: Permission | None = None
    thumbnails: bool = False
    # False: ``File.url`` never links to it; the module hands out links itself, after its
    # own (audited) check -- e.g. call recordings, played through ``playRecording`` only
    downloadable: bool = True

    @property
    def rule(self) -> KindRule:
        return KINDS[self.kind]


def collect_purposes(modules: Iterable[object]) -> dict[str, UploadPurpose]:
    """Every module's purposes by key; refuses duplicates, unknown kinds and foreign keys."""
    found: dict[str, UploadPurpose] = {}
    for m in modules:
        module_key: str = getattr(m, "key")  # noqa: B009
        for p in getattr(m, "upload_purposes", ()):
            if p.module != module_key or not p.key.startswith(module_key + "."):
                raise ValueError(f"upload purpose {p.key!r} must belong to module {module_key!r}")
            if p.kind not in KINDS:
                raise ValueError(f"upload purpose {p.key!r}: unknown kind {p.kind!r}")
            if p.key in found:
                raise ValueError(f"two upload purposes are named {p.key!r}")
            found[p.key] = p
    return found
