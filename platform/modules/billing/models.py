"""Billing: fee items and their rates, meter readings, bills, payments and their
allocations, adjustments (waivers, refunds), the double-entry ledger, reminders, and the
public ledgers residents read.

Money is integer fen (分) everywhere. Rates may carry sub-fen precision (``Numeric``, never a
float): a line's amount is computed exactly and rounded half-up to the fen once per line.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
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
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of

KINDS = (
    "property",  # 物业费
    "parking",  # 停车费
    "water",
    "electricity",
    "gas",
    "heating",  # 暖气费
    "hot_water",
    "shared",  # 公摊
    "garbage",
    "rent",
    "custom",
)
TARGETS = ("unit", "parking_space")
# area: per m² of building area per month; fixed: per unit or space per month;
# metered: usage × unit price (optionally tiered); one_off: a fixed amount once
METHODS = ("area", "fixed", "metered", "one_off")
CYCLES = ("monthly", "quarterly", "yearly", "one_off")
METER_TYPES = ("water", "electricity", "gas", "heat", "hot_water")
READING_SOURCES = ("staff", "resident")
READING_STATUSES = ("accepted", "held", "rejected")
BILL_STATUSES = ("unpaid", "partial", "paid", "waived", "void")
RUN_STATUSES = ("queued", "running", "done", "failed")
PAYMENT_METHODS = ("cash", "transfer", "pos", "cheque", "online", "balance")
PAYMENT_KINDS = ("payment", "topup", "reversal")
ADJUSTMENT_KINDS = ("waive", "refund")
FUNDS = ("maintenance", "public_income")
DIRECTIONS = ("income", "expense")
# the ledger's accounts; income is per fee item (income:<fee item code>)
ACCOUNTS = (
    "receivable",
    "cash",
    "bank",
    "pos",
    "online_clearing",
    "prepaid",
    "refunds",
    "waivers",
    "late_fees",
)


def _created() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _user() -> Any:
    return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# --- what is charged -----------------------------------------------------------------------


class FeeItem(TenantBase):
    """A fee the company charges (物业费, 停车费, 水费, ...) and how."""

    __tablename__ = "fee_items"
    __table_args__ = (
        CheckConstraint(one_of("kind", KINDS), name="kind"),
        CheckConstraint(one_of("target", TARGETS), name="target"),
        CheckConstraint(one_of("method", METHODS), name="method"),
        CheckConstraint(one_of("cycle", CYCLES), name="cycle"),
        CheckConstraint("due_day BETWEEN 1 AND 28", name="due_day"),
        CheckConstraint(
            "method <> 'metered' OR meter_type IS NOT NULL", name="metered_needs_meter"
        ),
        CheckConstraint(
            "vacancy_discount_pct IS NULL OR vacancy_discount_pct BETWEEN 0 AND 100",
            name="vacancy_discount",
        ),
        CheckConstraint("late_fee_daily_bp >= 0 AND late_fee_cap_bp >= 0", name="late_fee"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)  # e.g. property, water
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(60), server_default="")
    kind: Mapped[str] = mapped_column(String(12))
    target: Mapped[str] = mapped_column(String(14), server_default="unit")
    method: Mapped[str] = mapped_column(String(8))
    cycle: Mapped[str] = mapped_column(String(10), server_default="monthly")
    meter_type: Mapped[str | None] = mapped_column(String(12))
    due_day: Mapped[int] = mapped_column(
        SmallInteger, server_default="15"
    )  # of the cycle's last month
    # vacant units (units.status = 'vacant') pay this share less; NULL: no discount
    vacancy_discount_pct: Mapped[int | None] = mapped_column(SmallInteger)
    # late fee (滞纳金): off by default, many cities regulate it. Basis points of the
    # outstanding principal per day after the grace days, capped at a share of the principal.
    late_fee_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    late_fee_daily_bp: Mapped[int] = mapped_column(Integer, server_default="5")  # 0.05 %/day
    late_fee_grace_days: Mapped[int] = mapped_column(Integer, server_default="0")
    late_fee_cap_bp: Mapped[int] = mapped_column(Integer, server_default="10000")  # 100 %
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    sort: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _created()


class FeeRate(TenantBase):
    """The charge standard of a fee item from a date on, for the whole tenant or narrowed
    to a community, a building and/or a property type (the most specific one applies).

    A change is a new row with a later ``effective_from``: issued bills never change."""

    __tablename__ = "fee_rates"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="price"),
        UniqueConstraint(
            "fee_item_id",
            "community_id",
            "building_id",
            "property_type",
            "effective_from",
            name="uq_fee_rates_scope_from",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fee_item_id: Mapped[int] = mapped_column(ForeignKey("fee_items.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    property_type: Mapped[str | None] = mapped_column(String(16))
    effective_from: Mapped[date] = mapped_column(Date)
    # fen per m² per month (area), per month (fixed), per unit of usage (metered) or once
    # (one_off); up to 4 decimals of a fen
    unit_price: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    # metered, tiered (阶梯): [{"up_to": 180, "unit_price": "496"}, {"up_to": null, ...}]
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()


class MeterReading(TenantBase):
    """A meter reading of a unit. ``usage`` is this reading minus the previous accepted one
    (or the reading itself after a meter replacement)."""

    __tablename__ = "meter_readings"
    __table_args__ = (
        CheckConstraint(one_of("meter_type", METER_TYPES), name="meter_type"),
        CheckConstraint(one_of("source", READING_SOURCES), name="source"),
        CheckConstraint(one_of("status", READING_STATUSES), name="status"),
        CheckConstraint("reading >= 0", name="reading"),
        UniqueConstraint("unit_id", "meter_type", "read_on"),
        Index("ix_meter_readings_latest", "unit_id", "meter_type", "read_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    meter_type: Mapped[str] = mapped_column(String(12))
    read_on: Mapped[date] = mapped_column(Date)
    reading: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    previous: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    usage: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    replaced: Mapped[bool] = mapped_column(Boolean, server_default="false")  # new meter
    source: Mapped[str] = mapped_column(String(8), server_default="staff")
    photo_file_id: Mapped[int | None] = mapped_column(BigInteger)
    # held: a jump over N× the unit's average waits for review; only accepted ones bill
    status: Mapped[str] = mapped_column(String(10), server_default="accepted")
    note: Mapped[str] = mapped_column(String(200), server_default="")
    billed_bill_id: Mapped[int | None] = mapped_column(BigInteger)
    entered_by: Mapped[int | None] = _user()
    reviewed_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()


# --- bills ---------------------------------------------------------------------------------


class BillRun(TenantBase):
    """One generation of bills for a period and scope (an arq job with progress)."""

    __tablename__ = "bill_runs"
    __table_args__ = (CheckConstraint(one_of("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM: the month billed (or cycle end)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    fee_item_ids: Mapped[list[int]] = mapped_column(JSONB, server_default="[]")  # [] = all
    status: Mapped[str] = mapped_column(String(8), server_default="queued")
    progress: Mapped[int] = mapped_column(Integer, server_default="0")  # percent
    created_count: Mapped[int] = mapped_column(Integer, server_default="0")
    total_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    error: Mapped[str] = mapped_column(Text, server_default="")
    scheduled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    started_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Bill(TenantBase):
    """One fee item for one unit (or parking space) and one period.

    ``target_key`` ('u:<unit id>' or 's:<space id>') makes (fee item, target, period) unique:
    re-running a period inserts nothing twice (ON CONFLICT DO NOTHING, not check-then-insert).
    Outstanding = amount + late fee - discount - paid - waived."""

    __tablename__ = "bills"
    __table_args__ = (
        CheckConstraint(one_of("status", BILL_STATUSES), name="status"),
        CheckConstraint("amount_fen >= 0 AND discount_fen >= 0", name="amount"),
        CheckConstraint("paid_fen >= 0 AND waived_fen >= 0 AND late_fee_fen >= 0", name="settled"),
        CheckConstraint(
            "paid_fen + waived_fen + discount_fen <= amount_fen + late_fee_fen", name="not_over"
        ),
        UniqueConstraint("fee_item_id", "target_key", "period", name="uq_bills_once"),
        Index("ix_bills_unit", "unit_id", "status", "due_on"),
        Index(
            "ix_bills_open",
            "community_id",
            "due_on",
            postgresql_where=text("status IN ('unpaid','partial')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    fee_item_id: Mapped[int] = mapped_column(ForeignKey("fee_items.id"))
    target_key: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # who pays
    space_id: Mapped[int | None] = mapped_column(ForeignKey("parking_spaces.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    due_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    late_fee_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    paid_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    waived_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    status: Mapped[str] = mapped_column(String(8), server_default="unpaid")
    # how it was computed, e.g. "89.50 m² × 2.80 元/m²/月 × 1 月 = 250.60 元"
    calc: Mapped[str] = mapped_column(String(300), server_default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("bill_runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- money in and out ----------------------------------------------------------------------


class Payment(TenantBase):
    """Money received (a payment against bills, or a prepaid top-up), or the reversal of
    one. Never edited: a correction is a reversal row (negative amount) plus a new payment.

    The receipt number comes from the table's own id sequence (per tenant schema)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("method", PAYMENT_METHODS), name="method"),
        CheckConstraint(one_of("kind", PAYMENT_KINDS), name="kind"),
        CheckConstraint("(kind = 'reversal') = (amount_fen < 0)", name="sign"),
        Index("ix_payments_cashier_day", "cashier_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    receipt_no: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(8), server_default="payment")
    method: Mapped[str] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # payer's unit
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    payer_name: Mapped[str] = mapped_column(String(100), server_default="")
    cashier_id: Mapped[int | None] = _user()
    # the client's idempotency key: the same request twice records once
    client_request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # online payments: the provider's id (idempotent settlement)
    provider_ref: Mapped[str | None] = mapped_column(String(100), unique=True)
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    reference: Mapped[str] = mapped_column(String(100), server_default="")  # cheque no. etc.
    note: Mapped[str] = mapped_column(String(300), server_default="")
    created_at: Mapped[datetime] = _created()


class Allocation(TenantBase):
    """How much of a payment went to which bill (negative on a reversal)."""

    __tablename__ = "payment_allocations"
    __table_args__ = (Index("ix_payment_allocations_bill", "bill_id"),)

    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True
    )
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Adjustment(TenantBase):
    """A waiver (减免) of part of a bill, or a refund of prepaid balance, with its reason."""

    __tablename__ = "adjustments"
    __table_args__ = (
        CheckConstraint(one_of("kind", ADJUSTMENT_KINDS), name="kind"),
        CheckConstraint("amount_fen > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(8), server_default="")  # how a refund is paid
    reason: Mapped[str] = mapped_column(String(300))
    client_request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    actor_id: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()


# --- the ledger ----------------------------------------------------------------------------


class LedgerEntry(TenantBase):
    """One money movement (a journal entry); its lines' debits equal its credits."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_ref", "ref_type", "ref_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # bill_run, payment, reversal, waive, ...
    ref_type: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str] = mapped_column(String(300), server_default="")
    actor_id: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()


class LedgerLine(TenantBase):
    __tablename__ = "ledger_lines"
    __table_args__ = (
        CheckConstraint(
            "debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0) <> (credit_fen = 0)",
            name="one_side",
        ),
        Index("ix_ledger_lines_entry", "entry_id"),
        Index("ix_ledger_lines_account_unit", "account", "unit_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(String(40))  # see ACCOUNTS; income:<fee item code>
    unit_id: Mapped[int | None] = mapped_column(BigInteger)
    community_id: Mapped[int | None] = mapped_column(BigInteger)
    fee_item_id: Mapped[int | None] = mapped_column(BigInteger)
    bill_id: Mapped[int | None] = mapped_column(BigInteger)
    debit_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    credit_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = _created()


# --- reminders -----------------------------------------------------------------------------


class Reminder(TenantBase):
    """A reminder (before the due date) or a dunning (催缴, after it) sent for a bill on a
    day: the unique key makes a job run twice send once."""

    __tablename__ = "bill_reminders"

    bill_id: Mapped[int] = mapped_column(
        ForeignKey("bills.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)  # e.g. before:3, after:15
    sent_at: Mapped[datetime] = _created()


# --- public ledgers ------------------------------------------------------------------------


class FundEntry(TenantBase):
    """An entry of a public ledger residents can read: the maintenance fund (专项维修基金)
    or public income (公共收益: advertising, parking, venue rent), per community."""

    __tablename__ = "fund_entries"
    __table_args__ = (
        CheckConstraint(one_of("fund", FUNDS), name="fund"),
        CheckConstraint(one_of("direction", DIRECTIONS), name="direction"),
        CheckConstraint("amount_fen > 0", name="amount"),
        Index("ix_fund_entries_ledger", "community_id", "fund", "occurred_on", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    fund: Mapped[str] = mapped_column(String(14))
    direction: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(40))  # e.g. 广告, 停车, 电梯大修
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    occurred_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(300), server_default="")
    created_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()
    # append-only: a correction is an opposite entry pointing at the one it corrects (once)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entries.id"), unique=True)


class ArrearsNotice(TenantBase):
    """A published arrears list (欠费公示) of a community: a snapshot residents of the
    community can read, with masked names (``items``: [{"place", "name", "amount_fen",
    "days"}]). Off unless the tenant turns ``arrears_publication_enabled`` on."""

    __tablename__ = "arrears_notices"
    __table_args__ = (Index("ix_arrears_notices_community", "community_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    note: Mapped[str] = mapped_column(String(500), server_default="")
    as_of: Mapped[date] = mapped_column(Date)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    total_fen: Mapped[int] = mapped_column(BigInteger, server_default="0")
    published_by: Mapped[int | None] = _user()
    created_at: Mapped[datetime] = _created()
