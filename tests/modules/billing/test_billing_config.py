"""The tenant's billing settings: defaults, and a value that does not parse counting as
its default (an operator's typo never stops billing)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wuye.modules.billing.config import DEFAULTS, parse


def test_defaults() -> None:
    config = parse({})
    assert config == DEFAULTS
    assert config.allow_partial is False and config.auto_settle_from_balance is False
    assert config.reminder_days_before == (3,) and config.dunning_days_after == (1, 15, 30, 60)
    assert config.auto_generate_day is None and config.arrears_publication_enabled is False


def test_values_are_read() -> None:
    config = parse(
        {
            "allow_partial": True,
            "auto_generate_day": "5",
            "meter_jump_factor": "2.5",
            "reminder_days_before": [7, 3, 3],
            "dunning_days_after": [],
        }
    )
    assert config.allow_partial and config.auto_generate_day == 5
    assert config.meter_jump_factor == Decimal("2.5")
    assert config.reminder_days_before == (3, 7) and config.dunning_days_after == ()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("auto_generate_day", 29),
        ("auto_generate_day", "soon"),
        ("meter_jump_factor", "1"),
        ("meter_jump_factor", "NaN"),
        ("meter_jump_factor", "x"),
        ("reminder_days_before", [-1]),
        ("reminder_days_before", "7"),
        ("dunning_days_after", [400]),
    ],
)
def test_bad_values_count_as_defaults(key: str, value: object) -> None:
    assert getattr(parse({key: value}), key) == getattr(DEFAULTS, key)
