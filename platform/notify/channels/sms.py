"""SMS through Aliyun Dysms ``SendSms`` (``sms_provider = "aliyun"``).

RPC-style API, version 2017-05-25, signature version 1.0 (HMAC-SHA1). Aliyun sends a
pre-approved template with our variables, under the tenant's approved signature (签名);
our rendered text is not used. ``OutId`` carries our message id so a resend can be matched
on the provider's side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from wuye.notify.channels.base import (
    Outcome,
    Outgoing,
    TenantChannelConfig,
    failed,
    send_each,
)
from wuye.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "2017-05-25"
CONCURRENCY = 10  # requests in flight per batch: fast, yet well below Aliyun's QPS limits

# Aliyun's "isv." codes are the caller's fault (number, template, signature...): sending the
# same request again gives the same answer. These two are rate limits, which pass.
RETRYABLE_ISV = frozenset({"isv.BUSINESS_LIMIT_CONTROL"})


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun's POP signature wants it: space -> %20, '*' -> %2A,
    '~' kept (``quote`` already leaves only A-Z a-z 0-9 - _ . ~ unescaped)."""
    return quote(value, safe="~")


def sign_rpc(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """The ``Signature`` of an RPC-style request (signature version 1.0, HMAC-SHA1)."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_phone(e164: str) -> str:
    """Mainland numbers go without +86; others in the 00-prefixed international form."""
    if e164.startswith("+86"):
        return e164[3:]
    if e164.startswith("+"):
        return "00" + e164[1:]
    return e164  # already national (or already 00-prefixed)


def classify(status: int, body: Any) -> tuple[bool, bool, str | None]:
    """(ok, retry, error) from an Aliyun reply; HTTP status alone when there is no JSON code."""
    code = body.get("Code") if isinstance(body, dict) else None
    if code == "OK":
        return True, False, None
    if not isinstance(code, str):
        return False, True, f"HTTP {status} without an Aliyun code"
    error = f"{code}: {body.get('Message', '')}".rstrip(": ")
    if code.startswith("isv.") and code not in RETRYABLE_ISV:
        return False, False, error
    # Throttling.*, isv.BUSINESS_LIMIT_CONTROL, and the unknown (internal errors, a bad key
    # the operator can fix, a reused nonce): worth another try, bounded by max attempts.
    return False, True, error


class AliyunSmsChannel:
    name = "sms"

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(timeout=settings.notify_http_timeout_s)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def request_params(
        self, m: Outgoing, config: TenantChannelConfig, template: str
    ) -> dict[str, str]:
        s = self.settings
        params = {
            "AccessKeyId": s.aliyun_access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": str(m.message_id),
            "PhoneNumbers": aliyun_phone(m.address),
            "RegionId": s.aliyun_sms_region,
            "SignName": config.sms_sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),  # Aliyun refuses a nonce seen in 15 min
            "SignatureVersion": "1.0",
            "TemplateCode": template,
            "TemplateParam": json.dumps(
                {k: str(v) for k, v in m.variables.items()},
                ensure_ascii=False,
                separators=(",", ":"),
            ),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }
        params["Signature"] = sign_rpc(params, s.aliyun_access_key_secret)
        return params

    async def send(self, batch: Sequence[Outgoing], config: TenantChannelConfig) -> list[Outcome]:
        if not config.sms_sign_name:
            return failed(batch, "no SMS signature (签名) configured", retry=False)
        return await send_each(batch, lambda m: self._send_one(m, config), concurrency=CONCURRENCY)

    async def _send_one(self, m: Outgoing, config: TenantChannelConfig) -> Outcome:
        template = config.sms_templates.get(m.type_key)
        if not template:
            return Outcome(
                m.message_id, ok=False, error=f"no SMS template for {m.type_key}", retry=False
            )
        try:
            resp = await self.client.post(
                self.settings.aliyun_sms_endpoint, data=self.request_params(m, config, template)
            )
        except httpx.HTTPError as e:  # timeouts, refused connections, broken responses
            return Outcome(m.message_id, ok=False, error=f"Aliyun: {e!r}", retry=True)
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        ok, retry, error = classify(resp.status_code, body)
        if ok:
            return Outcome(m.message_id, ok=True, provider_id=str(body.get("BizId") or ""))
        log.info("aliyun sms %s for message %s: %s", resp.status_code, m.message_id, error)
        return Outcome(m.message_id, ok=False, error=error, retry=retry)
