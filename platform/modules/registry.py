"""The product's modules, listed explicitly (greppable, deterministic order).

Modules arrive with their own issues (notices, workorders, billing, ...).
"""

from __future__ import annotations

from wuye.modules.base import Module, check_modules
from wuye.modules.billing.module import BILLING
from wuye.modules.estate.module import ESTATE
from wuye.modules.notices.module import NOTICES
from wuye.modules.workorders.module import WORKORDERS

MODULES: tuple[Module, ...] = check_modules([ESTATE, NOTICES, WORKORDERS, BILLING])
