"""Stripe adapter: PaymentIntents through the official SDK, webhooks verified by hand.

Each call builds its own ``stripe.StripeClient`` with the tenant's secret key (nothing is
set on the ``stripe`` module, so tenants' keys never meet); the blocking SDK calls run in
a worker thread (``asyncio.to_thread``) over one shared httpx client, which carries no
credentials. ``api_base`` comes from settings so tests point the adapter at localstripe.

- ``create`` makes a PaymentIntent (amount in the currency's smallest unit: fen for CNY,
  cents for HKD), ``payment_method_types`` from the method (card | wechat_pay | alipay),
  our ``out_trade_no`` in its metadata, and the request's idempotency key as Stripe's
  ``Idempotency-Key``. The app confirms it with the client secret (Stripe.js / mobile SDK);
  ``return_url`` goes to the client too, since Stripe takes it only when confirming.
  ``notify_url`` is unused: Stripe posts to the account's webhook endpoint, which must be
  set (per tenant account) to ``notify_url``'s address with the events listed in
  ``EVENTS``.
- ``query`` reads the PaymentIntent (with the charge's balance transaction for the fee);
  ``close`` cancels it; ``refund`` creates a Refund with the request's idempotency key;
  ``query_refund`` reads the Refund (checking its ``out_refund_no`` metadata is ours).
- ``statement`` reads the account's balance transactions (``/v1/balance_transactions``,
  newest first, paged until the day is passed) with each one's source and its
  PaymentIntent expanded: charges are payment lines, refunds refund lines, both keyed by
  our ``out_trade_no`` from the metadata; transactions without it (payouts, Stripe's own
  fees, charges made outside Wuye) are not ours and are left out. Amounts are the
  source's, in the charge currency; the fee only where the balance is in that currency.
- ``verify`` checks ``Stripe-Signature`` exactly as Stripe signs it
  (``t=<unix>,v1=<hex HMAC-SHA256(webhook_secret, "<t>.<raw body>")>``, any of several
  ``v1`` entries may match, 300 s tolerance around ``now``, constant-time compare), then
  parses the event. Only ``EVENTS`` are accepted; anything else is a ``BadNotification``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import stripe

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

if TYPE_CHECKING:
    from wuye.settings import Settings

DEFAULT_API_BASE = "https://api.stripe.com"
TOLERANCE_SECONDS = 300
METHODS = ("card", "wechat_pay", "alipay")
PAYMENT_EVENTS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "closed",
}
REFUND_EVENTS = ("charge.refunded", "charge.refund.updated")
EVENTS = (*PAYMENT_EVENTS, *REFUND_EVENTS)
# Stripe's refund statuses onto ours
REFUND_STATES = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}

T = TypeVar("T")


def remote_state(status: str, last_payment_error: Any) -> str:
    """A PaymentIntent's status onto REMOTE_STATES."""
    if status == "succeeded":
        return "succeeded"
    if status == "canceled":
        return "closed"
    if status == "requires_payment_method" and last_payment_error:
        return "failed"  # the last attempt failed (the app may still retry with a new card)
    # requires_payment_method / requires_confirmation / requires_action / processing /
    # requires_capture
    return "pending"


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int) else None


def _charge_fee(charge: Any) -> int | None:
    """The fee from a charge whose balance transaction is expanded, else None."""
    if not isinstance(charge, Mapping):
        return None
    txn = charge.get("balance_transaction")
    if isinstance(txn, Mapping) and isinstance(txn.get("fee"), int):
        return int(txn["fee"])
    return None


def remote_from_intent(pi: Mapping[str, Any], out_trade_no: str = "", state: str = "") -> Remote:
    """A Remote from a PaymentIntent as a plain dict (API answer or event payload)."""
    metadata = pi.get("metadata") or {}
    state = state or remote_state(str(pi.get("status", "")), pi.get("last_payment_error"))
    charge = pi.get("latest_charge")
    paid_at = None
    if state == "succeeded":
        paid_at = _ts(charge.get("created")) if isinstance(charge, Mapping) else None
    return Remote(
        out_trade_no=str(metadata.get("out_trade_no") or out_trade_no),
        provider_ref=str(pi["id"]),
        state=state,
        amount_fen=int(pi.get("amount") or 0),
        fee_fen=_charge_fee(charge),
        paid_at=paid_at,
    )


def _plain(obj: Any) -> dict[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(obj)


def _error(exc: stripe.StripeError) -> ProviderError:
    status = exc.http_status or 0
    temporary = (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
        or status >= 500
        or status in (409, 429)
    )
    return ProviderError(
        f"stripe: {exc.user_message or str(exc) or type(exc).__name__}",
        temporary=temporary,
        code=str(exc.code or status or type(exc).__name__),
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return value
    return None


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """A ``Stripe-Signature`` value as Stripe computes it (used by tests and tools)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str | None, body: bytes, now: datetime, tolerance: int
) -> None:
    if not secret:
        raise BadNotification("stripe: no webhook secret configured")
    if not header:
        raise BadNotification("stripe: missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise BadNotification("stripe: bad timestamp in Stripe-Signature") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise BadNotification("stripe: Stripe-Signature lacks t or v1")
    if abs(now.timestamp() - timestamp) > tolerance:
        raise BadNotification("stripe: signature timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    digest = expected.hexdigest()
    # compare with every v1 (Stripe sends several while a secret is being rolled)
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(digest, candidate)
    if not matched:
        raise BadNotification("stripe: signature mismatch")


def parse_event(event: Mapping[str, Any]) -> Notification:
    """A verified event's body onto a Notification."""
    try:
        event_id = str(event["id"])
        kind = str(event["type"])
        obj = event["data"]["object"]
    except (KeyError, TypeError):
        raise BadNotification("stripe: not an event") from None
    if not isinstance(obj, Mapping) or "id" not in obj:
        raise BadNotification("stripe: event without an object")
    raw = dict(event)
    if kind in PAYMENT_EVENTS:
        return Notification(
            event_id=event_id,
            kind="payment",
            payment=remote_from_intent(obj, state=PAYMENT_EVENTS[kind]),
            raw=raw,
        )
    if kind == "charge.refund.updated":  # the object is the Refund
        return Notification(
            event_id=event_id,
            kind="refund",
            payment=_refunded_payment(obj, obj.get("metadata") or {}),
            refund_ref=str(obj["id"]),
            refund_state=REFUND_STATES.get(str(obj.get("status")), "pending"),
            raw=raw,
        )
    if kind == "charge.refunded":  # the object is the Charge; its latest refund if listed
        refunds = (obj.get("refunds") or {}).get("data") or []
        latest = max(refunds, key=lambda r: int(r.get("created") or 0), default=None)
        metadata = {**(obj.get("metadata") or {}), **((latest or {}).get("metadata") or {})}
        return Notification(
            event_id=event_id,
            kind="refund",
            payment=_refunded_payment(obj, metadata),
            refund_ref=str(latest["id"]) if latest else "",
            refund_state=(
                REFUND_STATES.get(str(latest.get("status")), "pending") if latest else "succeeded"
            ),
            raw=raw,
        )
    raise BadNotification(f"stripe: unexpected event type {kind!r}")


def _refunded_payment(obj: Mapping[str, Any], metadata: Mapping[str, Any]) -> Remote | None:
    """The payment a refund event is about (a refund only happens on a succeeded one)."""
    pi = obj.get("payment_intent")
    pi_id = pi.get("id") if isinstance(pi, Mapping) else pi
    if not pi_id:
        return None
    amount = obj.get("amount") if obj.get("object") == "charge" else None
    if isinstance(pi, Mapping):
        amount = pi.get("amount")
    return Remote(
        out_trade_no=str(metadata.get("out_trade_no") or ""),
        provider_ref=str(pi_id),
        state="succeeded",
        amount_fen=int(amount or 0),
    )


PAYMENT_TXNS = ("charge", "payment")
REFUND_TXNS = ("refund", "payment_refund")


def statement_line(txn: Mapping[str, Any]) -> StatementLine | None:
    """A balance transaction (source and PaymentIntent expanded) as a statement line, or
    None when it is not a payment or refund of ours."""
    kind = "payment" if txn.get("type") in PAYMENT_TXNS else None
    kind = "refund" if txn.get("type") in REFUND_TXNS else kind
    source = txn.get("source")
    if kind is None or not isinstance(source, Mapping):
        return None
    pi = source.get("payment_intent")
    metadata = {**((pi.get("metadata") or {}) if isinstance(pi, Mapping) else {})}
    metadata |= source.get("metadata") or {}
    out_trade_no = str(metadata.get("out_trade_no") or "")
    if not out_trade_no:
        return None
    same_currency = str(txn.get("currency", "")).lower() == str(source.get("currency", "")).lower()
    pi_id = pi.get("id") if isinstance(pi, Mapping) else pi
    return StatementLine(
        out_trade_no=out_trade_no,
        provider_ref=str(pi_id or "") if kind == "payment" else str(source.get("id") or ""),
        kind=kind,
        amount_fen=abs(int(source.get("amount") or 0)),
        fee_fen=int(txn.get("fee") or 0) if same_currency else 0,
    )


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_base: str = DEFAULT_API_BASE,
        *,
        timeout: float = 30.0,
        max_network_retries: int = 0,
        tolerance: int = TOLERANCE_SECONDS,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.max_network_retries = max_network_retries
        self.tolerance = tolerance
        # credential-free and thread-safe: shared by every tenant's client
        self._http = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True)

    def client(self, creds: Credentials) -> stripe.StripeClient:
        """A client bound to this tenant's secret key (never the module-level key)."""
        secret_key = creds.values.get("secret_key", "")
        if creds.provider != self.name or not secret_key:
            raise ProviderError("stripe: no secret key configured", code="credentials")
        return stripe.StripeClient(
            secret_key,
            base_addresses={"api": self.api_base},
            http_client=self._http,
            max_network_retries=self.max_network_retries,
        )

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except stripe.StripeError as exc:
            raise _error(exc) from exc

    async def create(self, creds: Credentials, request: Create) -> Created:
        if request.method not in METHODS:
            raise ProviderError(f"stripe: unknown method {request.method!r}", code="method")
        client = self.client(creds)
        params: dict[str, Any] = {
            "amount": request.amount_fen,
            "currency": request.currency.lower(),
            "payment_method_types": [request.method],
            "metadata": {"out_trade_no": request.out_trade_no},
        }
        if request.description:
            params["description"] = request.description
        pi = await self._call(
            lambda: client.v1.payment_intents.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        )
        client_params: dict[str, Any] = {
            "client_secret": pi.client_secret,
            "next_action": _plain(pi.next_action) if pi.next_action else None,
            "payment_method_types": [request.method],
        }
        if request.return_url:
            client_params["return_url"] = request.return_url
        return Created(provider_ref=pi.id, client=client_params)

    async def _retrieve(self, client: stripe.StripeClient, provider_ref: str) -> dict[str, Any]:
        pi = await self._call(
            lambda: client.v1.payment_intents.retrieve(
                provider_ref, {"expand": ["latest_charge.balance_transaction"]}
            )
        )
        return _plain(pi)

    async def query(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> Remote:
        pi = await self._retrieve(self.client(creds), provider_ref)
        remote = remote_from_intent(pi, out_trade_no)
        if remote.out_trade_no != out_trade_no:
            raise ProviderError(
                f"stripe: {provider_ref} belongs to {remote.out_trade_no!r}, not {out_trade_no!r}",
                code="mismatch",
            )
        return remote

    async def close(self, creds: Credentials, out_trade_no: str, provider_ref: str) -> None:
        client = self.client(creds)
        try:
            await self._call(lambda: client.v1.payment_intents.cancel(provider_ref))
        except ProviderError as exc:
            if exc.temporary:
                raise
            # canceling twice is fine; anything else (paid, processing) is not closable
            pi = await self._retrieve(client, provider_ref)
            if pi.get("status") != "canceled":
                raise ProviderError(
                    f"stripe: {provider_ref} is {pi.get('status')}, cannot close",
                    code=str(pi.get("status")),
                ) from exc

    async def refund(self, creds: Credentials, request: RefundRequest) -> RefundResult:
        client = self.client(creds)
        params: dict[str, Any] = {
            "payment_intent": request.provider_ref,
            "amount": request.amount_fen,
            "metadata": {
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "reason": request.reason[:500],
            },
        }
        refund = await self._call(
            lambda: client.v1.refunds.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        )
        return RefundResult(
            refund_ref=refund.id, state=REFUND_STATES.get(str(refund.status), "pending")
        )

    async def query_refund(
        self, creds: Credentials, request: RefundRequest, refund_ref: str
    ) -> RefundResult:
        client = self.client(creds)
        refund = _plain(await self._call(lambda: client.v1.refunds.retrieve(refund_ref)))
        if (refund.get("metadata") or {}).get("out_refund_no") != request.out_refund_no:
            raise ProviderError(
                f"stripe: {refund_ref} is not {request.out_refund_no}", code="mismatch"
            )
        return RefundResult(
            refund_ref=str(refund["id"]),
            state=REFUND_STATES.get(str(refund.get("status")), "pending"),
        )

    async def statement(
        self, creds: Credentials, day: date, zone: tzinfo = UTC
    ) -> list[StatementLine] | None:
        start = int(datetime.combine(day, time(0), tzinfo=zone).timestamp())
        end = int(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp())
        client = self.client(creds)
        lines: list[StatementLine] = []
        params: dict[str, Any] = {"limit": 100, "expand": ["data.source.payment_intent"]}
        while True:
            page = await self._call(
                lambda p=dict(params): client.v1.balance_transactions.list(p)  # type: ignore[misc]
            )
            txns = [_plain(t) for t in page.data]
            for txn in txns:
                created = int(txn.get("created") or 0)
                if start <= created < end and (line := statement_line(txn)) is not None:
                    lines.append(line)
            if not page.has_more or not txns or int(txns[-1].get("created") or 0) < start:
                return lines
            params["starting_after"] = txns[-1]["id"]

    def verify(
        self, creds: Credentials, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Notification:
        verify_signature(
            creds.values.get("webhook_secret", ""),
            _header(headers, "Stripe-Signature"),
            body,
            now,
            self.tolerance,
        )
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise BadNotification("stripe: body is not JSON") from None
        if not isinstance(event, dict) or event.get("object", "event") != "event":
            raise BadNotification("stripe: body is not an event")
        return parse_event(event)

    def acknowledge(self, ok: bool) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if ok:
            return 200, headers, b'{"received": true}'
        return 400, headers, b'{"received": false}'


def create_adapter(settings: Settings) -> StripeProvider:
    """The registry's factory: ``stripe_api_base`` and the per-call timeout from settings.
    Retries of temporary failures are the core's (``payments_provider_attempts``), so the
    SDK makes none of its own."""
    return StripeProvider(
        settings.stripe_api_base or DEFAULT_API_BASE,
        timeout=settings.payments_provider_timeout_s,
    )
