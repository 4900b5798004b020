"""Delivery channels. The in-app inbox needs none (its message row is the delivery); every
external channel implements ``Channel`` (see ``base``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from wuye.notify.channels.base import Channel, LogChannel
from wuye.notify.channels.email import SmtpEmailChannel
from wuye.notify.channels.sms import AliyunSmsChannel
from wuye.notify.channels.wechat import WechatTemplateChannel
from wuye.settings import Settings


def _pick(kind: str, provider: str, real: str) -> bool:
    if provider not in ("log", real):
        raise ValueError(f"unknown {kind} provider {provider!r} (log | {real})")
    return provider == real


def build_channels(settings: Settings, redis: Any, prefix: str) -> dict[str, Channel]:
    """The configured provider per external channel; close with ``close_channels``."""
    client: httpx.AsyncClient | None = None

    def shared_client() -> httpx.AsyncClient:
        # One connection pool for every HTTP provider, made only when one is configured.
        nonlocal client
        if client is None:
            client = httpx.AsyncClient(timeout=settings.notify_http_timeout_s)
        return client

    channels: dict[str, Channel] = {}
    channels["email"] = (
        SmtpEmailChannel(settings)
        if _pick("email", settings.email_provider, "smtp")
        else LogChannel("email")
    )
    channels["sms"] = (
        AliyunSmsChannel(settings, shared_client())
        if _pick("sms", settings.sms_provider, "aliyun")
        else LogChannel("sms")
    )
    channels["wechat"] = (
        WechatTemplateChannel(settings, redis, prefix, shared_client())
        if _pick("wechat", settings.wechat_provider, "wechat")
        else LogChannel("wechat")
    )
    return channels


async def close_channels(channels: Mapping[str, Channel]) -> None:
    """Close the HTTP client(s) the channels use (each once, shared or not)."""
    seen: set[int] = set()
    for channel in channels.values():
        client = getattr(channel, "client", None)
        if isinstance(client, httpx.AsyncClient) and id(client) not in seen:
            seen.add(id(client))
            await client.aclose()


__all__ = ["Channel", "LogChannel", "build_channels", "close_channels"]
