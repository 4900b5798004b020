"""WeChat official-account template messages (``wechat_provider = "wechat"``).

Each tenant brings its own official account (公众号). Its access token is fetched once and
kept in Redis, shared by every worker: WeChat limits how often a token may be fetched per
day, and a new token retires the previous one after a few minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from wuye.errors import AppError
from wuye.notify.channels.base import (
    Outcome,
    Outgoing,
    TenantChannelConfig,
    failed,
    send_each,
)
from wuye.settings import Settings

log = logging.getLogger(__name__)

CONCURRENCY = 10
TOKEN_MARGIN_S = 300  # stop using a token this long before WeChat says it expires
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / malformed / expired token
PERMANENT_ERRORS = frozenset(
    {
        43004,  # the user does not follow the account (any more)
        40003,  # not an openid of this account
        40037,  # template id invalid (deleted from the account)
    }
)

# Delete the cached token only if it is still the one that failed: another worker may
# already have stored a fresh one.
_DROP_IF_SAME = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class WechatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat {errcode}: {errmsg}")
        self.errcode = errcode


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def template_payload(m: Outgoing, template: Mapping[str, Any]) -> dict[str, Any]:
    """The send request body. Raises KeyError naming a variable the message lacks."""
    variables: dict[str, Any] = {**m.variables, "subject": m.subject, "body": m.body}
    data = {}
    for field, variable in (template.get("fields") or {}).items():
        if variable not in variables:
            raise KeyError(variable)
        data[field] = {"value": str(variables[variable])}
    payload: dict[str, Any] = {
        "touser": m.address,
        "template_id": template["template_id"],
        "data": data,
    }
    if template.get("url"):
        payload["url"] = template["url"]
    return payload


class WechatTemplateChannel:
    name = "wechat"

    def __init__(
        self, settings: Settings, redis: Any, prefix: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.prefix = prefix
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(timeout=settings.notify_http_timeout_s)
        # One fetch at a time per account in this process; the rest wait and read the cache.
        self._locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def _key(self, app_id: str) -> str:
        return f"{self.prefix}:wechat-token:{app_id}"

    async def token(self, config: TenantChannelConfig, *, stale: str | None = None) -> str:
        """The account's access token; ``stale`` is one WeChat just rejected."""
        key = self._key(config.wechat_app_id)
        cached = await self.redis.get(key)
        if cached is not None and _text(cached) != stale:
            return _text(cached)
        lock = self._locks.setdefault(config.wechat_app_id, asyncio.Lock())
        async with lock:
            cached = await self.redis.get(key)  # fetched while we waited?
            if cached is not None and _text(cached) != stale:
                return _text(cached)
            if stale is not None:
                await self.redis.eval(_DROP_IF_SAME, 1, key, stale)
            token, expires_in = await self._fetch_token(config)
            await self.redis.set(key, token, ex=max(expires_in - TOKEN_MARGIN_S, 60))
            return token

    async def _fetch_token(self, config: TenantChannelConfig) -> tuple[str, int]:
        resp = await self.client.get(
            f"{self.settings.wechat_api_base}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": config.wechat_app_id,
                "secret": config.wechat_app_secret,
            },
        )
        body = resp.json()
        if not body.get("access_token"):
            raise WechatError(int(body.get("errcode", -1)), str(body.get("errmsg", resp.text)))
        return str(body["access_token"]), int(body.get("expires_in", 7200))

    async def send(self, batch: Sequence[Outgoing], config: TenantChannelConfig) -> list[Outcome]:
        if not config.wechat_app_id or not config.wechat_app_secret:
            return failed(batch, "no WeChat official account configured", retry=False)
        try:
            await self.token(config)  # once up front, not once per message
        except (WechatError, httpx.HTTPError, ValueError) as e:
            # Also a wrong secret or an IP not on the allow-list: the tenant or the operator
            # can fix those, and max attempts bounds the retries.
            return failed(batch, f"WeChat token: {e}", retry=True)
        return await send_each(batch, lambda m: self._send_one(m, config), concurrency=CONCURRENCY)

    async def _send_one(self, m: Outgoing, config: TenantChannelConfig) -> Outcome:
        template = config.wechat_templates.get(m.type_key)
        if not template or not template.get("template_id"):
            return Outcome(
                m.message_id, ok=False, error=f"no WeChat template for {m.type_key}", retry=False
            )
        try:
            payload = template_payload(m, template)
        except KeyError as e:
            error = f"WeChat template for {m.type_key} needs variable {e.args[0]}"
            return Outcome(m.message_id, ok=False, error=error, retry=False)
        try:
            token = await self.token(config)
            body = await self._post(token, payload)
            if body.get("errcode") in TOKEN_ERRORS:  # revoked or expired early: once more
                body = await self._post(await self.token(config, stale=token), payload)
        except (WechatError, httpx.HTTPError, ValueError) as e:
            return Outcome(m.message_id, ok=False, error=f"WeChat: {e!r}", retry=True)
        return self._outcome(m, body)

    async def _post(self, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        resp = await self.client.post(
            f"{self.settings.wechat_api_base}/cgi-bin/message/template/send",
            params={"access_token": token},
            json=payload,
        )
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, dict):
            raise ValueError(f"unexpected WeChat reply {resp.text[:200]!r}")
        return body

    @staticmethod
    def _outcome(m: Outgoing, body: Mapping[str, Any]) -> Outcome:
        errcode = int(body.get("errcode", 0))
        if errcode == 0:
            return Outcome(m.message_id, ok=True, provider_id=str(body.get("msgid", "")))
        error = f"WeChat {errcode}: {body.get('errmsg', '')}"
        # -1 (busy), 45009 (daily quota), a token still refused, and the unknown: try later.
        return Outcome(m.message_id, ok=False, error=error, retry=errcode not in PERMANENT_ERRORS)


async def exchange_oauth_code(
    settings: Settings, client: httpx.AsyncClient, app_id: str, secret: str, code: str
) -> str:
    """The openid behind a web-authorisation ``code`` (one use, valid five minutes)."""
    resp = await client.get(
        f"{settings.wechat_api_base}/sns/oauth2/access_token",
        params={
            "appid": app_id,
            "secret": secret,
            "code": code,
            "grant_type": "authorization_code",
        },
    )
    body = resp.json()
    if not isinstance(body, dict) or body.get("errcode") or not body.get("openid"):
        errcode = body.get("errcode") if isinstance(body, dict) else None
        log.info("wechat oauth code refused: %s", errcode)
        raise AppError("WECHAT_CODE_INVALID", errcode=errcode)
    return str(body["openid"])
