"""Estate API: property — communities (with their 物业基本概况), buildings, units and their
status history, parking lots, spaces, assignments, vehicles.

Resolvers stay thin: they decode ids, take the caller's data scope and call
``wuye.modules.estate.property``. Related objects come through the per-request loaders.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import and_, or_, select
from strawberry.types.unset import UNSET

from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_id
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.passwords import mask_phone
from wuye.identity.permissions import grants
from wuye.modules.estate import property as service
from wuye.modules.estate import validation as v
from wuye.modules.estate.graphql import loaders
from wuye.modules.estate.models import (
    SPACE_STATUSES,
    UNIT_STATUSES,
    Building,
    Community,
    ParkingAssignment,
    ParkingLot,
    ParkingSpace,
    Unit,
    Vehicle,
)
from wuye.modules.estate.permissions import MANAGE, RESIDENTS_VIEW, VIEW, VIEW_SENSITIVE


def _changes(input: Any, names: dict[str, str]) -> dict[str, Any]:
    """{service name: value} for the input fields the client sent (UNSET = leave as is)."""
    return {
        key: getattr(input, attr)
        for attr, key in names.items()
        if getattr(input, attr) is not UNSET
    }


# --- types ---------------------------------------------------------------------------------


async def _community_rows(ctx: Any, model: Any, community_id: str | None, *order_by: Any) -> Any:
    """A select of ``model`` rows in the caller's communities (and only ``community_id``'s
    when the client names one), in ``order_by`` order."""
    scope = await ctx.data_scope()
    stmt = select(model).where(scope.filter(model.community_id)).order_by(*order_by)
    cid = optional_id(community_id, "Community", "communityId")
    return stmt if cid is None else stmt.where(model.community_id == cid)


@strawberry.type
class OverviewServiceItem:
    name: str
    standard: str


@strawberry.type
class OverviewPrice:
    item: str
    amount_fen: int
    unit: str


@strawberry.type
class OverviewContact:
    role: str
    name: str
    phone: str


@strawberry.type(description="物业基本概况: shown to the community's residents")
class CommunityOverview:
    intro: str
    service_items: list[OverviewServiceItem]
    prices: list[OverviewPrice]
    contacts: list[OverviewContact]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> CommunityOverview:
        return cls(
            intro=raw.get("intro", ""),
            service_items=[OverviewServiceItem(**i) for i in raw.get("serviceItems", [])],
            prices=[
                OverviewPrice(item=p["item"], amount_fen=p["amountFen"], unit=p["unit"])
                for p in raw.get("prices", [])
            ],
            contacts=[OverviewContact(**c) for c in raw.get("contacts", [])],
        )


@strawberry.type(name="Community")
class CommunityType:
    id: strawberry.ID
    name: str
    address: str
    district: str
    latitude: Decimal | None
    longitude: Decimal | None
    area_m2: Decimal | None
    hotline: str
    profile: CommunityOverview
    created_at: datetime

    @classmethod
    def of(cls, c: Community) -> CommunityType:
        return cls(
            id=gid("Community", c.id),
            name=c.name,
            address=c.address,
            district=c.district,
            latitude=c.latitude,
            longitude=c.longitude,
            area_m2=c.area_m2,
            hotline=c.hotline,
            profile=CommunityOverview.of(c.profile or {}),
            created_at=c.created_at,
        )


@strawberry.type(name="Building")
class BuildingType:
    id: strawberry.ID
    name: str
    floors: int
    entrances: int
    _community_id: strawberry.Private[int]

    @classmethod
    def of(cls, b: Building) -> BuildingType:
        return cls(
            id=gid("Building", b.id),
            name=b.name,
            floors=b.floors,
            entrances=b.entrances,
            _community_id=b.community_id,
        )

    @strawberry.field
    async def community(self, info: strawberry.Info) -> CommunityType:
        return CommunityType.of(await loaders.community_of(info.context, self._community_id))


@strawberry.type
class UnitResident:
    person_id: strawberry.ID
    name: str
    phone: str | None = strawberry.field(
        description="Masked unless the viewer may see residents' full numbers"
    )
    relation: str
    is_primary: bool
    move_in_on: date


@strawberry.type(name="UnitStatusChange")
class UnitStatusChangeType:
    from_status: str | None
    to_status: str
    reason: str
    changed_at: datetime


@strawberry.type(name="Unit")
class UnitType:
    id: strawberry.ID
    room_no: str
    floor: int
    entrance: int
    layout: str
    building_area: Decimal
    inner_area: Decimal | None
    property_type: str
    status: str
    floor_plan_file_id: strawberry.ID | None = strawberry.field(
        description="Floor plan image (storage layer; not uploadable yet)"
    )
    _pk: strawberry.Private[int]
    _building_id: strawberry.Private[int]
    _community_id: strawberry.Private[int]

    @classmethod
    def of(cls, u: Unit) -> UnitType:
        return cls(
            id=gid("Unit", u.id),
            room_no=u.room_no,
            floor=u.floor,
            entrance=u.entrance,
            layout=u.layout,
            building_area=u.building_area,
            inner_area=u.inner_area,
            property_type=u.property_type,
            status=u.status,
            floor_plan_file_id=gid("File", u.floor_plan_file_id) if u.floor_plan_file_id else None,
            _pk=u.id,
            _building_id=u.building_id,
            _community_id=u.community_id,
        )

    @strawberry.field
    async def building(self, info: strawberry.Info) -> BuildingType:
        return BuildingType.of(await loaders.building_of(info.context, self._building_id))

    @strawberry.field
    async def community(self, info: strawberry.Info) -> CommunityType:
        return CommunityType.of(await loaders.community_of(info.context, self._community_id))

    @strawberry.field(description="Current occupants (empty without estate.residents.view)")
    async def residents(self, info: strawberry.Info) -> list[UnitResident]:
        ctx = info.context
        granted = await ctx.permissions()
        if not grants(granted, RESIDENTS_VIEW.key):
            return []
        full = grants(granted, VIEW_SENSITIVE.key)
        return [
            UnitResident(
                person_id=gid("Person", o.person_id),
                name=o.name,
                phone=o.phone if full else mask_phone(o.phone),
                relation=o.relation,
                is_primary=o.is_primary,
                move_in_on=o.move_in_on,
            )
            for o in await loaders.occupants(ctx).load(self._pk)
        ]

    @strawberry.field(description="Status changes, oldest first")
    async def status_history(self, info: strawberry.Info) -> list[UnitStatusChangeType]:
        rows = await loaders.status_history(info.context).load(self._pk)
        return [
            UnitStatusChangeType(
                from_status=r.from_status,
                to_status=r.to_status,
                reason=r.reason,
                changed_at=r.changed_at,
            )
            for r in rows
        ]


@strawberry.type(name="ParkingLot")
class ParkingLotType:
    id: strawberry.ID
    name: str
    _community_id: strawberry.Private[int]

    @classmethod
    def of(cls, lot: ParkingLot) -> ParkingLotType:
        return cls(id=gid("ParkingLot", lot.id), name=lot.name, _community_id=lot.community_id)

    @strawberry.field
    async def community(self, info: strawberry.Info) -> CommunityType:
        return CommunityType.of(await loaders.community_of(info.context, self._community_id))


@strawberry.type(name="ParkingSpace")
class ParkingSpaceType:
    id: strawberry.ID
    number: str
    kind: str
    status: str
    monthly_rent_fen: int | None = strawberry.field(description="Rent standard, fen per month")
    lot_id: strawberry.ID
    community_id: strawberry.ID

    @classmethod
    def of(cls, s: ParkingSpace) -> ParkingSpaceType:
        return cls(
            id=gid("ParkingSpace", s.id),
            number=s.number,
            kind=s.kind,
            status=s.status,
            monthly_rent_fen=s.monthly_rent_fen,
            lot_id=gid("ParkingLot", s.lot_id),
            community_id=gid("Community", s.community_id),
        )


@strawberry.type(name="ParkingAssignment")
class ParkingAssignmentType:
    id: strawberry.ID
    space_id: strawberry.ID
    unit_id: strawberry.ID | None
    person_id: strawberry.ID | None
    starts_on: date
    ends_on: date | None
    monthly_rent_fen: int | None

    @classmethod
    def of(cls, a: ParkingAssignment) -> ParkingAssignmentType:
        return cls(
            id=gid("ParkingAssignment", a.id),
            space_id=gid("ParkingSpace", a.space_id),
            unit_id=gid("Unit", a.unit_id) if a.unit_id else None,
            person_id=gid("Person", a.person_id) if a.person_id else None,
            starts_on=a.starts_on,
            ends_on=a.ends_on,
            monthly_rent_fen=a.monthly_rent_fen,
        )


@strawberry.type(name="Vehicle")
class VehicleType:
    id: strawberry.ID
    plate: str
    new_energy: bool
    person_id: strawberry.ID
    community_id: strawberry.ID

    @classmethod
    def of(cls, x: Vehicle) -> VehicleType:
        return cls(
            id=gid("Vehicle", x.id),
            plate=x.plate,
            new_energy=x.new_energy,
            person_id=gid("Person", x.person_id),
            community_id=gid("Community", x.community_id),
        )


# --- inputs --------------------------------------------------------------------------------


@strawberry.input
class OverviewServiceItemInput:
    name: str
    standard: str = ""


@strawberry.input
class OverviewPriceInput:
    item: str
    amount_fen: int
    unit: str = ""


@strawberry.input
class OverviewContactInput:
    name: str
    phone: str
    role: str = ""


@strawberry.input
class CommunityOverviewInput:
    intro: str = ""
    service_items: list[OverviewServiceItemInput] = strawberry.field(default_factory=list)
    prices: list[OverviewPriceInput] = strawberry.field(default_factory=list)
    contacts: list[OverviewContactInput] = strawberry.field(default_factory=list)


def _profile_dict(p: CommunityOverviewInput | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "intro": p.intro,
        "serviceItems": [{"name": i.name, "standard": i.standard} for i in p.service_items],
        "prices": [{"item": i.item, "amountFen": i.amount_fen, "unit": i.unit} for i in p.prices],
        "contacts": [{"role": c.role, "name": c.name, "phone": c.phone} for c in p.contacts],
    }


@strawberry.input
class CreateCommunityInput:
    name: str
    address: str = ""
    district: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    area_m2: Decimal | None = None
    hotline: str = ""
    profile: CommunityOverviewInput | None = None


@strawberry.input
class UpdateCommunityInput:
    id: strawberry.ID
    name: str | None = UNSET
    address: str | None = UNSET
    district: str | None = UNSET
    latitude: Decimal | None = UNSET
    longitude: Decimal | None = UNSET
    area_m2: Decimal | None = UNSET
    hotline: str | None = UNSET
    profile: CommunityOverviewInput | None = UNSET


@strawberry.input
class CreateBuildingInput:
    community_id: strawberry.ID
    name: str
    floors: int
    entrances: int = 1


@strawberry.input
class UpdateBuildingInput:
    id: strawberry.ID
    name: str | None = UNSET
    floors: int | None = UNSET
    entrances: int | None = UNSET


@strawberry.input
class CreateUnitInput:
    building_id: strawberry.ID
    room_no: str
    floor: int
    building_area: Decimal
    entrance: int = 1
    layout: str = ""
    inner_area: Decimal | None = None
    property_type: str = "residential"
    status: str = "vacant"


@strawberry.input
class UpdateUnitInput:
    id: strawberry.ID
    room_no: str | None = UNSET
    floor: int | None = UNSET
    entrance: int | None = UNSET
    layout: str | None = UNSET
    building_area: Decimal | None = UNSET
    inner_area: Decimal | None = UNSET
    property_type: str | None = UNSET


@strawberry.input
class ChangeUnitStatusInput:
    unit_id: strawberry.ID
    status: str
    reason: str = ""


@strawberry.input
class CreateParkingLotInput:
    community_id: strawberry.ID
    name: str


@strawberry.input
class CreateParkingSpaceInput:
    lot_id: strawberry.ID
    number: str
    kind: str = "rented"
    status: str = "vacant"
    monthly_rent_fen: int | None = None


@strawberry.input
class AssignParkingSpaceInput:
    space_id: strawberry.ID
    starts_on: date
    unit_id: strawberry.ID | None = None
    person_id: strawberry.ID | None = None
    ends_on: date | None = None
    monthly_rent_fen: int | None = strawberry.field(
        default=None, description="Defaults to the space's rent standard"
    )


@strawberry.input
class EndParkingAssignmentInput:
    assignment_id: strawberry.ID
    ends_on: date


@strawberry.input
class RegisterVehicleInput:
    community_id: strawberry.ID
    person_id: strawberry.ID
    plate: str


@strawberry.input
class VehicleIdInput:
    id: strawberry.ID


# --- queries -------------------------------------------------------------------------------


@strawberry.type
class PropertyQuery:
    @query(VIEW)
    async def communities(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> Connection[CommunityType]:
        ctx = info.context
        scope = await ctx.data_scope()
        stmt = select(Community).where(scope.filter(Community.id)).order_by(Community.id)
        if search and search.strip():
            term = search.strip()
            stmt = stmt.where(
                or_(
                    Community.name.icontains(term, autoescape=True),
                    Community.address.icontains(term, autoescape=True),
                )
            )
        return await paginate(ctx, stmt, first=first, after=after, to_node=CommunityType.of)

    @query(VIEW)
    async def community(self, info: strawberry.Info, id: strawberry.ID) -> CommunityType | None:
        ctx = info.context
        c = await service.get_community(
            session=ctx.session,
            scope=await ctx.data_scope(),
            community_id=decode_id(id, "Community", "id"),
        )
        return CommunityType.of(c)

    @query(VIEW)
    async def buildings(
        self,
        info: strawberry.Info,
        community_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[BuildingType]:
        ctx = info.context
        stmt = await _community_rows(
            ctx, Building, community_id, Building.community_id, Building.name, Building.id
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=BuildingType.of)

    @query(VIEW)
    async def building(self, info: strawberry.Info, id: strawberry.ID) -> BuildingType | None:
        ctx = info.context
        b = await service.get_building(
            session=ctx.session,
            scope=await ctx.data_scope(),
            building_id=decode_id(id, "Building", "id"),
        )
        return BuildingType.of(b)

    @query(VIEW)
    async def units(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        community_id: strawberry.ID | None = None,
        building_id: strawberry.ID | None = None,
        status: str | None = None,
        search: str | None = None,
    ) -> Connection[UnitType]:
        """Search matches room number, building name or community name (every word must
        match one of them), e.g. ``3号楼 802``."""
        ctx = info.context
        stmt = await _community_rows(
            ctx, Unit, community_id, Unit.community_id, Unit.building_id, Unit.room_no, Unit.id
        )
        bid = optional_id(building_id, "Building", "buildingId")
        if bid is not None:
            stmt = stmt.where(Unit.building_id == bid)
        if status:
            stmt = stmt.where(Unit.status == v.choice(status, UNIT_STATUSES, "status"))
        words = (search or "").split()
        if words:
            stmt = stmt.join(Building, Building.id == Unit.building_id).join(
                Community, Community.id == Unit.community_id
            )
            stmt = stmt.where(
                and_(
                    *(
                        or_(
                            Unit.room_no.icontains(w, autoescape=True),
                            Building.name.icontains(w, autoescape=True),
                            Community.name.icontains(w, autoescape=True),
                        )
                        for w in words[:5]
                    )
                )
            )
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=UnitType.of,
            keyset=(Unit.community_id, Unit.building_id, Unit.room_no, Unit.id),
        )

    @query(VIEW)
    async def unit(self, info: strawberry.Info, id: strawberry.ID) -> UnitType | None:
        ctx = info.context
        u = await service.get_unit(
            session=ctx.session, scope=await ctx.data_scope(), unit_id=decode_id(id, "Unit", "id")
        )
        return UnitType.of(u)

    @query(VIEW)
    async def parking_lots(
        self,
        info: strawberry.Info,
        community_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ParkingLotType]:
        ctx = info.context
        stmt = await _community_rows(
            ctx, ParkingLot, community_id, ParkingLot.community_id, ParkingLot.name, ParkingLot.id
        )
        return await paginate(ctx, stmt, first=first, after=after, to_node=ParkingLotType.of)

    @query(VIEW)
    async def parking_spaces(
        self,
        info: strawberry.Info,
        community_id: strawberry.ID | None = None,
        lot_id: strawberry.ID | None = None,
        status: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ParkingSpaceType]:
        ctx = info.context
        stmt = await _community_rows(
            ctx,
            ParkingSpace,
            community_id,
            ParkingSpace.lot_id,
            ParkingSpace.number,
            ParkingSpace.id,
        )
        lid = optional_id(lot_id, "ParkingLot", "lotId")
        if lid is not None:
            stmt = stmt.where(ParkingSpace.lot_id == lid)
        if status:
            stmt = stmt.where(ParkingSpace.status == v.choice(status, SPACE_STATUSES, "status"))
        return await paginate(ctx, stmt, first=first, after=after, to_node=ParkingSpaceType.of)

    @query(VIEW)
    async def vehicles(
        self,
        info: strawberry.Info,
        search: str | None = None,
        community_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[VehicleType]:
        """Search by plate fragment (spaces and case ignored)."""
        ctx = info.context
        stmt = await _community_rows(ctx, Vehicle, community_id, Vehicle.plate)
        fragment = "".join((search or "").split()).upper()
        if fragment:
            stmt = stmt.where(Vehicle.plate.contains(fragment, autoescape=True))
        return await paginate(ctx, stmt, first=first, after=after, to_node=VehicleType.of)


# --- mutations -----------------------------------------------------------------------------


@strawberry.type
class PropertyMutation:
    @mutation(MANAGE)
    async def create_community(
        self, info: strawberry.Info, input: CreateCommunityInput
    ) -> CommunityType:
        ctx = info.context
        c = await service.create_community(
            session=ctx.session,
            scope=await ctx.data_scope(),
            name=input.name,
            address=input.address,
            district=input.district,
            latitude=input.latitude,
            longitude=input.longitude,
            area_m2=input.area_m2,
            hotline=input.hotline,
            profile_data=_profile_dict(input.profile),
        )
        ctx.audit_target = ("Community", str(c.id))
        return CommunityType.of(c)

    @mutation(MANAGE)
    async def update_community(
        self, info: strawberry.Info, input: UpdateCommunityInput
    ) -> CommunityType:
        ctx = info.context
        changes = _changes(
            input,
            {
                "name": "name",
                "address": "address",
                "district": "district",
                "latitude": "latitude",
                "longitude": "longitude",
                "area_m2": "area_m2",
                "hotline": "hotline",
            },
        )
        if input.profile is not UNSET:
            changes["profile"] = _profile_dict(input.profile)
        c = await service.update_community(
            session=ctx.session,
            scope=await ctx.data_scope(),
            community_id=decode_id(input.id, "Community", "id"),
            changes=changes,
        )
        ctx.audit_target = ("Community", str(c.id))
        return CommunityType.of(c)

    @mutation(MANAGE)
    async def create_building(
        self, info: strawberry.Info, input: CreateBuildingInput
    ) -> BuildingType:
        ctx = info.context
        b = await service.create_building(
            session=ctx.session,
            scope=await ctx.data_scope(),
            community_id=decode_id(input.community_id, "Community", "communityId"),
            name=input.name,
            floors=input.floors,
            entrances=input.entrances,
        )
        ctx.audit_target = ("Building", str(b.id))
        return BuildingType.of(b)

    @mutation(MANAGE)
    async def update_building(
        self, info: strawberry.Info, input: UpdateBuildingInput
    ) -> BuildingType:
        ctx = info.context
        b = await service.update_building(
            session=ctx.session,
            scope=await ctx.data_scope(),
            building_id=decode_id(input.id, "Building", "id"),
            changes=_changes(input, {"name": "name", "floors": "floors", "entrances": "entrances"}),
        )
        ctx.audit_target = ("Building", str(b.id))
        return BuildingType.of(b)

    @mutation(MANAGE)
    async def create_unit(self, info: strawberry.Info, input: CreateUnitInput) -> UnitType:
        ctx = info.context
        u = await service.create_unit(
            session=ctx.session,
            scope=await ctx.data_scope(),
            building_id=decode_id(input.building_id, "Building", "buildingId"),
            room_no=input.room_no,
            floor=input.floor,
            entrance=input.entrance,
            layout=input.layout,
            building_area=input.building_area,
            inner_area=input.inner_area,
            property_type=input.property_type,
            status=input.status,
            actor_id=(await ctx.user()).id,
        )
        ctx.audit_target = ("Unit", str(u.id))
        return UnitType.of(u)

    @mutation(MANAGE)
    async def update_unit(self, info: strawberry.Info, input: UpdateUnitInput) -> UnitType:
        ctx = info.context
        u = await service.update_unit(
            session=ctx.session,
            scope=await ctx.data_scope(),
            unit_id=decode_id(input.id, "Unit", "id"),
            changes=_changes(
                input,
                {
                    "room_no": "room_no",
                    "floor": "floor",
                    "entrance": "entrance",
                    "layout": "layout",
                    "building_area": "building_area",
                    "inner_area": "inner_area",
                    "property_type": "property_type",
                },
            ),
        )
        ctx.audit_target = ("Unit", str(u.id))
        return UnitType.of(u)

    @mutation(MANAGE, description="Change a unit's status and record it in its history")
    async def change_unit_status(
        self, info: strawberry.Info, input: ChangeUnitStatusInput
    ) -> UnitType:
        ctx = info.context
        u = await service.change_unit_status(
            session=ctx.session,
            scope=await ctx.data_scope(),
            unit_id=decode_id(input.unit_id, "Unit", "unitId"),
            status=input.status,
            reason=input.reason,
            actor_id=(await ctx.user()).id,
        )
        ctx.audit_target = ("Unit", str(u.id))
        return UnitType.of(u)

    @mutation(MANAGE)
    async def create_parking_lot(
        self, info: strawberry.Info, input: CreateParkingLotInput
    ) -> ParkingLotType:
        ctx = info.context
        lot = await service.create_parking_lot(
            session=ctx.session,
            scope=await ctx.data_scope(),
            community_id=decode_id(input.community_id, "Community", "communityId"),
            name=input.name,
        )
        ctx.audit_target = ("ParkingLot", str(lot.id))
        return ParkingLotType.of(lot)

    @mutation(MANAGE)
    async def create_parking_space(
        self, info: strawberry.Info, input: CreateParkingSpaceInput
    ) -> ParkingSpaceType:
        ctx = info.context
        space = await service.create_parking_space(
            session=ctx.session,
            scope=await ctx.data_scope(),
            lot_id=decode_id(input.lot_id, "ParkingLot", "lotId"),
            number=input.number,
            kind=input.kind,
            status=input.status,
            monthly_rent_fen=input.monthly_rent_fen,
        )
        ctx.audit_target = ("ParkingSpace", str(space.id))
        return ParkingSpaceType.of(space)

    @mutation(MANAGE)
    async def assign_parking_space(
        self, info: strawberry.Info, input: AssignParkingSpaceInput
    ) -> ParkingAssignmentType:
        ctx = info.context
        a = await service.assign_parking_space(
            session=ctx.session,
            scope=await ctx.data_scope(),
            space_id=decode_id(input.space_id, "ParkingSpace", "spaceId"),
            unit_id=optional_id(input.unit_id, "Unit", "unitId"),
            person_id=optional_id(input.person_id, "Person", "personId"),
            starts_on=input.starts_on,
            ends_on=input.ends_on,
            monthly_rent_fen=input.monthly_rent_fen,
        )
        ctx.audit_target = ("ParkingSpace", str(a.space_id))
        return ParkingAssignmentType.of(a)

    @mutation(MANAGE)
    async def end_parking_assignment(
        self, info: strawberry.Info, input: EndParkingAssignmentInput
    ) -> ParkingAssignmentType:
        ctx = info.context
        a = await service.end_parking_assignment(
            session=ctx.session,
            scope=await ctx.data_scope(),
            assignment_id=decode_id(input.assignment_id, "ParkingAssignment", "assignmentId"),
            ends_on=input.ends_on,
        )
        ctx.audit_target = ("ParkingSpace", str(a.space_id))
        return ParkingAssignmentType.of(a)

    @mutation(MANAGE)
    async def register_vehicle(
        self, info: strawberry.Info, input: RegisterVehicleInput
    ) -> VehicleType:
        ctx = info.context
        x = await service.register_vehicle(
            session=ctx.session,
            scope=await ctx.data_scope(),
            community_id=decode_id(input.community_id, "Community", "communityId"),
            person_id=decode_id(input.person_id, "Person", "personId"),
            plate=input.plate,
        )
        ctx.audit_target = ("Vehicle", str(x.id))
        return VehicleType.of(x)

    @mutation(MANAGE)
    async def remove_vehicle(self, info: strawberry.Info, input: VehicleIdInput) -> VehicleType:
        ctx = info.context
        x = await service.remove_vehicle(
            session=ctx.session,
            scope=await ctx.data_scope(),
            vehicle_id=decode_id(input.id, "Vehicle", "id"),
        )
        ctx.audit_target = ("Vehicle", str(x.id))
        return VehicleType.of(x)
