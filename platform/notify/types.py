"""Message types: what a module may send, on which channels, how often, with what words.

A type is declared in code (``Module.message_types`` or core's ``CORE_MESSAGE_TYPES``);
tenants may override its wording per locale (``notify_templates``) but not its rules.
Templates use ``{{variable}}`` placeholders; every variable a template uses must be one the
type declares, so a tenant's edited template can never reference data the sender lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wuye.errors import AppError
from wuye.notify.channels.base import EXTERNAL_CHANNELS

PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Throttle:
    """At most ``limit`` messages per user, channel and ``group`` in ``window_s``.

    Types sharing a group share the budget: "one non-urgent push per resident per hour"
    is one group for every non-urgent resident type.
    """

    limit: int = 1
    window_s: int = 3600
    group: str = "push"


@dataclass(frozen=True)
class Template:
    subject: str
    body: str

    def variables(self) -> set[str]:
        return set(PLACEHOLDER.findall(self.subject)) | set(PLACEHOLDER.findall(self.body))

    def render(self, variables: Mapping[str, Any]) -> Template:
        def fill(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), "")), text)

        return Template(fill(self.subject), fill(self.body))


@dataclass(frozen=True)
class MessageType:
    key: str  # "<module>.<name>", e.g. "notices.notice"
    title_zh: str
    title_en: str
    zh: Template
    en: Template
    variables: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # external channels allowed besides the inbox
    default_channels: tuple[str, ...] = ()  # on unless the user turns them off
    # Urgent types (a water cut, a verification code) ignore throttles, quiet hours and
    # opt-outs.
    urgent: bool = False
    throttle: Throttle | None = field(default_factory=Throttle)
    inbox: bool = True  # a verification code has no place in the inbox

    def __post_init__(self) -> None:
        unknown = set(self.channels) - set(EXTERNAL_CHANNELS)
        if unknown or not set(self.default_channels) <= set(self.channels):
            raise ValueError(f"message type {self.key}: bad channels {sorted(self.channels)}")
        for template in (self.zh, self.en):
            check_template(self, template)

    def title(self, locale: str) -> str:
        return self.en_or_zh(locale, self.title_en, self.title_zh)

    def template(self, locale: str) -> Template:
        return self.en_or_zh(locale, self.en, self.zh)

    @staticmethod
    def en_or_zh(locale: str, en: Any, zh: Any) -> Any:
        return en if locale.startswith("en") else zh

    @property
    def throttled(self) -> bool:
        return not self.urgent and self.throttle is not None


def check_template(message_type: MessageType, template: Template) -> None:
    unknown = template.variables() - set(message_type.variables)
    if unknown:
        raise AppError(
            "TEMPLATE_UNKNOWN_VARIABLE",
            type=message_type.key,
            variables=", ".join(sorted(unknown)),
        )


def registry(types: Iterable[MessageType]) -> dict[str, MessageType]:
    found: dict[str, MessageType] = {}
    for t in types:
        if t.key in found:
            raise ValueError(f"message type {t.key!r} is declared twice")
        found[t.key] = t
    return found


# Core types: sent by the platform itself, whatever modules a tenant runs.
VERIFICATION_CODE = MessageType(
    key="identity.verification_code",
    title_zh="验证码",
    title_en="Verification code",
    zh=Template("验证码", "您的验证码是{{code}}，{{minutes}}分钟内有效。请勿告诉他人。"),
    en=Template(
        "Verification code",
        "Your verification code is {{code}}. It is valid for {{minutes}} minutes.",
    ),
    variables=("code", "minutes"),
    channels=("sms",),
    default_channels=("sms",),
    urgent=True,
    throttle=None,
    inbox=False,
)

CORE_MESSAGE_TYPES: tuple[MessageType, ...] = (VERIFICATION_CODE,)
