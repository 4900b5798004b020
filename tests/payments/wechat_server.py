"""A local stand-in for WeChat Pay API v3 (直连商户), written independently of the adapter.

It keeps its own platform RSA key pair, knows each merchant's public key, serial, appid and
APIv3 key, verifies every request's ``Authorization`` signature the way WeChat does (401
``SIGN_ERROR`` otherwise), checks that the body's mchid/appid belong to the signer, signs
every answer with the platform key, keeps orders and refunds per merchant, serves the trade
bill, and lets a test pay an order and build the encrypted, signed notification for it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CST = timezone(timedelta(hours=8))
FEE_RATE = Decimal("0.006")
AUTH = re.compile(r'(\w+)="([^"]*)"')
BILL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
BILL_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def certificate(
    key: rsa.RSAPrivateKey, serial: str, *, days: int = 365, ago: int = 1
) -> x509.Certificate:
    """A platform certificate as WeChat Pay issues it (here self-signed), valid from ``ago``
    days back for ``days`` days, with the serial WeChat Pay names it by."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
        ]
    )
    start = datetime.now(UTC) - timedelta(days=ago)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int(serial, 16))
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verifies(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def yuan(fen: int | Decimal, places: int = 2) -> str:
    return f"{Decimal(fen) / 100:.{places}f}"


@dataclass
class Merchant:
    mchid: str
    appid: str
    serial_no: str
    key: rsa.RSAPrivateKey  # held by the merchant; the server only uses its public half
    api_v3_key: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.key.public_key()


@dataclass
class Fault:
    status: int = 500
    code: str = "SYSTEM_ERROR"
    delay_s: float = 0.0  # sleep before answering (past the client's timeout)


@dataclass
class FakeWechatPay:
    platform_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    platform_serial: str = field(default_factory=lambda: format(x509.random_serial_number(), "X"))
    # the platform certificates /v3/certificates lists (the key above's first, made lazily)
    certificates: list[tuple[rsa.RSAPrivateKey, str, x509.Certificate]] = field(
        default_factory=list
    )
    merchants: dict[str, Merchant] = field(default_factory=dict)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refunds: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    bills: dict[tuple[str, date], str] = field(default_factory=dict)  # hand-written bills
    faults: list[Fault] = field(default_factory=list)  # one per coming request
    # how to spoil the next signed answers: None | "signature" | "serial" | "stale" | "none"
    spoil: str | None = None
    downloads: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # token -> bill
    accepted: list[dict[str, Any]] = field(default_factory=list)  # signed-in requests
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, code)
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v3/pay/transactions/{kind}", self.create, methods=["POST"]),
                Route("/v3/pay/transactions/out-trade-no/{no}", self.query_order, methods=["GET"]),
                Route(
                    "/v3/pay/transactions/out-trade-no/{no}/close",
                    self.close_order,
                    methods=["POST"],
                ),
                Route("/v3/refund/domestic/refunds", self.refund, methods=["POST"]),
                Route("/v3/refund/domestic/refunds/{no}", self.query_refund, methods=["GET"]),
                Route("/v3/bill/tradebill", self.tradebill, methods=["GET"]),
                Route("/v3/certificates", self.list_certificates, methods=["GET"]),
                Route("/v3/billdownload/file", self.download, methods=["GET"]),
            ]
        )

    # --- set-up, as the merchant platform would hand it out ------------------------------

    def add_merchant(self, mchid: str, appid: str) -> dict[str, str]:
        """Register a merchant; returns its credential values for ``Credentials("wechat", ..)``."""
        m = Merchant(
            mchid=mchid,
            appid=appid,
            serial_no=secrets.token_hex(20).upper(),
            key=new_key(),
            api_v3_key=secrets.token_urlsafe(24)[:32],
        )
        self.merchants[mchid] = m
        return {
            "mch_id": mchid,
            "app_id": appid,
            "serial_no": m.serial_no,
            "private_key": pem_private(m.key),
            "api_v3_key": m.api_v3_key,
            "platform_public_key": pem_public(self.platform_key.public_key()),
            "platform_serial": self.platform_serial,
        }

    # --- platform certificates ------------------------------------------------------------

    def _ensure_certificate(self) -> None:
        if not any(serial == self.platform_serial for _, serial, _ in self.certificates):
            cert = certificate(self.platform_key, self.platform_serial)
            self.certificates.append((self.platform_key, self.platform_serial, cert))

    def rotate(self) -> str:
        """WeChat Pay's rotation: a new platform key and certificate sign from now on; the old
        certificate is still listed (until it expires). Returns the new serial."""
        self._ensure_certificate()
        self.platform_key = new_key()
        self.platform_serial = format(x509.random_serial_number(), "X")
        self._ensure_certificate()
        return self.platform_serial

    async def list_certificates(self, request: Request) -> Response:
        m, _, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        self._ensure_certificate()
        data = []
        for _, serial, cert in self.certificates:
            nonce = secrets.token_hex(6)
            pem = cert.public_bytes(serialization.Encoding.PEM)
            sealed = AESGCM(m.api_v3_key.encode()).encrypt(nonce.encode(), pem, b"certificate")
            data.append(
                {
                    "serial_no": serial,
                    "effective_time": cert.not_valid_before_utc.isoformat(),
                    "expire_time": cert.not_valid_after_utc.isoformat(),
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM",
                        "nonce": nonce,
                        "associated_data": "certificate",
                        "ciphertext": base64.b64encode(sealed).decode(),
                    },
                }
            )
        return self.answer(200, {"data": data})

    # --- answers --------------------------------------------------------------------------

    def signed_headers(
        self, body: bytes, *, timestamp: int | None = None, key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        message = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(key or self.platform_key, message),
            "Wechatpay-Serial": self.platform_serial,
        }

    def answer(self, status: int, data: dict[str, Any] | None = None) -> Response:
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
        headers = {"Request-ID": f"req-{next(self._seq)}"}
        if status < 300 or data is not None:
            signed = self.signed_headers(body)
            if self.spoil == "signature":
                signed = self.signed_headers(body, key=new_key())
            elif self.spoil == "serial":
                signed["Wechatpay-Serial"] = "0" * 40
            elif self.spoil == "stale":
                signed = self.signed_headers(body, timestamp=int(time.time()) - 600)
            elif self.spoil == "body" and body:
                body = body.replace(b"NOTPAY", b"SUCCESS") + b" "  # still JSON
            if self.spoil != "none":
                headers |= signed
        if data is not None:
            headers["Content-Type"] = "application/json"
        if status >= 400 and data:
            self.refused.append((status, str(data.get("code"))))
        return Response(body, status_code=status, headers=headers)

    def error(self, status: int, code: str, message: str) -> Response:
        return self.answer(status, {"code": code, "message": message})

    async def authenticate(
        self, request: Request
    ) -> tuple[Merchant | None, bytes, Response | None]:
        """WeChat's check of the merchant signature; the merchant, the body, or a refusal."""
        body = await request.body()
        if self.faults:
            fault = self.faults.pop(0)
            await asyncio.sleep(fault.delay_s)
            return None, body, self.error(fault.status, fault.code, "scripted fault")
        header = request.headers.get("authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return None, body, self.error(401, "SIGN_ERROR", "bad authorization scheme")
        fields = dict(AUTH.findall(rest))
        m = self.merchants.get(fields.get("mchid", ""))
        if m is None:
            return None, body, self.error(400, "MCH_NOT_EXISTS", "商户号不存在")
        if fields.get("serial_no") != m.serial_no:
            return None, body, self.error(401, "SIGN_ERROR", "证书序列号错误")
        try:
            ts = int(fields.get("timestamp", ""))
        except ValueError:
            return None, body, self.error(401, "SIGN_ERROR", "bad timestamp")
        if abs(time.time() - ts) > 300:
            return None, body, self.error(401, "SIGN_ERROR", "timestamp expired")
        path = request.scope["raw_path"].decode()
        if request.scope["query_string"]:
            path += "?" + request.scope["query_string"].decode()
        message = (
            (
                f"{request.method}\n{path}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n"
            ).encode()
            + body
            + b"\n"
        )
        if not verifies(m.public_key, message, fields.get("signature", "")):
            return None, body, self.error(401, "SIGN_ERROR", "签名错误")
        self.accepted.append({"mchid": m.mchid, "method": request.method, "path": path})
        return m, body, None

    def _body(self, m: Merchant, body: bytes) -> dict[str, Any] | Response:
        try:
            data = json.loads(body)
        except ValueError:
            return self.error(400, "PARAM_ERROR", "body is not JSON")
        if not isinstance(data, dict):
            return self.error(400, "PARAM_ERROR", "body is not an object")
        if "mchid" in data and data["mchid"] != m.mchid:
            return self.error(400, "PARAM_ERROR", "mchid与请求签名的商户号不一致")
        if "appid" in data and data["appid"] != m.appid:
            return self.error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        return data

    # --- orders ---------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        m, raw, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        data = self._body(m, raw)
        if isinstance(data, Response):
            return data
        kind = request.path_params["kind"]
        if kind not in ("jsapi", "native", "h5"):
            return self.error(404, "NOT_FOUND", "no such API")
        for key in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount"):
            if not data.get(key):
                return self.error(400, "PARAM_ERROR", f"缺少参数 {key}")
        amount = data["amount"]
        if not isinstance(amount.get("total"), int) or amount["total"] <= 0:
            return self.error(400, "PARAM_ERROR", "amount.total")
        if amount.get("currency", "CNY") != "CNY":
            return self.error(400, "PARAM_ERROR", "amount.currency")
        if kind == "jsapi" and not (data.get("payer") or {}).get("openid"):
            return self.error(400, "PARAM_ERROR", "缺少参数 payer.openid")
        if kind == "h5" and not (data.get("scene_info") or {}).get("payer_client_ip"):
            return self.error(400, "PARAM_ERROR", "缺少参数 scene_info.payer_client_ip")
        key = (m.mchid, data["out_trade_no"])
        order = self.orders.get(key)
        if order is not None:
            if order["trade_state"] == "SUCCESS":
                return self.error(400, "ORDERPAID", "该订单已支付")
            if order["trade_state"] == "CLOSED":
                return self.error(400, "ORDER_CLOSED", "订单已关闭")
            if order["request"] != data or order["trade_type"] != kind.upper():
                return self.error(400, "INVALID_REQUEST", "201 商户订单号重复")
            return self.answer(200, order["answer"])  # same order again: the same prepay
        prepay_id = f"wx{secrets.token_hex(16)}"
        answer = {
            "jsapi": {"prepay_id": prepay_id},
            "native": {"code_url": f"weixin://wxpay/bizpayurl?pr={secrets.token_hex(4)}"},
            "h5": {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?p={prepay_id}"},
        }[kind]
        self.orders[key] = {
            "request": data,
            "answer": answer,
            "prepay_id": prepay_id,
            "trade_type": kind.upper(),
            "trade_state": "NOTPAY",
            "total": amount["total"],
            "refunded": 0,
        }
        return self.answer(200, answer)

    def _order_view(self, m: Merchant, no: str, order: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {
            "appid": m.appid,
            "mchid": m.mchid,
            "out_trade_no": no,
            "trade_type": order["trade_type"],
            "trade_state": order["trade_state"],
            "trade_state_desc": order["trade_state"],
            "amount": {"total": order["total"], "currency": "CNY"},
        }
        if order.get("transaction_id"):
            view |= {
                "transaction_id": order["transaction_id"],
                "bank_type": "CMB_DEBIT",
                "success_time": order["success_time"],
                "payer": {"openid": order["openid"]},
            }
            view["amount"] |= {"payer_total": order["total"], "payer_currency": "CNY"}
        return view

    async def query_order(self, request: Request) -> Response:
        m, _, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        if request.query_params.get("mchid") != m.mchid:
            return self.error(400, "PARAM_ERROR", "mchid与请求签名的商户号不一致")
        no = request.path_params["no"]
        order = self.orders.get((m.mchid, no))
        if order is None:
            return self.error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self.answer(200, self._order_view(m, no, order))

    async def close_order(self, request: Request) -> Response:
        m, raw, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        data = self._body(m, raw)
        if isinstance(data, Response):
            return data
        if data.get("mchid") != m.mchid:
            return self.error(400, "PARAM_ERROR", "缺少参数 mchid")
        order = self.orders.get((m.mchid, request.path_params["no"]))
        if order is None:
            return self.error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order["trade_state"] in ("SUCCESS", "REFUND"):
            return self.error(400, "ORDERPAID", "订单已支付")
        order["trade_state"] = "CLOSED"
        return self.answer(204)

    def pay(self, mchid: str, out_trade_no: str, openid: str = "o-payer") -> dict[str, Any]:
        """The payer paid: the order is SUCCESS; returns the transaction as WeChat shows it."""
        m = self.merchants[mchid]
        order = self.orders[(mchid, out_trade_no)]
        order |= {
            "trade_state": "SUCCESS",
            "transaction_id": f"42000{next(self._seq):023d}",
            "success_time": datetime.now(CST).replace(microsecond=0).isoformat(),
            "openid": (order["request"].get("payer") or {}).get("openid") or openid,
        }
        return self._order_view(m, out_trade_no, order)

    # --- refunds --------------------------------------------------------------------------

    async def refund(self, request: Request) -> Response:
        m, raw, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        data = self._body(m, raw)
        if isinstance(data, Response):
            return data
        no, refund_no = data.get("out_trade_no"), data.get("out_refund_no")
        amount = data.get("amount") or {}
        if not no or not refund_no or not isinstance(amount.get("refund"), int):
            return self.error(400, "PARAM_ERROR", "缺少参数")
        existing = self.refunds.get((m.mchid, refund_no))
        if existing is not None:  # out_refund_no is the idempotency key
            return self.answer(200, existing)
        order = self.orders.get((m.mchid, no))
        if order is None or not order.get("transaction_id"):
            return self.error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if amount.get("total") != order["total"]:
            return self.error(400, "PARAM_ERROR", "订单金额与实际不符")
        if amount["refund"] <= 0 or order["refunded"] + amount["refund"] > order["total"]:
            return self.error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        order["refunded"] += amount["refund"]
        order["trade_state"] = "REFUND"
        now = datetime.now(CST).replace(microsecond=0).isoformat()
        refund = {
            "refund_id": f"50000{next(self._seq):027d}",
            "out_refund_no": refund_no,
            "transaction_id": order["transaction_id"],
            "out_trade_no": no,
            "channel": "ORIGINAL",
            "user_received_account": "招商银行信用卡0403",
            "create_time": now,
            "success_time": now,
            "status": "SUCCESS" if amount["refund"] < 100_000_00 else "PROCESSING",
            "amount": {
                "total": order["total"],
                "refund": amount["refund"],
                "payer_total": order["total"],
                "payer_refund": amount["refund"],
                "currency": "CNY",
            },
        }
        self.refunds[(m.mchid, refund_no)] = refund
        return self.answer(200, refund)

    async def query_refund(self, request: Request) -> Response:
        m, _, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        found = self.refunds.get((m.mchid, request.path_params["no"]))
        if found is None:
            return self.error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self.answer(200, found)

    # --- notifications --------------------------------------------------------------------

    def notification(
        self,
        mchid: str,
        event_type: str,
        resource: dict[str, Any],
        *,
        timestamp: int | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of a notification as WeChat posts it to ``notify_url``."""
        m = self.merchants[mchid]
        original_type = "refund" if event_type.startswith("REFUND.") else "transaction"
        nonce = secrets.token_hex(6)
        associated = original_type
        plain = json.dumps(resource, ensure_ascii=False).encode()
        sealed = AESGCM(m.api_v3_key.encode()).encrypt(nonce.encode(), plain, associated.encode())
        envelope = {
            "id": f"EV-{secrets.token_hex(8)}",
            "create_time": datetime.now(CST).replace(microsecond=0).isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if original_type == "transaction" else "退款成功",
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return self.signed_headers(body, timestamp=timestamp, key=key), body

    def payment_notification(self, mchid: str, out_trade_no: str, **kw: Any):
        view = self._order_view(
            self.merchants[mchid], out_trade_no, self.orders[(mchid, out_trade_no)]
        )
        return self.notification(mchid, "TRANSACTION.SUCCESS", view, **kw)

    def refund_notification(self, mchid: str, out_refund_no: str, **kw: Any):
        r = self.refunds[(mchid, out_refund_no)]
        resource = {
            "mchid": mchid,
            "out_trade_no": r["out_trade_no"],
            "transaction_id": r["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": r["refund_id"],
            "refund_status": r["status"],
            "success_time": r["success_time"],
            "user_received_account": r["user_received_account"],
            "amount": {
                k: r["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")
            },
        }
        return self.notification(mchid, f"REFUND.{r['status']}", resource, **kw)

    # --- the trade bill -------------------------------------------------------------------

    def build_bill(self, m: Merchant, day: date) -> str | None:
        """The ALL trade bill of one day from the server's state (None: no trade)."""
        rows: list[list[str]] = []
        totals = {"n": 0, "settle": 0, "refund": 0, "fee": Decimal(0)}

        def on_day(stamp: str) -> bool:
            return datetime.fromisoformat(stamp).astimezone(CST).date() == day

        for (mchid, no), o in self.orders.items():
            if mchid != m.mchid or not o.get("transaction_id") or not on_day(o["success_time"]):
                continue
            fee = Decimal(o["total"]) * FEE_RATE
            rows.append(
                [
                    datetime.fromisoformat(o["success_time"]).strftime("%Y-%m-%d %H:%M:%S"),
                    m.appid, m.mchid, "0", "", o["transaction_id"], no, o["openid"],
                    o["trade_type"], "SUCCESS", "CMB_DEBIT", "CNY", yuan(o["total"]), "0.00",
                    "0", "0", "0.00", "0.00", "", "", o["request"]["description"], "",
                    yuan(fee, 5), "0.60%", yuan(o["total"]), "0.00", "",
                ]
            )  # fmt: skip
            totals["n"] += 1
            totals["settle"] += o["total"]
            totals["fee"] += fee
        for (mchid, _), r in self.refunds.items():
            if mchid != m.mchid or r["status"] != "SUCCESS" or not on_day(r["success_time"]):
                continue
            o = self.orders[(mchid, r["out_trade_no"])]
            fee = Decimal(r["amount"]["refund"]) * FEE_RATE
            refund = yuan(r["amount"]["refund"])
            rows.append(
                [
                    datetime.fromisoformat(r["success_time"]).strftime("%Y-%m-%d %H:%M:%S"),
                    m.appid, m.mchid, "0", "", r["transaction_id"], r["out_trade_no"],
                    o["openid"], o["trade_type"], "REFUND", "CMB_DEBIT", "CNY", "0.00", "0.00",
                    r["refund_id"], r["out_refund_no"], refund, "0.00", "ORIGINAL", "SUCCESS",
                    o["request"]["description"], "", "-" + yuan(fee, 5), "0.60%", "0.00",
                    refund, "",
                ]
            )  # fmt: skip
            totals["n"] += 1
            totals["refund"] += r["amount"]["refund"]
            totals["fee"] -= fee
        if not rows:
            return None
        summary = [
            str(totals["n"]),
            yuan(totals["settle"]),
            yuan(totals["refund"]),
            "0.00",
            yuan(totals["fee"], 5),
            yuan(totals["settle"]),
            yuan(totals["refund"]),
        ]
        lines = [BILL_HEADER] + [",".join("`" + c for c in row) for row in rows]
        lines += [BILL_SUMMARY, ",".join("`" + c for c in summary)]
        return "\r\n".join(lines) + "\r\n"

    async def tradebill(self, request: Request) -> Response:
        m, _, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        try:
            day = date.fromisoformat(request.query_params.get("bill_date", ""))
        except ValueError:
            return self.error(400, "PARAM_ERROR", "bill_date")
        if day >= datetime.now(CST).date() + timedelta(days=1):
            return self.error(400, "INVALID_REQUEST", "账单日期不能晚于今天")
        text = self.bills.get((m.mchid, day)) or self.build_bill(m, day)
        if text is None:
            return self.error(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        token = secrets.token_urlsafe(12)
        self.downloads[token] = (m.mchid, text.encode())
        return self.answer(
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(text.encode()).hexdigest(),
                "download_url": f"{request.base_url}v3/billdownload/file?token={token}",
            },
        )

    async def download(self, request: Request) -> Response:
        m, _, refused = await self.authenticate(request)
        if refused or m is None:
            return refused or self.error(500, "SYSTEM_ERROR", "?")
        found = self.downloads.get(request.query_params.get("token", ""))
        if found is None or found[0] != m.mchid:
            return self.error(404, "NOT_FOUND", "账单不存在")
        if self.spoil == "bill":
            return Response(found[1] + b"`extra", media_type="text/plain")
        return Response(found[1], media_type="text/plain")  # a file: not signed
