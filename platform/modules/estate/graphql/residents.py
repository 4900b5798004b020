"""Estate API: residents (people, occupancies), 业主注册 (sign-up, unit claims, review) and the
resident's own view (my units, co-residents, community profiles, claims).

Staff fields need ``estate.residents.view`` / ``.manage`` and are data-scoped; full phone and
ID numbers need ``estate.residents.view_sensitive`` (every full ID number read is audited).
Resident fields (``my*``, ``claimUnit``) answer only to accounts of kind ``resident``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from strawberry.dataloader import DataLoader
from strawberry.types.unset import UNSET

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.context import redact
from wuye.graphql.ids import decode_id, encode_id, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.auth import tenant_realm
from wuye.identity.graphql import UserAuthPayload, UserType
from wuye.identity.models import AuditLog, User
from wuye.identity.passwords import mask_phone
from wuye.identity.permissions import grants
from wuye.modules.estate import residents as service
from wuye.modules.estate.models import (
    CLAIM_STATUSES,
    Building,
    Community,
    Occupancy,
    Person,
    Unit,
    UnitClaim,
)
from wuye.modules.estate.permissions import RESIDENTS_MANAGE, RESIDENTS_VIEW, VIEW_SENSITIVE
from wuye.modules.estate.validation import choice

# --- helpers -------------------------------------------------------------------------------


async def _sensitive(ctx: Any) -> bool:
    return grants(await ctx.permissions(), VIEW_SENSITIVE.key)


async def _resident(ctx: Any) -> User:
    user = await ctx.user()
    if user.kind != "resident":
        raise AppError("FORBIDDEN")
    return user


def _region(ctx: Any) -> str:
    return str(ctx.runtime.settings.default_phone_region)


# --- types ---------------------------------------------------------------------------------


@strawberry.type
class UnitSummary:
    """A unit with its building and community names (what people lists and residents show)."""

    id: strawberry.ID
    room_no: str
    floor: int
    building_id: strawberry.ID
    building_name: str
    community_id: strawberry.ID
    community_name: str


def _unit_summary(row: Any) -> UnitSummary:
    return UnitSummary(
        id=strawberry.ID(encode_id("Unit", row.unit_id)),
        room_no=row.room_no,
        floor=row.floor,
        building_id=strawberry.ID(encode_id("Building", row.building_id)),
        building_name=row.building_name,
        community_id=strawberry.ID(encode_id("Community", row.community_id)),
        community_name=row.community_name,
    )


_UNIT_COLUMNS = (
    Unit.id.label("unit_id"),
    Unit.room_no,
    Unit.floor,
    Building.id.label("building_id"),
    Building.name.label("building_name"),
    Community.id.label("community_id"),
    Community.name.label("community_name"),
)


def _with_unit(stmt: Any, unit_col: Any) -> Any:
    """``stmt`` (selecting ``_UNIT_COLUMNS``) from the table of ``unit_col``, joined to the
    unit, its building and its community."""
    if unit_col is Unit.id:
        stmt = stmt.select_from(Unit)
    else:
        stmt = stmt.select_from(unit_col.table).join(Unit, Unit.id == unit_col)
    return stmt.join(Building, Building.id == Unit.building_id).join(
        Community, Community.id == Unit.community_id
    )


def _unit_loader(ctx: Any) -> DataLoader[int, UnitSummary | None]:
    async def load(keys: Sequence[int]) -> list[UnitSummary | None]:
        stmt = _with_unit(select(*_UNIT_COLUMNS), Unit.id).where(Unit.id.in_(keys))
        found = {r.unit_id: _unit_summary(r) for r in await ctx.session.execute(stmt)}
        return [found.get(k) for k in keys]

    return ctx.loader("estate.residents.unit", lambda: DataLoader(load_fn=load))


@strawberry.type(name="Occupancy")
class OccupancyType:
    id: strawberry.ID
    relation: str
    is_primary: bool
    move_in_on: date
    move_out_on: date | None
    unit: UnitSummary


def _occupancy(o: Occupancy, unit: UnitSummary) -> OccupancyType:
    return OccupancyType(
        id=strawberry.ID(encode_id("Occupancy", o.id)),
        relation=o.relation,
        is_primary=o.is_primary,
        move_in_on=o.move_in_on,
        move_out_on=o.move_out_on,
        unit=unit,
    )


def _occupancies_loader(ctx: Any) -> DataLoader[int, list[OccupancyType]]:
    """Occupancies (in the viewer's scope) of many people, with their units, in one query."""

    async def load(keys: Sequence[int]) -> list[list[OccupancyType]]:
        scope = await ctx.data_scope()
        stmt = (
            _with_unit(select(Occupancy, *_UNIT_COLUMNS), Occupancy.unit_id)
            .where(Occupancy.person_id.in_(keys), scope.filter(Occupancy.community_id))
            .order_by(Occupancy.id)
        )
        by_person: dict[int, list[OccupancyType]] = {k: [] for k in keys}
        for row in await ctx.session.execute(stmt):
            o = row[0]
            by_person[o.person_id].append(_occupancy(o, _unit_summary(row)))
        return [by_person[k] for k in keys]

    return ctx.loader("estate.residents.occupancies", lambda: DataLoader(load_fn=load))


def _id_number_loader(ctx: Any) -> DataLoader[tuple[int, bytes], str]:
    """Full ID numbers, decrypted; one audit row per person read, written (and committed)
    in a transaction of its own before anything is returned: queries do not commit."""

    async def load(keys: Sequence[tuple[int, bytes]]) -> list[str]:
        plain = [
            service.open_id_number(
                secret=ctx.runtime.settings.secret_key, tenant=ctx.tenant.slug, blob=blob
            )
            for _, blob in keys
        ]
        user = await ctx.user()
        async with ctx.new_session() as side:
            side.add_all(
                AuditLog(
                    actor_kind=user.kind,
                    actor_id=user.id,
                    action="viewIdNumber",
                    object_type="Person",
                    object_id=str(pk),
                    detail=json.loads(json.dumps(redact({"personId": pk}))),
                    ip=ctx.ip,
                    user_agent=ctx.user_agent,
                    request_id=ctx.request_id,
                )
                for pk, _ in keys
            )
            await side.commit()
        return plain

    return ctx.loader("estate.residents.id_number", lambda: DataLoader(load_fn=load))


@strawberry.type(name="Person")
class PersonType:
    id: strawberry.ID
    name: str
    has_app_account: bool
    created_at: datetime
    _pk: strawberry.Private[int]
    _phone: strawberry.Private[str | None]
    _hint: strawberry.Private[str]
    _enc: strawberry.Private[bytes | None]
    _birth: strawberry.Private[date | None]

    @classmethod
    def of(cls, p: Person) -> PersonType:
        return cls(
            id=strawberry.ID(encode_id("Person", p.id)),
            name=p.name,
            has_app_account=p.user_id is not None,
            created_at=p.created_at,
            _pk=p.id,
            _phone=p.phone,
            _hint=p.id_number_hint,
            _enc=p.id_number_enc,
            _birth=p.birth_date,
        )

    @strawberry.field(description="Masked unless you may view sensitive data")
    async def phone(self, info: strawberry.Info) -> str | None:
        return self._phone if await _sensitive(info.context) else mask_phone(self._phone)

    @strawberry.field(
        description="Masked (110105********1234) unless you may view sensitive data; "
        "every full read is audited"
    )
    async def id_number(self, info: strawberry.Info) -> str | None:
        if self._enc is None:
            return None
        if not await _sensitive(info.context):
            return self._hint
        return await _id_number_loader(info.context).load((self._pk, self._enc))

    @strawberry.field(
        description="Only if you may view sensitive data (the masked ID number hides it too)"
    )
    async def birth_date(self, info: strawberry.Info) -> date | None:
        return self._birth if await _sensitive(info.context) else None

    @strawberry.field(description="Units in your data scope; moved-out ones only on request")
    async def occupancies(
        self, info: strawberry.Info, include_past: bool = False
    ) -> list[OccupancyType]:
        found = await _occupancies_loader(info.context).load(self._pk)
        return found if include_past else [o for o in found if o.move_out_on is None]


@strawberry.type
class CreatedResidentPayload:
    person: PersonType
    invite_token: str | None = strawberry.field(
        description="One-time token to set a password, when an app account was created"
    )


@strawberry.type(name="UnitClaim")
class UnitClaimType:
    id: strawberry.ID
    status: str
    relation: str
    name: str
    reason: str
    created_at: datetime
    reviewed_at: datetime | None
    _unit_id: strawberry.Private[int]

    @classmethod
    def of(cls, c: UnitClaim) -> UnitClaimType:
        return cls(
            id=strawberry.ID(encode_id("UnitClaim", c.id)),
            status=c.status,
            relation=c.relation,
            name=c.name,
            reason=c.reason,
            created_at=c.created_at,
            reviewed_at=c.reviewed_at,
            _unit_id=c.unit_id,
        )

    @strawberry.field
    async def unit(self, info: strawberry.Info) -> UnitSummary:
        found = await _unit_loader(info.context).load(self._unit_id)
        assert found is not None
        return found


@strawberry.type
class MyUnit:
    occupancy_id: strawberry.ID
    relation: str
    is_primary: bool
    move_in_on: date
    unit: UnitSummary


@strawberry.type
class CoResident:
    name: str
    relation: str
    is_primary: bool
    phone: str | None = strawberry.field(description="Always masked")


@strawberry.type
class CommunityProfile:
    id: strawberry.ID
    name: str
    address: str
    hotline: str
    profile: strawberry.scalars.JSON


@strawberry.type
class ClaimableBuilding:
    id: strawberry.ID
    name: str


@strawberry.type
class ClaimableCommunity:
    id: strawberry.ID
    name: str
    address: str
    buildings: list[ClaimableBuilding]


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class CreateResidentInput:
    name: str
    phone: str | None = None
    id_number: str | None = None
    birth_date: date | None = strawberry.field(
        default=None, description="Default: the date in an 18-digit mainland ID number"
    )
    unit_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for staff limited to some communities"
    )
    relation: str | None = strawberry.field(default=None, description="owner, family, tenant")
    move_in_on: date | None = None
    is_primary: bool = False
    create_account: bool = strawberry.field(
        default=False, description="Also create an app account and return an invite token"
    )


@strawberry.input
class UpdateResidentInput:
    person_id: strawberry.ID
    name: str | None = None
    phone: str | None = strawberry.field(default=None, description='"" clears it')
    id_number: str | None = strawberry.field(
        default=None, description='"" clears it; a new one also sets birthDate unless given'
    )
    birth_date: date | None = strawberry.field(default=UNSET, description="null clears it")


@strawberry.input
class LinkResidentUnitInput:
    person_id: strawberry.ID
    unit_id: strawberry.ID
    relation: str
    move_in_on: date | None = None
    is_primary: bool = False


@strawberry.input
class MoveOutResidentInput:
    occupancy_id: strawberry.ID
    move_out_on: date


@strawberry.input
class OccupancyIdInput:
    occupancy_id: strawberry.ID


@strawberry.input
class RegisterResidentInput:
    phone: str
    password: str
    name: str


@strawberry.input
class ClaimUnitInput:
    community_id: strawberry.ID
    building_id: strawberry.ID
    room_no: str
    relation: str
    name: str


@strawberry.input
class UnitClaimIdInput:
    claim_id: strawberry.ID


@strawberry.input
class RejectUnitClaimInput:
    claim_id: strawberry.ID
    reason: str


# --- queries -------------------------------------------------------------------------------


async def _my_occupancy_rows(ctx: Any, user: User) -> list[Any]:
    stmt = _with_unit(select(Occupancy, *_UNIT_COLUMNS), Occupancy.unit_id).where(
        Occupancy.move_out_on.is_(None),
        Occupancy.person_id.in_(select(Person.id).where(Person.user_id == user.id)),
    )
    return list(await ctx.session.execute(stmt.order_by(Occupancy.id)))


@strawberry.type
class ResidentQuery:
    @query(RESIDENTS_VIEW, description="Residents in your data scope; search by name or phone")
    async def people(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        community_id: strawberry.ID | None = None,
        building_id: strawberry.ID | None = None,
        relation: str | None = None,
    ) -> Connection[PersonType]:
        ctx = info.context
        stmt = service.people_query(
            scope=await ctx.data_scope(),
            search=search or None,
            community_id=optional_id(community_id, "Community"),
            building_id=optional_id(building_id, "Building"),
            relation=relation,
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=PersonType.of)

    @query(RESIDENTS_VIEW)
    async def person(self, info: strawberry.Info, id: strawberry.ID) -> PersonType:
        ctx = info.context
        person = await service.get_person(
            ctx.session, person_id=decode_id(id, "Person"), scope=await ctx.data_scope()
        )
        return PersonType.of(person)

    @query(RESIDENTS_MANAGE, description="Unit claims (业主注册) in your data scope")
    async def unit_claims(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        status: str | None = "pending",
        community_id: strawberry.ID | None = None,
    ) -> Connection[UnitClaimType]:
        ctx = info.context
        scope = await ctx.data_scope()
        stmt = select(UnitClaim).where(scope.filter(UnitClaim.community_id))
        if status:
            stmt = stmt.where(UnitClaim.status == choice(status, CLAIM_STATUSES, "status"))
        if community_id:
            stmt = stmt.where(UnitClaim.community_id == decode_id(community_id, "Community"))
        stmt = stmt.order_by(UnitClaim.id)
        return await paginate(ctx, stmt, first=first, after=after, to_node=UnitClaimType.of)

    @query(signed_in=True, description="Resident: the units I currently live in")
    async def my_units(self, info: strawberry.Info) -> list[MyUnit]:
        ctx = info.context
        rows = await _my_occupancy_rows(ctx, await _resident(ctx))
        return [
            MyUnit(
                occupancy_id=strawberry.ID(encode_id("Occupancy", r[0].id)),
                relation=r[0].relation,
                is_primary=r[0].is_primary,
                move_in_on=r[0].move_in_on,
                unit=_unit_summary(r),
            )
            for r in rows
        ]

    @query(signed_in=True, description="Resident: the other current occupants of one of my units")
    async def my_co_residents(
        self, info: strawberry.Info, unit_id: strawberry.ID
    ) -> list[CoResident]:
        ctx = info.context
        user = await _resident(ctx)
        unit = await service.my_unit(ctx.session, user=user, unit_id=decode_id(unit_id, "Unit"))
        rows = await ctx.session.execute(
            select(Occupancy, Person)
            .join(Person, Person.id == Occupancy.person_id)
            .where(
                Occupancy.unit_id == unit.id,
                Occupancy.move_out_on.is_(None),
                Person.user_id.is_distinct_from(user.id),
            )
            .order_by(Occupancy.id)
        )
        return [
            CoResident(
                name=p.name, relation=o.relation, is_primary=o.is_primary, phone=mask_phone(p.phone)
            )
            for o, p in rows
        ]

    @query(signed_in=True, description="Resident: the profiles of the communities I live in")
    async def my_community_profiles(self, info: strawberry.Info) -> list[CommunityProfile]:
        ctx = info.context
        user = await _resident(ctx)
        mine = (
            select(Occupancy.community_id)
            .join(Person, Person.id == Occupancy.person_id)
            .where(Person.user_id == user.id, Occupancy.move_out_on.is_(None))
        )
        rows = await ctx.session.scalars(
            select(Community).where(Community.id.in_(mine)).order_by(Community.id)
        )
        return [
            CommunityProfile(
                id=strawberry.ID(encode_id("Community", c.id)),
                name=c.name,
                address=c.address,
                hotline=c.hotline,
                profile=c.profile,
            )
            for c in rows
        ]

    @query(signed_in=True, description="Resident: my unit claims, newest first")
    async def my_unit_claims(self, info: strawberry.Info) -> list[UnitClaimType]:
        ctx = info.context
        user = await _resident(ctx)
        rows = await ctx.session.scalars(
            select(UnitClaim).where(UnitClaim.user_id == user.id).order_by(UnitClaim.id.desc())
        )
        return [UnitClaimType.of(c) for c in rows]

    @query(signed_in=True, description="Resident: communities and buildings to claim a unit in")
    async def claimable_communities(self, info: strawberry.Info) -> list[ClaimableCommunity]:
        ctx = info.context
        await _resident(ctx)
        communities = list(await ctx.session.scalars(select(Community).order_by(Community.id)))
        buildings = await ctx.session.scalars(select(Building).order_by(Building.id))
        by_community: dict[int, list[ClaimableBuilding]] = {c.id: [] for c in communities}
        for b in buildings:
            by_community.setdefault(b.community_id, []).append(
                ClaimableBuilding(id=strawberry.ID(encode_id("Building", b.id)), name=b.name)
            )
        return [
            ClaimableCommunity(
                id=strawberry.ID(encode_id("Community", c.id)),
                name=c.name,
                address=c.address,
                buildings=by_community[c.id],
            )
            for c in communities
        ]


# --- mutations -----------------------------------------------------------------------------


async def _occupancy_type(ctx: Any, o: Occupancy) -> OccupancyType:
    unit = await _unit_loader(ctx).load(o.unit_id)
    assert unit is not None
    return _occupancy(o, unit)


@strawberry.type
class ResidentMutation:
    @mutation(
        RESIDENTS_MANAGE, description="Enter a resident; optionally with a unit and an app account"
    )
    async def create_resident(
        self, info: strawberry.Info, input: CreateResidentInput
    ) -> CreatedResidentPayload:
        ctx = info.context
        person, token = await service.create_person(
            ctx.session,
            tenant=ctx.tenant.slug,
            secret=ctx.runtime.settings.secret_key,
            scope=await ctx.data_scope(),
            name=input.name,
            phone=input.phone,
            id_number=input.id_number,
            birth_date=input.birth_date,
            unit_id=optional_id(input.unit_id, "Unit"),
            relation=input.relation,
            move_in_on=input.move_in_on,
            is_primary=input.is_primary,
            with_account=input.create_account,
            invite_ttl_s=ctx.runtime.settings.invite_ttl_s,
            region=_region(ctx),
        )
        await ctx.session.refresh(person)
        ctx.audit_target = ("Person", str(person.id))
        return CreatedResidentPayload(person=PersonType.of(person), invite_token=token)

    @mutation(RESIDENTS_MANAGE)
    async def update_resident(
        self, info: strawberry.Info, input: UpdateResidentInput
    ) -> PersonType:
        ctx = info.context
        person = await service.update_person(
            ctx.session,
            tenant=ctx.tenant.slug,
            secret=ctx.runtime.settings.secret_key,
            scope=await ctx.data_scope(),
            person_id=decode_id(input.person_id, "Person"),
            name=input.name,
            phone=input.phone,
            id_number=input.id_number,
            birth_date=input.birth_date or None,
            clear_birth_date=input.birth_date is None,
            region=_region(ctx),
        )
        ctx.audit_target = ("Person", str(person.id))
        return PersonType.of(person)

    @mutation(RESIDENTS_MANAGE, description="A person starts living in (or owning) a unit")
    async def link_resident_unit(
        self, info: strawberry.Info, input: LinkResidentUnitInput
    ) -> OccupancyType:
        ctx = info.context
        occupancy = await service.link_unit(
            ctx.session,
            scope=await ctx.data_scope(),
            person_id=decode_id(input.person_id, "Person"),
            unit_id=decode_id(input.unit_id, "Unit"),
            relation=input.relation,
            move_in_on=input.move_in_on,
            is_primary=input.is_primary,
        )
        ctx.audit_target = ("Occupancy", str(occupancy.id))
        return await _occupancy_type(ctx, occupancy)

    @mutation(RESIDENTS_MANAGE)
    async def move_out_resident(
        self, info: strawberry.Info, input: MoveOutResidentInput
    ) -> OccupancyType:
        ctx = info.context
        occupancy = await service.move_out(
            ctx.session,
            scope=await ctx.data_scope(),
            occupancy_id=decode_id(input.occupancy_id, "Occupancy"),
            move_out_on=input.move_out_on,
        )
        ctx.audit_target = ("Occupancy", str(occupancy.id))
        return await _occupancy_type(ctx, occupancy)

    @mutation(RESIDENTS_MANAGE, description="Make this occupant the unit's primary contact")
    async def set_primary_contact(
        self, info: strawberry.Info, input: OccupancyIdInput
    ) -> OccupancyType:
        ctx = info.context
        occupancy = await service.set_primary(
            ctx.session,
            scope=await ctx.data_scope(),
            occupancy_id=decode_id(input.occupancy_id, "Occupancy"),
        )
        ctx.audit_target = ("Occupancy", str(occupancy.id))
        return await _occupancy_type(ctx, occupancy)

    @mutation(
        public=True,
        description="业主注册: sign up as a resident and sign in. "
        "The phone number is not verified yet (no SMS code).",
    )
    async def register_resident(
        self, info: strawberry.Info, input: RegisterResidentInput
    ) -> UserAuthPayload:
        ctx = info.context
        # sign-ups hash a password and create an account: limited per phone and per address
        await ctx.runtime.auth.throttle.attempt(
            f"register:{ctx.tenant.slug}", input.phone.strip(), ctx.ip
        )
        user = await service.register_resident(
            ctx.session,
            phone=input.phone,
            password=input.password,
            name=input.name,
            passwords=ctx.runtime.passwords,
            region=_region(ctx),
        )
        ctx.actor_override = (user.kind, user.id)
        ctx.audit_target = ("User", str(user.id))
        pair = await ctx.runtime.auth.issue(
            ctx.session, tenant_realm(ctx.tenant.slug), user, ip=ctx.ip, user_agent=ctx.user_agent
        )
        user = await ctx.session.scalar(
            select(User)
            .options(selectinload(User.roles))
            .where(User.id == user.id)
            .execution_options(populate_existing=True)
        )
        return UserAuthPayload(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            user=UserType.of(user, full_phone=True),
        )

    @mutation(signed_in=True, description="Resident: claim a unit (staff review it)")
    async def claim_unit(self, info: strawberry.Info, input: ClaimUnitInput) -> UnitClaimType:
        ctx = info.context
        claim = await service.claim_unit(
            ctx.session,
            user=await _resident(ctx),
            community_id=decode_id(input.community_id, "Community"),
            building_id=decode_id(input.building_id, "Building"),
            room_no=input.room_no,
            relation=input.relation,
            name=input.name,
        )
        await ctx.session.refresh(claim)
        ctx.audit_target = ("UnitClaim", str(claim.id))
        return UnitClaimType.of(claim)

    @mutation(RESIDENTS_MANAGE, description="Approve a pending claim: the claimant lives there")
    async def approve_unit_claim(
        self, info: strawberry.Info, input: UnitClaimIdInput
    ) -> UnitClaimType:
        ctx = info.context
        claim, _, _ = await service.approve_claim(
            ctx.session,
            scope=await ctx.data_scope(),
            claim_id=decode_id(input.claim_id, "UnitClaim"),
            reviewer_id=(await ctx.user()).id,
        )
        ctx.audit_target = ("UnitClaim", str(claim.id))
        return UnitClaimType.of(claim)

    @mutation(RESIDENTS_MANAGE, description="Reject a pending claim, with a reason")
    async def reject_unit_claim(
        self, info: strawberry.Info, input: RejectUnitClaimInput
    ) -> UnitClaimType:
        ctx = info.context
        claim = await service.reject_claim(
            ctx.session,
            scope=await ctx.data_scope(),
            claim_id=decode_id(input.claim_id, "UnitClaim"),
            reason=input.reason,
            reviewer_id=(await ctx.user()).id,
        )
        ctx.audit_target = ("UnitClaim", str(claim.id))
        return UnitClaimType.of(claim)
