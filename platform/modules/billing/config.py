"""The tenant's billing settings (``tenant_modules.config`` of ``billing``), read in one
place with their defaults. A value that does not parse counts as its default, so a typo in
an operator's JSON never stops billing.

| key | default | meaning |
| --- | --- | --- |
| `allow_partial` | false | a payment may cover part of a bill (oldest due first) |
| `auto_settle_from_balance` | false | new bills are paid from the unit's prepaid balance |
| `auto_generate_day` | none | day of month (1–28) on which last month is billed |
| `meter_jump_factor` | 3 | usage above N × the unit's average is held for review |
| `resident_readings_auto_accept` | false | residents' readings skip review |
| `reminder_days_before` | [3] | reminders N days before the due date ([] = none) |
| `dunning_days_after` | [1, 15, 30, 60] | dunning (催缴) N days after it ([] = none) |
| `arrears_publication_enabled` | false | the arrears list may be published to residents |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from wuye.tenancy.directory import TenantInfo

MAX_DAYS = 366


@dataclass(frozen=True)
class BillingConfig:
    allow_partial: bool = False
    auto_settle_from_balance: bool = False
    auto_generate_day: int | None = None
    meter_jump_factor: Decimal = Decimal(3)
    resident_readings_auto_accept: bool = False
    reminder_days_before: tuple[int, ...] = (3,)
    dunning_days_after: tuple[int, ...] = (1, 15, 30, 60)
    arrears_publication_enabled: bool = False


DEFAULTS = BillingConfig()


def config_of(tenant: TenantInfo) -> BillingConfig:
    return parse(tenant.modules.get("billing", {}))


def parse(raw: Mapping[str, Any]) -> BillingConfig:
    return BillingConfig(
        allow_partial=bool(raw.get("allow_partial", False)),
        auto_settle_from_balance=bool(raw.get("auto_settle_from_balance", False)),
        auto_generate_day=_day_of_month(raw.get("auto_generate_day")),
        meter_jump_factor=_factor(raw.get("meter_jump_factor")),
        resident_readings_auto_accept=bool(raw.get("resident_readings_auto_accept", False)),
        reminder_days_before=_days(raw.get("reminder_days_before"), DEFAULTS.reminder_days_before),
        dunning_days_after=_days(raw.get("dunning_days_after"), DEFAULTS.dunning_days_after),
        arrears_publication_enabled=bool(raw.get("arrears_publication_enabled", False)),
    )


def _day_of_month(value: Any) -> int | None:
    try:
        day = int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return day if day is not None and 1 <= day <= 28 else None


def _factor(value: Any) -> Decimal:
    try:
        factor = Decimal(str(value)) if value is not None else DEFAULTS.meter_jump_factor
    except (ArithmeticError, InvalidOperation):
        return DEFAULTS.meter_jump_factor
    return factor if factor.is_finite() and factor > 1 else DEFAULTS.meter_jump_factor


def _days(value: Any, default: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(value, list | tuple):
        return default
    try:
        days = tuple(sorted({int(v) for v in value}))
    except (TypeError, ValueError):
        return default
    return days if all(0 <= d <= MAX_DAYS for d in days) else default
