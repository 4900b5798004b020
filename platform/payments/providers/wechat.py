"""WeChat Pay API v3 for a directly connected merchant (直连商户), spoken over httpx.

- Every request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,nonce_str=...,
  signature=...,timestamp=...,serial_no=...``: RSA-SHA256 (PKCS#1 v1.5) with the merchant's
  private key over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``.
- Every 2xx answer must be signed by a WeChat Pay platform key (``Wechatpay-Timestamp``,
  ``-Nonce``, ``-Signature``, ``-Serial``) over ``TIMESTAMP\\nNONCE\\nBODY\\n``, with a
  serial the merchant trusts and a timestamp within five minutes; otherwise
  ``ProviderError``. Trusted keys (``platform_keys``): the platform public key
  (微信支付公钥) and/or the platform certificates (平台证书), which
  ``download_certificates`` fetches and the daily ``refresh_wechat_certificates`` job keeps
  current, so a rotated certificate is trusted before WeChat Pay starts signing with it.
  The bill file itself is not signed (as at WeChat); its SHA1 from the signed answer is.
- Notifications are signed the same way and carry an AES-256-GCM encrypted resource
  (key ``api_v3_key``); any failure is ``BadNotification``.
- ``out_trade_no`` / ``out_refund_no`` are WeChat's own idempotency keys, so a retried
  create or refund returns the first result instead of paying or refunding twice.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import secrets
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import certifi
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wuye.payments.providers.base import (
    BadNotification,
    Create,
    Created,
    Credentials,
    Notification,
    ProviderError,
    RefundRequest,
    RefundResult,
    Remote,
    StatementLine,
)

API_BASE = "https://api.mch.weixin.qq.com"
SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_S = 300  # signed answers and notifications older (or newer) than this are refused
USER_AGENT = "wuye-wechatpay/1"
METHODS = ("jsapi", "native", "h5")

TRADE_STATES = {
    "SUCCESS": "succeeded",
    "REFUND": "succeeded",  # paid, then (partly) refunded: the payment itself succeeded
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "ACCEPT": "pending",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "failed",
}
REFUND_STATES = {
    "SUCCESS": "succeeded",
    "PROCESSING": "pending",
    "ABNORMAL": "failed",  # money could not reach the payer; needs the merchant's hand
    "CLOSED": "failed",
}
# 4xx codes that mean "try again later" rather than "no"
TEMPORARY_CODES = {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "STATEMENT_CREATING"}


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for all calls (building one costs ~40 ms per client)."""
    return ssl.create_default_context(cafile=certifi.where())


# --- signatures and encryption ---------------------------------------------------------------


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        # the merchant's own key (not an adversary's): skip the costly (~70 ms) RSA check
        key = serialization.load_pem_private_key(
            pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        raise ProviderError("the WeChat Pay merchant private key is not a PEM RSA key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderError("the WeChat Pay merchant private key is not an RSA key")
    return key


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("the WeChat Pay platform public key is not a PEM RSA key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the WeChat Pay platform public key is not an RSA key")
    return key


def rsa_sign(private_key_pem: str, message: str) -> str:
    """base64(RSA-SHA256 PKCS#1 v1.5) of ``message`` with the merchant key."""
    key = _private_key(private_key_pem)
    return base64.b64encode(
        key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def rsa_verify(public_key_pem: str, message: bytes, signature_b64: str) -> bool:
    try:
        key = _public_key(public_key_pem)
        key.verify(
            base64.b64decode(signature_b64, validate=True),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def nonce() -> str:
    return secrets.token_hex(16).upper()


def authorization(
    creds: Credentials,
    method: str,
    path_with_query: str,
    body: str,
    *,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> str:
    """The ``Authorization`` header value for one request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce_str = nonce_str or nonce()
    message = f"{method.upper()}\n{path_with_query}\n{ts}\n{nonce_str}\n{body}\n"
    signature = rsa_sign(creds["private_key"], message)
    return (
        f'{SCHEMA} mchid="{creds["mch_id"]}",nonce_str="{nonce_str}",'
        f'signature="{signature}",timestamp="{ts}",serial_no="{creds["serial_no"]}"'
    )


def decrypt_resource(api_v3_key: str, resource: Mapping[str, Any]) -> bytes:
    """AEAD_AES_256_GCM: the ciphertext is base64(encrypted || 16-byte tag)."""
    key = api_v3_key.encode()
    if len(key) != 32:
        raise ValueError("api_v3_key must be 32 bytes")
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValueError(f"unsupported algorithm {resource.get('algorithm')!r}")
    data = base64.b64decode(str(resource["ciphertext"]), validate=True)
    return AESGCM(key).decrypt(
        str(resource["nonce"]).encode(), data, str(resource.get("associated_data") or "").encode()
    )


def certificate_serial(cert: x509.Certificate) -> str:
    """A certificate's serial as WeChat Pay writes it (upper-case hex)."""
    return format(cert.serial_number, "X")


def platform_keys(creds: Credentials, now: datetime | None = None) -> dict[str, str]:
    """The platform keys a merchant trusts, by serial: the platform public key (微信支付公钥,
    the mode WeChat Pay gives new merchants) and/or the platform certificates (平台证书,
    downloaded and refreshed by ``download_certificates``) still valid ``now``."""
    keys: dict[str, str] = {}
    if creds.values.get("platform_public_key") and creds.values.get("platform_serial"):
        keys[creds["platform_serial"]] = creds["platform_public_key"]
    bundle = creds.values.get("platform_certificates", "")
    if bundle:
        keys |= {
            certificate_serial(c): c.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
            for c in parse_certificates(bundle)
            if c.not_valid_after_utc > (now or datetime.now(UTC))
        }
    return keys


@lru_cache(maxsize=256)
def parse_certificates(bundle: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM bundle (none when it is empty or unreadable)."""
    try:
        return tuple(x509.load_pem_x509_certificates(bundle.encode())) if bundle else ()
    except ValueError:
        return ()


def merge_certificates(kept: str, downloaded: str, now: datetime) -> tuple[str, int]:
    """The certificates to trust from now on: those downloaded, and those kept that are
    still valid (WeChat Pay lists the old one beside the new while it rotates). Returns the
    bundle and how many downloaded serials are new."""
    old = {
        certificate_serial(c): c for c in parse_certificates(kept) if c.not_valid_after_utc > now
    }
    fresh = {certificate_serial(c): c for c in parse_certificates(downloaded)}
    merged = {**old, **fresh}
    bundle = "".join(
        c.public_bytes(serialization.Encoding.PEM).decode() for _, c in sorted(merged.items())
    )
    return bundle, len(fresh.keys() - old.keys())


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def check_signed(
    creds: Credentials, headers: Mapping[str, str], body: bytes, now_s: float
) -> str | None:
    """Why the platform signature on (headers, body) does not hold, or None when it does."""
    h = _lower(headers)
    ts, nonce_str = h.get("wechatpay-timestamp", ""), h.get("wechatpay-nonce", "")
    signature, serial = h.get("wechatpay-signature", ""), h.get("wechatpay-serial", "")
    if not (ts and nonce_str and signature and serial):
        return "unsigned"
    public_key = platform_keys(creds).get(serial)
    if public_key is None:
        return f"signed with an unknown platform serial {serial!r}"
    try:
        stamp = int(ts)
    except ValueError:
        return "bad timestamp"
    if abs(now_s - stamp) > MAX_SKEW_S:
        return "stale timestamp"
    message = ts.encode() + b"\n" + nonce_str.encode() + b"\n" + body + b"\n"
    if not rsa_verify(public_key, message, signature):
        return "bad signature"
    return None


# --- amounts and times -----------------------------------------------------------------------


def yuan_to_fen(text: str) -> int:
    """'12.34' -> 1234; fees carry five decimals and are rounded half up to the fen."""
    value = Decimal(text.strip() or "0") * 100
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _remote(data: Mapping[str, Any], provider_ref: str = "") -> Remote:
    trade_state = str(data.get("trade_state", ""))
    if trade_state not in TRADE_STATES:
        raise ValueError(f"unknown trade_state {trade_state!r}")
    amount = data.get("amount") or {}
    return Remote(
        out_trade_no=str(data["out_trade_no"]),
        provider_ref=str(data.get("transaction_id") or provider_ref),
        state=TRADE_STATES[trade_state],
        amount_fen=int(amount["total"]),
        paid_at=_parse_time(data.get("success_time")),
    )


# --- the bill ------------------------------------------------------------------------------


def parse_trade_bill(text: str) -> list[StatementLine]:
    """WeChat's trade bill (ALL): a header row, one row per payment or refund, every cell
    prefixed with a backquote, then a summary section (总交易单数...) that is skipped."""
    lines: list[StatementLine] = []
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    for raw in rows:
        cells = [c.strip().lstrip("`") for c in raw]
        if not any(cells):
            continue
        if header is None:
            header = cells
            if "商户订单号" not in header or "交易状态" not in header:
                raise ProviderError("the WeChat Pay bill has no header row", code="BAD_BILL")
            continue
        if cells[0] == "总交易单数":
            break
        row = dict(zip(header, cells, strict=False))
        state = row.get("交易状态", "")
        try:
            if state == "SUCCESS":
                total = row.get("订单金额") or row.get("应结订单金额", "0")
                lines.append(
                    StatementLine(
                        out_trade_no=row["商户订单号"],
                        provider_ref=row.get("微信订单号", ""),
                        kind="payment",
                        amount_fen=yuan_to_fen(total),
                        fee_fen=abs(yuan_to_fen(row.get("手续费", "0"))),
                    )
                )
            elif state == "REFUND" and row.get("退款状态", "SUCCESS") == "SUCCESS":
                lines.append(
                    StatementLine(
                        out_trade_no=row["商户订单号"],
                        provider_ref=row.get("微信退款单号", ""),
                        kind="refund",
                        amount_fen=yuan_to_fen(row.get("退款金额", "0")),
                        fee_fen=abs(yuan_to_fen(row.get("手续费", "0"))),
                    )
                )
        except (KeyError, InvalidOperation) as exc:
            raise ProviderError(f"unreadable WeChat Pay bill row: {exc}", code="BAD_BILL") from exc
    return lines


# --- the adapter ---------------------------------------------------------------------------


def refund_result(data: Mapping[str, Any], out_refund_no: str) -> RefundResult:
    """A refund answer (create or query) as a RefundResult, checked to be about ours."""
    status = str(data.get("status", ""))
    if status not in REFUND_STATES or not data.get("refund_id"):
        raise ProviderError(f"unreadable WeChat Pay refund ({status!r})", code="BAD_RESPONSE")
    if data.get("out_refund_no") != out_refund_no:
        raise ProviderError("WeChat Pay answered about another refund", code="BAD_RESPONSE")
    return RefundResult(refund_ref=str(data["refund_id"]), state=REFUND_STATES[status])


class WechatPay:
    """WeChat Pay v3 adapter (stateless; one httpx client per call)."""

    name = "wechat"

    def __init__(
        self,
        api_base: str = API_BASE,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.transport = transport

    # HTTP

    async def _send(
        self,
        creds: Credentials,
        method: str,
        url: str,
        payload: Mapping[str, Any] | None = None,
        *,
        signed_answer: bool = True,
    ) -> httpx.Response:
        body = (
            json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            if payload is not None
            else ""
        )
        target = httpx.URL(url)
        headers = {
            "Authorization": authorization(creds, method, target.raw_path.decode("ascii"), body),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self.transport, verify=_tls()
            ) as client:
                response = await client.request(
                    method, target, content=body.encode() if body else None, headers=headers
                )
        except httpx.TimeoutException as exc:
            raise ProviderError("WeChat Pay timed out", temporary=True, code="TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"WeChat Pay unreachable: {exc}", temporary=True, code="NETWORK"
            ) from exc
        if response.status_code >= 300:
            raise self._error(response)
        if signed_answer:
            problem = check_signed(creds, response.headers, response.content, time.time())
            if problem:
                raise ProviderError(
                    f"WeChat Pay answer refused: {problem}", code="RESPONSE_SIGNATURE"
                )
        return response

    @staticmethod
    def _error(response: httpx.Response) -> ProviderError:
        code, message = "", response.text[:200]
        try:
            data = response.json()
            code, message = str(data.get("code", "")), str(data.get("message", message))
        except (ValueError, AttributeError):
            pass
        status = response.status_code
        temporary = status >= 500 or status == 429 or code in TEMPORARY_CODES
        return ProviderError(
            f"WeChat Pay {status} {code}: {message}".strip(),
            temporary=temporary,
            code=code or f"HTTP_{status}",
        )

    async def _json(
        self,
        creds: Credentials,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.api_base + path + ("?" + urlencode(query) if query else "")
        response = await self._send(creds, method, url, payload)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError("WeChat Pay answered with no JSON", code="BAD_RESPONSE") from exc
        if not isinstance(data, dict):
            raise ProviderError("WeChat Pay answered with no JSON object", code="BAD_RESPONSE")
        return data

    # the Provider interface

    async def create(self, creds: Credentials, request: Create) -> Created:
        if request.method not in METHODS:
            raise ProviderError(
                f"WeChat Pay has no method {request.method!r}", code="UNSUPPORTED_METHOD"
            )
        if request.currency.lower() != "cny":
            raise ProviderError("WeChat Pay charges in CNY only", code="UNSUPPORTED_CURRENCY")
        if request.amount_fen <= 0:
            raise ProviderError("the amount must be positive", code="PARAM_ERROR")
        payload: dict[str, Any] = {
            "appid": creds["app_id"],
            "mchid": creds["mch_id"],
            "description": request.description[:127],
            "out_trade_no": request.out_trade_no,
            "notify_url": request.notify_url,
            "amount": {"total": request.amount_fen, "currency": "CNY"},
        }
        if request.method == "jsapi":
            if not request.payer_openid:
                raise ProviderError("a JSAPI payment needs the payer's openid", code="PARAM_ERROR")
            payload["payer"] = {"openid": request.payer_openid}
        if request.method == "h5":
            # WeChat requires the payer's IP for H5; ``Create`` has no field for it yet.
            client_ip = request.client_ip
            if not client_ip:
                raise ProviderError("an H5 payment needs the payer's IP", code="PARAM_ERROR")
            payload["scene_info"] = {"payer_client_ip": client_ip, "h5_info": {"type": "Wap"}}
        data = await self._json(creds, "POST", f"/v3/pay/transactions/{request.method}", payload)
        if request.method == "jsapi":
            prepay_id = str(data.get("prepay_id") or "")
            if not prepay_id:
                raise ProviderError("WeChat Pay gave no prepay_id", code="BAD_RESPONSE")
            return Created(provider_ref=prepay_id, client=jsapi_params(creds, prepay_id))
        key = "code_url" if request.method == "native" else "h5_url"
        url = str(data.get(key) or "")
        if not url:
            raise ProviderError(f"WeChat Pay gave no {key}", code="BAD_RESPONSE")
        # no prepay id for these: the transaction_id arrives with the payment
        return Created(provider_ref="", client={key: url})

    async def query(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> Remote:
        data = await self._json(
            creds,
            "GET",
            f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}",
            query={"mchid": creds["mch_id"]},
        )
        if data.get("mchid") != creds["mch_id"] or data.get("out_trade_no") != out_trade_no:
            raise ProviderError("WeChat Pay answered about another order", code="BAD_RESPONSE")
        try:
            return _remote(data, provider_ref)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProviderError(f"unreadable WeChat Pay order: {exc}", code="BAD_RESPONSE") from exc

    async def close(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> None:
        await self._json(
            creds,
            "POST",
            f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close",
            {"mchid": creds["mch_id"]},
        )

    async def refund(self, creds: Credentials, request: RefundRequest) -> RefundResult:
        payload = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.out_refund_no,
            "reason": request.reason[:80],
            "amount": {
                "refund": request.amount_fen,
                "total": request.total_fen,
                "currency": "CNY",
            },
        }
        data = await self._json(creds, "POST", "/v3/refund/domestic/refunds", payload)
        return refund_result(data, request.out_refund_no)

    async def download_certificates(self, creds: Credentials) -> str:
        """The platform certificates WeChat Pay lists now (``GET /v3/certificates``), as a PEM
        bundle. Each is decrypted with ``api_v3_key`` (which only WeChat Pay and the merchant
        hold, so AES-GCM vouches for it), and the answer's signature must hold with one of
        them or a key already trusted: a first download needs no certificate beforehand."""
        response = await self._send(
            creds, "GET", self.api_base + "/v3/certificates", signed_answer=False
        )
        try:
            items = response.json()["data"]
            pems = [
                decrypt_resource(creds["api_v3_key"], item["encrypt_certificate"]).decode()
                for item in items
            ]
            certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
        except (ValueError, KeyError, TypeError, InvalidTag) as exc:
            raise ProviderError(
                f"unreadable WeChat Pay certificates: {exc!r}", code="BAD_RESPONSE"
            ) from exc
        if [certificate_serial(c) for c in certs] != [str(i.get("serial_no")) for i in items]:
            raise ProviderError("WeChat Pay certificate serials do not match", code="BAD_RESPONSE")
        bundle = "".join(pems)
        trusting = Credentials(
            creds.provider,
            {
                **creds.values,
                "platform_certificates": creds.values.get("platform_certificates", "") + bundle,
            },
        )
        problem = check_signed(trusting, response.headers, response.content, time.time())
        if problem:
            raise ProviderError(f"WeChat Pay answer refused: {problem}", code="RESPONSE_SIGNATURE")
        return bundle

    async def query_refund(
        self, creds: Credentials, request: RefundRequest, refund_ref: str
    ) -> RefundResult:
        path = "/v3/refund/domestic/refunds/" + quote(request.out_refund_no, safe="")
        return refund_result(await self._json(creds, "GET", path), request.out_refund_no)

    async def statement(
        self, creds: Credentials, day: date, zone: tzinfo = UTC
    ) -> list[StatementLine] | None:
        try:
            data = await self._json(
                creds,
                "GET",
                "/v3/bill/tradebill",
                query={"bill_date": day.isoformat(), "bill_type": "ALL"},
            )
        except ProviderError as exc:
            if exc.code == "NO_STATEMENT_EXIST":  # no trade that day
                return []
            raise
        download_url = str(data.get("download_url") or "")
        if not download_url:
            raise ProviderError("WeChat Pay gave no bill download_url", code="BAD_RESPONSE")
        # the file is not signed; the SHA1 in the signed answer vouches for it
        response = await self._send(creds, "GET", download_url, signed_answer=False)
        expected = str(data.get("hash_value") or "").lower()
        if data.get("hash_type", "SHA1") != "SHA1" or not expected:
            raise ProviderError("the WeChat Pay bill has no SHA1", code="BAD_RESPONSE")
        if hashlib.sha1(response.content).hexdigest() != expected:
            raise ProviderError("the WeChat Pay bill's SHA1 does not match", code="BAD_BILL")
        return parse_trade_bill(response.content.decode("utf-8"))

    def verify(
        self, creds: Credentials, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Notification:
        now_s = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
        problem = check_signed(creds, headers, body, now_s)
        if problem:
            raise BadNotification(f"WeChat Pay notification refused: {problem}")
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            plain = decrypt_resource(creds["api_v3_key"], resource)
        except InvalidTag as exc:
            raise BadNotification("WeChat Pay notification does not decrypt") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise BadNotification(f"unreadable WeChat Pay notification: {exc}") from exc
        try:
            data = json.loads(plain)
            if data.get("mchid") != creds["mch_id"]:
                raise BadNotification("WeChat Pay notification for another merchant")
            event_type = str(envelope.get("event_type", ""))
            event_id = str(envelope["id"])
            if event_type.startswith("TRANSACTION."):
                if data.get("appid") != creds["app_id"]:
                    raise BadNotification("WeChat Pay notification for another app")
                return Notification(
                    event_id=event_id, kind="payment", payment=_remote(data), raw=data
                )
            if event_type.startswith("REFUND."):
                status = str(data.get("refund_status", ""))
                if status not in REFUND_STATES:
                    raise BadNotification(f"unknown refund_status {status!r}")
                return Notification(
                    event_id=event_id,
                    kind="refund",
                    refund_ref=str(data["refund_id"]),
                    refund_state=REFUND_STATES[status],
                    raw=data,
                )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadNotification(f"unreadable WeChat Pay notification: {exc}") from exc
        raise BadNotification(f"unsupported WeChat Pay event {event_type!r}")

    def acknowledge(self, ok: bool) -> tuple[int, Mapping[str, str], bytes]:
        if ok:
            return 200, {}, b""
        body = json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False).encode()
        return 400, {"Content-Type": "application/json; charset=utf-8"}, body


def jsapi_params(creds: Credentials, prepay_id: str) -> dict[str, str]:
    """What the page passes to ``wx.requestPayment`` / ``WeixinJSBridge``."""
    params = {
        "appId": creds["app_id"],
        "timeStamp": str(int(time.time())),
        "nonceStr": nonce(),
        "package": f"prepay_id={prepay_id}",
        "signType": "RSA",
    }
    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    params["paySign"] = rsa_sign(creds["private_key"], message)
    return params


def create_adapter(settings: Any) -> WechatPay:
    """The registry's factory: base URL and timeout from the settings."""
    return WechatPay(
        str(getattr(settings, "wechatpay_api_base", "") or API_BASE),
        timeout=float(getattr(settings, "payments_provider_timeout_s", 10.0)),
    )
