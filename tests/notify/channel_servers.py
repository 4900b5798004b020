"""Local stand-ins for the providers the notification channels talk to.

Real servers on free ports, checking requests the way the providers do: an SMTP server
(aiosmtpd), and Aliyun Dysms and WeChat as small Starlette apps under uvicorn in a thread.
The Aliyun fake recomputes signatures with its own code, not the channel's ``sign_rpc``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, quote

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Received:
    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler: refuses recipients by their local part, records the rest."""

    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        local = address.split("@")[0]
        if local.startswith("nobody"):
            return "550 5.1.1 No such user"
        if local.startswith("busy"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(
            Received(session.peer, str(envelope.mail_from), list(envelope.rcpt_tos), msg, raw)
        )
        return "250 Message accepted"


class SmtpServer:
    """``with SmtpServer() as smtp:`` a real SMTP server on a free local port."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.handler = SmtpRecorder()
        self.port = free_port()
        kw: dict[str, Any] = {}
        if credentials:
            user, password = credentials

            def authenticate(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and data.login.decode() == user
                    and data.password.decode() == password
                )
                if ok:
                    self.handler.logins.append(user)
                # handled=False: let aiosmtpd answer 535 itself (its default assumes we did).
                return AuthResult(success=ok, handled=False)

            # Plain-text AUTH is fine on loopback; TLS is not under test here.
            kw = {
                "authenticator": authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kw)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- HTTP servers in a thread ---------------------------------------------------------------


class ThreadedServer:
    """Runs an ASGI app with uvicorn in a thread of its own (its own event loop)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


# --- Aliyun Dysms ---------------------------------------------------------------------------

REQUIRED = (
    "AccessKeyId",
    "Action",
    "Format",
    "PhoneNumbers",
    "RegionId",
    "SignName",
    "Signature",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "TemplateCode",
    "Timestamp",
    "Version",
)


def aliyun_signature(form: dict[str, str], secret: str) -> str:
    """Aliyun's own check, written independently of the channel's code."""

    def enc(s: str) -> str:
        return quote(s, safe="~")  # RFC 3986 unreserved characters stay as they are

    pairs = sorted((k, v) for k, v in form.items() if k != "Signature")
    query = "&".join(enc(k) + "=" + enc(v) for k, v in pairs)
    to_sign = "POST&" + enc("/") + "&" + enc(query)
    mac = hmac.new((secret + "&").encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


Reply = tuple[int, dict[str, Any]]


class FakeAliyun:
    """Dysms ``SendSms``: validates requests, answers per phone number from a script."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.secret = secret
        self.script: dict[str, Reply | Callable[[dict[str, str]], Reply]] = {}
        self.delay_s: dict[str, float] = {}  # phone -> seconds to wait before answering
        self.accepted: list[dict[str, str]] = []  # forms that passed every check
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._nonces: set[str] = set()
        self._biz = itertools.count(1000)
        self.app = Starlette(routes=[Route("/", self.endpoint, methods=["POST"])])

    def _check(self, form: dict[str, str]) -> Reply | None:
        missing = [p for p in REQUIRED if not form.get(p)]
        if missing:
            return 400, {"Code": "MissingParameter", "Message": f"missing {missing[0]}"}
        if form["AccessKeyId"] != self.key_id:
            return 404, {"Code": "InvalidAccessKeyId.NotFound"}
        if aliyun_signature(form, self.secret) != form["Signature"]:
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature..."}
        if form["SignatureNonce"] in self._nonces:
            return 400, {"Code": "SignatureNonceUsed"}
        stamp = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return 400, {"Code": "InvalidTimeStamp.Expired"}
        wanted = {"Action": "SendSms", "Format": "JSON", "Version": "2017-05-25"}
        wanted |= {"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0"}
        for k, v in wanted.items():
            if form[k] != v:
                return 400, {"Code": "InvalidParameter", "Message": f"{k}={form[k]}"}
        try:
            json.loads(form.get("TemplateParam", "{}"))
        except ValueError:
            return 200, {"Code": "isv.INVALID_JSON_PARAM"}
        return None

    async def endpoint(self, request: Request) -> JSONResponse:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            raw = (await request.body()).decode("utf-8")
            assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
            form = dict(parse_qsl(raw, keep_blank_values=True))
            phone = form.get("PhoneNumbers", "")
            await asyncio.sleep(self.delay_s.get(phone, 0))
            refused = self._check(form)
            if refused:
                status, body = refused
                return JSONResponse({**body, "RequestId": "req-x"}, status_code=status)
            self._nonces.add(form["SignatureNonce"])
            scripted = self.script.get(phone)
            if callable(scripted):
                scripted = scripted(form)
            status, body = scripted or (200, {"Code": "OK", "BizId": f"biz-{next(self._biz)}"})
            if body.get("Code") == "OK":
                self.accepted.append(form)
            return JSONResponse({"Message": "OK", "RequestId": "req-1", **body}, status)
        finally:
            self.in_flight -= 1


# --- WeChat -------------------------------------------------------------------------------


class FakeWechat:
    """The official-account API: tokens, template messages, web-authorisation codes."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts  # appid -> secret
        self.token_requests = 0
        self.valid_tokens: dict[str, str] = {}  # token -> appid
        self.sent: list[dict[str, Any]] = []  # accepted template messages
        self.send_attempts = 0
        self.errors: dict[str, int] = {}  # openid -> errcode to answer with
        self.oauth_codes: dict[str, str] = {}  # code -> openid (one use)
        self.templates: set[str] = set()  # template ids that exist
        self._seq = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/token", self.token, methods=["GET"]),
                Route("/cgi-bin/message/template/send", self.send, methods=["POST"]),
                Route("/sns/oauth2/access_token", self.oauth, methods=["GET"]),
            ]
        )

    def expire_tokens(self) -> None:
        """WeChat revoked every token early (e.g. someone fetched one elsewhere)."""
        self.valid_tokens.clear()

    async def token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        appid = q.get("appid", "")
        if appid not in self.accounts:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != self.accounts[appid]:
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"tok-{appid}-{next(self._seq)}"
        self.valid_tokens[token] = appid
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def send(self, request: Request) -> JSONResponse:
        self.send_attempts += 1
        token = request.query_params.get("access_token", "")
        if not token:
            return JSONResponse({"errcode": 41001, "errmsg": "access_token missing"})
        if token not in self.valid_tokens:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return JSONResponse({"errcode": 40003, "errmsg": "invalid openid"})
        if body.get("template_id") not in self.templates:
            return JSONResponse({"errcode": 40037, "errmsg": "invalid template_id"})
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return JSONResponse({"errcode": 47003, "errmsg": "argument invalid! data.value"})
        errcode = self.errors.get(body["touser"])
        if errcode:
            return JSONResponse({"errcode": errcode, "errmsg": "scripted"})
        msgid = next(self._seq)
        self.sent.append({**body, "appid": self.valid_tokens[token], "msgid": msgid})
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def oauth(self, request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "authorization_code":
            return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
        if self.accounts.get(q.get("appid", "")) != q.get("secret"):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        openid = self.oauth_codes.pop(q.get("code", ""), None)
        if openid is None:
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse(
            {"access_token": "web-tok", "expires_in": 7200, "openid": openid, "scope": "x"}
        )
