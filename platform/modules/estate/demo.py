"""Demo data for `wuye dev`: two communities, a dozen buildings, about 1,000 units with
residents, parking, and staff in a department tree. Idempotent (skipped when communities
exist); written with set-based inserts so it takes a second, not a minute."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity import service as identity
from wuye.identity.models import User
from wuye.modules.estate.models import (
    Building,
    Community,
    CommunityTeamMember,
    Department,
    Occupancy,
    ParkingLot,
    ParkingSpace,
    Person,
    Position,
    StaffProfile,
    Unit,
    Vehicle,
)
from wuye.modules.estate.property import profile as community_profile

DEMO_STAFF_PASSWORD = "wuye-demo-2026"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许"
    "韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕红梅玉兰晓东"
_LAYOUTS = (
    ("2室1厅", Decimal("89.50")),
    ("3室2厅", Decimal("126.30")),
    ("4室2厅", Decimal("143.80")),
)
_COMMUNITIES = (
    (
        "阳光花园",
        "上海市浦东新区锦绣路1888弄",
        "浦东新区",
        Decimal("31.205300"),
        Decimal("121.544700"),
    ),
    (
        "翠湖名苑",
        "上海市闵行区虹梅南路2999弄",
        "闵行区",
        Decimal("31.108900"),
        Decimal("121.390100"),
    ),
)
BUILDINGS_PER_COMMUNITY, FLOORS, ENTRANCES, ROOMS_PER_FLOOR = 6, 11, 2, 4


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))


async def _ids(session: AsyncSession, stmt: Any, rows: list[dict[str, Any]]) -> list[int]:
    return list((await session.scalars(stmt.returning(stmt.table.c.id), rows)).all())


async def seed_estate_demo(*, session: AsyncSession, tenant: Any, runtime: Any) -> None:
    if await session.scalar(select(func.count()).select_from(Community)):
        return
    rng = random.Random(2026)
    community_ids = await _ids(
        session,
        insert(Community),
        [
            {
                "name": name,
                "address": address,
                "district": district,
                "latitude": lat,
                "longitude": lng,
                "area_m2": Decimal("86000.00"),
                "hotline": "021-5888800" + str(i),
                "profile": community_profile(
                    {
                        "intro": f"{name}由演示物业提供一级物业服务。",
                        "serviceItems": [
                            {"name": "安保", "standard": "24小时门岗与巡逻"},
                            {"name": "保洁", "standard": "公共区域每日清扫两次"},
                            {"name": "绿化", "standard": "每月修剪一次"},
                            {"name": "设施维保", "standard": "电梯每半月维保一次"},
                        ],
                        "prices": [
                            {"item": "物业费", "amountFen": 280, "unit": "元/m²/月"},
                            {"item": "地下车位租金", "amountFen": 30000, "unit": "元/月"},
                        ],
                        "contacts": [
                            {"role": "客服中心", "name": "前台", "phone": "021-5888800" + str(i)}
                        ],
                    }
                ),
            }
            for i, (name, address, district, lat, lng) in enumerate(_COMMUNITIES, start=1)
        ],
    )
    building_rows = [
        {"community_id": cid, "name": f"{b}号楼", "floors": FLOORS, "entrances": ENTRANCES}
        for cid in community_ids
        for b in range(1, BUILDINGS_PER_COMMUNITY + 1)
    ]
    building_ids = await _ids(session, insert(Building), building_rows)
    unit_rows = []
    for building_id, b in zip(building_ids, building_rows, strict=True):
        for entrance in range(1, ENTRANCES + 1):
            for floor in range(1, FLOORS + 1):
                for room in range(1, ROOMS_PER_FLOOR + 1):
                    layout, building_area = _LAYOUTS[(room - 1) % len(_LAYOUTS)]
                    unit_rows.append(
                        {
                            "community_id": b["community_id"],
                            "building_id": building_id,
                            "entrance": entrance,
                            "floor": floor,
                            "room_no": f"{entrance}-{floor}{room:02d}",
                            "layout": layout,
                            "building_area": building_area,
                            "inner_area": (building_area * Decimal("0.78")).quantize(
                                Decimal("0.01")
                            ),
                            "property_type": "residential",
                            "status": rng.choices(
                                ("occupied", "vacant", "rented", "renovating"), (80, 10, 8, 2)
                            )[0],
                        }
                    )
    unit_ids = await _ids(session, insert(Unit), unit_rows)

    # residents: an owner (the primary contact) per lived-in unit, sometimes family
    people: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for unit_id, u in zip(unit_ids, unit_rows, strict=True):
        if u["status"] == "vacant":
            continue
        household = [("owner" if u["status"] != "rented" else "tenant", True)]
        household += [("family", False)] * rng.choice((0, 0, 1, 2))
        for relation, primary in household:
            phone = f"+86137{len(people):08d}"
            people.append({"name": _name(rng), "phone": phone, "phone_last4": phone[-4:]})
            links.append(
                {
                    "community_id": u["community_id"],
                    "unit_id": unit_id,
                    "relation": relation,
                    "is_primary": primary,
                    "move_in_on": date(2018 + rng.randint(0, 7), rng.randint(1, 12), 1),
                }
            )
    person_ids = await _ids(session, insert(Person), people)
    await session.execute(
        insert(Occupancy),
        [{**link, "person_id": pid} for link, pid in zip(links, person_ids, strict=True)],
    )

    # the demo resident login owns 阳光花园 1号楼 1-101
    resident = await session.scalar(select(User).where(User.phone == "+8613900000002"))
    if resident is not None:
        person_id = (
            await _ids(
                session,
                insert(Person),
                [
                    {
                        "name": resident.name,
                        "phone": resident.phone,
                        "phone_last4": (resident.phone or "")[-4:],
                        "user_id": resident.id,
                    }
                ],
            )
        )[0]
        await session.execute(
            insert(Occupancy),
            [
                {
                    "community_id": community_ids[0],
                    "unit_id": unit_ids[0],
                    "person_id": person_id,
                    "relation": "owner",
                    "is_primary": False,
                    "move_in_on": date(2020, 5, 1),
                }
            ],
        )

    # parking: one lot per community, rented spaces, plates for some residents
    for cid in community_ids:
        lot_id = (
            await _ids(session, insert(ParkingLot), [{"community_id": cid, "name": "地下车库"}])
        )[0]
        await session.execute(
            insert(ParkingSpace),
            [
                {
                    "community_id": cid,
                    "lot_id": lot_id,
                    "number": f"B1-{n:03d}",
                    "kind": "rented" if n % 3 else "owned",
                    "status": "occupied" if n % 4 else "vacant",
                    "monthly_rent_fen": 30000,
                }
                for n in range(1, 121)
            ],
        )
    plates = {f"沪{rng.choice('ABCDEFGHJKLMN')}{rng.randint(10000, 99999)}" for _ in range(300)}
    occupant_communities = {
        pid: link["community_id"] for pid, link in zip(person_ids, links, strict=True)
    }
    await session.execute(
        insert(Vehicle),
        [
            {"community_id": occupant_communities[pid], "person_id": pid, "plate": plate}
            for pid, plate in zip(person_ids[::5], sorted(plates), strict=False)
        ],
    )

    await _seed_organisation(session, runtime, community_ids)


async def _seed_organisation(session: AsyncSession, runtime: Any, community_ids: list[int]) -> None:
    async def department(
        name: str, kind: str, parent: dict[str, Any] | None, community_id: int | None = None
    ) -> dict[str, Any]:
        dept_id = (
            await _ids(
                session,
                insert(Department),
                [
                    {
                        "name": name,
                        "kind": kind,
                        "parent_id": parent["id"] if parent else None,
                        "community_id": community_id,
                    }
                ],
            )
        )[0]
        path = f"{parent['path'] if parent else '/'}{dept_id}/"
        await session.execute(update(Department).where(Department.id == dept_id).values(path=path))
        return {"id": dept_id, "path": path}

    company = await department("演示物业有限公司", "company", None)
    region = await department("华东区域", "region", company)
    positions = dict(
        zip(
            ("项目经理", "客服", "维修工", "收银员"),
            await _ids(
                session,
                insert(Position),
                [{"name": n} for n in ("项目经理", "客服", "维修工", "收银员")],
            ),
            strict=True,
        )
    )
    password_hash = runtime.passwords.hash(DEMO_STAFF_PASSWORD)
    staff_no = 0
    for c, (community_id, (community_name, *_)) in enumerate(
        zip(community_ids, _COMMUNITIES, strict=True)
    ):
        project = await department(f"{community_name}项目部", "project", region, community_id)
        teams = {
            "客服": await department("客服组", "team", project, community_id),
            "维修工": await department("维修组", "team", project, community_id),
        }
        for position, role, team in (
            ("项目经理", "manager", project),
            ("客服", "customer_service", teams["客服"]),
            ("维修工", "maintenance_worker", teams["维修工"]),
            ("收银员", "cashier", project),
        ):
            staff_no += 1
            user = await identity.create_user(
                session,
                kind="staff",
                name=f"{community_name}{position}",
                phone=f"+8613500{c}{staff_no:05d}",
                role_keys=[role],
                password_hash=password_hash,
            )
            await identity.set_user_scope(
                session, user_id=user.id, all_communities=False, community_ids=[community_id]
            )
            session.add(
                StaffProfile(
                    user_id=user.id,
                    department_id=team["id"],
                    position_id=positions[position],
                    employee_no=f"WY{staff_no:04d}",
                    joined_on=date(2021, 3, 1),
                )
            )
            session.add(
                CommunityTeamMember(community_id=community_id, user_id=user.id, duty=position)
            )
    await session.flush()
