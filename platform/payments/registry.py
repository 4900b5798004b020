"""Provider registry: name -> adapter instance.

The real adapters (``wuye.payments.providers.<name>``) are loaded on first use with the
settings (their base URLs): each adapter module has a ``create_adapter(settings)``. Tests
``register`` a fake under any of the names.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from wuye.errors import AppError
from wuye.payments.providers.base import PROVIDERS, Provider
from wuye.settings import Settings

log = logging.getLogger(__name__)
_adapters: dict[str, Provider] = {}


def register(adapter: Provider, name: str | None = None) -> None:
    _adapters[name or adapter.name] = adapter


def unregister(name: str) -> None:
    _adapters.pop(name, None)


def _load(name: str, settings: Settings) -> Provider:
    module = importlib.import_module(f"wuye.payments.providers.{name}")
    adapter: Provider = module.create_adapter(settings)
    return adapter


def get(name: str, settings: Settings, field: str = "provider") -> Provider:
    """The adapter of ``name`` (NOT_FOUND naming ``field`` if there is none)."""
    found = _adapters.get(name)
    if found is None and name in PROVIDERS:
        found = _adapters[name] = _load(name, settings)
    if found is None:
        raise AppError("NOT_FOUND", field=field)
    return found


def names() -> list[str]:
    return sorted(set(_adapters) | set(PROVIDERS))


def snapshot() -> dict[str, Any]:
    """The registered adapters (tests restore it)."""
    return dict(_adapters)


def restore(saved: dict[str, Any]) -> None:
    _adapters.clear()
    _adapters.update(saved)
