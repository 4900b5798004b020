"""A fake provider implementing the ``Provider`` protocol (in memory, per merchant), and
helpers for the payments tests: a billing office with a merchant account."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "modules" / "billing"))

from billing_kit import (
    Office,
    add_fee_item,
    bills,
    check_ledger,
    info_of,
    make_office,
    posted_bill,
)
from conftest import Api
from sqlalchemy import select

from wuye.db import commit_then_hooks
from wuye.payments import registry, service
from wuye.payments.models import OnlinePayment, PaymentNotification
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
from wuye.runtime import Runtime

__all__ = [
    "FakeProvider",
    "add_fee_item",
    "bill_for",
    "bills",
    "check_ledger",
    "creds_for",
    "info_of",
    "notify",
    "pay_office",
    "posted_bill",
    "process_all",
    "registered_fake",
    "signed",
    "start_payment",
]


@dataclass
class FakeProvider:
    """Payments live per merchant (``creds['merchant']``): a tenant's credentials reach
    only its own merchant's payments."""

    name: str = "wechat"
    payments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refunds: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    create_keys: dict[str, Created] = field(default_factory=dict)
    fail_creates: int = 0  # the next N create calls time out (after the provider got them)
    refund_state: str = "succeeded"
    statement_lines: list[StatementLine] | None = None
    on_create: Any = None  # async hook(request) run before create returns
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def create(self, creds: Credentials, request: Create) -> Created:
        merchant = creds["merchant"]
        self.calls.append(("create", merchant))
        key = (merchant, request.out_trade_no)
        if request.idempotency_key in self.create_keys:
            return self.create_keys[request.idempotency_key]
        self.payments.setdefault(
            key,
            {
                "state": "pending",
                "amount_fen": request.amount_fen,
                "ref": f"fx_{request.out_trade_no}",
            },
        )
        if self.fail_creates > 0:
            self.fail_creates -= 1
            raise ProviderError("timed out", temporary=True, code="timeout")
        created = Created(provider_ref=f"fx_{request.out_trade_no}", client={"prepay": "x"})
        if self.on_create is not None:
            await self.on_create(request)
        self.create_keys[request.idempotency_key] = created
        return created

    def pay(self, merchant: str, out_trade_no: str, state: str = "succeeded") -> None:
        self.payments[(merchant, out_trade_no)]["state"] = state

    async def query(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> Remote:
        self.calls.append(("query", creds["merchant"]))
        p = self.payments.get((creds["merchant"], out_trade_no))
        if p is None:
            raise ProviderError("no such order", code="not_found")
        return Remote(out_trade_no, p["ref"], p["state"], p["amount_fen"], fee_fen=p.get("fee"))

    async def close(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> None:
        p = self.payments.get((creds["merchant"], out_trade_no))
        if p is not None:
            p["state"] = "closed"

    async def refund(self, creds: Credentials, request: RefundRequest) -> RefundResult:
        key = (creds["merchant"], request.out_refund_no)
        r = self.refunds.setdefault(
            key,
            {
                "ref": f"fr_{request.out_refund_no}",
                "amount_fen": request.amount_fen,
                "state": self.refund_state,
            },
        )
        return RefundResult(r["ref"], r["state"])

    async def query_refund(
        self, creds: Credentials, request: RefundRequest, refund_ref: str
    ) -> RefundResult:
        self.calls.append(("query_refund", creds["merchant"]))
        r = self.refunds.get((creds["merchant"], request.out_refund_no))
        if r is None or r["ref"] != refund_ref:
            raise ProviderError("no such refund", code="not_found")
        return RefundResult(r["ref"], r["state"])

    async def statement(
        self, creds: Credentials, day: date, zone: tzinfo = UTC
    ) -> list[StatementLine] | None:
        return self.statement_lines

    def verify(
        self, creds: Credentials, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Notification:
        expected = hmac.new(creds["secret"].encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-fake-signature", "")):
            raise BadNotification("bad signature")
        d = json.loads(body)
        payment = None
        if d.get("out_trade_no"):
            payment = Remote(
                d["out_trade_no"],
                d.get("ref", ""),
                d.get("state", "succeeded"),
                d["amount_fen"],
                fee_fen=d.get("fee_fen"),
            )
        return Notification(
            event_id=d["event_id"],
            kind=d.get("kind", "payment"),
            payment=payment,
            refund_ref=d.get("refund_ref", ""),
            refund_state=d.get("refund_state", ""),
            raw=d,
        )

    def acknowledge(self, ok: bool) -> tuple[int, Mapping[str, str], bytes]:
        return (200, {}, b"ok") if ok else (400, {}, b"fail")


def signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-fake-signature": sig}


def creds_for(slug: str) -> dict[str, str]:
    return {"merchant": f"m-{slug}", "secret": f"s-{slug}"}


async def pay_office(api: Api, runtime: Runtime, provider: str = "wechat") -> Office:
    """A billing office whose tenant has an enabled account at ``provider``."""
    office = await make_office(api, runtime)
    tenant = await info_of(runtime, office.tenant)
    async with runtime.db.tenant_session(tenant.schema) as s:
        await service.set_account(
            s,
            runtime,
            tenant,
            actor_id=None,
            provider=provider,
            enabled=True,
            methods=["jsapi", "native"],
            credentials=creds_for(tenant.slug),
        )
        await s.commit()
    return office


def registered_fake() -> Iterator[FakeProvider]:
    """A ``FakeProvider`` registered as "wechat" while a test runs; a test module makes it
    its fixture with ``fake = pytest.fixture(registered_fake)``."""
    saved = registry.snapshot()
    provider = FakeProvider()
    registry.register(provider)
    yield provider
    registry.restore(saved)


async def bill_for(
    runtime: Runtime, office: Office, room: str = "A/1/101", fen: int = 25060
) -> int:
    """A posted bill of ``fen`` for ``room`` of the office's place."""
    item = await add_fee_item(runtime, office.tenant)
    return await posted_bill(
        runtime, office.tenant, unit_id=office.place.ids[room], fee_item_id=item, amount_fen=fen
    )


async def notify(api: Api, slug: str, payload: dict[str, Any], secret_of: str | None = None) -> int:
    """POST a fake notification for tenant ``slug``, signed with the credentials of
    ``secret_of`` (default: the same tenant); the HTTP status."""
    body, headers = signed(creds_for(secret_of or slug)["secret"], payload)
    r = await api.client.post(f"/payments/notify/wechat/{slug}", content=body, headers=headers)
    return r.status_code


async def process_all(runtime: Runtime, slug: str) -> list[str]:
    """What the notification job does, for every stored unprocessed notification, in order."""
    tenant = await runtime.directory.by_slug(slug)
    assert tenant is not None
    async with runtime.db.tenant_session(tenant.schema) as s:
        ids = list(
            await s.scalars(
                select(PaymentNotification.id)
                .where(PaymentNotification.processed_at.is_(None))
                .order_by(PaymentNotification.id)
            )
        )
    outcomes = []
    for pk in ids:
        async with runtime.db.tenant_session(tenant.schema) as s:
            outcomes.append(await service.process_notification(s, runtime, tenant, pk))
            await commit_then_hooks(s)  # as the job does
    return outcomes


async def start_payment(
    runtime: Runtime, office: Office, bill_ids: list[int], key: str = "k1"
) -> OnlinePayment:
    """The office's resident starts paying ``bill_ids`` (fake provider, JSAPI)."""
    tenant = await info_of(runtime, office.tenant)
    return await service.start_payment(
        runtime,
        tenant,
        payer_user_id=office.resident.user_id,
        purpose="bills",
        provider="wechat",
        method="jsapi",
        client_request_id=key,
        bill_ids=bill_ids,
    )
