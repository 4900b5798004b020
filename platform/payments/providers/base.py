"""The provider interface every adapter implements (Stripe, WeChat Pay v3, Alipay).

Adapters are stateless and per call: they get the tenant's decrypted merchant credentials
(``Credentials``) and talk HTTP to the provider (a base URL from settings, so tests point
them at local servers). Amounts are integer fen; currency CNY unless the tenant's Stripe
account says otherwise. Every call that creates a money movement carries an idempotency
key (``Create.idempotency_key`` / ``RefundRequest.idempotency_key``) so a retried call
never pays or refunds twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol

PROVIDERS = ("stripe", "wechat", "alipay")
# what the provider reports about a payment, mapped onto our state machine
REMOTE_STATES = ("pending", "succeeded", "failed", "closed")


class ProviderError(Exception):
    """The provider refused or failed; ``temporary`` ones (timeouts, 5xx) may be retried."""

    def __init__(self, message: str, *, temporary: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code


class BadNotification(Exception):
    """A notification that fails verification (signature, timestamp, decryption, body):
    answered 4xx and never stored as trusted."""


@dataclass(frozen=True)
class Credentials:
    """A tenant's merchant account at one provider (decrypted for the call only).

    - stripe: ``secret_key``, ``webhook_secret``;
    - wechat: ``mch_id``, ``app_id``, ``serial_no`` (merchant cert serial), ``private_key``
      (merchant RSA PEM), ``api_v3_key`` (32 bytes, AES-256-GCM), and the platform keys
      that verify answers and callbacks: ``platform_public_key`` (PEM) with
      ``platform_serial``, and/or ``platform_certificates`` (a PEM bundle, "" at first,
      downloaded and kept current by the daily certificate job);
    - alipay: ``app_id``, ``private_key`` (app RSA PEM), ``alipay_public_key`` (PEM).
    """

    provider: str
    values: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]


@dataclass(frozen=True)
class Create:
    out_trade_no: str  # our payment's reference (unique per tenant), sent to the provider
    amount_fen: int
    description: str
    # stripe: card | wechat_pay | alipay; wechat: jsapi | native | h5; alipay: page | app
    method: str
    idempotency_key: str
    notify_url: str  # where the provider posts notifications (tenant in the path)
    payer_openid: str = ""  # wechat jsapi
    return_url: str = ""  # alipay page / stripe redirect
    currency: str = "cny"
    client_ip: str = ""  # wechat h5 needs the payer's IP


@dataclass(frozen=True)
class Created:
    provider_ref: str  # the provider's id (Stripe PaymentIntent id, WeChat prepay id, ...)
    client: Mapping[str, Any]  # what the app needs to pay: client secret, JSAPI params, ...


@dataclass(frozen=True)
class Remote:
    """The provider's view of a payment (from a query or a verified notification)."""

    out_trade_no: str
    provider_ref: str
    state: str  # one of REMOTE_STATES
    amount_fen: int
    fee_fen: int | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class Notification:
    """A verified asynchronous notification."""

    event_id: str  # the provider's event id: stored once
    kind: str  # payment | refund
    payment: Remote | None = None
    refund_ref: str = ""
    refund_state: str = ""  # succeeded | failed | pending
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    provider_ref: str
    out_refund_no: str
    amount_fen: int
    total_fen: int
    reason: str
    idempotency_key: str


@dataclass(frozen=True)
class RefundResult:
    refund_ref: str
    state: str  # pending | succeeded | failed


@dataclass(frozen=True)
class StatementLine:
    """One line of the provider's bill (对账单) for reconciliation."""

    out_trade_no: str
    provider_ref: str
    kind: str  # payment | refund
    amount_fen: int
    fee_fen: int = 0


class Provider(Protocol):
    name: str

    async def create(self, creds: Credentials, request: Create) -> Created: ...

    async def query(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> Remote: ...

    async def close(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> None: ...

    async def refund(self, creds: Credentials, request: RefundRequest) -> RefundResult: ...

    async def query_refund(
        self, creds: Credentials, request: RefundRequest, refund_ref: str
    ) -> RefundResult:
        """Where a refund the provider accepted stands now (the sweep asks about refunds
        left pending, in case their notification never comes)."""
        ...

    async def statement(
        self, creds: Credentials, day: date, zone: tzinfo = UTC
    ) -> list[StatementLine] | None:
        """The provider's records of a day (in ``zone``, the tenant's; WeChat Pay and Alipay
        cut their bills at midnight China time whatever it is), or None where the provider
        offers none."""
        ...

    def verify(
        self, creds: Credentials, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Notification:
        """Verify and parse a notification; raise ``BadNotification`` if it fails."""
        ...

    def acknowledge(self, ok: bool) -> tuple[int, Mapping[str, str], bytes]:
        """The HTTP answer the provider expects (status, headers, body)."""
        ...
