"""Alipay Open Platform adapter (the gateway API, RSA2 signatures).

Every call is a set of form parameters (``app_id``, ``method``, ``format=JSON``,
``charset=utf-8``, ``sign_type=RSA2``, ``timestamp`` in Asia/Shanghai, ``version=1.0``,
``biz_content`` as JSON, ...) signed with the tenant's app private key: ``sign`` is
base64(RSA-SHA256, PKCS#1 v1.5) over the parameters sorted by name, ``k=v`` joined by
``&``, leaving out ``sign`` and empty values.

- ``create`` makes no HTTP call. Page pay answers the signed gateway URL the browser is
  sent to (``client={"url": ...}``), app pay the signed order string the Alipay app SDK
  takes (``client={"order_string": ...}``). Alipay has no id for a trade before the buyer
  opens it, so ``Created.provider_ref`` is our ``out_trade_no``; Alipay's ``trade_no``
  arrives with the notification or a query (``Remote.provider_ref``). Calls only ever
  address trades by ``out_trade_no`` (unique per app), so either value works as the
  ``provider_ref`` argument. Alipay itself refuses a second trade with the same
  ``out_trade_no``, so a repeated ``create`` never pays twice (``idempotency_key`` unused).
- ``query`` / ``close`` / ``refund`` / ``statement`` POST to the gateway. The answer is
  ``{"<method>_response": {...}, "sign": "..."}``; ``sign`` covers the exact JSON text of
  the ``*_response`` value and is checked with the tenant's ``alipay_public_key``.
  ``code`` 10000 is success, 20000 (and ``ACQ.SYSTEM_ERROR``), HTTP 5xx, timeouts and
  network errors are temporary, everything else (40004 business failures, 4000x bad
  requests and keys) permanent. ``ProviderError.code`` is Alipay's ``sub_code`` (e.g.
  ``ACQ.TRADE_NOT_EXIST``) or ``code``.
- Trade states: WAIT_BUYER_PAY -> pending, TRADE_SUCCESS / TRADE_FINISHED -> succeeded,
  TRADE_CLOSED -> closed, except that a TRADE_CLOSED trade with a payment time was paid and
  then fully refunded: it reports ``succeeded`` (refunds are separate records).
- ``query`` of a trade Alipay does not know (the buyer never opened the cashier) raises
  ``ProviderError(code="ACQ.TRADE_NOT_EXIST")``: not paid. ``close`` of such a trade
  succeeds (nothing to close); the page URL / order string still expires by itself after
  ``pay_timeout`` (``timeout_express``), which bounds how long it could be paid.
- ``refund`` uses ``out_refund_no`` as Alipay's ``out_request_no`` (Alipay's idempotency
  key: the same number answers the same refund). Alipay refunds synchronously: code 10000
  is ``succeeded``; ``refund_ref`` is the ``out_request_no`` (Alipay has no refund id).
- Notifications (form-encoded POST): ``sign`` over the sorted parameters without ``sign``
  and ``sign_type``; ``app_id`` must be the tenant's. Freshness: Alipay retries a
  notification for about 25 hours, so ``notify_time`` may be up to 48 hours old (and 15
  minutes ahead, for clock skew); replays inside that window are harmless because the
  event id (``notify_id``) is stored once and the state machine is idempotent. Refunds
  come as trade notifications carrying ``refund_fee`` / ``gmt_refund`` / ``out_biz_no``:
  they become ``kind="refund"`` with ``refund_ref`` = ``out_biz_no`` (our out_refund_no)
  and ``refund_state="succeeded"``; ``refund_fee`` (cumulative, 元) is in ``raw``.
- ``statement`` asks ``alipay.data.dataservice.bill.downloadurl.query`` (bill_type
  ``trade``) for the day's download URL and parses the 业务明细 CSV (zipped, GBK, as Alipay
  serves it; a plain UTF-8 CSV is read too). ``isp.bill_not_exist`` is an empty day once
  the bill must exist (two days after), before that a temporary error.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
from wuye.settings import Settings

GATEWAY = "https://openapi.alipay.com/gateway.do"
# China has had no daylight saving since 1991: a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

PAY_METHODS = {  # our method -> (Alipay API, product_code)
    "page": ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    "app": ("alipay.trade.app.pay", "QUICK_MSECURITY_PAY"),
}
QUERY = "alipay.trade.query"
CLOSE = "alipay.trade.close"
REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL = "alipay.data.dataservice.bill.downloadurl.query"

STATES = {
    "WAIT_BUYER_PAY": "pending",
    "TRADE_SUCCESS": "succeeded",
    "TRADE_FINISHED": "succeeded",
    "TRADE_CLOSED": "closed",
}
SUCCESS = "10000"
TEMPORARY_CODES = {"20000"}  # service unavailable (isp.unknow-error, ...)
TEMPORARY_SUB_CODES = {"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"}  # "retry the same call"
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
BILL_NOT_EXIST = "isp.bill_not_exist"

MAX_AMOUNT_FEN = 100_000_000_00  # Alipay's limit per trade: 100,000,000.00 元
NOTIFY_MAX_AGE = timedelta(hours=48)
NOTIFY_MAX_AHEAD = timedelta(minutes=15)

_YUAN = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]{1,2}))?")


# --- money -----------------------------------------------------------------------------------


def fen_to_yuan(fen: int) -> str:
    """Integer fen -> Alipay's 元 with two decimals, exactly (no float on the way)."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise ValueError(f"not an amount in fen: {fen!r}")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str, *, signed: bool = False) -> int:
    """Alipay's 元 (``"250.6"``, ``"0.01"``, ``"100"``) -> integer fen, exactly; a value
    with more than two decimals, an exponent or junk raises ``ValueError``."""
    m = _YUAN.fullmatch(text.strip())
    if not m or (m.group(1) and not signed):
        raise ValueError(f"not an amount in 元: {text!r}")
    fen = int(m.group(2)) * 100 + int((m.group(3) or "").ljust(2, "0"))
    return -fen if m.group(1) == "-" else fen


# --- signatures --------------------------------------------------------------------------------


def sign_content(params: Mapping[str, str], exclude: tuple[str, ...] = ("sign",)) -> str:
    """The text Alipay signs: ``k=v`` sorted by name, joined by ``&``, raw (not URL-encoded),
    without the excluded names and empty values."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude and v)


def _key_bytes(text: str) -> tuple[bool, bytes]:
    """PEM, or the bare base64 Alipay's key tool and console hand out (-> DER)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return True, text.encode("ascii")
    return False, base64.b64decode("".join(text.split()), validate=True)


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    try:
        pem, data = _key_bytes(text)
        key = (
            serialization.load_pem_private_key(data, password=None)
            if pem
            else serialization.load_der_private_key(data, password=None)
        )
    except (ValueError, TypeError, UnicodeError, binascii.Error) as e:
        raise ProviderError("alipay: the app private key cannot be read", code="bad_key") from e
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderError("alipay: the app private key is not an RSA key", code="bad_key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    try:
        pem, data = _key_bytes(text)
        key = (
            serialization.load_pem_public_key(data)
            if pem
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError, UnicodeError, binascii.Error) as e:
        raise ProviderError("alipay: the Alipay public key cannot be read", code="bad_key") from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderError("alipay: the Alipay public key is not an RSA key", code="bad_key")
    return key


def rsa2_sign(content: str, private_key: str) -> str:
    key = load_private_key(private_key)
    raw = key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def rsa2_verify(content: str, signature: str, public_key: str) -> bool:
    key = load_public_key(public_key)
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m else i


def split_response(text: str, key: str) -> tuple[str | None, Any]:
    """The exact JSON text of ``key``'s value in a gateway answer, and its ``sign``.

    Alipay signs the bytes of the ``*_response`` value as sent, so it is cut out of the
    text rather than re-serialised. Raises ``ValueError`` on anything but one JSON object
    (duplicate names included)."""
    decoder = json.JSONDecoder()
    raw: str | None = None
    sign: Any = None
    seen: set[str] = set()
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        i += 1
    else:
        while True:
            name, i = decoder.raw_decode(text, i)
            if not isinstance(name, str) or name in seen:
                raise ValueError("bad or repeated member name")
            seen.add(name)
            i = _skip(text, i)
            if text[i : i + 1] != ":":
                raise ValueError("':' expected")
            start = _skip(text, i + 1)
            value, i = decoder.raw_decode(text, start)
            if name == key:
                raw = text[start:i]
            elif name == "sign":
                sign = value
            i = _skip(text, i)
            sep = text[i : i + 1]
            i += 1
            if sep == "}":
                break
            if sep != ",":
                raise ValueError("',' or '}' expected")
            i = _skip(text, i)
    if text[i:].strip(" \t\n\r"):
        raise ValueError("trailing data")
    return raw, sign


# --- helpers -------------------------------------------------------------------------------------


def _cred(creds: Credentials, name: str) -> str:
    if creds.provider != "alipay":
        raise ProviderError(f"alipay: credentials of {creds.provider!r}", code="bad_credentials")
    value = creds.values.get(name, "")
    if not value:
        raise ProviderError(f"alipay: credentials lack {name}", code="bad_credentials")
    return value


def _shanghai_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI).astimezone(UTC)


def _state(trade_status: str, paid_time: str) -> str:
    state = STATES.get(trade_status)
    if state is None:
        raise ValueError(f"unknown trade_status {trade_status!r}")
    if state == "closed" and paid_time:
        return "succeeded"  # paid, then fully refunded: the payment itself did succeed
    return state


def _error(method: str, body: Mapping[str, Any]) -> ProviderError:
    code = str(body.get("code", ""))
    sub_code = str(body.get("sub_code", "") or "")
    msg = f"alipay {method}: {code} {body.get('msg', '')}"
    if sub_code:
        msg += f" ({sub_code}: {body.get('sub_msg', '')})"
    temporary = code in TEMPORARY_CODES or sub_code in TEMPORARY_SUB_CODES
    return ProviderError(msg, temporary=temporary, code=sub_code or code)


# --- the adapter ---------------------------------------------------------------------------------


class AlipayProvider:
    name = "alipay"

    def __init__(
        self,
        gateway_url: str = GATEWAY,
        *,
        timeout_s: float = 10.0,
        pay_timeout: str = "2h",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.timeout_s = timeout_s
        self.pay_timeout = pay_timeout  # timeout_express: how long a trade can be paid
        self.client = client

    # --- requests ---

    def signed_params(
        self,
        creds: Credentials,
        method: str,
        biz: Mapping[str, Any],
        *,
        notify_url: str = "",
        return_url: str = "",
        now: datetime | None = None,
    ) -> dict[str, str]:
        params = {
            "app_id": _cred(creds, "app_id"),
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": (now or datetime.now(UTC)).astimezone(SHANGHAI).strftime(TIME_FORMAT),
            "version": "1.0",
            "notify_url": notify_url,
            "return_url": return_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params = {k: v for k, v in params.items() if v}
        params["sign"] = rsa2_sign(sign_content(params), _cred(creds, "private_key"))
        return params

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.client is not None:
            yield self.client
        else:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                yield client

    async def _call(
        self, creds: Credentials, method: str, biz: Mapping[str, Any]
    ) -> dict[str, Any]:
        """POST one gateway call; the verified ``*_response`` of a code-10000 answer."""
        params = self.signed_params(creds, method, biz)
        public_key = _cred(creds, "alipay_public_key")
        try:
            async with self._http() as http:
                resp = await http.post(self.gateway_url, data=params)
        except httpx.TimeoutException as e:
            raise ProviderError(f"alipay {method}: timeout", temporary=True, code="timeout") from e
        except httpx.HTTPError as e:
            raise ProviderError(f"alipay {method}: {e!r}", temporary=True, code="network") from e
        if resp.status_code != 200:
            temporary = resp.status_code >= 500 or resp.status_code == 429
            raise ProviderError(
                f"alipay {method}: HTTP {resp.status_code}",
                temporary=temporary,
                code=f"http_{resp.status_code}",
            )
        key = method.replace(".", "_") + "_response"
        try:
            text = resp.content.decode("utf-8")
            raw, sign = split_response(text, key)
            if raw is None:
                raw, sign = split_response(text, "error_response")
            if raw is None:
                raise ValueError(f"no {key}")
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError(f"{key} is not an object")
        except ValueError as e:  # a proxy's error page, a truncated answer, ...
            raise ProviderError(
                f"alipay {method}: unreadable answer ({e})", temporary=True, code="bad_response"
            ) from e
        code = str(body.get("code", ""))
        if sign is None or sign == "":
            if code == SUCCESS:  # success is only believed when signed
                raise ProviderError(f"alipay {method}: unsigned answer", code="unsigned_response")
        elif not isinstance(sign, str) or not rsa2_verify(raw, sign, public_key):
            raise ProviderError(
                f"alipay {method}: the answer's signature does not verify",
                code="invalid_response_sign",
            )
        if code != SUCCESS:
            raise _error(method, body)
        return body

    # --- the Provider interface ---

    async def create(self, creds: Credentials, request: Create) -> Created:
        if request.currency.lower() != "cny":
            raise ProviderError(
                f"alipay: currency {request.currency!r}", code="unsupported_currency"
            )
        if request.method not in PAY_METHODS:
            raise ProviderError(f"alipay: method {request.method!r}", code="unsupported_method")
        if not 1 <= request.amount_fen <= MAX_AMOUNT_FEN:
            raise ProviderError(f"alipay: amount {request.amount_fen} fen", code="bad_amount")
        if not 0 < len(request.out_trade_no) <= 64:
            raise ProviderError("alipay: out_trade_no must be 1-64 characters", code="bad_request")
        api, product_code = PAY_METHODS[request.method]
        biz = {
            "out_trade_no": request.out_trade_no,
            "total_amount": fen_to_yuan(request.amount_fen),
            "subject": (request.description.strip() or request.out_trade_no)[:256],
            "product_code": product_code,
            "timeout_express": self.pay_timeout,
        }
        if request.method == "page":
            params = self.signed_params(
                creds, api, biz, notify_url=request.notify_url, return_url=request.return_url
            )
            sep = "&" if "?" in self.gateway_url else "?"
            client: dict[str, str] = {"url": self.gateway_url + sep + urlencode(params)}
        else:
            params = self.signed_params(creds, api, biz, notify_url=request.notify_url)
            client = {"order_string": urlencode(sorted(params.items()))}
        return Created(provider_ref=request.out_trade_no, client=client)

    async def query(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> Remote:
        body = await self._call(creds, QUERY, {"out_trade_no": out_trade_no})
        if body.get("out_trade_no") != out_trade_no:
            raise ProviderError(
                f"alipay {QUERY}: answer for another trade", code="mismatched_response"
            )
        try:
            paid = str(body.get("send_pay_date") or "")
            return Remote(
                out_trade_no=out_trade_no,
                provider_ref=str(body.get("trade_no") or out_trade_no),
                state=_state(str(body.get("trade_status", "")), paid),
                amount_fen=yuan_to_fen(str(body.get("total_amount", ""))),
                paid_at=_shanghai_time(paid) if paid else None,
            )
        except ValueError as e:
            raise ProviderError(f"alipay {QUERY}: {e}", code="bad_response") from e

    async def close(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> None:
        try:
            await self._call(creds, CLOSE, {"out_trade_no": out_trade_no})
        except ProviderError as e:
            if e.code != TRADE_NOT_EXIST:  # never opened by the buyer: nothing to close
                raise

    async def refund(self, creds: Credentials, request: RefundRequest) -> RefundResult:
        if not 1 <= request.amount_fen <= MAX_AMOUNT_FEN:
            raise ProviderError(f"alipay: refund of {request.amount_fen} fen", code="bad_amount")
        if not 0 < len(request.out_refund_no) <= 64:
            raise ProviderError("alipay: out_refund_no must be 1-64 characters", code="bad_request")
        biz = {
            "out_trade_no": request.out_trade_no,
            "refund_amount": fen_to_yuan(request.amount_fen),
            "out_request_no": request.out_refund_no,
        }
        if request.reason:
            biz["refund_reason"] = request.reason[:256]
        body = await self._call(creds, REFUND, biz)
        if body.get("out_trade_no") not in (None, request.out_trade_no):
            raise ProviderError(
                f"alipay {REFUND}: answer for another trade", code="mismatched_response"
            )
        return RefundResult(refund_ref=request.out_refund_no, state="succeeded")

    async def query_refund(
        self, creds: Credentials, request: RefundRequest, refund_ref: str
    ) -> RefundResult:
        """Alipay refunds synchronously; the query finds one only once it succeeded
        (``refund_status`` REFUND_SUCCESS or absent); none found is still pending."""
        biz = {"out_trade_no": request.out_trade_no, "out_request_no": request.out_refund_no}
        body = await self._call(creds, REFUND_QUERY, biz)
        if body.get("out_request_no") != request.out_refund_no:
            return RefundResult(refund_ref=refund_ref, state="pending")
        status = body.get("refund_status") or "REFUND_SUCCESS"
        state = "succeeded" if status == "REFUND_SUCCESS" else "pending"
        return RefundResult(refund_ref=request.out_refund_no, state=state)

    async def statement(
        self, creds: Credentials, day: date, zone: tzinfo = UTC
    ) -> list[StatementLine] | None:
        try:
            body = await self._call(
                creds, BILL, {"bill_type": "trade", "bill_date": day.isoformat()}
            )
        except ProviderError as e:
            if e.code != BILL_NOT_EXIST:
                raise
            # Bills appear the next morning; a day without trades has none at all.
            if day < datetime.now(SHANGHAI).date() - timedelta(days=1):
                return []
            raise ProviderError(
                f"alipay: the bill of {day} is not ready", temporary=True, code=BILL_NOT_EXIST
            ) from e
        url = body.get("bill_download_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError(f"alipay {BILL}: no download URL", code="bad_response")
        try:
            async with self._http() as http:
                resp = await http.get(url)
        except httpx.TimeoutException as e:
            raise ProviderError("alipay bill: timeout", temporary=True, code="timeout") from e
        except httpx.HTTPError as e:
            raise ProviderError(f"alipay bill: {e!r}", temporary=True, code="network") from e
        if resp.status_code != 200:
            raise ProviderError(
                f"alipay bill: HTTP {resp.status_code}",
                temporary=resp.status_code >= 500,
                code=f"http_{resp.status_code}",
            )
        return parse_bill(resp.content)

    def verify(
        self, creds: Credentials, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Notification:
        app_id = _cred(creds, "app_id")
        public_key = _cred(creds, "alipay_public_key")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as e:
            raise BadNotification("alipay: not a form body") from e
        params = dict(pairs)
        if len(params) != len(pairs):
            raise BadNotification("alipay: repeated parameters")
        sign = params.get("sign", "")
        if not sign or params.get("sign_type") != "RSA2":
            raise BadNotification("alipay: unsigned or not RSA2")
        if params.get("charset", "utf-8").lower() != "utf-8":
            raise BadNotification("alipay: not utf-8")
        if not rsa2_verify(sign_content(params, ("sign", "sign_type")), sign, public_key):
            raise BadNotification("alipay: the signature does not verify")
        # Signed by Alipay from here on: what follows guards against misrouting and replays.
        if params.get("app_id") != app_id:
            raise BadNotification("alipay: for another app")
        event_id = params.get("notify_id", "")
        out_trade_no = params.get("out_trade_no", "")
        if not event_id or not out_trade_no:
            raise BadNotification("alipay: notify_id or out_trade_no missing")
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        try:
            sent = _shanghai_time(params.get("notify_time", ""))
            paid = params.get("gmt_payment", "")
            payment = Remote(
                out_trade_no=out_trade_no,
                provider_ref=params.get("trade_no") or out_trade_no,
                state=_state(params.get("trade_status", ""), paid),
                amount_fen=yuan_to_fen(params.get("total_amount", "")),
                paid_at=_shanghai_time(paid) if paid else None,
            )
            refund_fee = params.get("refund_fee", "")
            if refund_fee:
                yuan_to_fen(refund_fee)
        except ValueError as e:
            raise BadNotification(f"alipay: {e}") from e
        if not now - NOTIFY_MAX_AGE <= sent <= now + NOTIFY_MAX_AHEAD:
            raise BadNotification("alipay: notify_time out of range")
        if refund_fee or params.get("gmt_refund") or params.get("out_biz_no"):
            return Notification(
                event_id=event_id,
                kind="refund",
                payment=payment,
                refund_ref=params.get("out_biz_no", ""),
                refund_state="succeeded",
                raw=params,
            )
        return Notification(event_id=event_id, kind="payment", payment=payment, raw=params)

    def acknowledge(self, ok: bool) -> tuple[int, Mapping[str, str], bytes]:
        # Anything but "success" makes Alipay send the notification again later.
        return 200, {"content-type": "text/plain; charset=utf-8"}, b"success" if ok else b"failure"


def create_adapter(settings: Settings) -> AlipayProvider:
    """The registry's factory: ``alipay_gateway`` and the per-call timeout from settings; a
    trade can be paid for as long as the core keeps a payment open
    (``payments_expire_after_s`` -> ``timeout_express`` in minutes), so once the core closes
    an expired payment Alipay has closed it too. Retries are the core's."""
    minutes = max(1, int(settings.payments_expire_after_s) // 60)
    return AlipayProvider(
        settings.alipay_gateway or GATEWAY,
        timeout_s=settings.payments_provider_timeout_s,
        pay_timeout=f"{minutes}m",
    )


# --- the bill ------------------------------------------------------------------------------------

_COLUMNS = {  # our name -> how Alipay's 业务明细 header starts
    "trade_no": "支付宝交易号",
    "out_trade_no": "商户订单号",
    "type": "业务类型",
    "amount": "订单金额",
    "fee": "服务费",
}
_KINDS = {"交易": "payment", "退款": "refund"}


def parse_bill(data: bytes) -> list[StatementLine]:
    """Alipay's trade bill (业务明细): a zip of GBK CSVs, or one CSV. Comment lines start with
    ``#``; cells carry padding (tabs); refunds have negative amounts. ``provider_ref`` is
    Alipay's trade_no for a payment and the refund's ``out_request_no`` (退款批次号/请求号:
    our out_refund_no, the ``refund_ref``) for a refund; amounts are positive; ``fee_fen``
    is what the merchant paid for the line (negative for a refund: fee given back)."""
    try:
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [
                    n
                    for n in archive.namelist()
                    if n.endswith(".csv") and "业务明细" in n and "汇总" not in n
                ]
                if len(names) != 1:
                    raise ValueError("no single 业务明细 CSV in the archive")
                data = archive.read(names[0])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        rows = csv.reader(line for line in text.splitlines() if not line.startswith("#"))
        columns: dict[str, int] | None = None
        lines: list[StatementLine] = []
        for row in rows:
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if columns is None:
                found = {
                    ours: next((i for i, c in enumerate(cells) if c.startswith(theirs)), -1)
                    for ours, theirs in _COLUMNS.items()
                }
                if min(found.values()) >= 0:
                    columns = found
                    columns["refund_no"] = next(
                        (i for i, c in enumerate(cells) if c.startswith("退款批次号")), -1
                    )
                continue
            kind = _KINDS.get(cells[columns["type"]])
            if kind is None:
                continue
            trade_no = cells[columns["trade_no"]]
            refund_no = cells[columns["refund_no"]] if columns["refund_no"] >= 0 else ""
            fee_text = cells[columns["fee"]]
            fee = abs(yuan_to_fen(fee_text, signed=True)) if fee_text else 0
            lines.append(
                StatementLine(
                    out_trade_no=cells[columns["out_trade_no"]],
                    # a refund's ref is its out_request_no (our out_refund_no, refund_ref)
                    provider_ref=(refund_no or trade_no) if kind == "refund" else trade_no,
                    kind=kind,
                    amount_fen=abs(yuan_to_fen(cells[columns["amount"]], signed=True)),
                    fee_fen=fee if kind == "payment" else -fee,
                )
            )
        if columns is None:
            raise ValueError("no 业务明细 header")
    except (ValueError, IndexError, zipfile.BadZipFile, csv.Error) as e:
        raise ProviderError(f"alipay bill: unreadable ({e})", code="bad_bill") from e
    return lines
