"""A local stand-in for Alipay's Open Platform gateway (``/gateway.do``).

It has its own Alipay RSA key pair, knows each app's public key, and checks every request
the way Alipay does (with its own signing code, not the adapter's): required system
parameters, ``sign_type=RSA2``, the timestamp, and the signature; a bad one is refused
with ``40002 isv.invalid-signature``. Answers are ``{"<method>_response": {...}, "sign"}``
with ``sign`` over the exact text of the response value. Trades are kept per app by
``out_trade_no``; a test opens the cashier (GET the page-pay URL, or ``open_app_order``),
``pay``s a trade, and gets the signed async notification form for it.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import functools
import io
import itertools
import json
import secrets
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notify"))
from channel_servers import ThreadedServer, free_port

__all__ = ["FakeAlipay", "ThreadedServer", "free_port", "new_key_pair"]

CST = timezone(timedelta(hours=8))
FMT = "%Y-%m-%d %H:%M:%S"
SYSTEM = ("app_id", "method", "format", "charset", "sign_type", "sign", "timestamp", "version")
FEE_RATE = Decimal("0.006")


def new_key_pair() -> tuple[str, str]:
    """(private PKCS#8 PEM, public SubjectPublicKeyInfo PEM), as Alipay's key tool makes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def content_to_sign(params: dict[str, str], drop: set[str]) -> str:
    """Alipay's own rule, written apart from the adapter's."""
    keys = sorted(k for k in params if k not in drop and params[k] != "")
    return "&".join(k + "=" + params[k] for k in keys)


@functools.cache
def _private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def rsa_sign(private_pem: str, text: str) -> str:
    key = _private(private_pem)
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_check(public_pem: str, text: str, sign: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(sign), text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def yuan(text: str) -> Decimal:
    return Decimal(text)


def money(d: Decimal) -> str:
    return str(d.quantize(Decimal("0.01")))


@dataclass
class Trade:
    app_id: str
    out_trade_no: str
    total_amount: str
    subject: str
    notify_url: str
    status: str = "WAIT_BUYER_PAY"
    trade_no: str = ""
    gmt_payment: str = ""
    refunds: dict[str, str] = field(default_factory=dict)  # out_request_no -> amount
    refund_times: dict[str, str] = field(default_factory=dict)

    @property
    def refunded(self) -> Decimal:
        return sum((yuan(a) for a in self.refunds.values()), Decimal("0"))


Fault = str | int | tuple[str, str] | Callable[[dict[str, str]], Any]


class FakeAlipay:
    def __init__(self, apps: dict[str, str]) -> None:
        self.apps = dict(apps)  # app_id -> the app's public key (PEM)
        self.private_pem, self.public_pem = new_key_pair()
        self.trades: dict[tuple[str, str], Trade] = {}
        self.requests: list[dict[str, str]] = []  # every request, as received
        self.accepted: list[dict[str, str]] = []  # requests that passed the checks
        # method -> "timeout" (sleep), an HTTP status, (code, sub_code), "forge" (sign the
        # answer with another key), "unsigned", "garbage"; consumed on use
        self.faults: dict[str, Fault] = {}
        self.delay_s = 2.0
        self.base_url = ""  # set by the test once the server runs (download URLs)
        self._seq = itertools.count(1)
        self._bills: dict[str, bytes] = {}
        self._forger = new_key_pair()[0]
        self.app = Starlette(
            routes=[
                Route("/gateway.do", self.gateway, methods=["GET", "POST"]),
                Route("/bill/{token}", self.bill, methods=["GET"]),
            ]
        )

    # --- request checks ---

    def check(self, params: dict[str, str]) -> tuple[str, str, str] | None:
        """(code, sub_code, sub_msg) refusing the request, or None."""
        missing = [k for k in SYSTEM if not params.get(k)]
        if missing:
            return "40001", f"isv.missing-{missing[0].replace('_', '-')}", "缺少参数"
        if params["app_id"] not in self.apps:
            return "40002", "isv.invalid-app-id", "无效的AppID参数"
        if params["sign_type"] != "RSA2":
            return "40002", "isv.invalid-signature-type", "无效的签名类型"
        if params["charset"] != "utf-8" or params["format"] != "JSON":
            return "40002", "isv.invalid-charset", "字符集或格式错误"
        if params["version"] != "1.0":
            return "40002", "isv.invalid-version", "版本错误"
        try:
            stamp = datetime.strptime(params["timestamp"], FMT).replace(tzinfo=CST)
        except ValueError:
            return "40002", "isv.invalid-timestamp", "非法的时间戳参数"
        if abs(datetime.now(CST) - stamp) > timedelta(minutes=15):
            return "40002", "isv.invalid-timestamp", "时间戳过期"
        text = content_to_sign(params, {"sign"})
        if not rsa_check(self.apps[params["app_id"]], text, params["sign"]):
            return "40002", "isv.invalid-signature", "验签出错"
        try:
            biz = json.loads(params.get("biz_content", "{}"))
        except ValueError:
            return "40002", "isv.invalid-biz-content", "biz_content不是JSON"
        if not isinstance(biz, dict):
            return "40002", "isv.invalid-biz-content", "biz_content不是对象"
        return None

    def answer(self, method: str, body: dict[str, Any], *, key: str | None = None) -> Response:
        """Alipay's answer: the response value's text exactly as signed. Slashes are sent
        escaped (``\\/``), as Alipay's JSON does, so a client must not re-serialise."""
        inner = json.dumps(body, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
        name = key or method.replace(".", "_") + "_response"
        fault = self.faults.get(method)
        if fault == "unsigned":
            self.faults.pop(method)
            text = f'{{"{name}":{inner}}}'
        else:
            signer = self.private_pem
            if fault == "forge":
                self.faults.pop(method)
                signer = self._forger
            text = f'{{"{name}":{inner},"sign":"{rsa_sign(signer, inner)}"}}'
        return Response(text, media_type="text/html;charset=utf-8")

    def refuse(self, method: str, code: str, sub_code: str, sub_msg: str) -> Response:
        msg = {"40001": "Missing Required Arguments", "40002": "Invalid Arguments"}.get(
            code, "Business Failed" if code == "40004" else "Service Currently Unavailable"
        )
        body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
        return self.answer(method, body)

    # --- the gateway ---

    async def gateway(self, request: Request) -> Response:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        if request.method == "POST":
            ctype = request.headers.get("content-type", "")
            assert ctype.startswith("application/x-www-form-urlencoded"), ctype
            pairs += parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
        params = dict(pairs)
        assert len(params) == len(pairs), "a parameter sent twice"
        self.requests.append(params)
        method = params.get("method", "")
        fault = self.faults.get(method)
        if fault == "timeout":
            self.faults.pop(method)
            await asyncio.sleep(self.delay_s)
        elif isinstance(fault, int):
            self.faults.pop(method)
            return Response("<html>502 Bad Gateway</html>", status_code=fault)
        elif fault == "garbage":
            self.faults.pop(method)
            return Response("<html>maintenance</html>", media_type="text/html")
        refused = self.check(params)
        if refused:
            if request.method == "GET":  # the browser sees Alipay's error page
                return HTMLResponse(f"<html>错误代码 {refused[1]}</html>", status_code=200)
            return self.refuse(method, *refused)
        if isinstance(fault, tuple):
            self.faults.pop(method)
            code, sub_code = fault
            return self.refuse(method, code, sub_code, "scripted")
        self.accepted.append(params)
        biz = json.loads(params.get("biz_content", "{}"))
        app_id = params["app_id"]
        if request.method == "GET":
            if method != "alipay.trade.page.pay":
                return HTMLResponse("<html>错误代码 isv.invalid-method</html>")
            return self.open_cashier(app_id, biz, params, "FAST_INSTANT_TRADE_PAY")
        handler = {
            "alipay.trade.query": self.query,
            "alipay.trade.close": self.close,
            "alipay.trade.refund": self.refund,
            "alipay.trade.fastpay.refund.query": self.refund_query,
            "alipay.data.dataservice.bill.downloadurl.query": self.bill_url,
        }.get(method)
        if handler is None:
            return self.refuse(method, "40002", "isv.invalid-method", "不存在的方法名")
        return handler(app_id, biz)

    def open_cashier(
        self, app_id: str, biz: dict[str, Any], params: dict[str, str], product: str
    ) -> HTMLResponse:
        """The buyer opened the cashier: Alipay now knows the trade."""
        amount = str(biz.get("total_amount", ""))
        whole, _, cents = amount.partition(".")
        ok_amount = whole.isdigit() and len(cents) == 2 and cents.isdigit()
        if not ok_amount or not Decimal("0.01") <= yuan(amount) <= Decimal("100000000"):
            return HTMLResponse("<html>错误代码 INVALID_PARAMETER total_amount</html>")
        if biz.get("product_code") != product or not biz.get("subject"):
            return HTMLResponse("<html>错误代码 INVALID_PARAMETER</html>")
        key = (app_id, str(biz["out_trade_no"]))
        existing = self.trades.get(key)
        if existing and existing.total_amount != amount:
            return HTMLResponse("<html>错误代码 CONTEXT_INCONSISTENT 交易信息被篡改</html>")
        if existing is None:
            self.trades[key] = Trade(
                app_id,
                key[1],
                amount,
                str(biz["subject"]),
                params.get("notify_url", ""),
                trade_no=f"2026{next(self._seq):024d}",
            )
        return HTMLResponse(f"<html>收银台 {key[1]} ¥{amount}</html>")

    def open_app_order(self, order_string: str) -> str:
        """What the Alipay app does with an app-pay order string: check it, open the trade.
        Returns the cashier page's text (an error page starts with ``错误代码``)."""
        pairs = parse_qsl(order_string, keep_blank_values=True, strict_parsing=True)
        params = dict(pairs)
        assert len(params) == len(pairs)
        refused = self.check(params)
        if refused:
            return f"错误代码 {refused[1]}"
        if params["method"] != "alipay.trade.app.pay":
            return "错误代码 isv.invalid-method"
        biz = json.loads(params["biz_content"])
        page = self.open_cashier(params["app_id"], biz, params, "QUICK_MSECURITY_PAY")
        return bytes(page.body).decode().removeprefix("<html>").removesuffix("</html>")

    def _trade(self, app_id: str, biz: dict[str, Any]) -> Trade | None:
        return self.trades.get((app_id, str(biz.get("out_trade_no", ""))))

    def query(self, app_id: str, biz: dict[str, Any]) -> Response:
        method = "alipay.trade.query"
        trade = self._trade(app_id, biz)
        if trade is None:
            return self.refuse(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        body = {
            "code": "10000",
            "msg": "Success",
            "buyer_logon_id": "158****1562",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "total_amount": trade.total_amount,
            "subject": trade.subject,
        }
        if trade.gmt_payment:
            body["send_pay_date"] = trade.gmt_payment
            body["receipt_amount"] = trade.total_amount
        return self.answer(method, body)

    def close(self, app_id: str, biz: dict[str, Any]) -> Response:
        method = "alipay.trade.close"
        trade = self._trade(app_id, biz)
        if trade is None:
            return self.refuse(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != "WAIT_BUYER_PAY":
            return self.refuse(method, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"
        body = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no}
        return self.answer(method, body | {"trade_no": trade.trade_no})

    def refund(self, app_id: str, biz: dict[str, Any]) -> Response:
        method = "alipay.trade.refund"
        trade = self._trade(app_id, biz)
        if trade is None:
            return self.refuse(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        amount = str(biz.get("refund_amount", ""))
        fund_change = "N"
        if request_no in trade.refunds:  # the same request again: the same refund
            if trade.refunds[request_no] != amount:
                return self.refuse(method, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "金额不一致")
        else:
            if trade.status not in ("TRADE_SUCCESS",):
                return self.refuse(method, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if trade.refunded + yuan(amount) > yuan(trade.total_amount):
                return self.refuse(
                    method, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"
                )
            trade.refunds[request_no] = amount
            trade.refund_times[request_no] = datetime.now(CST).strftime(FMT)
            if trade.refunded == yuan(trade.total_amount):
                trade.status = "TRADE_CLOSED"
            fund_change = "Y"
        body = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "158****1562",
            "fund_change": fund_change,
            "refund_fee": money(trade.refunded),
            "gmt_refund_pay": trade.refund_times[request_no],
        }
        return self.answer(method, body)

    def refund_query(self, app_id: str, biz: dict[str, Any]) -> Response:
        """As Alipay documents it: a refund found is a successful one; none found answers
        10000 without the refund's fields."""
        method = "alipay.trade.fastpay.refund.query"
        trade = self._trade(app_id, biz)
        if trade is None:
            return self.refuse(method, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        body = {"code": "10000", "msg": "Success"}
        request_no = str(biz.get("out_request_no") or "")
        if request_no in trade.refunds:
            body |= {
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_request_no": request_no,
                "total_amount": trade.total_amount,
                "refund_amount": trade.refunds[request_no],
                "refund_status": "REFUND_SUCCESS",
            }
        return self.answer(method, body)

    def bill_url(self, app_id: str, biz: dict[str, Any]) -> Response:
        method = "alipay.data.dataservice.bill.downloadurl.query"
        if biz.get("bill_type") != "trade":
            return self.refuse(method, "40004", "isp.bill_type_not_exist", "账单类型不存在")
        day = date.fromisoformat(str(biz.get("bill_date", "")))
        data = self.bill_archive(app_id, day)
        if data is None:
            return self.refuse(method, "40004", "isp.bill_not_exist", "账单不存在")
        token = secrets.token_hex(8)
        self._bills[token] = data
        url = f"{self.base_url}/bill/{token}?bizType=trade&fileType=csv.zip&downloadFileName=x"
        return self.answer(method, {"code": "10000", "msg": "Success", "bill_download_url": url})

    async def bill(self, request: Request) -> Response:
        data = self._bills.get(request.path_params["token"])
        if data is None:
            return Response("expired", status_code=404)
        return Response(data, media_type="application/oct-stream")

    def bill_archive(self, app_id: str, day: date) -> bytes | None:
        """The day's 业务明细 as Alipay serves it: a zip of GBK CSVs, padded cells."""
        rows: list[list[str]] = []
        for t in self.trades.values():
            if t.app_id != app_id or not t.gmt_payment:
                continue
            fee = (yuan(t.total_amount) * FEE_RATE).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if t.gmt_payment.startswith(day.isoformat()):
                rows.append(self._row(t, "交易", t.total_amount, t.total_amount, -fee, ""))
            for no, amount in t.refunds.items():
                if t.refund_times[no].startswith(day.isoformat()):
                    back = (fee * yuan(amount) / yuan(t.total_amount)).quantize(
                        Decimal("0.01"), ROUND_HALF_UP
                    )
                    rows.append(self._row(t, "退款", "-" + amount, "-" + amount, back, no))
        if not rows:
            return None
        head = [
            "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间",
            "门店编号", "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）",
            "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
            "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
            "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
        ]  # fmt: skip
        out = io.StringIO()
        out.write("#支付宝业务明细查询\n#账号：[20881234567890120156]\n")
        out.write(f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[...]\n")
        out.write("#-----------------------------------------业务明细列表----------\n")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(head)
        writer.writerows(rows)
        out.write("#-----------------------------------------业务明细列表结束------\n")
        out.write(
            f"#交易合计：{len(rows)}笔\n#导出时间：[{datetime.now(CST):%Y年%m月%d日 %H:%M:%S}]\n"
        )
        stamp = f"{day:%Y%m%d}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"20881234567890120156_{stamp}_业务明细.csv", out.getvalue().encode("gbk"))
            z.writestr(f"20881234567890120156_{stamp}_业务明细(汇总).csv", "#汇总\n".encode("gbk"))
        return buf.getvalue()

    @staticmethod
    def _row(t: Trade, kind: str, amount: str, net: str, fee: Decimal, no: str) -> list[str]:
        pad = "\t"  # Alipay pads cells so spreadsheets keep long numbers as text
        return [
            t.trade_no + pad, t.out_trade_no + pad, kind, t.subject, t.gmt_payment,
            t.gmt_payment, "", "", "", "", "158****1562", amount, net, "0.00", "0.00",
            "0.00", "0.00", "0.00", "", "0.00", "0.00", no, money(fee), "0.00", "",
        ]  # fmt: skip

    # --- the test's side: paying, notifications ---

    def pay(self, app_id: str, out_trade_no: str, when: datetime | None = None) -> Trade:
        trade = self.trades[(app_id, out_trade_no)]
        assert trade.status == "WAIT_BUYER_PAY", trade.status
        trade.status = "TRADE_SUCCESS"
        trade.gmt_payment = (when or datetime.now(CST)).astimezone(CST).strftime(FMT)
        return trade

    def notify_form(
        self,
        app: str,
        trade_ref: str,
        /,
        *,
        refund_no: str = "",
        notify_time: datetime | None = None,
        sign_with: str = "",
        **changes: str,
    ) -> dict[str, str]:
        """The signed asynchronous notification for the trade's current state (a refund's
        when ``refund_no`` is given). ``changes`` alter fields before signing."""
        t = self.trades[(app, trade_ref)]
        form: dict[str, str] = {
            "notify_time": (notify_time or datetime.now(CST)).astimezone(CST).strftime(FMT),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": app,
            "auth_app_id": app,
            "trade_no": t.trade_no,
            "out_trade_no": t.out_trade_no,
            "buyer_logon_id": "158****1562",
            "buyer_id": "2088102122524333",
            "seller_id": "20881234567890120156",
            "trade_status": t.status,
            "total_amount": t.total_amount,
            "receipt_amount": t.total_amount,
            "buyer_pay_amount": t.total_amount,
            "subject": t.subject,
            "gmt_create": t.gmt_payment,
            "gmt_payment": t.gmt_payment,
            "fund_bill_list": json.dumps(
                [{"amount": t.total_amount, "fundChannel": "ALIPAYACCOUNT"}]
            ),
        }
        if refund_no:
            form["out_biz_no"] = refund_no
            form["refund_fee"] = money(t.refunded)
            form["gmt_refund"] = t.refund_times[refund_no] + ".123"
        form.update(changes)
        form["sign"] = rsa_sign(
            sign_with or self.private_pem, content_to_sign(form, {"sign", "sign_type"})
        )
        return form

    @staticmethod
    def encode(form: dict[str, str]) -> bytes:
        return urlencode(form).encode()
