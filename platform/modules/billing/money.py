"""Money rules, in one place.

- Amounts are integer fen (分). Rates and quantities may be exact decimals (``Decimal``,
  never ``float``).
- **Rounding: half-up, once per bill line** (0.5 fen and above rounds up): a line is
  computed exactly, e.g. 89.50 m² × 280 fen × 1 month = 25,060 fen, then rounded; sums of
  lines are sums of rounded lines. In SQL the same rule is ``round(numeric)``, which rounds
  half away from zero (the same as half-up for the non-negative amounts we bill).
- Shown as 元 with two decimals: 25060 -> "250.60".
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ONE = Decimal(1)


def round_fen(exact: Decimal) -> int:
    """Half-up to the fen: Decimal("250.5") -> 251, Decimal("250.49") -> 250."""
    return int(exact.quantize(ONE, rounding=ROUND_HALF_UP))


def yuan(fen: int | Decimal) -> str:
    """Fen as 元 with two decimals (exact for integers; half-up for a decimal rate)."""
    return f"{(Decimal(fen) / 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.2f}"


def parse_yuan(text: str) -> int:
    """'250.60' -> 25060; at most two decimals, never negative (ValueError otherwise)."""
    value = Decimal(text.strip())
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(text)
    return int(value * 100)
