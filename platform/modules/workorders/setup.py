"""Work-order setup (``workorders.settings.manage``): categories with their SLA, residents'
customer levels, and the default categories a tenant starts with.

Categories are never deleted (orders point at them): they are switched off, which hides
them from residents and the phone desk while old orders keep their category. A resident's
level is read when an order is submitted (``orders.submit``); changing it later does not
touch orders already made. Named ``setup`` rather than ``settings``, which in this code base
means the process settings (``wuye.settings``) and the module config (``orders.settings_of``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.identity.scope import DataScope
from wuye.modules.estate.models import Department, Occupancy, Person
from wuye.modules.estate.residents import places_of_user
from wuye.modules.rows import flush_unique, get_row
from wuye.modules.workorders.models import LEVELS, TYPES, Category, CustomerLevel

MAX_MINUTES = 60 * 24 * 365  # a year: anything longer is a typo
MAX_SORT = 1_000_000

# --- validation ----------------------------------------------------------------------------


def _invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def _text(raw: str, field: str, *, max_len: int, required: bool = False) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise _invalid(field, "不能为空", "Required")
    if len(value) > max_len:
        raise _invalid(field, f"不能超过{max_len}个字符", f"At most {max_len} characters")
    return value


def _minutes(value: int, field: str) -> int:
    if not 0 < value <= MAX_MINUTES:
        raise _invalid(
            field,
            f"时限须为1到{MAX_MINUTES}分钟",
            f"Must be between 1 and {MAX_MINUTES} minutes",
        )
    return value


def _types(raw: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(t.strip() for t in raw))
    unknown = [t for t in chosen if t not in TYPES]
    if unknown:
        raise _invalid(
            "types",
            f"未知的工单类型：{', '.join(unknown)}",
            f"Unknown order types: {', '.join(unknown)}",
        )
    return [t for t in TYPES if t in chosen]  # canonical order


# --- categories ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryData:
    name_zh: str
    name_en: str = ""
    types: Sequence[str] = ()  # empty: every type
    default_team_id: int | None = None
    response_minutes: int = 30
    completion_minutes: int = 1440
    escalation_minutes: int = 120
    sort: int = 0


async def list_categories(
    session: AsyncSession, *, include_inactive: bool = False
) -> list[Category]:
    stmt = select(Category).order_by(Category.sort, Category.id)
    if not include_inactive:
        stmt = stmt.where(Category.active)
    return list(await session.scalars(stmt))


async def _team(session: AsyncSession, team_id: int | None) -> int | None:
    """A default team must be a department of kind ``team``; NOT_FOUND otherwise."""
    if team_id is None:
        return None
    found = await session.scalar(
        select(Department.id).where(Department.id == team_id, Department.kind == "team")
    )
    if found is None:
        raise AppError("NOT_FOUND", field="defaultTeamId")
    return int(found)


async def _values(session: AsyncSession, data: CategoryData) -> dict[str, Any]:
    """Every field checked before any is written: a bad input changes nothing."""
    response = _minutes(data.response_minutes, "responseMinutes")
    completion = _minutes(data.completion_minutes, "completionMinutes")
    if completion < response:
        raise _invalid(
            "completionMinutes",
            "完成时限不能短于响应时限",
            "The completion deadline cannot be shorter than the response deadline",
        )
    if not -MAX_SORT <= data.sort <= MAX_SORT:
        raise _invalid("sort", "排序值超出范围", f"Sort must be between -{MAX_SORT} and {MAX_SORT}")
    return {
        "name_zh": _text(data.name_zh, "nameZh", max_len=60, required=True),
        "name_en": _text(data.name_en, "nameEn", max_len=60),
        "types": _types(data.types),
        "response_minutes": response,
        "completion_minutes": completion,
        "escalation_minutes": _minutes(data.escalation_minutes, "escalationMinutes"),
        "sort": data.sort,
        "default_team_id": await _team(session, data.default_team_id),
    }


async def _save(session: AsyncSession, category: Category) -> None:
    await flush_unique(
        session,
        add=category,
        field="nameZh",
        zh="已有同名类别",
        en="A category of this name exists",
    )


async def create_category(session: AsyncSession, data: CategoryData) -> Category:
    category = Category(**await _values(session, data), active=True)
    await _save(session, category)
    return category


async def update_category(session: AsyncSession, category_id: int, data: CategoryData) -> Category:
    """Replaces every field but ``active``. New deadlines apply to orders submitted from now
    on; open orders keep the deadlines they were given."""
    category = await get_row(session, Category, category_id, lock=True)
    for key, value in (await _values(session, data)).items():
        setattr(category, key, value)
    await _save(session, category)
    return category


async def set_category_active(session: AsyncSession, category_id: int, active: bool) -> Category:
    category = await get_row(session, Category, category_id, lock=True)
    category.active = active
    await session.flush()
    return category


# --- default categories --------------------------------------------------------------------

# (zh, en, types (empty: all), response, completion, escalation minutes)
DEFAULT_CATEGORIES: tuple[tuple[str, str, tuple[str, ...], int, int, int], ...] = (
    ("水电维修", "Plumbing & electrical", ("repair", "appointment"), 30, 1440, 120),
    ("门窗锁具", "Doors & locks", ("repair", "appointment"), 30, 1440, 120),
    # people may be stuck inside: minutes, not hours
    ("电梯", "Elevator", ("repair",), 10, 240, 30),
    ("公共区域", "Public areas", ("repair", "complaint", "suggestion"), 60, 2880, 240),
    ("噪音扰民", "Noise", ("complaint",), 30, 1440, 120),
    ("环境卫生", "Cleaning", ("repair", "complaint", "suggestion"), 60, 1440, 240),
    ("其他", "Other", (), 60, 2880, 240),
)


async def seed_default_categories(session: AsyncSession) -> int:
    """The default categories, once: a tenant that has any category (its own, or these
    renamed or switched off) is left alone, so enabling the module again adds nothing.
    Returns how many were added."""
    if await session.scalar(select(exists().where(Category.id.is_not(None)))):
        return 0
    rows = [
        {
            "name_zh": zh,
            "name_en": en,
            "types": list(types),
            "response_minutes": response,
            "completion_minutes": completion,
            "escalation_minutes": escalation,
            "sort": (i + 1) * 10,
        }
        for i, (zh, en, types, response, completion, escalation) in enumerate(DEFAULT_CATEGORIES)
    ]
    stmt = insert(Category).on_conflict_do_nothing(index_elements=[Category.name_zh])
    result = await session.execute(stmt.returning(Category.id), rows)
    return len(result.all())


async def on_enable(*, session: AsyncSession, tenant: Any) -> None:
    """``Module.on_enable``: runs in the tenant's schema when the module is switched on."""
    await seed_default_categories(session)


# --- customer levels -----------------------------------------------------------------------


def _lives_in_scope(scope: DataScope, user_id: Any) -> Any:
    """Residents a staff member may grade: living (now) in one of their communities."""
    if scope.all_communities:
        return true()
    return exists().where(
        Person.user_id == user_id,
        Occupancy.person_id == Person.id,
        Occupancy.move_out_on.is_(None),
        scope.filter(Occupancy.community_id),
    )


async def set_customer_level(
    session: AsyncSession, *, scope: DataScope, actor_id: int, user_id: int, level: str
) -> tuple[CustomerLevel, User]:
    """Grade a resident (``normal`` resets). The resident must exist and, for staff with a
    community scope, live in one of its communities: NOT_FOUND (field userId) otherwise."""
    if level not in LEVELS:
        raise _invalid(
            "level",
            f"客户等级须为：{'、'.join(LEVELS)}",
            f"Level must be one of {', '.join(LEVELS)}",
        )
    user = await session.get(User, user_id)
    if user is None or user.kind != "resident":
        raise AppError("NOT_FOUND", field="userId")
    if not scope.all_communities:
        places = await places_of_user(session, user_id)
        if not any(scope.allows(c) for c in places.community_ids):
            raise AppError("NOT_FOUND", field="userId")
    now = datetime.now(UTC)
    stmt = (
        insert(CustomerLevel)
        .values(user_id=user_id, level=level, set_by=actor_id, updated_at=now)
        .on_conflict_do_update(
            index_elements=[CustomerLevel.user_id],
            set_={"level": level, "set_by": actor_id, "updated_at": now},
        )
        .returning(CustomerLevel)
    )
    row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one()
    return row, user


def customer_levels_query(scope: DataScope, *, level: str | None = None) -> Any:
    """(CustomerLevel, User) rows the staff member may see, most recently changed first."""
    stmt = (
        select(CustomerLevel, User)
        .join(User, User.id == CustomerLevel.user_id)
        .where(_lives_in_scope(scope, CustomerLevel.user_id))
        .order_by(CustomerLevel.updated_at.desc(), CustomerLevel.user_id.desc())
    )
    if level is not None:
        if level not in LEVELS:
            raise _invalid("level", "未知的客户等级", "Unknown level")
        stmt = stmt.where(CustomerLevel.level == level)
    return stmt
