"""Community yellow pages (社区黄页): categories and entries with phone numbers residents can
dial. Plain async functions, explicit session.

An entry belongs to one community or (``community_id`` None) to every community. Staff work
through their data scope: an entry of a community outside it does not exist for them, and
tenant-wide entries and categories (shared by every community) need an all-communities scope
to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from wuye.errors import AppError
from wuye.identity.scope import DataScope
from wuye.modules.estate import property as estate
from wuye.modules.notices.models import YellowPageCategory, YellowPageEntry
from wuye.modules.rows import flush_unique, get_row

MAX_PHONES = 5
MAX_SORT = 1_000_000

# --- validation ----------------------------------------------------------------------------


def invalid(field: str, zh: str, en: str) -> AppError:
    return AppError("VALIDATION_FAILED", zh, en, field=field)


def not_found(field: str = "id") -> AppError:
    return AppError("NOT_FOUND", field=field)


def text(raw: str | None, field: str, *, max_len: int, required: bool = False) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise invalid(field, "不能为空", "Required")
    if len(value) > max_len:
        raise invalid(field, f"不能超过{max_len}个字符", f"At most {max_len} characters")
    return value


def sort_value(raw: int, field: str = "sort") -> int:
    if not -MAX_SORT <= raw <= MAX_SORT:
        raise invalid(field, "排序值超出范围", f"Sort must be between -{MAX_SORT} and {MAX_SORT}")
    return raw


_PHONE_CHARS = re.compile(r"^\+?[0-9][0-9 \-]*$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# area code: 010 and 02x have 3 digits, the rest 4; subscriber numbers 7-8 digits, not 0/1
_LANDLINE = re.compile(r"^(0(?:10|2[0-9]|[3-9][0-9]{2}))([2-9][0-9]{6,7})$")
_SERVICE = re.compile(r"^[48]00[0-9]{7}$")  # 400 / 800 hotlines
_SHORT = re.compile(r"^(?:1[0-9]{2,4}|9[56][0-9]{3})$")  # 110, 12345, 10086, 95598, 96xxx
_LOCAL = re.compile(r"^[2-9][0-9]{6,7}$")  # a landline written without its area code
_FOREIGN = re.compile(r"^[1-9][0-9]{6,14}$")  # E.164 without the +


def normalise_phone(raw: str, field: str = "phones") -> str:
    """A phone number in one display form (``13812345678``, ``0571-88886666``,
    ``400-800-8888``, ``110``, ``+85221234567``), or VALIDATION_FAILED."""
    value = raw.strip()
    if not _PHONE_CHARS.fullmatch(value):
        raise invalid(field, f"电话号码格式不正确：{raw}", f"Invalid phone number: {raw}")
    digits = value.replace(" ", "").replace("-", "")
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("86"):
            if _FOREIGN.fullmatch(digits):
                return "+" + digits
            raise invalid(field, f"电话号码格式不正确：{raw}", f"Invalid phone number: {raw}")
        # +86 571 8888 6666: the national number drops the trunk 0
        digits = digits[2:]
        if not _MOBILE.fullmatch(digits):
            digits = "0" + digits
    if _MOBILE.fullmatch(digits):
        return digits
    landline = _LANDLINE.fullmatch(digits)
    if landline:
        return f"{landline.group(1)}-{landline.group(2)}"
    if _SERVICE.fullmatch(digits):
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    if _SHORT.fullmatch(digits) or _LOCAL.fullmatch(digits):
        return digits
    raise invalid(field, f"电话号码格式不正确：{raw}", f"Invalid phone number: {raw}")


def tel_uri(phone: str) -> str:
    """RFC 3966 URI for a normalised number: global form where it has one (mobiles and
    landlines dial from anywhere), the digits alone for short and hotline numbers, which
    only work inside mainland China."""
    if phone.startswith("+"):
        return f"tel:{phone}"
    if _MOBILE.fullmatch(phone):
        return f"tel:+86{phone}"
    if phone.startswith("0") and "-" in phone:
        area, number = phone.split("-", 1)
        return f"tel:+86-{area[1:]}-{number}"
    return "tel:" + phone.replace("-", "")


def normalise_phones(raw: Sequence[str]) -> list[str]:
    phones: list[str] = []
    for item in raw:
        if not item.strip():
            continue
        phone = normalise_phone(item)
        if phone not in phones:
            phones.append(phone)
    if not phones:
        raise invalid("phones", "请至少填写一个电话号码", "Give at least one phone number")
    if len(phones) > MAX_PHONES:
        raise invalid("phones", f"最多{MAX_PHONES}个电话号码", f"At most {MAX_PHONES} numbers")
    return phones


# --- categories ----------------------------------------------------------------------------


def _require_all(scope: DataScope) -> None:
    """Shared rows (categories, tenant-wide entries) change every community's yellow pages."""
    if not scope.all_communities:
        raise AppError(
            "FORBIDDEN",
            "仅管辖全部小区的员工可以修改全局黄页",
            "Only staff covering all communities can change tenant-wide yellow pages",
        )


async def list_categories(session: AsyncSession) -> list[YellowPageCategory]:
    stmt = select(YellowPageCategory).order_by(YellowPageCategory.sort, YellowPageCategory.id)
    return list(await session.scalars(stmt))


async def get_category(
    session: AsyncSession,
    category_id: int,
    *,
    field: str = "id",
    lock: bool = False,
    share: bool = False,
) -> YellowPageCategory:
    return await get_row(
        session, YellowPageCategory, category_id, field=field, lock=lock, share=share
    )


async def _save_category(session: AsyncSession, category: YellowPageCategory) -> None:
    await flush_unique(
        session,
        add=category,
        field="nameZh",
        zh="已有同名分类",
        en="A category of this name exists",
    )


async def create_category(
    session: AsyncSession, *, scope: DataScope, name_zh: str, name_en: str = "", sort: int = 0
) -> YellowPageCategory:
    _require_all(scope)
    category = YellowPageCategory(
        name_zh=text(name_zh, "nameZh", max_len=60, required=True),
        name_en=text(name_en, "nameEn", max_len=60),
        sort=sort_value(sort),
    )
    await _save_category(session, category)
    return category


async def update_category(
    session: AsyncSession,
    *,
    scope: DataScope,
    category_id: int,
    name_zh: str,
    name_en: str = "",
    sort: int = 0,
) -> YellowPageCategory:
    _require_all(scope)
    category = await get_category(session, category_id, lock=True)
    # validate everything before touching the row: a bad field changes nothing
    values = (
        text(name_zh, "nameZh", max_len=60, required=True),
        text(name_en, "nameEn", max_len=60),
        sort_value(sort),
    )
    category.name_zh, category.name_en, category.sort = values
    await _save_category(session, category)
    return category


async def delete_category(session: AsyncSession, *, scope: DataScope, category_id: int) -> None:
    """Only an empty category goes (entries of any community count)."""
    _require_all(scope)
    category = await get_category(session, category_id, lock=True)
    if await session.scalar(select(exists().where(YellowPageEntry.category_id == category.id))):
        raise AppError("CONFLICT", "该分类下还有条目", "This category still has entries")
    await session.execute(delete(YellowPageCategory).where(YellowPageCategory.id == category.id))


# --- entries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryData:
    category_id: int
    community_id: int | None
    name: str
    phones: Sequence[str]
    hours: str = ""
    address: str = ""
    notes: str = ""
    sort: int = 0
    active: bool = True


def _visible(scope: DataScope) -> ColumnElement[bool]:
    """Entries a staff member sees: tenant-wide ones and those of their communities."""
    return or_(YellowPageEntry.community_id.is_(None), scope.filter(YellowPageEntry.community_id))


async def get_entry(
    session: AsyncSession, *, scope: DataScope, entry_id: int, lock: bool = False
) -> YellowPageEntry:
    stmt = select(YellowPageEntry).where(YellowPageEntry.id == entry_id, _visible(scope))
    found = await session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None:
        raise not_found()
    return found


async def _check_target(session: AsyncSession, scope: DataScope, community_id: int | None) -> None:
    """May this staff member put an entry in ``community_id`` (None: everywhere)?"""
    if community_id is None:
        _require_all(scope)
        return
    await estate.get_community(
        session=session, scope=scope, community_id=community_id, field="communityId"
    )


async def _apply(
    session: AsyncSession, scope: DataScope, entry: YellowPageEntry, data: EntryData
) -> None:
    """Validate all of ``data``, then write it into ``entry`` (nothing changes on error)."""
    values = dict(
        name=text(data.name, "name", max_len=100, required=True),
        phones=normalise_phones(data.phones),
        hours=text(data.hours, "hours", max_len=100),
        address=text(data.address, "address", max_len=200),
        notes=text(data.notes, "notes", max_len=500),
        sort=sort_value(data.sort),
    )
    # FOR SHARE: a concurrent delete of the category either waits for this entry (and then
    # sees it: CONFLICT) or has deleted it already (NOT_FOUND here, not an FK error)
    await get_category(session, data.category_id, field="categoryId", share=True)
    await _check_target(session, scope, data.community_id)
    for key, value in values.items():
        setattr(entry, key, value)
    entry.category_id = data.category_id
    entry.community_id = data.community_id
    entry.active = data.active


async def create_entry(
    session: AsyncSession, *, scope: DataScope, data: EntryData
) -> YellowPageEntry:
    entry = YellowPageEntry()
    await _apply(session, scope, entry, data)
    session.add(entry)
    await session.flush()
    await session.refresh(entry)
    return entry


async def update_entry(
    session: AsyncSession, *, scope: DataScope, entry_id: int, data: EntryData
) -> YellowPageEntry:
    """Replace every field of an entry; moving it needs the right to write both places."""
    entry = await get_entry(session, scope=scope, entry_id=entry_id, lock=True)
    if entry.community_id is None:
        _require_all(scope)
    await _apply(session, scope, entry, data)
    await session.flush()
    return entry


async def delete_entry(session: AsyncSession, *, scope: DataScope, entry_id: int) -> None:
    entry = await get_entry(session, scope=scope, entry_id=entry_id, lock=True)
    if entry.community_id is None:
        _require_all(scope)
    await session.execute(delete(YellowPageEntry).where(YellowPageEntry.id == entry.id))


def entries_query(
    *,
    scope: DataScope,
    community_id: int | None = None,
    category_id: int | None = None,
    search: str | None = None,
) -> Select[Any]:
    """Staff list (inactive entries too); ``community_id``: that community's own entries."""
    stmt = select(YellowPageEntry).where(_visible(scope))
    if community_id is not None:
        stmt = stmt.where(YellowPageEntry.community_id == community_id)
    if category_id is not None:
        stmt = stmt.where(YellowPageEntry.category_id == category_id)
    if search and search.strip():
        stmt = stmt.where(YellowPageEntry.name.icontains(search.strip(), autoescape=True))
    return stmt.order_by(YellowPageEntry.sort, YellowPageEntry.id)


# --- the directory residents read ----------------------------------------------------------


@dataclass(frozen=True)
class Section:
    category: YellowPageCategory
    entries: list[YellowPageEntry]


async def directory(session: AsyncSession, *, community_ids: Iterable[int] | None) -> list[Section]:
    """Active entries of ``community_ids`` (None: every community) and the tenant-wide ones,
    grouped by category in display order. One statement; empty categories are left out."""
    where: Any = YellowPageEntry.active.is_(True)
    if community_ids is not None:
        ids = sorted(set(community_ids))
        where = where & or_(
            YellowPageEntry.community_id.is_(None), YellowPageEntry.community_id.in_(ids)
        )
    rows = await session.execute(
        select(YellowPageCategory, YellowPageEntry)
        .join(YellowPageEntry, YellowPageEntry.category_id == YellowPageCategory.id)
        .where(where)
        .order_by(
            YellowPageCategory.sort,
            YellowPageCategory.id,
            YellowPageEntry.sort,
            YellowPageEntry.id,
        )
    )
    sections: list[Section] = []
    for category, entry in rows:
        if not sections or sections[-1].category.id != category.id:
            sections.append(Section(category, []))
        sections[-1].entries.append(entry)
    return sections


# --- demo data -----------------------------------------------------------------------------

_DEMO: tuple[tuple[str, str, tuple[tuple[str, tuple[str, ...], str, str], ...]], ...] = (
    (
        "物业服务中心",
        "Property service centre",
        (("物业服务中心前台", ("0571-88886666", "400-800-6666"), "08:00-20:00", "会所一楼"),),
    ),
    (
        "业主委员会",
        "Owners' committee",
        (("业主委员会办公室", ("0571-88887777",), "周六 09:00-11:00", "会所二楼"),),
    ),
    (
        "维修服务",
        "Repairs",
        (
            ("24小时报修热线", ("0571-88886688",), "全天", "物业服务中心"),
            ("水电维修（张师傅）", ("13805710001",), "08:00-18:00", ""),
        ),
    ),
    (
        "开锁换锁",
        "Locksmiths",
        (("公安备案开锁服务", ("13805710002",), "全天", "需出示身份证与房产证明"),),
    ),
    ("桶装水", "Bottled water", (("农夫山泉桶装水配送", ("0571-86660000",), "08:00-19:00", ""),)),
    (
        "家政保洁",
        "Housekeeping",
        (("家政保洁预约", ("400-800-1234",), "08:00-20:00", "开荒保洁、日常保洁"),),
    ),
    (
        "紧急电话",
        "Emergency",
        (
            ("报警", ("110",), "全天", ""),
            ("火警", ("119",), "全天", ""),
            ("急救", ("120",), "全天", ""),
            ("国家电网供电服务", ("95598",), "全天", ""),
            ("政务服务便民热线", ("12345",), "全天", ""),
        ),
    ),
)


async def seed_directory_demo(session: AsyncSession) -> None:
    """Tenant-wide demo categories and entries; does nothing when categories exist."""
    if await session.scalar(select(func.count()).select_from(YellowPageCategory)):
        return
    for sort, (name_zh, name_en, entries) in enumerate(_DEMO):
        category = YellowPageCategory(name_zh=name_zh, name_en=name_en, sort=sort * 10)
        session.add(category)
        await session.flush()
        for i, (name, phones, hours, notes) in enumerate(entries):
            session.add(
                YellowPageEntry(
                    category_id=category.id,
                    community_id=None,
                    name=name,
                    phones=[normalise_phone(p) for p in phones],
                    hours=hours,
                    notes=notes,
                    sort=i * 10,
                )
            )
    await session.flush()
