"""Estate tables (tenant schema). Every row that belongs to a community carries its
``community_id``, so data scopes filter with one indexed column and no joins."""

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
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wuye.db import TenantBase, one_of

PROPERTY_TYPES = ("residential", "shop", "office", "storage")
UNIT_STATUSES = ("vacant", "occupied", "rented", "renovating")
SPACE_KINDS = ("owned", "rented", "temporary")
SPACE_STATUSES = ("vacant", "occupied", "reserved", "disabled")
RELATIONS = ("owner", "family", "tenant")
CLAIM_STATUSES = ("pending", "approved", "rejected")
DEPARTMENT_KINDS = ("company", "region", "project", "team")


def _created() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# --- property -------------------------------------------------------------------------------


class Community(TenantBase):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(300), server_default="")
    district: Mapped[str] = mapped_column(String(100), server_default="")
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    hotline: Mapped[str] = mapped_column(String(30), server_default="")
    # 物业基本概况 shown to residents: service items and standards, published prices, contacts
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created()


class CommunityTeamMember(TenantBase):
    """The service team of a community (staff assigned, with their duty there)."""

    __tablename__ = "community_team"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    duty: Mapped[str] = mapped_column(String(60), server_default="")


class Building(TenantBase):
    __tablename__ = "buildings"
    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        CheckConstraint("floors > 0 AND floors <= 200", name="floors"),
        CheckConstraint("entrances > 0 AND entrances <= 50", name="entrances"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))  # e.g. 3号楼
    floors: Mapped[int] = mapped_column(Integer)
    entrances: Mapped[int] = mapped_column(Integer, server_default="1")  # 单元
    created_at: Mapped[datetime] = _created()

    community: Mapped[Community] = relationship(lazy="raise")


class Unit(TenantBase):
    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("building_id", "room_no"),
        CheckConstraint(one_of("property_type", PROPERTY_TYPES), name="property_type"),
        CheckConstraint(one_of("status", UNIT_STATUSES), name="status"),
        CheckConstraint("building_area > 0", name="building_area"),
        CheckConstraint("inner_area IS NULL OR inner_area > 0", name="inner_area"),
        # the order of the units list (keyset pagination reads it from any page)
        Index("ix_units_listing", "community_id", "building_id", "room_no", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    entrance: Mapped[int] = mapped_column(Integer, server_default="1")
    floor: Mapped[int] = mapped_column(Integer)
    room_no: Mapped[str] = mapped_column(String(20))  # e.g. 1-802
    layout: Mapped[str] = mapped_column(String(20), server_default="")  # 户型, e.g. 3室2厅
    building_area: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    inner_area: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    property_type: Mapped[str] = mapped_column(String(16), server_default="residential")
    status: Mapped[str] = mapped_column(String(16), server_default="vacant")
    floor_plan_file_id: Mapped[int | None] = mapped_column(BigInteger)  # storage layer, later
    created_at: Mapped[datetime] = _created()

    building: Mapped[Building] = relationship(lazy="raise")


class UnitStatusChange(TenantBase):
    __tablename__ = "unit_status_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), server_default="")
    changed_by: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = _created()


# --- parking -------------------------------------------------------------------------------


class ParkingLot(TenantBase):
    __tablename__ = "parking_lots"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = _created()


class ParkingSpace(TenantBase):
    __tablename__ = "parking_spaces"
    __table_args__ = (
        UniqueConstraint("lot_id", "number"),
        CheckConstraint(one_of("kind", SPACE_KINDS), name="kind"),
        CheckConstraint(one_of("status", SPACE_STATUSES), name="status"),
        CheckConstraint("monthly_rent_fen IS NULL OR monthly_rent_fen >= 0", name="rent"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("parking_lots.id"))
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16), server_default="rented")
    status: Mapped[str] = mapped_column(String(16), server_default="vacant")
    monthly_rent_fen: Mapped[int | None] = mapped_column(BigInteger)  # rent standard, 分/月
    created_at: Mapped[datetime] = _created()


class ParkingAssignment(TenantBase):
    __tablename__ = "parking_assignments"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
        CheckConstraint("unit_id IS NOT NULL OR person_id IS NOT NULL", name="holder"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("parking_spaces.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    monthly_rent_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()


class Vehicle(TenantBase):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    plate: Mapped[str] = mapped_column(String(10), unique=True)  # normalised, e.g. 京AD12345
    new_energy: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created()


# --- people --------------------------------------------------------------------------------


class Person(TenantBase):
    """A resident (or owner who lives elsewhere). ``user_id`` links their app account."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_phone_last4", "phone_last4"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    phone_last4: Mapped[str] = mapped_column(String(4), server_default="")
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM, see crypto
    id_number_hint: Mapped[str] = mapped_column(String(24), server_default="")  # masked
    created_at: Mapped[datetime] = _created()
    # Added after created_at (a later migration): keeps column order equal to migrated
    # schemas. For birthday greetings; taken from a mainland ID number when none is given.
    birth_date: Mapped[date | None] = mapped_column(Date)


class Occupancy(TenantBase):
    """A person's relation to a unit over time (owner 业主, family 家属, tenant 租户)."""

    __tablename__ = "occupancies"
    __table_args__ = (
        CheckConstraint(one_of("relation", RELATIONS), name="relation"),
        CheckConstraint("move_out_on IS NULL OR move_out_on >= move_in_on", name="dates"),
        Index(
            "uq_occupancies_primary",
            "unit_id",
            unique=True,
            postgresql_where=text("is_primary AND move_out_on IS NULL"),
        ),
        Index(
            "uq_occupancies_current",
            "unit_id",
            "person_id",
            unique=True,
            postgresql_where=text("move_out_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    relation: Mapped[str] = mapped_column(String(10))
    is_primary: Mapped[bool] = mapped_column(Boolean, server_default="false")
    move_in_on: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    move_out_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = _created()


class UnitClaim(TenantBase):
    """业主注册: a signed-up resident claims a unit; staff approve or reject."""

    __tablename__ = "unit_claims"
    __table_args__ = (
        CheckConstraint(one_of("status", CLAIM_STATUSES), name="status"),
        CheckConstraint(one_of("relation", RELATIONS), name="relation"),
        Index(
            "uq_unit_claims_pending",
            "user_id",
            "unit_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    reason: Mapped[str] = mapped_column(String(300), server_default="")
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


# --- staff organisation --------------------------------------------------------------------


class Department(TenantBase):
    """A node of the company tree (company -> region -> project -> team, any depth).

    ``path`` is the ids from the root, e.g. ``/1/4/9/``: a subtree is ``path LIKE '/1/4/%'``.
    """

    __tablename__ = "departments"
    __table_args__ = (
        CheckConstraint(one_of("kind", DEPARTMENT_KINDS), name="kind"),
        UniqueConstraint("parent_id", "name"),
        Index("ix_departments_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10), server_default="team")
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    path: Mapped[str] = mapped_column(String(400), server_default="/")
    created_at: Mapped[datetime] = _created()


class Position(TenantBase):
    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)  # e.g. 客服主管, 维修工
    created_at: Mapped[datetime] = _created()


class StaffProfile(TenantBase):
    """Where a staff user sits in the organisation. Their communities (data scope) are
    ``user_community_scopes`` of the identity core."""

    __tablename__ = "staff_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    position_id: Mapped[int | None] = mapped_column(ForeignKey("positions.id"))
    employee_no: Mapped[str] = mapped_column(String(30), server_default="")
    joined_on: Mapped[date | None] = mapped_column(Date)


class StaffTransfer(TenantBase):
    """调入调出: a staff member moved between departments, with date and reason."""

    __tablename__ = "staff_transfers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    from_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    to_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    effective_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(300), server_default="")
    recorded_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()


# --- bulk import ---------------------------------------------------------------------------


class ImportJob(TenantBase):
    """A bulk import: validated as a whole, applied all-or-nothing; large ones run in arq."""

    __tablename__ = "estate_imports"
    __table_args__ = (
        CheckConstraint(
            one_of("status", ("queued", "running", "applied", "rejected", "failed")), name="status"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # communities, buildings, units, ...
    filename: Mapped[str] = mapped_column(String(200), server_default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once processed
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    total_rows: Mapped[int] = mapped_column(Integer, server_default="0")
    processed_rows: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    message: Mapped[str] = mapped_column(Text, server_default="")
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
