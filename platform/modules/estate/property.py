"""Property service: communities, buildings, units (with status history), parking, vehicles.

Plain async functions, keyword-only, with an explicit ``session``. Every function that
reads or changes a community's data takes the caller's ``scope`` and checks it first:
outside the scope an object does not exist (NOT_FOUND). Errors name the GraphQL input field
(camelCase). Nothing here commits: the caller's transaction does, so a failure writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.estate import validation as v
from wuye.modules.estate.models import (
    PROPERTY_TYPES,
    SPACE_KINDS,
    SPACE_STATUSES,
    UNIT_STATUSES,
    Building,
    Community,
    Occupancy,
    ParkingAssignment,
    ParkingLot,
    ParkingSpace,
    Person,
    Unit,
    UnitStatusChange,
    Vehicle,
)
from wuye.modules.rows import flush_unique

T = TypeVar("T")
M = TypeVar("M")

_PROFILE_LIMITS = {"serviceItems": 100, "prices": 100, "contacts": 50}


def not_found(field: str | None = None) -> AppError:
    return AppError("NOT_FOUND", field=field) if field else AppError("NOT_FOUND")


async def _in_scope(
    session: AsyncSession, scope: DataScope, model: type[M], pk: int, field: str | None
) -> M:
    """The row with this key if its community is in the caller's scope, else NOT_FOUND."""
    found = await session.get(model, pk)
    if found is None or not scope.allows(found.community_id):  # type: ignore[attr-defined]
        raise not_found(field)
    return found


async def _add(session: AsyncSession, obj: T, **conflict: str) -> T:
    await flush_unique(session, add=obj, **conflict)
    await session.refresh(obj)
    return obj


async def _flush(session: AsyncSession, **conflict: str) -> None:
    await flush_unique(session, **conflict)


def _coordinate(raw: object, field: str, limit: int) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise v.invalid(field, "坐标不是数字", "A coordinate must be a number") from None
    if not value.is_finite() or abs(value) > limit:
        raise v.invalid(field, f"坐标须在±{limit}之间", f"Must be within ±{limit}")
    if value.as_tuple().exponent < -6:  # type: ignore[operator]
        raise v.invalid(field, "坐标最多六位小数", "At most six decimals")
    return value


def _rent(raw: int | None, field: str = "monthlyRentFen") -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw > 10**10:
        raise v.invalid(
            field, "金额须为非负整数（分）", "An amount is a non-negative integer (fen)"
        )
    return raw


def _fen(raw: object, field: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 10**10:
        raise v.invalid(
            field, "金额须为非负整数（分）", "An amount is a non-negative integer (fen)"
        )
    return raw


def profile(raw: dict[str, Any] | None) -> dict[str, Any]:
    """物业基本概况, normalised: ``intro``, ``serviceItems`` [{name, standard}], ``prices``
    [{item, amountFen, unit}], ``contacts`` [{role, name, phone}]."""
    raw = raw or {}
    out: dict[str, Any] = {
        "intro": v.text(raw.get("intro"), "profile.intro", max_len=2000, required=False)
    }
    for key, limit in _PROFILE_LIMITS.items():
        items = raw.get(key) or []
        if len(items) > limit:
            raise v.invalid(f"profile.{key}", f"最多{limit}项", f"At most {limit} entries")
        out[key] = items
    out["serviceItems"] = [
        {
            "name": v.text(i.get("name"), "profile.serviceItems.name", max_len=60),
            "standard": v.text(
                i.get("standard"), "profile.serviceItems.standard", max_len=500, required=False
            ),
        }
        for i in out["serviceItems"]
    ]
    out["prices"] = [
        {
            "item": v.text(p.get("item"), "profile.prices.item", max_len=60),
            "amountFen": _fen(p.get("amountFen"), "profile.prices.amountFen"),
            "unit": v.text(p.get("unit"), "profile.prices.unit", max_len=30, required=False),
        }
        for p in out["prices"]
    ]
    out["contacts"] = [
        {
            "role": v.text(c.get("role"), "profile.contacts.role", max_len=60, required=False),
            "name": v.text(c.get("name"), "profile.contacts.name", max_len=60),
            "phone": v.text(c.get("phone"), "profile.contacts.phone", max_len=30),
        }
        for c in out["contacts"]
    ]
    return out


# --- communities ---------------------------------------------------------------------------

_COMMUNITY_TAKEN = dict(field="name", zh="小区名称已存在", en="A community with this name exists")


async def get_community(
    *, session: AsyncSession, scope: DataScope, community_id: int, field: str | None = None
) -> Community:
    scope_ok = scope.allows(community_id)
    found = await session.get(Community, community_id) if scope_ok else None
    if found is None:
        raise not_found(field)
    return found


async def create_community(
    *,
    session: AsyncSession,
    scope: DataScope,
    name: str,
    address: str = "",
    district: str = "",
    latitude: object = None,
    longitude: object = None,
    area_m2: object = None,
    hotline: str = "",
    profile_data: dict[str, Any] | None = None,
) -> Community:
    """Only staff who see every community may add one (it would be outside any other scope)."""
    if not scope.all_communities:
        raise AppError("FORBIDDEN")
    community = Community(
        name=v.text(name, "name", max_len=100),
        address=v.text(address, "address", max_len=300, required=False),
        district=v.text(district, "district", max_len=100, required=False),
        latitude=_coordinate(latitude, "latitude", 90),
        longitude=_coordinate(longitude, "longitude", 180),
        area_m2=v.area(area_m2, "areaM2", required=False),
        hotline=v.text(hotline, "hotline", max_len=30, required=False),
        profile=profile(profile_data),
    )
    return await _add(session, community, **_COMMUNITY_TAKEN)


async def update_community(
    *,
    session: AsyncSession,
    scope: DataScope,
    community_id: int,
    changes: dict[str, Any],
) -> Community:
    """``changes``: any of name, address, district, latitude, longitude, area_m2, hotline,
    profile (absent keys stay as they are)."""
    c = await get_community(session=session, scope=scope, community_id=community_id, field="id")
    if "name" in changes:
        c.name = v.text(changes["name"], "name", max_len=100)
    if "address" in changes:
        c.address = v.text(changes["address"], "address", max_len=300, required=False)
    if "district" in changes:
        c.district = v.text(changes["district"], "district", max_len=100, required=False)
    if "latitude" in changes:
        c.latitude = _coordinate(changes["latitude"], "latitude", 90)
    if "longitude" in changes:
        c.longitude = _coordinate(changes["longitude"], "longitude", 180)
    if "area_m2" in changes:
        c.area_m2 = v.area(changes["area_m2"], "areaM2", required=False)
    if "hotline" in changes:
        c.hotline = v.text(changes["hotline"], "hotline", max_len=30, required=False)
    if "profile" in changes:
        c.profile = profile(changes["profile"])
    await _flush(session, **_COMMUNITY_TAKEN)
    return c


# --- buildings -----------------------------------------------------------------------------

_BUILDING_TAKEN = dict(
    field="name", zh="该小区已有同名楼栋", en="This community already has a building of that name"
)


async def get_building(
    *, session: AsyncSession, scope: DataScope, building_id: int, field: str | None = None
) -> Building:
    return await _in_scope(session, scope, Building, building_id, field)


async def create_building(
    *,
    session: AsyncSession,
    scope: DataScope,
    community_id: int,
    name: str,
    floors: int,
    entrances: int = 1,
) -> Building:
    await get_community(
        session=session, scope=scope, community_id=community_id, field="communityId"
    )
    building = Building(
        community_id=community_id,
        name=v.text(name, "name", max_len=60),
        floors=v.positive_int(floors, "floors", maximum=200),
        entrances=v.positive_int(entrances, "entrances", maximum=50),
    )
    return await _add(session, building, **_BUILDING_TAKEN)


async def update_building(
    *, session: AsyncSession, scope: DataScope, building_id: int, changes: dict[str, Any]
) -> Building:
    b = await get_building(session=session, scope=scope, building_id=building_id, field="id")
    if "name" in changes:
        b.name = v.text(changes["name"], "name", max_len=60)
    if "floors" in changes:
        b.floors = v.positive_int(changes["floors"], "floors", maximum=200)
    if "entrances" in changes:
        b.entrances = v.positive_int(changes["entrances"], "entrances", maximum=50)
    await _flush(session, **_BUILDING_TAKEN)
    return b


# --- units ---------------------------------------------------------------------------------

_ROOM_TAKEN = dict(
    field="roomNo",
    zh="该楼栋已有此房号",
    en="This building already has a unit with this room number",
)


async def get_unit(
    *, session: AsyncSession, scope: DataScope, unit_id: int, field: str | None = None
) -> Unit:
    return await _in_scope(session, scope, Unit, unit_id, field)


def _check_floor(floor: object, building: Building) -> int:
    value = v.floor_number(floor, "floor")
    if value > building.floors:
        raise v.invalid(
            "floor",
            f"楼层超过楼栋层数（{building.floors}）",
            f"The building has {building.floors} floors",
        )
    return value


def _check_entrance(entrance: object, building: Building) -> int:
    value = v.positive_int(entrance, "entrance", maximum=50)
    if value > building.entrances:
        raise v.invalid(
            "entrance",
            f"单元号超过楼栋单元数（{building.entrances}）",
            f"The building has {building.entrances} entrances",
        )
    return value


def _check_inner(inner: Decimal | None, building_area: Decimal) -> Decimal | None:
    if inner is not None and inner > building_area:
        raise v.invalid("innerArea", "套内面积不能大于建筑面积", "Inner area exceeds building area")
    return inner


async def create_unit(
    *,
    session: AsyncSession,
    scope: DataScope,
    building_id: int,
    room_no: str,
    floor: int,
    building_area: object,
    entrance: int = 1,
    layout: str = "",
    inner_area: object = None,
    property_type: str = "residential",
    status: str = "vacant",
    actor_id: int | None = None,
) -> Unit:
    building = await get_building(
        session=session, scope=scope, building_id=building_id, field="buildingId"
    )
    area = v.area(building_area, "buildingArea")
    assert area is not None
    unit = Unit(
        community_id=building.community_id,
        building_id=building.id,
        room_no=v.text(room_no, "roomNo", max_len=20),
        floor=_check_floor(floor, building),
        entrance=_check_entrance(entrance, building),
        layout=v.text(layout, "layout", max_len=20, required=False),
        building_area=area,
        inner_area=_check_inner(v.area(inner_area, "innerArea", required=False), area),
        property_type=v.choice(property_type, PROPERTY_TYPES, "propertyType"),
        status=v.choice(status, UNIT_STATUSES, "status"),
    )
    unit = await _add(session, unit, **_ROOM_TAKEN)
    session.add(
        UnitStatusChange(
            unit_id=unit.id, from_status=None, to_status=unit.status, changed_by=actor_id
        )
    )
    await session.flush()
    return unit


async def update_unit(
    *, session: AsyncSession, scope: DataScope, unit_id: int, changes: dict[str, Any]
) -> Unit:
    """``changes``: any of room_no, floor, entrance, layout, building_area, inner_area,
    property_type. The status changes only through ``change_unit_status`` (with history)."""
    u = await get_unit(session=session, scope=scope, unit_id=unit_id, field="id")
    building = await session.get(Building, u.building_id)
    assert building is not None
    if "room_no" in changes:
        u.room_no = v.text(changes["room_no"], "roomNo", max_len=20)
    if "floor" in changes:
        u.floor = _check_floor(changes["floor"], building)
    if "entrance" in changes:
        u.entrance = _check_entrance(changes["entrance"], building)
    if "layout" in changes:
        u.layout = v.text(changes["layout"], "layout", max_len=20, required=False)
    if "building_area" in changes:
        area = v.area(changes["building_area"], "buildingArea")
        assert area is not None
        u.building_area = area
    if "inner_area" in changes:
        u.inner_area = v.area(changes["inner_area"], "innerArea", required=False)
    _check_inner(u.inner_area, u.building_area)
    if "property_type" in changes:
        u.property_type = v.choice(changes["property_type"], PROPERTY_TYPES, "propertyType")
    await _flush(session, **_ROOM_TAKEN)
    return u


async def change_unit_status(
    *,
    session: AsyncSession,
    scope: DataScope,
    unit_id: int,
    status: str,
    reason: str = "",
    actor_id: int | None = None,
) -> Unit:
    u = await get_unit(session=session, scope=scope, unit_id=unit_id, field="unitId")
    new = v.choice(status, UNIT_STATUSES, "status")
    why = v.text(reason, "reason", max_len=200, required=False)
    if new == u.status:
        raise v.invalid("status", "房屋已是该状态", "The unit already has this status")
    session.add(
        UnitStatusChange(
            unit_id=u.id, from_status=u.status, to_status=new, reason=why, changed_by=actor_id
        )
    )
    u.status = new
    await session.flush()
    return u


# --- parking -------------------------------------------------------------------------------


async def create_parking_lot(
    *, session: AsyncSession, scope: DataScope, community_id: int, name: str
) -> ParkingLot:
    await get_community(
        session=session, scope=scope, community_id=community_id, field="communityId"
    )
    lot = ParkingLot(community_id=community_id, name=v.text(name, "name", max_len=60))
    return await _add(
        session,
        lot,
        field="name",
        zh="该小区已有同名停车场",
        en="This community already has a parking lot of that name",
    )


async def get_parking_lot(
    *, session: AsyncSession, scope: DataScope, lot_id: int, field: str | None = None
) -> ParkingLot:
    return await _in_scope(session, scope, ParkingLot, lot_id, field)


async def create_parking_space(
    *,
    session: AsyncSession,
    scope: DataScope,
    lot_id: int,
    number: str,
    kind: str = "rented",
    status: str = "vacant",
    monthly_rent_fen: int | None = None,
) -> ParkingSpace:
    lot = await get_parking_lot(session=session, scope=scope, lot_id=lot_id, field="lotId")
    space = ParkingSpace(
        community_id=lot.community_id,
        lot_id=lot.id,
        number=v.text(number, "number", max_len=20),
        kind=v.choice(kind, SPACE_KINDS, "kind"),
        status=v.choice(status, SPACE_STATUSES, "status"),
        monthly_rent_fen=_rent(monthly_rent_fen),
    )
    return await _add(
        session,
        space,
        field="number",
        zh="该停车场已有此车位号",
        en="This parking lot already has a space with this number",
    )


async def get_parking_space(
    *, session: AsyncSession, scope: DataScope, space_id: int, field: str | None = None
) -> ParkingSpace:
    return await _in_scope(session, scope, ParkingSpace, space_id, field)


async def _person_in_community(
    session: AsyncSession, person_id: int, community_id: int, field: str
) -> Person:
    """A person known in the community: they hold (or held) a unit there."""
    person = await session.get(Person, person_id)
    linked = person is not None and await session.scalar(
        select(
            exists().where(Occupancy.person_id == person_id, Occupancy.community_id == community_id)
        )
    )
    if not linked:
        raise not_found(field)
    assert person is not None
    return person


async def assign_parking_space(
    *,
    session: AsyncSession,
    scope: DataScope,
    space_id: int,
    starts_on: date,
    unit_id: int | None = None,
    person_id: int | None = None,
    ends_on: date | None = None,
    monthly_rent_fen: int | None = None,
) -> ParkingAssignment:
    """Assign a space to a unit and/or a person of its community. One current assignment per
    space; the rent defaults to the space's rent standard."""
    space = await get_parking_space(
        session=session, scope=scope, space_id=space_id, field="spaceId"
    )
    if unit_id is None and person_id is None:
        raise v.invalid("unitId", "请指定房屋或住户", "Name a unit or a person")
    if unit_id is not None:
        unit = await session.get(Unit, unit_id)
        if unit is None or unit.community_id != space.community_id:
            raise not_found("unitId")
    if person_id is not None:
        await _person_in_community(session, person_id, space.community_id, "personId")
    if ends_on is not None and ends_on < starts_on:
        raise v.invalid("endsOn", "结束日期早于开始日期", "The end date is before the start")
    if space.status == "disabled":
        raise AppError("CONFLICT", "车位已停用", "This space is disabled", field="spaceId")
    # Two cashiers assigning the same space at once: the second waits here, then sees the
    # first assignment in the overlap check below.
    await session.execute(
        select(ParkingSpace.id).where(ParkingSpace.id == space.id).with_for_update()
    )
    busy = await session.scalar(
        select(
            exists().where(
                ParkingAssignment.space_id == space.id,
                (ParkingAssignment.ends_on.is_(None)) | (ParkingAssignment.ends_on >= starts_on),
            )
        )
    )
    if busy:
        raise AppError(
            "CONFLICT", "车位已被分配", "This space is already assigned", field="spaceId"
        )
    assignment = ParkingAssignment(
        community_id=space.community_id,
        space_id=space.id,
        unit_id=unit_id,
        person_id=person_id,
        starts_on=starts_on,
        ends_on=ends_on,
        monthly_rent_fen=_rent(monthly_rent_fen)
        if monthly_rent_fen is not None
        else space.monthly_rent_fen,
    )
    session.add(assignment)
    space.status = "occupied"
    await session.flush()
    await session.refresh(assignment)
    return assignment


async def end_parking_assignment(
    *, session: AsyncSession, scope: DataScope, assignment_id: int, ends_on: date
) -> ParkingAssignment:
    a = await session.get(ParkingAssignment, assignment_id)
    if a is None or not scope.allows(a.community_id):
        raise not_found("assignmentId")
    if a.ends_on is not None and a.ends_on < date.today():
        raise AppError(
            "CONFLICT", "该分配已结束", "This assignment has ended", field="assignmentId"
        )
    if ends_on < a.starts_on:
        raise v.invalid("endsOn", "结束日期早于开始日期", "The end date is before the start")
    a.ends_on = ends_on
    await session.execute(
        update(ParkingSpace)
        .where(ParkingSpace.id == a.space_id, ParkingSpace.status == "occupied")
        .values(status="vacant")
    )
    await session.flush()
    return a


# --- vehicles ------------------------------------------------------------------------------


async def register_vehicle(
    *, session: AsyncSession, scope: DataScope, community_id: int, person_id: int, plate: str
) -> Vehicle:
    number, new_energy = v.plate(plate, "plate")
    await get_community(
        session=session, scope=scope, community_id=community_id, field="communityId"
    )
    await _person_in_community(session, person_id, community_id, "personId")
    vehicle = Vehicle(
        community_id=community_id, person_id=person_id, plate=number, new_energy=new_energy
    )
    return await _add(
        session, vehicle, field="plate", zh="该车牌已登记", en="This plate is already registered"
    )


async def remove_vehicle(*, session: AsyncSession, scope: DataScope, vehicle_id: int) -> Vehicle:
    found = await session.get(Vehicle, vehicle_id)
    if found is None or not scope.allows(found.community_id):
        raise not_found("id")
    await session.delete(found)
    await session.flush()
    return found


# --- labels other modules show -------------------------------------------------------------


def place_label(community: str, building: str, room: str) -> str:
    """How staff and residents name a unit: 小区 楼栋 房号, e.g. "阳光花园 3号楼 1-802"."""
    return f"{community} {building} {room}".strip()


async def unit_labels(session: AsyncSession, unit_ids: Collection[int]) -> dict[int, str]:
    """``place_label`` of each unit, in one query."""
    ids = sorted(set(unit_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Unit.id, Community.name, Building.name, Unit.room_no)
        .join(Community, Community.id == Unit.community_id)
        .join(Building, Building.id == Unit.building_id)
        .where(Unit.id.in_(ids))
    )
    return {uid: place_label(c, b, r) for uid, c, b, r in rows}
