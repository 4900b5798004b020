"""Imports every model module so the metadata (and Alembic) sees all tables."""

from __future__ import annotations

import importlib

from wuye import outbox as _outbox  # noqa: F401
from wuye.db import SharedBase, TenantBase
from wuye.identity import models as _identity  # noqa: F401
from wuye.modules.registry import MODULES
from wuye.notify import models as _notify  # noqa: F401
from wuye.payments import models as _payments  # noqa: F401
from wuye.storage import models as _storage  # noqa: F401
from wuye.tenancy import models as _tenancy  # noqa: F401


def load_all() -> tuple[type[SharedBase], type[TenantBase]]:
    for module in MODULES:
        try:
            importlib.import_module(f"wuye.modules.{module.key}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"wuye.modules.{module.key}.models":
                raise
    return SharedBase, TenantBase
