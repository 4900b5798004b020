"""Online payment tables (tenant schema): the tenant's merchant accounts, payments with
their state, every notification once by its provider event id, refunds, and the daily
reconciliation reports.

State machine of ``online_payments.status``::

    created -> pending -> succeeded -> partially_refunded -> refunded
         \\         \\-> failed | closed
          \\-> succeeded | failed | closed   (a notification or query before create returned)

``succeeded`` (and the refund states after it) never move back; ``failed`` / ``closed``
move to ``succeeded`` only when the provider says the money was taken after all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of
from wuye.payments.providers.base import PROVIDERS

STATUSES = (
    "created",
    "pending",
    "succeeded",
    "failed",
    "closed",
    "partially_refunded",
    "refunded",
)
OPEN_STATUSES = ("created", "pending")
PAID_STATUSES = ("succeeded", "partially_refunded", "refunded")
PURPOSES = ("bills", "topup")
REFUND_STATUSES = ("requested", "pending", "succeeded", "failed")
NOTIFICATION_KINDS = ("payment", "refund")
RECONCILE_STATUSES = ("ok", "mismatches", "unavailable")


def _now_col() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class PaymentAccount(TenantBase):
    """The tenant's merchant account at one provider. Credentials are encrypted at rest
    (``crypto.encrypt_field``, purpose ``payments.<provider>``, keyed per tenant) and are
    write-only through the API."""

    __tablename__ = "payment_accounts"
    __table_args__ = (CheckConstraint(one_of("provider", PROVIDERS), name="provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    methods: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    credentials_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = _now_col()


class OnlinePayment(TenantBase):
    __tablename__ = "online_payments"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("purpose", PURPOSES), name="purpose"),
        CheckConstraint(one_of("provider", PROVIDERS), name="provider"),
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded"),
        Index("ix_online_payments_payer", "payer_user_id", "created_at"),
        Index(
            "ix_online_payments_open",
            "created_at",
            postgresql_where=text("status IN ('created', 'pending')"),
        ),
        Index("ix_online_payments_succeeded", "succeeded_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    bill_ids: Mapped[list[int]] = mapped_column(JSONB, server_default="[]")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # top-ups
    status: Mapped[str] = mapped_column(String(20), server_default="created")
    refunded_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    provider_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    client: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # what create returned
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)  # clientRequestId
    # the billing payment (bills or top-up) the success settled, once settled
    billing_payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    error: Mapped[str] = mapped_column(String(300), server_default="")
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_queried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentNotification(TenantBase):
    """A verified notification, stored once per (provider, event id) before it is
    acknowledged; processed after the acknowledgement."""

    __tablename__ = "payment_notifications"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_payment_notifications_event"),
        CheckConstraint(one_of("kind", NOTIFICATION_KINDS), name="kind"),
        Index("ix_payment_notifications_payment", "payment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("online_payments.id"))
    kind: Mapped[str] = mapped_column(String(8))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    received_at: Mapped[datetime] = _now_col()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(100), server_default="")


class OnlineRefund(TenantBase):
    __tablename__ = "online_refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", REFUND_STATUSES), name="status"),
        CheckConstraint("amount_fen > 0", name="amount"),
        Index("ix_online_refunds_payment", "payment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("online_payments.id"))
    out_refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), server_default="requested")
    refund_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    error: Mapped[str] = mapped_column(String(300), server_default="")
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaymentReconciliation(TenantBase):
    """One provider's day compared with ours: the mismatches (re-running replaces it)."""

    __tablename__ = "payment_reconciliations"
    __table_args__ = (
        UniqueConstraint("day", "provider", name="uq_payment_reconciliations_day"),
        CheckConstraint(one_of("status", RECONCILE_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    provider_lines: Mapped[int] = mapped_column(Integer, server_default="0")
    our_lines: Mapped[int] = mapped_column(Integer, server_default="0")
    mismatches: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now_col()
