"""Residents: people, their occupancies of units, and 业主注册 (sign-up, unit claims, review).

Plain async functions with an explicit session; every write that could half-happen validates
first. Data-scope checks take the caller's ``DataScope`` (residents and all-communities staff
pass theirs too: the check is the same).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, false, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import decrypt_field, encrypt_field
from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.identity.models import Role, User, UserRole
from wuye.identity.passwords import Passwords, normalize_phone
from wuye.identity.scope import DataScope
from wuye.modules.estate import validation
from wuye.modules.estate.models import RELATIONS, Building, Occupancy, Person, Unit, UnitClaim

ID_PURPOSE = "id_number"
RESIDENT_ROLE = "resident"


# --- field rules ----------------------------------------------------------------------------


def _name(raw: str | None) -> str:
    return validation.text(raw, "name", max_len=100)


def _phone(raw: str | None, region: str) -> str | None:
    raw = (raw or "").strip()
    return normalize_phone(raw, region) if raw else None


def _relation(raw: str) -> str:
    return validation.choice(raw, RELATIONS, "relation")


def seal_id_number(*, secret: str, tenant: str, plaintext: str) -> bytes:
    return encrypt_field(secret, purpose=ID_PURPOSE, tenant=tenant, plaintext=plaintext)


def open_id_number(*, secret: str, tenant: str, blob: bytes) -> str:
    return decrypt_field(secret, purpose=ID_PURPOSE, tenant=tenant, blob=blob)


def _set_phone(person: Person, phone: str | None) -> None:
    person.phone = phone
    person.phone_last4 = phone[-4:] if phone else ""


_EARLIEST_BIRTH = date(1900, 1, 1)


def _birth_date(value: date, field: str = "birthDate") -> date:
    if not _EARLIEST_BIRTH <= value <= date.today():
        raise validation.invalid(field, "出生日期不正确", "Invalid date of birth")
    return value


def birth_date_of_id_number(value: str) -> date:
    """The date of birth in an 18-digit mainland ID number (digits 7-14, YYYYMMDD). The
    checksum does not cover the date being real, so it is checked here."""
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise validation.invalid(
            "idNumber", "身份证号码中的出生日期不正确", "The ID number has an invalid birth date"
        ) from None
    return _birth_date(born, "idNumber")


def _sealed_id_number(raw: str, *, secret: str, tenant: str) -> tuple[bytes | None, str]:
    """(ciphertext, masked hint) of a valid ID number; ``""`` clears it: (None, "")."""
    if not raw.strip():
        return None, ""
    value = validation.id_number(raw)
    return seal_id_number(secret=secret, tenant=tenant, plaintext=value), (
        validation.mask_id_number(value)
    )


async def _flush_person(session: AsyncSession, person: Person) -> None:
    try:
        async with session.begin_nested():
            session.add(person)
            await session.flush()
    except IntegrityError:
        raise AppError(
            "CONFLICT",
            "该手机号已登记给其他住户",
            "This phone number already belongs to another resident",
            field="phone",
        ) from None


# --- visibility -----------------------------------------------------------------------------


def person_visible(scope: DataScope) -> Any:
    """WHERE clause: the person has (or had) an occupancy in a community of ``scope``."""
    if scope.all_communities:
        return true()
    return exists().where(Occupancy.person_id == Person.id, scope.filter(Occupancy.community_id))


async def get_person(session: AsyncSession, *, person_id: int, scope: DataScope) -> Person:
    """A person the caller may see; NOT_FOUND otherwise (nothing revealed)."""
    stmt = select(Person).where(Person.id == person_id)
    if not scope.all_communities:
        stmt = stmt.where(person_visible(scope))
    person = await session.scalar(stmt)
    if person is None:
        raise AppError("NOT_FOUND")
    return person


async def _unit_in_scope(session: AsyncSession, *, unit_id: int, scope: DataScope) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None or not scope.allows(unit.community_id):
        raise AppError("NOT_FOUND", field="unitId")
    return unit


# --- people ---------------------------------------------------------------------------------


async def create_person(
    session: AsyncSession,
    *,
    tenant: str,
    secret: str,
    scope: DataScope,
    name: str,
    phone: str | None = None,
    id_number: str | None = None,
    birth_date: date | None = None,
    unit_id: int | None = None,
    relation: str | None = None,
    move_in_on: date | None = None,
    is_primary: bool = False,
    with_account: bool = False,
    invite_ttl_s: int = 0,
    region: str = "CN",
) -> tuple[Person, str | None]:
    """A resident entered by staff, optionally living in a unit and with an app account
    (returns the invite token then). Staff limited to some communities must give a unit of
    theirs, or they would create a person they cannot see. Without ``birth_date`` the
    date of birth comes from the ID number, if one is given."""
    person = Person(name=_name(name))
    _set_phone(person, _phone(phone, region))
    if birth_date is not None:
        person.birth_date = _birth_date(birth_date)
    if id_number is not None:
        person.id_number_enc, person.id_number_hint = _sealed_id_number(
            id_number, secret=secret, tenant=tenant
        )
        if birth_date is None and person.id_number_enc is not None:
            person.birth_date = birth_date_of_id_number(validation.id_number(id_number))
    if unit_id is None and not scope.all_communities:
        raise AppError(
            "VALIDATION_FAILED",
            "请选择房屋",
            "Choose the unit this person lives in",
            field="unitId",
        )
    if unit_id is not None:
        relation = _relation(relation or "")
        unit = await _unit_in_scope(session, unit_id=unit_id, scope=scope)
    if with_account and person.phone is None:
        raise AppError(
            "VALIDATION_FAILED",
            "开通账号需要手机号",
            "An app account needs a phone number",
            field="phone",
        )
    token: str | None = None
    if with_account:
        user = await identity.create_user(
            session,
            kind="resident",
            name=person.name,
            phone=person.phone,
            role_keys=[RESIDENT_ROLE],
            region=region,
        )
        person.user_id = user.id
        token = await identity.create_invite(session, user=user, ttl_s=invite_ttl_s)
    await _flush_person(session, person)
    if unit_id is not None:
        await _add_occupancy(
            session,
            person=person,
            unit=unit,
            relation=relation or "",
            move_in_on=move_in_on,
            is_primary=is_primary,
        )
    return person, token


async def update_person(
    session: AsyncSession,
    *,
    tenant: str,
    secret: str,
    scope: DataScope,
    person_id: int,
    name: str | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    birth_date: date | None = None,
    clear_birth_date: bool = False,
    region: str = "CN",
) -> Person:
    """Change the given fields (``None`` keeps a field; ``""`` clears phone or ID number).
    A new ID number without ``birth_date`` also sets the date of birth from it."""
    person = await get_person(session, person_id=person_id, scope=scope)
    new_name = _name(name) if name is not None else person.name
    new_phone = _phone(phone, region) if phone is not None else person.phone
    sealed = (
        _sealed_id_number(id_number, secret=secret, tenant=tenant)
        if id_number is not None
        else None
    )
    new_birth = person.birth_date if not clear_birth_date else None
    if birth_date is not None:
        new_birth = _birth_date(birth_date)
    elif id_number is not None and id_number.strip():
        new_birth = birth_date_of_id_number(validation.id_number(id_number))
    # every field is valid: now change them
    person.name = new_name
    person.birth_date = new_birth
    if phone is not None:
        _set_phone(person, new_phone)
    if sealed is not None:
        person.id_number_enc, person.id_number_hint = sealed
    await _flush_person(session, person)
    return person


def _dates(move_in_on: date | None, move_out_on: date | None) -> None:
    if move_in_on is not None and move_out_on is not None and move_out_on < move_in_on:
        raise AppError(
            "VALIDATION_FAILED",
            "迁出日期不能早于入住日期",
            "The move-out date cannot be before the move-in date",
            field="moveOutOn",
        )


async def _clear_primary(session: AsyncSession, *, unit_id: int) -> None:
    await session.execute(
        update(Occupancy)
        .where(
            Occupancy.unit_id == unit_id,
            Occupancy.is_primary.is_(True),
            Occupancy.move_out_on.is_(None),
        )
        .values(is_primary=False)
    )


async def _add_occupancy(
    session: AsyncSession,
    *,
    person: Person,
    unit: Unit,
    relation: str,
    move_in_on: date | None,
    is_primary: bool,
) -> Occupancy:
    current = await session.scalar(
        select(Occupancy.id).where(
            Occupancy.unit_id == unit.id,
            Occupancy.person_id == person.id,
            Occupancy.move_out_on.is_(None),
        )
    )
    if current is not None:
        raise AppError(
            "CONFLICT",
            "此人已登记住在该房屋",
            "This person already lives in this unit",
            field="unitId",
        )
    if is_primary:
        await _clear_primary(session, unit_id=unit.id)
    occupancy = Occupancy(
        community_id=unit.community_id,
        unit_id=unit.id,
        person_id=person.id,
        relation=relation,
        is_primary=is_primary,
        move_in_on=move_in_on or date.today(),
    )
    session.add(occupancy)
    await session.flush()
    return occupancy


async def link_unit(
    session: AsyncSession,
    *,
    scope: DataScope,
    person_id: int,
    unit_id: int,
    relation: str,
    move_in_on: date | None = None,
    is_primary: bool = False,
) -> Occupancy:
    relation = _relation(relation)
    person = await get_person(session, person_id=person_id, scope=scope)
    unit = await _unit_in_scope(session, unit_id=unit_id, scope=scope)
    return await _add_occupancy(
        session,
        person=person,
        unit=unit,
        relation=relation,
        move_in_on=move_in_on,
        is_primary=is_primary,
    )


async def _occupancy_in_scope(
    session: AsyncSession, *, occupancy_id: int, scope: DataScope
) -> Occupancy:
    occupancy = await session.scalar(
        select(Occupancy).where(Occupancy.id == occupancy_id).with_for_update()
    )
    if occupancy is None or not scope.allows(occupancy.community_id):
        raise AppError("NOT_FOUND")
    return occupancy


async def move_out(
    session: AsyncSession, *, scope: DataScope, occupancy_id: int, move_out_on: date
) -> Occupancy:
    occupancy = await _occupancy_in_scope(session, occupancy_id=occupancy_id, scope=scope)
    if occupancy.move_out_on is not None:
        raise AppError("CONFLICT", "该住户已迁出", "This person has already moved out")
    _dates(occupancy.move_in_on, move_out_on)
    occupancy.move_out_on = move_out_on
    occupancy.is_primary = False
    await session.flush()
    return occupancy


async def set_primary(session: AsyncSession, *, scope: DataScope, occupancy_id: int) -> Occupancy:
    """Make this occupant the unit's primary contact (the previous one stops being it)."""
    occupancy = await _occupancy_in_scope(session, occupancy_id=occupancy_id, scope=scope)
    if occupancy.move_out_on is not None:
        raise AppError("CONFLICT", "该住户已迁出", "This person has already moved out")
    if not occupancy.is_primary:
        await _clear_primary(session, unit_id=occupancy.unit_id)
        occupancy.is_primary = True
        await session.flush()
    return occupancy


# --- search ---------------------------------------------------------------------------------


def people_query(
    *,
    scope: DataScope,
    search: str | None = None,
    community_id: int | None = None,
    building_id: int | None = None,
    relation: str | None = None,
) -> Any:
    """People the caller may see, filtered; ordered by id (for pagination)."""
    stmt = select(Person).order_by(Person.id)
    if not scope.all_communities:
        stmt = stmt.where(person_visible(scope))
    text = (search or "").strip()
    if text:
        digits = re.sub(r"\D", "", text)
        terms: list[Any] = [Person.name.icontains(text, autoescape=True)]
        if len(digits) == 4 and digits == text:
            terms.append(Person.phone_last4 == digits)
        elif digits and len(digits) >= 3 and re.fullmatch(r"[\d\s+\-]+", text):
            terms.append(Person.phone.contains(digits, autoescape=True))
        stmt = stmt.where(or_(*terms))
    if community_id is not None or building_id is not None or relation:
        conds = [Occupancy.person_id == Person.id, Occupancy.move_out_on.is_(None)]
        if community_id is not None:
            conds.append(Occupancy.community_id == community_id)
        if building_id is not None:
            conds.append(
                Occupancy.unit_id.in_(select(Unit.id).where(Unit.building_id == building_id))
            )
        if relation:
            conds.append(Occupancy.relation == _relation(relation))
        if not scope.all_communities:
            conds.append(scope.filter(Occupancy.community_id))
        stmt = stmt.where(exists().where(and_(*conds)))
    return stmt


# --- registration and unit claims -------------------------------------------------------------


async def register_resident(
    session: AsyncSession,
    *,
    phone: str,
    password: str,
    name: str,
    passwords: Passwords,
    region: str = "CN",
) -> User:
    """业主注册: a resident account (kind resident, role resident) with a password.

    Phone ownership is NOT verified yet (no SMS code): see the module notes."""
    name = _name(name)
    normalized = normalize_phone(phone or "", region)
    password_hash = passwords.hash(password)
    return await identity.create_user(
        session,
        kind="resident",
        name=name,
        phone=normalized,
        role_keys=[RESIDENT_ROLE],
        password_hash=password_hash,
        region=region,
    )


def _require_resident(user: User) -> None:
    if user.kind != "resident":
        raise AppError("FORBIDDEN")


async def claim_unit(
    session: AsyncSession,
    *,
    user: User,
    community_id: int,
    building_id: int,
    room_no: str,
    relation: str,
    name: str,
) -> UnitClaim:
    _require_resident(user)
    relation = _relation(relation)
    name = _name(name)
    room_no = validation.text(room_no, "roomNo", max_len=20)
    building = await session.scalar(
        select(Building).where(Building.id == building_id, Building.community_id == community_id)
    )
    if building is None:
        raise AppError("NOT_FOUND", field="buildingId")
    unit = await session.scalar(
        select(Unit).where(Unit.building_id == building.id, Unit.room_no == room_no)
    )
    if unit is None:
        raise AppError("NOT_FOUND", "未找到该房号", "No such room in this building", field="roomNo")
    lives_there = await session.scalar(
        select(Occupancy.id)
        .join(Person, Person.id == Occupancy.person_id)
        .where(
            Person.user_id == user.id,
            Occupancy.unit_id == unit.id,
            Occupancy.move_out_on.is_(None),
        )
    )
    if lives_there is not None:
        raise AppError("CONFLICT", "您已是该房屋的住户", "You are already registered in this unit")
    claim = UnitClaim(
        community_id=unit.community_id,
        unit_id=unit.id,
        user_id=user.id,
        name=name,
        relation=relation,
    )
    try:
        async with session.begin_nested():
            session.add(claim)
            await session.flush()
    except IntegrityError:
        raise AppError(
            "CONFLICT",
            "该房屋已有待审核的申请",
            "You already have a pending claim for this unit",
        ) from None
    return claim


async def _pending_claim(session: AsyncSession, *, claim_id: int, scope: DataScope) -> UnitClaim:
    claim = await session.scalar(
        select(UnitClaim).where(UnitClaim.id == claim_id).with_for_update()
    )
    if claim is None or not scope.allows(claim.community_id):
        raise AppError("NOT_FOUND")
    if claim.status != "pending":
        raise AppError("CONFLICT", "该申请已处理", "This claim has already been decided")
    return claim


async def approve_claim(
    session: AsyncSession, *, scope: DataScope, claim_id: int, reviewer_id: int
) -> tuple[UnitClaim, Person, Occupancy | None]:
    """Approve: the claimant's person record (found by account, else by phone, else new) gets
    an occupancy of the unit with the claimed relation, and the account the resident role."""
    claim = await _pending_claim(session, claim_id=claim_id, scope=scope)
    user = await identity.get_user(session, claim.user_id)
    person = await session.scalar(select(Person).where(Person.user_id == user.id))
    if person is None and user.phone:
        person = await session.scalar(
            select(Person).where(Person.phone == user.phone, Person.user_id.is_(None))
        )
        if person is not None:
            person.user_id = user.id
    if person is None:
        person = Person(name=claim.name, user_id=user.id)
        _set_phone(person, user.phone)
    await _flush_person(session, person)
    unit = await session.get(Unit, claim.unit_id)
    assert unit is not None  # units are never deleted while claimed (FK)
    occupancy = await session.scalar(
        select(Occupancy).where(
            Occupancy.unit_id == unit.id,
            Occupancy.person_id == person.id,
            Occupancy.move_out_on.is_(None),
        )
    )
    if occupancy is None:
        occupancy = await _add_occupancy(
            session,
            person=person,
            unit=unit,
            relation=claim.relation,
            move_in_on=None,
            is_primary=False,
        )
    await _ensure_resident_role(session, user_id=user.id)
    claim.status = "approved"
    claim.reviewed_by = reviewer_id
    claim.reviewed_at = datetime.now(UTC)
    await session.flush()
    return claim, person, occupancy


async def _ensure_resident_role(session: AsyncSession, *, user_id: int) -> None:
    keys: Sequence[str] = list(
        await session.scalars(
            select(Role.key)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user_id)
        )
    )
    if RESIDENT_ROLE not in keys:
        await identity.set_user_roles(session, user_id=user_id, role_keys=[*keys, RESIDENT_ROLE])


async def reject_claim(
    session: AsyncSession, *, scope: DataScope, claim_id: int, reason: str, reviewer_id: int
) -> UnitClaim:
    reason = validation.text(reason, "reason", max_len=300)
    claim = await _pending_claim(session, claim_id=claim_id, scope=scope)
    claim.status = "rejected"
    claim.reason = reason
    claim.reviewed_by = reviewer_id
    claim.reviewed_at = datetime.now(UTC)
    await session.flush()
    return claim


# --- resident self-service ------------------------------------------------------------------


async def my_unit(session: AsyncSession, *, user: User, unit_id: int) -> Unit:
    """One of the resident's current units; NOT_FOUND for any other."""
    _require_resident(user)
    unit = await session.scalar(
        select(Unit).where(
            Unit.id == unit_id,
            exists()
            .where(Occupancy.unit_id == Unit.id, Occupancy.move_out_on.is_(None))
            .where(Occupancy.person_id.in_(select(Person.id).where(Person.user_id == user.id))),
        )
    )
    if unit is None:
        raise AppError("NOT_FOUND")
    return unit


# --- audiences (for modules that address residents by place) --------------------------------


@dataclass(frozen=True)
class Places:
    """Where a resident currently lives: every unit they occupy, and its building and
    community."""

    unit_ids: frozenset[int]
    building_ids: frozenset[int]
    community_ids: frozenset[int]


async def places_of_user(session: AsyncSession, user_id: int) -> Places:
    rows = (
        await session.execute(
            select(Unit.id, Unit.building_id, Unit.community_id)
            .join(Occupancy, Occupancy.unit_id == Unit.id)
            .join(Person, Person.id == Occupancy.person_id)
            .where(Person.user_id == user_id, Occupancy.move_out_on.is_(None))
        )
    ).all()
    return Places(
        unit_ids=frozenset(r[0] for r in rows),
        building_ids=frozenset(r[1] for r in rows),
        community_ids=frozenset(r[2] for r in rows),
    )


def resident_users(
    *,
    everyone: bool = False,
    community_ids: Sequence[int] = (),
    building_ids: Sequence[int] = (),
    unit_ids: Sequence[int] = (),
    user_ids: Sequence[int] = (),
) -> Select[Any]:
    """The ids of active resident accounts that live in any of the given places (current
    occupancies), plus ``user_ids`` (if they are active residents); ``everyone``: all."""
    active = and_(User.kind == "resident", User.is_active)
    if everyone:
        return select(User.id).where(active)
    places = []
    if community_ids:
        places.append(Occupancy.community_id.in_(community_ids))
    if building_ids:
        places.append(Unit.building_id.in_(building_ids))
    if unit_ids:
        places.append(Occupancy.unit_id.in_(unit_ids))
    chosen: list[Any] = []
    if places:
        chosen.append(
            exists()
            .where(Person.user_id == User.id)
            .where(Occupancy.person_id == Person.id, Occupancy.move_out_on.is_(None))
            .where(Unit.id == Occupancy.unit_id)
            .where(or_(*places))
        )
    if user_ids:
        chosen.append(User.id.in_(user_ids))
    if not chosen:
        return select(User.id).where(false())
    return select(User.id).where(active, or_(*chosen))
