"""The one interface every external channel implements, and the ``log`` provider.

A channel receives a batch of rendered messages for one tenant and returns one ``Outcome``
per message. It never raises for a single message's failure: it reports it, saying
whether trying again later may help (a timeout, a provider's rate limit) or not (an invalid
number, a user who unsubscribed). Anything it raises fails the whole batch, which is then
retried with back-off like a temporary failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

EXTERNAL_CHANNELS = ("sms", "wechat", "email")
CHANNELS = ("inbox", *EXTERNAL_CHANNELS)


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way out."""

    message_id: int
    tenant: str
    user_id: int
    type_key: str  # e.g. "notices.notice"
    address: str  # email address, E.164 phone number, WeChat openid
    subject: str
    body: str
    locale: str  # "zh-CN" | "en"
    # The message's variables: SMS and WeChat send template ids plus variables (the
    # provider owns the wording), not our rendered text.
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantChannelConfig:
    """What a tenant adds to the platform's provider accounts."""

    tenant: str
    sender_name: str  # shown as the email sender, e.g. the company's name
    sms_sign_name: str = ""  # 短信签名, approved per company
    sms_templates: Mapping[str, str] = field(default_factory=dict)  # type key -> TemplateCode
    wechat_app_id: str = ""  # the company's official account (公众号)
    wechat_app_secret: str = ""
    # type key -> {"template_id": ..., "fields": {wechat field: our variable}, "url": ...}
    wechat_templates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    message_id: int
    ok: bool
    provider_id: str | None = None  # the provider's message id (BizId, msgid, Message-ID)
    error: str | None = None
    retry: bool = True  # for a failure: may a later attempt succeed?


class Channel(Protocol):
    name: str  # one of EXTERNAL_CHANNELS

    async def send(
        self, batch: Sequence[Outgoing], config: TenantChannelConfig
    ) -> list[Outcome]: ...


class LogChannel:
    """The development provider: writes each message to the log and reports it sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    async def send(self, batch: Sequence[Outgoing], config: TenantChannelConfig) -> list[Outcome]:
        for m in batch:
            log.info("[%s] %s -> %s: %s", self.name, m.tenant, m.address, m.subject)
        self.sent += len(batch)
        return [Outcome(m.message_id, ok=True, provider_id=f"log-{m.message_id}") for m in batch]


async def send_each(
    batch: Sequence[Outgoing],
    send_one: Callable[[Outgoing], Awaitable[Outcome]],
    *,
    concurrency: int = 10,
) -> list[Outcome]:
    """``send_one`` for every message, a few requests in flight at a time (fast, yet well
    below the providers' rate limits); outcomes in batch order."""
    limit = asyncio.Semaphore(concurrency)

    async def bounded(m: Outgoing) -> Outcome:
        async with limit:
            return await send_one(m)

    return list(await asyncio.gather(*(bounded(m) for m in batch)))


def failed(batch: Sequence[Outgoing], error: str, *, retry: bool = True) -> list[Outcome]:
    return [Outcome(m.message_id, ok=False, error=error, retry=retry) for m in batch]
