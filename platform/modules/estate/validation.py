"""Field rules shared by the estate services and the bulk importer (one place each)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from wuye.errors import AppError

# Provinces' one-character abbreviations, then the issuing authority letter.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE = re.compile(
    rf"^[{_PROVINCES}][A-HJ-NP-Z]"  # province + authority (no I or O)
    r"(?:[A-HJ-NP-Z0-9]{4}[A-HJ-NP-Z0-9挂学警港澳]"  # ordinary: 5 characters
    r"|[DF][A-HJ-NP-Z0-9][0-9]{4}"  # new energy, small car: D/F + 5
    r"|[0-9]{5}[DF])$"  # new energy, large vehicle: 5 digits + D/F
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def plate(raw: str, field: str = "plate") -> tuple[str, bool]:
    """(normalised plate, is new-energy) for a Chinese licence plate, or VALIDATION_FAILED."""
    value = re.sub(r"[\s·.\-]", "", raw or "").upper()
    if not _PLATE_RE.fullmatch(value):
        raise invalid(field, f"车牌号格式不正确：{raw}", f"Invalid licence plate: {raw}")
    return value, len(value) == 8


def area(raw: object, field: str, *, required: bool = True) -> Decimal | None:
    """A positive area in m² with at most two decimals."""
    if raw is None or raw == "":
        if required:
            raise invalid(field, "面积不能为空", "An area is required")
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise invalid(field, f"面积不是数字：{raw}", f"Area is not a number: {raw}") from None
    if not value.is_finite() or value <= 0 or value >= Decimal("100000000"):
        raise invalid(field, "面积须为正数", "An area must be positive")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise invalid(field, "面积最多两位小数", "An area has at most two decimals")
    return value.quantize(Decimal("0.01"))


def choice(raw: str, allowed: tuple[str, ...], field: str) -> str:
    value = (raw or "").strip().lower()
    if value not in allowed:
        raise invalid(
            field,
            f"取值须为：{', '.join(allowed)}",
            f"Must be one of: {', '.join(allowed)}",
        )
    return value


def text(raw: object, field: str, *, max_len: int, required: bool = True) -> str:
    value = "" if raw is None else str(raw).strip()
    if required and not value:
        raise invalid(field, "不能为空", "Required")
    if len(value) > max_len:
        raise invalid(field, f"不能超过{max_len}个字符", f"At most {max_len} characters")
    return value


def positive_int(raw: object, field: str, *, maximum: int) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise invalid(field, f"须为整数：{raw}", f"Must be a whole number: {raw}") from None
    if not 0 < value <= maximum:
        raise invalid(field, f"须在1到{maximum}之间", f"Must be between 1 and {maximum}")
    return value


def floor_number(raw: object, field: str = "floor") -> int:
    """Floors may be negative (basements) but never 0."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise invalid(
            field, f"楼层须为整数：{raw}", f"Floor must be a whole number: {raw}"
        ) from None
    if value == 0 or not -10 <= value <= 200:
        raise invalid(field, "楼层须在-10到200之间且不为0", "Floor must be -10..200, not 0")
    return value


def id_number(raw: str, field: str = "idNumber") -> str:
    """An 18-character PRC resident ID with a valid checksum (upper-case X)."""
    value = (raw or "").strip().upper()
    ok = len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")
    if ok:
        total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
        ok = _ID_CHECK[total % 11] == value[17]
    if not ok:
        raise invalid(field, "身份证号码不正确", "Invalid resident ID number")
    return value


def mask_id_number(value: str) -> str:
    """110105********1234-style: region and last four only."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "****"


def on_date(raw: object, field: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise invalid(field, f"日期格式须为YYYY-MM-DD：{raw}", f"Use YYYY-MM-DD: {raw}") from None
