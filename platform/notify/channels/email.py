"""Email over SMTP (``email_provider = "smtp"``).

One connection per batch: connect once, send every message in its own transaction, quit.
Each message gets a ``Message-ID`` derived from tenant and message id, so a resend after a
lost reply is recognisable as the same mail (by us in the logs, and by receiving servers).
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib

from wuye.notify.channels.base import Outcome, Outgoing, TenantChannelConfig, failed
from wuye.settings import Settings

log = logging.getLogger(__name__)

# CRLF line ends as SMTP wants them; "7bit" makes ``set_content`` pick base64 or
# quoted-printable for non-ASCII bodies instead of raw 8-bit, which needs 8BITMIME.
POLICY = email.policy.SMTP.clone(cte_type="7bit")


def _one_line(text: str) -> str:
    """Header values must not contain line breaks (header injection, and a ValueError)."""
    return " ".join(text.split())


def message_id(tenant: str, msg_id: int, email_from: str) -> str:
    domain = email.utils.parseaddr(email_from)[1].rpartition("@")[2] or "wuye.local"
    return f"<wuye.{tenant}.{msg_id}@{domain}>"


def build_message(m: Outgoing, config: TenantChannelConfig, email_from: str) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    username, _, domain = email_from.rpartition("@")
    # Address() with a display name lets the header registry RFC 2047-encode a Chinese name.
    msg["From"] = Address(
        display_name=_one_line(config.sender_name), username=username, domain=domain
    )
    msg["To"] = m.address
    msg["Subject"] = _one_line(m.subject)
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id(m.tenant, m.message_id, email_from)
    # Notifications are machine-sent: ask vacation responders not to answer (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = m.locale
    msg.set_content(m.body, charset="utf-8")
    return msg


def _response_outcome(m: Outgoing, code: int, text: str, *, permanent_5xx: bool) -> Outcome:
    # 5xx is the server's final "no" for this message; 4xx asks us to come back later.
    retry = not (permanent_5xx and 500 <= code < 600)
    return Outcome(m.message_id, ok=False, error=f"SMTP {code}: {text}", retry=retry)


class SmtpEmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        if s.smtp_tls not in ("none", "starttls", "tls"):
            raise ValueError(f"smtp_tls must be none, starttls or tls, not {s.smtp_tls!r}")
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_tls == "tls",
            # False, not None: "none" must not upgrade on its own when the server offers it.
            start_tls=s.smtp_tls == "starttls",
            timeout=s.smtp_timeout_s,
        )

    async def send(self, batch: Sequence[Outgoing], config: TenantChannelConfig) -> list[Outcome]:
        if not batch:
            return []
        smtp = self._client()
        try:
            await smtp.connect()  # also STARTTLS and login when configured
        except aiosmtplib.SMTPException as e:
            # Includes a refused login: a configuration the operator can fix, so retry.
            return failed(batch, f"SMTP connect failed: {e}", retry=True)
        except OSError as e:  # TimeoutError is an OSError
            return failed(batch, f"SMTP connect failed: {e}", retry=True)
        outcomes: list[Outcome] = []
        try:
            for m in batch:
                if not smtp.is_connected:
                    # The server hung up mid-batch: the rest never left, try them later.
                    outcomes.append(Outcome(m.message_id, ok=False, error="SMTP disconnected"))
                    continue
                outcomes.append(await self._send_one(smtp, m, config))
        finally:
            await self._quit(smtp)
        return outcomes

    async def _send_one(
        self, smtp: aiosmtplib.SMTP, m: Outgoing, config: TenantChannelConfig
    ) -> Outcome:
        try:
            msg = build_message(m, config, self.settings.email_from)
        except (ValueError, IndexError) as e:  # an address the header parser rejects
            return Outcome(m.message_id, ok=False, error=f"invalid email: {e}", retry=False)
        try:
            await smtp.send_message(msg, sender=self.settings.email_from, recipients=[m.address])
        except aiosmtplib.SMTPRecipientsRefused as e:
            refused = e.recipients[0]
            return _response_outcome(m, refused.code, refused.message, permanent_5xx=True)
        except aiosmtplib.SMTPSenderRefused as e:
            # Our own From refused: not this message's fault, an operator can fix it.
            return _response_outcome(m, e.code, e.message, permanent_5xx=False)
        except aiosmtplib.SMTPResponseException as e:  # e.g. DATA rejected (content, size)
            return _response_outcome(m, e.code, e.message, permanent_5xx=True)
        except aiosmtplib.SMTPNotSupported as e:  # e.g. a UTF-8 address, server lacks SMTPUTF8
            return Outcome(m.message_id, ok=False, error=f"SMTP: {e}", retry=False)
        except ValueError as e:  # aiosmtplib refuses an address it cannot send safely
            return Outcome(m.message_id, ok=False, error=f"invalid email: {e}", retry=False)
        except (aiosmtplib.SMTPException, OSError) as e:  # disconnects, timeouts
            return Outcome(m.message_id, ok=False, error=f"SMTP: {e}", retry=True)
        return Outcome(m.message_id, ok=True, provider_id=str(msg["Message-ID"]))

    @staticmethod
    async def _quit(smtp: aiosmtplib.SMTP) -> None:
        if not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()  # everything is sent; a failing QUIT changes nothing
