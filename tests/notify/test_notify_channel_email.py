"""The SMTP email channel against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from channel_servers import SmtpServer, free_port

from wuye.notify.channels.base import Outgoing, TenantChannelConfig
from wuye.notify.channels.email import SmtpEmailChannel
from wuye.settings import Settings

CONFIG = TenantChannelConfig(tenant="acme", sender_name="阳光物业管理有限公司")


def smtp_settings(settings: Settings, port: int, **kw: object) -> Settings:
    return settings.model_copy(
        update={
            "email_provider": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_tls": "none",
            "smtp_timeout_s": 5.0,
            "email_from": "noreply@mail.wuye.test",
            **kw,
        }
    )


def mail(message_id: int, address: str, subject: str = "停水通知", body: str = "") -> Outgoing:
    return Outgoing(
        message_id=message_id,
        tenant="acme",
        user_id=7,
        type_key="notices.notice",
        address=address,
        subject=subject,
        body=body or f"尊敬的业主：明天 9:00–12:00 停水。编号 {message_id}",
        locale="zh-CN",
    )


async def test_sends_encoded_headers_and_utf8_body_over_one_connection(settings):
    with SmtpServer() as smtp:
        channel = SmtpEmailChannel(smtp_settings(settings, smtp.port))
        batch = [mail(11, "a@example.com"), mail(12, "b@example.com", subject="Water off")]

        outcomes = await channel.send(batch, CONFIG)

        assert [(o.message_id, o.ok) for o in outcomes] == [(11, True), (12, True)]
        got = smtp.handler.received
        assert [r.rcpt_tos for r in got] == [["a@example.com"], ["b@example.com"]]
        assert {r.mail_from for r in got} == {"noreply@mail.wuye.test"}
        first = got[0].message
        # The Chinese sender name travels RFC 2047-encoded and decodes back intact.
        assert b"=?utf-8?" in got[0].raw.split(b"\r\n\r\n")[0].lower()
        assert first["From"].addresses[0].display_name == "阳光物业管理有限公司"
        assert first["From"].addresses[0].addr_spec == "noreply@mail.wuye.test"
        assert str(first["Subject"]) == "停水通知"
        assert str(first["To"]) == "a@example.com"
        assert first.get_content_type() == "text/plain"
        assert first.get_content_charset() == "utf-8"
        assert first.get_content().rstrip("\r\n") == "尊敬的业主：明天 9:00–12:00 停水。编号 11"
        # Sent 7-bit clean (base64 / quoted-printable), so no 8BITMIME is needed.
        assert got[0].raw.isascii()
        # Deterministic ids, reported as the provider id: a resend is recognisable.
        assert str(first["Message-ID"]) == "<wuye.acme.11@mail.wuye.test>"
        assert outcomes[1].provider_id == "<wuye.acme.12@mail.wuye.test>"
        # One connection for the whole batch: both messages came from the same client port.
        assert len({r.peer for r in got}) == 1


async def test_resend_has_the_same_message_id(settings):
    with SmtpServer() as smtp:
        channel = SmtpEmailChannel(smtp_settings(settings, smtp.port))
        await channel.send([mail(21, "a@example.com")], CONFIG)
        await channel.send([mail(21, "a@example.com")], CONFIG)
        ids = [str(r.message["Message-ID"]) for r in smtp.handler.received]
        assert ids == ["<wuye.acme.21@mail.wuye.test>"] * 2
        assert len({r.peer for r in smtp.handler.received}) == 2  # one connection per batch


async def test_refused_recipient_is_permanent_and_the_rest_still_go(settings):
    with SmtpServer() as smtp:
        channel = SmtpEmailChannel(smtp_settings(settings, smtp.port))
        batch = [
            mail(31, "a@example.com"),
            mail(32, "nobody@example.com"),  # 550
            mail(33, "busy@example.com"),  # 451
            mail(34, "c@example.com"),
        ]

        outcomes = {o.message_id: o for o in await channel.send(batch, CONFIG)}

        assert outcomes[31].ok and outcomes[34].ok
        assert not outcomes[32].ok and outcomes[32].retry is False
        assert "550" in (outcomes[32].error or "")
        assert not outcomes[33].ok and outcomes[33].retry is True
        assert "451" in (outcomes[33].error or "")
        delivered = [r.rcpt_tos[0] for r in smtp.handler.received]
        assert delivered == ["a@example.com", "c@example.com"]


async def test_server_down_means_retry_for_every_message(settings):
    channel = SmtpEmailChannel(smtp_settings(settings, free_port()))  # nothing listens there

    outcomes = await channel.send([mail(41, "a@example.com"), mail(42, "b@example.com")], CONFIG)

    assert [(o.message_id, o.ok, o.retry) for o in outcomes] == [
        (41, False, True),
        (42, False, True),
    ]
    assert all("connect" in (o.error or "") for o in outcomes)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
async def test_logs_in_with_configured_credentials(settings):
    with SmtpServer(credentials=("mailer", "pa55")) as smtp:
        good = SmtpEmailChannel(
            smtp_settings(settings, smtp.port, smtp_username="mailer", smtp_password="pa55")
        )
        bad = SmtpEmailChannel(
            smtp_settings(settings, smtp.port, smtp_username="mailer", smtp_password="wrong")
        )
        anonymous = SmtpEmailChannel(smtp_settings(settings, smtp.port))

        ok = await good.send([mail(51, "a@example.com")], CONFIG)
        refused = await bad.send([mail(52, "a@example.com")], CONFIG)
        no_auth = await anonymous.send([mail(53, "a@example.com")], CONFIG)

        assert ok[0].ok and smtp.handler.logins == ["mailer"]
        # A wrong password is an operator's fix away: keep the message for later.
        assert not refused[0].ok and refused[0].retry is True
        assert "535" in (refused[0].error or "")
        assert not no_auth[0].ok and no_auth[0].retry is True
        assert "530" in (no_auth[0].error or "")
        assert [parseaddr(r.rcpt_tos[0])[1] for r in smtp.handler.received] == ["a@example.com"]


async def test_header_injection_in_subject_is_flattened(settings):
    with SmtpServer() as smtp:
        channel = SmtpEmailChannel(smtp_settings(settings, smtp.port))
        out = await channel.send(
            [mail(61, "a@example.com", subject="Hi\r\nBcc: victim@example.com")], CONFIG
        )
        assert out[0].ok
        msg = smtp.handler.received[0].message
        assert msg["Bcc"] is None
        assert str(msg["Subject"]) == "Hi Bcc: victim@example.com"
