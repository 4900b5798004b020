"""Password hashing (argon2id) and login identifiers (phone in E.164, or e-mail)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wuye.errors import AppError

MIN_PASSWORD_LENGTH = 8
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


class Passwords:
    def __init__(self, time_cost: int = 3, memory_kib: int = 65_536) -> None:
        self._h = _hasher(time_cost, memory_kib)
        # Verified when the account does not exist, so timing does not reveal which accounts do.
        self._dummy = self._h.hash("wuye-dummy-password")

    def hash(self, password: str) -> str:
        check_password_strength(password)
        return self._h.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._h.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH or password.isdigit() or password.isalpha():
        raise AppError(
            "VALIDATION_FAILED",
            f"密码至少{MIN_PASSWORD_LENGTH}位，且须同时包含字母和数字",
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters, letters and digits",
            field="password",
        )


def normalize_phone(raw: str, region: str = "CN") -> str:
    """E.164 form of a phone number (``+8613800138000``); a bare 11-digit number is +86."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise AppError(
            "VALIDATION_FAILED", "手机号格式不正确", "Invalid phone number", field="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL_RE.fullmatch(email):
        raise AppError(
            "VALIDATION_FAILED", "邮箱格式不正确", "Invalid e-mail address", field="email"
        )
    return email


def split_identifier(identifier: str, region: str = "CN") -> tuple[str, str]:
    """('email', normalized) or ('phone', E.164) for a login identifier."""
    identifier = identifier.strip()
    if "@" in identifier:
        return "email", normalize_email(identifier)
    return "phone", normalize_phone(identifier, region)


def mask_phone(phone: str | None) -> str | None:
    """+8613800138000 -> +86138****8000 (for lists shown to staff)."""
    if not phone:
        return phone
    if len(phone) < 8:  # too short to show any part of it
        return "****"
    return phone[:-8] + "****" + phone[-4:]
