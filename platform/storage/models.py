"""Uploaded files (tenant schema): one row per upload slot, from request to confirmation,
then attached to the record it belongs to (a work order, a notice)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from wuye.db import TenantBase, one_of

# pending (slot handed out) -> ready (confirmed: the object is there and as declared)
#                           -> rejected (the object did not match; it was deleted)
STATUSES = ("pending", "ready", "rejected")
THUMBNAIL_STATUSES = ("none", "pending", "ready", "unsupported", "failed")


class StoredFile(TenantBase):
    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("thumbnail_status", THUMBNAIL_STATUSES), name="thumbnail_status"),
        CheckConstraint("size >= 0", name="size"),
        Index("ix_files_attached", "attached_kind", "attached_id"),
        Index("ix_files_owner_id", "owner_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # tenants/<slug>/<module>/<uuid hex>: the object's key in the storage
    key: Mapped[str] = mapped_column(String(300), unique=True)
    purpose: Mapped[str] = mapped_column(String(60))
    module: Mapped[str] = mapped_column(String(40))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # declared when the slot was asked for
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    checksum: Mapped[str] = mapped_column(String(100), server_default="")  # storage ETag
    filename: Mapped[str] = mapped_column(String(255), server_default="")
    thumbnail_key: Mapped[str | None] = mapped_column(String(320))
    thumbnail_status: Mapped[str] = mapped_column(String(12), server_default="none")
    # the record it belongs to, e.g. ("workorder", 12); NULL until a module attaches it
    attached_kind: Mapped[str | None] = mapped_column(String(40))
    attached_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
