"""Work orders (工单): repairs, appointment repairs, complaints, consultations, suggestions.

One table of orders whatever their type, an append-only event log (the timeline residents
see), categories with their SLA, return visits, the consultation thread and per-user read
marks. Photos and call recordings are rows of the core ``files`` table, attached to an
order (``work_order`` before, ``work_order_after`` on completion) or a return visit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of

TYPES = ("repair", "appointment", "complaint", "consultation", "suggestion")
# Types a worker goes out for; the others are handled by customer service at the desk.
FIELD_TYPES = ("repair", "appointment", "complaint")
STATUSES = (
    "submitted",  # 待受理
    "accepted",  # 已受理
    "dispatched",  # 已派工
    "confirmed",  # 已确认 (worker set the arrival time / fee standard)
    "in_progress",  # 处理中
    "paused",  # 已暂停
    "completed",  # 已完成, waiting for the resident's rating
    "rated",  # 已评价
    "closed",  # 已关闭
    "cancelled",  # 已取消 (by the resident, before dispatch)
    "rejected",  # 已驳回 (not accepted, with a reason)
    "merged",  # 已合并 into another order (duplicate)
)
OPEN_STATUSES = ("submitted", "accepted", "dispatched", "confirmed", "in_progress", "paused")
SOURCES = ("app", "phone", "staff")
LEVELS = ("normal", "vip")
VISIT_METHODS = ("phone", "visit", "wechat")
VISIT_OUTCOMES = ("reached", "unreachable", "refused")
MESSAGE_KINDS = ("text", "image", "voice")


def _created() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _user(ondelete: str = "SET NULL") -> Any:
    return mapped_column(ForeignKey("users.id", ondelete=ondelete))


def _when() -> Any:
    return mapped_column(DateTime(timezone=True))


class Category(TenantBase):
    """报修/投诉 category (plumbing, electrical, elevator, noise, ...) with its SLA."""

    __tablename__ = "wo_categories"
    __table_args__ = (
        CheckConstraint("response_minutes > 0", name="response_minutes"),
        CheckConstraint("completion_minutes >= response_minutes", name="completion_minutes"),
        CheckConstraint("escalation_minutes > 0", name="escalation_minutes"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(60), unique=True)
    name_en: Mapped[str] = mapped_column(String(60), server_default="")
    # which order types may use it (empty: every type)
    types: Mapped[list[str]] = mapped_column(ARRAY(String(12)), server_default="{}")
    default_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL")
    )
    # SLA: accept within response_minutes and finish within completion_minutes of
    # submission; escalated to the manager escalation_minutes after a missed deadline.
    response_minutes: Mapped[int] = mapped_column(Integer, server_default="30")
    completion_minutes: Mapped[int] = mapped_column(Integer, server_default="1440")
    escalation_minutes: Mapped[int] = mapped_column(Integer, server_default="120")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    sort: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _created()


class CustomerLevel(TenantBase):
    """A resident's customer level (e.g. VIP): decides who handles their complaints."""

    __tablename__ = "wo_customer_levels"
    __table_args__ = (CheckConstraint(one_of("level", LEVELS), name="level"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str] = mapped_column(String(10), server_default="normal")
    set_by: Mapped[int | None] = _user()
    updated_at: Mapped[datetime] = _created()


class WorkOrder(TenantBase):
    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(one_of("type", TYPES), name="type"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("source", SOURCES), name="source"),
        CheckConstraint(one_of("level", LEVELS), name="level"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
        CheckConstraint("fee_fen IS NULL OR fee_fen >= 0", name="fee"),
        CheckConstraint(
            "preferred_end IS NULL OR preferred_start IS NULL OR preferred_end > preferred_start",
            name="window",
        ),
        # the staff queue: newest first within a community and status
        Index("ix_work_orders_queue", "community_id", "status", "created_at"),
        Index("ix_work_orders_resident", "resident_id", "created_at"),
        Index("ix_work_orders_worker", "worker_id", "status"),
        Index("ix_work_orders_created", "created_at"),  # statistics by period
        # the SLA sweep only looks at open orders with a deadline
        Index(
            "ix_work_orders_sla",
            "completion_due_at",
            postgresql_where=text(
                "status IN ('submitted','accepted','dispatched','confirmed','in_progress','paused')"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # e.g. WO202611270001
    type: Mapped[str] = mapped_column(String(12))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("wo_categories.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))  # None: public area
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who asked
    contact_name: Mapped[str] = mapped_column(String(100), server_default="")
    contact_phone: Mapped[str] = mapped_column(String(20), server_default="")
    source: Mapped[str] = mapped_column(String(8), server_default="app")
    level: Mapped[str] = mapped_column(String(10), server_default="normal")
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(200), server_default="")  # e.g. 3号楼电梯厅
    preferred_start: Mapped[datetime | None] = _when()  # appointment window (预约时间)
    preferred_end: Mapped[datetime | None] = _when()
    status: Mapped[str] = mapped_column(String(12), server_default="submitted")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    worker_id: Mapped[int | None] = _user()
    handler_id: Mapped[int | None] = _user()  # customer service who accepted it
    created_by: Mapped[int | None] = _user()
    # the worker's confirmation: promised arrival and, for paid repairs, the fee standard
    arrival_at: Mapped[datetime | None] = _when()
    fee_standard: Mapped[str] = mapped_column(String(200), server_default="")
    fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    completion_notes: Mapped[str] = mapped_column(Text, server_default="")
    # [{"name": "角阀", "quantity": 1, "unit": "个", "price_fen": 3500}]
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str] = mapped_column(String(500), server_default="")
    reason: Mapped[str] = mapped_column(String(500), server_default="")  # reject/pause/cancel
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, server_default="0")
    # SLA deadlines (from the category) and what the sweep has done about them
    response_due_at: Mapped[datetime | None] = _when()
    completion_due_at: Mapped[datetime | None] = _when()
    overdue_at: Mapped[datetime | None] = _when()
    escalated_at: Mapped[datetime | None] = _when()
    accepted_at: Mapped[datetime | None] = _when()
    dispatched_at: Mapped[datetime | None] = _when()
    started_at: Mapped[datetime | None] = _when()
    completed_at: Mapped[datetime | None] = _when()
    rated_at: Mapped[datetime | None] = _when()
    closed_at: Mapped[datetime | None] = _when()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class OrderEvent(TenantBase):
    """One step of an order's life (the timeline): who did what, when, from which state."""

    __tablename__ = "wo_events"
    __table_args__ = (Index("ix_wo_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[int | None] = _user()  # None: the system (SLA sweep)
    note: Mapped[str] = mapped_column(String(500), server_default="")
    # staff-only remarks are not shown to the resident
    internal: Mapped[bool] = mapped_column(Boolean, server_default="false")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created()


class ReturnVisit(TenantBase):
    """回访: customer service calls the resident after the order is closed."""

    __tablename__ = "wo_return_visits"
    __table_args__ = (
        CheckConstraint(one_of("method", VISIT_METHODS), name="method"),
        CheckConstraint(one_of("outcome", VISIT_OUTCOMES), name="outcome"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="score"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[int | None] = _user()
    method: Mapped[str] = mapped_column(String(8), server_default="phone")
    outcome: Mapped[str] = mapped_column(String(12))
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    notes: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _created()


class ThreadMessage(TenantBase):
    """在线客服: one message of a consultation thread (text, image or short voice)."""

    __tablename__ = "wo_messages"
    __table_args__ = (
        CheckConstraint(one_of("kind", MESSAGE_KINDS), name="kind"),
        CheckConstraint("kind = 'text' OR file_id IS NOT NULL", name="file"),
        Index("ix_wo_messages_order", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = _user()
    from_staff: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(6), server_default="text")
    body: Mapped[str] = mapped_column(Text, server_default="")
    file_id: Mapped[int | None] = mapped_column(BigInteger)  # core files.id
    created_at: Mapped[datetime] = _created()


class ThreadRead(TenantBase):
    """How far a user has read a thread: unread = messages after it from the other side."""

    __tablename__ = "wo_message_reads"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    read_at: Mapped[datetime] = _created()
