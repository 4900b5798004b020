"""Bulk import of estate data from CSV or XLSX: one column spec, validate all, apply all or none.

``KINDS`` is the one place that says which columns each kind of sheet has (zh-CN header,
English key, required or not, format, example). The template, the parser, the validator,
the exporter (``exporting``) and the documentation (``columns_markdown``) all read it.

The flow of an import:

1. ``read_sheet`` turns the file into rows of strings (CSV in UTF-8 with or without BOM or
   GBK; XLSX through a streaming reader of the first worksheet, openpyxl as the fallback).
2. ``validate`` checks every row: each cell with the ``validation`` rules, the parent rows
   it names (community, building within community, room, parking lot), duplicates within
   the file and against the database, and the caller's data scope (a community outside it
   does not exist for them). It collects every error as ``{row, column, field, zh, en}``
   with row numbers as the person sees them in the sheet (header = row 1).
3. Only when no row has an error does ``apply`` write all rows, set-based (``COPY`` through
   the psycopg connection, ids preallocated from the sequences), in the caller's
   transaction.

Files of more than ``ASYNC_THRESHOLD`` rows are stored in the ``estate_imports`` row and run
by the ``run_estate_import`` job (``run_import_job`` here), which reports its progress in
``processed_rows`` through short transactions of its own.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import logging
import re
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree
from xml.parsers import expat

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.crypto import encrypt_field
from wuye.errors import AppError
from wuye.identity.models import User, UserCommunityScope
from wuye.identity.passwords import normalize_phone
from wuye.identity.scope import NO_SCOPE, DataScope
from wuye.modules.estate import validation
from wuye.modules.estate.models import (
    PROPERTY_TYPES,
    RELATIONS,
    SPACE_KINDS,
    SPACE_STATUSES,
    UNIT_STATUSES,
    Building,
    Community,
    ImportJob,
    Occupancy,
    ParkingLot,
    ParkingSpace,
    Person,
    Unit,
    Vehicle,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from wuye.runtime import Runtime

ASYNC_THRESHOLD = 5_000  # files with more data rows than this run as an arq job
MAX_FILE_BYTES = 30 * 1024 * 1024
MAX_REPORTED_ERRORS = 1_000  # the report keeps the first ones; the message says how many
COPY_CHUNK = 5_000  # rows per COPY statement (progress is reported between them)
PROGRESS_EVERY_S = 0.5
ID_PURPOSE = "id_number"

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# --- labels: a sheet may use the code or the zh-CN label -----------------------------------

PROPERTY_TYPE_LABELS = {
    "residential": "住宅",
    "shop": "商铺",
    "office": "办公",
    "storage": "储藏室",
}
UNIT_STATUS_LABELS = {"vacant": "空置", "occupied": "自住", "rented": "出租", "renovating": "装修"}
SPACE_KIND_LABELS = {"owned": "产权", "rented": "租赁", "temporary": "临时"}
SPACE_STATUS_LABELS = {"vacant": "空闲", "occupied": "占用", "reserved": "预留", "disabled": "停用"}
RELATION_LABELS = {"owner": "业主", "family": "家属", "tenant": "租户"}
CLAIM_STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"}
DEPARTMENT_KIND_LABELS = {"company": "公司", "region": "区域", "project": "项目", "team": "班组"}
_TRUE = {"是", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "n", "no", "false", "0", ""}


def _choice(labels: dict[str, str], allowed: tuple[str, ...], default: str) -> Any:
    by_label = {v: k for k, v in labels.items()}

    def parse(raw: str, key: str) -> str:
        raw = raw.strip()
        if not raw:
            return default
        value = by_label.get(raw, raw)
        if value.lower() not in allowed:
            names = "、".join(f"{labels[a]}({a})" for a in allowed)
            raise validation.invalid(key, f"取值须为：{names}", f"Must be one of: {names}")
        return validation.choice(value, allowed, key)

    return parse


def _text(max_len: int, required: bool = False) -> Any:
    return lambda raw, key: validation.text(raw, key, max_len=max_len, required=required)


def _area(required: bool) -> Any:
    return lambda raw, key: validation.area(raw, key, required=required)


def _int(maximum: int, default: int | None = None) -> Any:
    def parse(raw: str, key: str) -> int:
        if not raw.strip() and default is not None:
            return default
        return validation.positive_int(_intlike(raw), key, maximum=maximum)

    return parse


def _floor(raw: str, key: str) -> int:
    return validation.floor_number(_intlike(raw), key)


def _intlike(raw: str) -> str:
    """Excel stores whole numbers as ``12`` or ``12.0``; both mean 12."""
    raw = raw.strip()
    return raw[:-2] if raw.endswith(".0") else raw


def _coordinate(limit: int) -> Any:
    def parse(raw: str, key: str) -> Decimal | None:
        if not raw.strip():
            return None
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            raise validation.invalid(key, f"坐标不是数字：{raw}", f"Not a number: {raw}") from None
        if not value.is_finite() or abs(value) > limit:
            raise validation.invalid(
                key, f"坐标须在-{limit}到{limit}之间", f"Must be between -{limit} and {limit}"
            )
        return value.quantize(Decimal("0.000001"))

    return parse


def _yuan_to_fen(raw: str, key: str) -> int | None:
    if not raw.strip():
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise validation.invalid(key, f"金额不是数字：{raw}", f"Not an amount: {raw}") from None
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise validation.invalid(
            key, "金额须为非负数，最多两位小数", "An amount is >= 0 with at most two decimals"
        )
    return int(value * 100)


_CN_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_PHONE_NOISE = re.compile(r"[\s\-()]")


@lru_cache(maxsize=8192)
def _mobile_block_ok(prefix: str) -> bool:
    """Whether libphonenumber calls numbers of this 7-digit mobile block valid (its CN
    mobile patterns decide on at most the first 7 digits of the 11)."""
    try:
        normalize_phone(prefix + "0000")
    except AppError:
        return False
    return True


def _phone(raw: str, key: str) -> str:
    raw = raw.strip()
    if not raw:
        raise validation.invalid(key, "手机号不能为空", "A phone number is required")
    # Fast path for a mainland mobile number (parse costs ~40 us a row otherwise); anything
    # else, or a block the library refuses, goes through normalize_phone itself.
    mobile = _CN_MOBILE.fullmatch(_PHONE_NOISE.sub("", raw))
    if mobile is not None and _mobile_block_ok(mobile.group(1)[:7]):
        return "+86" + mobile.group(1)
    try:
        return normalize_phone(raw)
    except AppError:
        raise validation.invalid(key, f"手机号格式不正确：{raw}", f"Invalid phone: {raw}") from None


def _id_number(raw: str, key: str) -> str | None:
    return validation.id_number(raw, key) if raw.strip() else None


def _bool(raw: str, key: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise validation.invalid(key, "须填写“是”或“否”", "Use 是 (yes) or 否 (no)")


def _plates(raw: str, key: str) -> list[tuple[str, bool]]:
    """(normalised plate, new energy) for each plate of a cell, in order, without repeats."""
    out: dict[str, bool] = {}
    for part in re.split(r"[,，、;；/\s]+", raw.strip()):
        if part:
            plate, new_energy = validation.plate(part, key)
            out[plate] = new_energy
    return list(out.items())


_EXCEL_EPOCH = date(1899, 12, 30)


def _date(raw: str, key: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    if re.fullmatch(r"\d{4,5}(\.0+)?", raw):  # an Excel date cell read as its serial number
        return _EXCEL_EPOCH + timedelta(days=int(float(raw)))
    return validation.on_date(raw[:10].replace("/", "-"), key)


# --- the column spec -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # English key: accepted as a header, and the `field` of an error
    header: str  # the zh-CN header of the template
    required: bool
    help_zh: str
    help_en: str
    example: str
    parse: Callable[[str, str], Any] = field(repr=False, compare=False)


def _c(
    key: str,
    header: str,
    required: bool,
    help_zh: str,
    help_en: str,
    example: str,
    parse: Callable[[str, str], Any],
) -> Column:
    return Column(key, header, required, help_zh, help_en, example, parse)


def _labels_help(labels: dict[str, str]) -> tuple[str, str]:
    names = "、".join(labels.values())
    codes = ", ".join(labels)
    return f"{names}（或 {codes}）", f"{codes} (or {names})"


_COMMUNITY = _c(
    "community",
    "小区名称",
    True,
    "已有小区的名称",
    "Name of an existing community",
    "阳光花园",
    _text(100, True),
)
_BUILDING = _c(
    "building",
    "楼栋名称",
    True,
    "该小区内已有楼栋的名称",
    "Name of an existing building of that community",
    "3号楼",
    _text(60, True),
)


def _choice_column(
    key: str, header: str, labels: dict[str, str], allowed: tuple[str, ...], default: str
) -> Column:
    zh, en = _labels_help(labels)
    return _c(
        key,
        header,
        False,
        f"{zh}；空为{labels[default]}",
        f"{en}; empty means {default}",
        labels[default],
        _choice(labels, allowed, default),
    )


KINDS: dict[str, tuple[Column, ...]] = {
    "communities": (
        _c("name", "小区名称", True, "不可与已有小区重名", "Unique", "阳光花园", _text(100, True)),
        _c("address", "地址", False, "", "", "北京市朝阳区建国路88号", _text(300)),
        _c("district", "区域", False, "", "", "朝阳区", _text(100)),
        _c("latitude", "纬度", False, "-90到90", "-90..90", "39.908722", _coordinate(90)),
        _c("longitude", "经度", False, "-180到180", "-180..180", "116.397499", _coordinate(180)),
        _c(
            "area_m2",
            "占地面积(㎡)",
            False,
            "正数，最多两位小数",
            "Positive, at most 2 decimals",
            "52000.50",
            _area(False),
        ),
        _c("hotline", "服务电话", False, "", "", "010-88886666", _text(30)),
    ),
    "buildings": (
        _COMMUNITY,
        _c(
            "name",
            "楼栋名称",
            True,
            "小区内不可重名",
            "Unique within the community",
            "3号楼",
            _text(60, True),
        ),
        _c("floors", "楼层数", True, "1到200", "1..200", "18", _int(200)),
        _c("entrances", "单元数", False, "1到50；空为1", "1..50; empty means 1", "2", _int(50, 1)),
    ),
    "units": (
        _COMMUNITY,
        _BUILDING,
        _c(
            "room_no",
            "房号",
            True,
            "楼栋内不可重复",
            "Unique within the building",
            "1-802",
            _text(20, True),
        ),
        _c(
            "entrance",
            "单元",
            False,
            "1到楼栋单元数；空为1",
            "1..the building's entrances; empty means 1",
            "1",
            _int(50, 1),
        ),
        _c(
            "floor",
            "楼层",
            True,
            "整数，地下为负，不超过楼栋层数",
            "Whole number, negative below ground, at most the building's floors",
            "8",
            _floor,
        ),
        _c("layout", "户型", False, "", "", "3室2厅", _text(20)),
        _c(
            "building_area",
            "建筑面积(㎡)",
            True,
            "正数，最多两位小数",
            "Positive, at most 2 decimals",
            "98.50",
            _area(True),
        ),
        _c(
            "inner_area",
            "套内面积(㎡)",
            False,
            "正数，最多两位小数，不大于建筑面积",
            "Positive, at most 2 decimals, not above the building area",
            "80.25",
            _area(False),
        ),
        _choice_column(
            "property_type", "房屋类型", PROPERTY_TYPE_LABELS, PROPERTY_TYPES, "residential"
        ),
        _choice_column("status", "房屋状态", UNIT_STATUS_LABELS, UNIT_STATUSES, "vacant"),
    ),
    "parking_spaces": (
        _COMMUNITY,
        _c(
            "lot",
            "车场名称",
            True,
            "该小区的停车场；不存在时自动创建",
            "A parking lot of the community; created if missing",
            "地下车库",
            _text(60, True),
        ),
        _c(
            "number",
            "车位编号",
            True,
            "车场内不可重复",
            "Unique within the lot",
            "B1-023",
            _text(20, True),
        ),
        _choice_column("kind", "车位类型", SPACE_KIND_LABELS, SPACE_KINDS, "rented"),
        _choice_column("status", "车位状态", SPACE_STATUS_LABELS, SPACE_STATUSES, "vacant"),
        _c(
            "monthly_rent",
            "月租金(元)",
            False,
            "非负数，最多两位小数",
            "Yuan per month, >= 0, at most 2 decimals",
            "300.00",
            _yuan_to_fen,
        ),
    ),
    "residents": (
        _c("name", "姓名", True, "", "", "张三", _text(100, True)),
        _c(
            "phone",
            "手机号",
            True,
            "同一手机号即同一人，可登记多套房屋",
            "One phone is one person, who may hold several units",
            "13800138000",
            _phone,
        ),
        _c(
            "id_number",
            "身份证号",
            False,
            "18位居民身份证号，加密保存",
            "18-character resident ID, stored encrypted",
            "11010519491231002X",
            _id_number,
        ),
        _COMMUNITY,
        _BUILDING,
        _c(
            "room_no",
            "房号",
            True,
            "该楼栋内已有的房号",
            "An existing room of that building",
            "1-802",
            _text(20, True),
        ),
        _c(
            "relation",
            "关系",
            True,
            _labels_help(RELATION_LABELS)[0],
            _labels_help(RELATION_LABELS)[1],
            "业主",
            _choice(RELATION_LABELS, RELATIONS, ""),
        ),
        _c(
            "is_primary",
            "主要联系人",
            False,
            "是/否；每套房屋最多一位；空为否",
            "是/否 (yes/no); at most one per unit; empty means no",
            "是",
            _bool,
        ),
        _c(
            "move_in_on",
            "入住日期",
            False,
            "YYYY-MM-DD；空为今天",
            "YYYY-MM-DD; empty means today",
            "2024-05-01",
            _date,
        ),
        _c(
            "plates",
            "车牌号",
            False,
            "该住户的车辆，多个用逗号分隔；支持新能源车牌",
            "The person's vehicles, comma-separated; new-energy plates too",
            "京A12345,沪AD12345",
            _plates,
        ),
    ),
}


def _export_only(raw: str, key: str) -> Any:  # pragma: no cover - columns_of() refuses these
    raise validation.invalid(key, "该列仅用于导出", "This column is export-only")


def _out(key: str, header: str, help_zh: str = "", help_en: str = "") -> Column:
    """A column of an export-only list: no template, no parser."""
    return _c(key, header, False, help_zh, help_en, "", _export_only)


_OUT_COMMUNITY = _out("community", "小区名称")

# Lists that export in CSV / XLSX but cannot be imported (``columns_of`` refuses them).
EXPORT_ONLY_KINDS: dict[str, tuple[Column, ...]] = {
    "vehicles": (
        _OUT_COMMUNITY,
        _out("plate", "车牌号"),
        _out("new_energy", "新能源", "是/否", "是/否 (yes/no)"),
        _out("owner_name", "车主姓名"),
        _out("owner_phone", "车主手机号", "无完整查看权限时脱敏", "Masked without view_sensitive"),
    ),
    "parking_lots": (
        _OUT_COMMUNITY,
        _out("name", "车场名称"),
        _out("spaces", "车位数"),
        _out("vacant_spaces", "空闲车位数"),
    ),
    "unit_claims": (
        _OUT_COMMUNITY,
        _out("building", "楼栋名称"),
        _out("room_no", "房号"),
        _out("name", "姓名"),
        _out("relation", "关系", *_labels_help(RELATION_LABELS)),
        _out("status", "状态", *_labels_help(CLAIM_STATUS_LABELS)),
        _out("reason", "原因"),
        _out("created_at", "申请时间", "YYYY-MM-DD HH:MM:SS（租户时区）", "Tenant time zone"),
    ),
    "staff": (
        _out("name", "姓名"),
        _out("phone", "手机号", "脱敏", "Masked"),
        _out("department", "部门"),
        _out("position", "岗位"),
        _out("employee_no", "工号"),
        _out("joined_on", "入职日期", "YYYY-MM-DD", "YYYY-MM-DD"),
        _out("communities", "负责小区", "逗号分隔；全部小区", "Comma-separated, or 全部小区 (all)"),
    ),
    "departments": (
        _out("name", "部门名称"),
        _out("kind", "类型", *_labels_help(DEPARTMENT_KIND_LABELS)),
        _out("parent", "上级部门"),
        _out("depth", "层级", "根部门为0", "0 for a root department"),
        _out("community", "所属小区"),
    ),
    "staff_transfers": (
        _out("staff", "员工姓名"),
        _out("from_department", "调出部门"),
        _out("to_department", "调入部门"),
        _out("effective_on", "生效日期", "YYYY-MM-DD", "YYYY-MM-DD"),
        _out("reason", "原因"),
    ),
}

KIND_TITLES = {
    "communities": "小区",
    "buildings": "楼栋",
    "units": "房屋",
    "parking_spaces": "车位",
    "residents": "住户",
    "vehicles": "车辆",
    "parking_lots": "停车场",
    "unit_claims": "入住申请",
    "staff": "员工",
    "departments": "部门",
    "staff_transfers": "员工调动",
}


def columns_of(kind: str) -> tuple[Column, ...]:
    """The columns of an importable kind (export-only kinds are refused)."""
    try:
        return KINDS[kind]
    except KeyError:
        if kind in EXPORT_ONLY_KINDS:
            raise validation.invalid(
                "kind",
                f"该类型仅支持导出，不能导入：{kind}",
                f"Export only, not importable: {kind}",
            ) from None
        raise validation.invalid(
            "kind", f"不支持的导入类型：{kind}", f"Unknown kind: {kind}"
        ) from None


def export_columns_of(kind: str) -> tuple[Column, ...]:
    """The columns of an export: an importable kind's template, or an export-only list."""
    if kind in EXPORT_ONLY_KINDS:
        return EXPORT_ONLY_KINDS[kind]
    return columns_of(kind)


def columns_markdown() -> str:
    """The documentation of every template, from the spec (docs/modules/estate-import.md)."""
    out = ["# Estate import templates (批量导入模板)", ""]
    out.append(
        "Header row = row 1 (the zh-CN header or the English key); one record per row. "
        "Error reports name the row as the sheet shows it, the column header and a message."
    )
    out += [
        "",
        "Export-only lists (`exportEstate`; no template, not importable): "
        + ", ".join(f"{k} ({KIND_TITLES[k]})" for k in EXPORT_ONLY_KINDS)
        + ".",
    ]
    for kind, cols in KINDS.items():
        out += ["", f"## {kind} ({KIND_TITLES[kind]})", ""]
        out += ["| 表头 | key | required | 说明 | notes | example |", "|---|---|---|---|---|---|"]
        for c in cols:
            out.append(
                f"| {c.header} | `{c.key}` | {'yes' if c.required else 'no'} | {c.help_zh} | "
                f"{c.help_en} | {c.example} |"
            )
    return "\n".join(out) + "\n"


# --- reading a file ------------------------------------------------------------------------


@dataclass
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as the sheet shows it, cells)


def decode_upload(data: str) -> bytes:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise validation.invalid("base64", "文件内容不是有效的base64", "Not valid base64") from None
    if not raw:
        raise validation.invalid("base64", "文件为空", "The file is empty")
    if len(raw) > MAX_FILE_BYTES:
        raise validation.invalid(
            "base64",
            f"文件不能超过{MAX_FILE_BYTES // 1024 // 1024}MB",
            f"At most {MAX_FILE_BYTES // 1024 // 1024} MB",
        )
    return raw


def is_xlsx(content: bytes) -> bool:
    return content[:4] == b"PK\x03\x04"


def read_sheet(filename: str, content: bytes) -> Sheet:
    """The rows of a CSV or XLSX file (told apart by content, not by name)."""
    rows = _read_xlsx(content) if is_xlsx(content) else _read_csv(content)
    cleaned: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    for number, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank lines do not count, but keep their numbers
        if header is None:
            if number != 1:
                raise validation.invalid("base64", "第1行须为表头", "Row 1 must be the header row")
            header = [c.strip() for c in cells]
            continue
        cleaned.append((number, cells))
    if header is None:
        raise validation.invalid("base64", "文件没有表头", "The file has no header row")
    return Sheet(header, cleaned)


def _read_csv(content: bytes) -> list[tuple[int, list[str]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise validation.invalid("base64", "无法识别文件编码", "Unknown text encoding")
    reader = csv.reader(io.StringIO(decoded, newline=""))
    out = []
    start = 1
    for cells in reader:
        out.append((start, cells))
        start = reader.line_num + 1
    return out


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _col_index(ref: str) -> int:
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def _read_xlsx(content: bytes) -> list[tuple[int, list[str]]]:
    """The first worksheet, streamed straight from its XML (openpyxl's read-only mode takes
    ~3x as long on a 50,000-row sheet); openpyxl reads anything this reader does not."""
    try:
        return _read_xlsx_fast(content)
    except (KeyError, ElementTree.ParseError, expat.ExpatError, ValueError, zipfile.BadZipFile):
        return _read_xlsx_openpyxl(content)


def _first_sheet_path(z: zipfile.ZipFile) -> str:
    book = ElementTree.fromstring(z.read("xl/workbook.xml"))
    sheet = book.find(f"{_NS}sheets/{_NS}sheet")
    if sheet is None:
        raise KeyError("no sheet")
    rid = sheet.get(f"{_REL_NS}id")
    rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_PKG_REL}Relationship"):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    raise KeyError("sheet relationship")


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _read_shared_strings(stream: Any) -> list[str]:
    """``xl/sharedStrings.xml``: the text of each ``si`` (phonetic ``rPh`` runs left out)."""
    shared: list[str] = []
    parts: list[str] = []
    state = {"collect": False, "rph": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "si":
            parts.clear()
        elif tag == "rPh":
            state["rph"] += 1
        elif tag == "t" and not state["rph"]:
            state["collect"] = True

    def end(name: str) -> None:
        tag = _local(name)
        if tag == "si":
            shared.append("".join(parts))
        elif tag == "rPh":
            state["rph"] -= 1
        elif tag == "t":
            state["collect"] = False

    def chars(data: str) -> None:
        if state["collect"]:
            parts.append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.ParseFile(stream)
    return shared


def _read_xlsx_fast(content: bytes) -> list[tuple[int, list[str]]]:
    """Streams the sheet XML through expat callbacks: no element objects are built."""
    z = zipfile.ZipFile(io.BytesIO(content))
    shared = (
        _read_shared_strings(z.open("xl/sharedStrings.xml"))
        if "xl/sharedStrings.xml" in z.namelist()
        else []
    )
    rows: list[tuple[int, list[str]]] = []
    cells: list[str] = []
    parts: list[str] = []
    cell: dict[str, Any] = {"row": 0, "ref": None, "t": None, "collect": False}

    local: dict[str, str] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = local.get(name) or local.setdefault(name, _local(name))
        if tag == "c":
            cell["ref"] = attrs.get("r")
            cell["t"] = attrs.get("t")
            parts.clear()
        elif tag in ("v", "t"):
            cell["collect"] = True
        elif tag == "row":
            cells.clear()
            r = attrs.get("r")
            cell["row"] = int(r) if r else cell["row"] + 1

    def end(name: str) -> None:
        tag = local[name]
        if tag in ("v", "t"):
            cell["collect"] = False
        elif tag == "c":
            kind = cell["t"]
            value = "".join(parts)
            if kind == "s":
                value = shared[int(value)] if value else ""
            elif kind == "b":
                value = "是" if value == "1" else "否"
            elif kind is None or kind == "n":
                value = _number_text(value)
            ref = cell["ref"]
            index = _col_index(ref) if ref else len(cells)
            while len(cells) < index:
                cells.append("")
            cells.append(value)
        elif tag == "row":
            rows.append((cell["row"], list(cells)))

    def chars(data: str) -> None:
        if cell["collect"]:
            parts.append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.ParseFile(z.open(_first_sheet_path(z)))
    return rows


def _number_text(raw: str) -> str:
    """A numeric cell as a person typed it: ``12`` not ``12.0``; float noise removed."""
    if "E" in raw or "e" in raw or len(raw) > 15:
        try:
            value = float(raw)
        except ValueError:
            return raw
        return str(int(value)) if value.is_integer() else repr(round(value, 10))
    return raw


def _read_xlsx_openpyxl(content: bytes) -> list[tuple[int, list[str]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise validation.invalid(
            "base64", "无法读取该XLSX文件", "This XLSX file cannot be read"
        ) from None
    try:
        out = []
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
            out.append((number, [_cell_text(v) for v in values]))
        return out
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "date") and callable(value.date):
        return value.date().isoformat()
    return str(value)


# --- validation ----------------------------------------------------------------------------


@dataclass
class Report:
    kind: str
    total: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0

    def add(self, row: int, column: Column | None, zh: str, en: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(
                {
                    "row": row,
                    "column": column.header if column else "",
                    "field": column.key if column else "",
                    "zh": zh,
                    "en": en,
                }
            )

    def message(self) -> tuple[str, str]:
        if not self.error_count:
            return "", ""
        more = self.error_count - len(self.errors)
        zh = f"共{self.error_count}处错误，未导入任何数据"
        en = f"{self.error_count} errors; nothing was imported"
        if more > 0:
            zh += f"（仅列出前{len(self.errors)}处）"
            en += f" (the first {len(self.errors)} are listed)"
        return zh, en


@dataclass
class Plan:
    """Validated rows, ready to apply."""

    kind: str
    records: list[dict[str, Any]]
    new_lots: dict[tuple[int, str], int] = field(default_factory=dict)  # parking: to create
    new_people: dict[str, dict[str, Any]] = field(default_factory=dict)  # residents: by phone
    # residents: plate -> (phone, community, new energy)
    new_vehicles: dict[str, tuple[str, int, bool]] = field(default_factory=dict)


@dataclass
class Importer:
    """One import's settings: whose data scope, which tenant's key seals ID numbers."""

    session: AsyncSession
    tenant: str
    secret: str
    scope: DataScope
    actor_id: int | None = None  # recorded as who changed a unit's status (its first one)


def _map_header(sheet: Sheet, cols: tuple[Column, ...], report: Report) -> list[Column | None]:
    by_name: dict[str, Column] = {}
    for c in cols:
        by_name[c.header] = c
        by_name[c.key] = c
        by_name[c.key.lower()] = c
    mapped: list[Column | None] = []
    seen: set[str] = set()
    for i, name in enumerate(sheet.header):
        col = by_name.get(name) or by_name.get(name.lower())
        if col is None and re.sub(r"\s", "", name):
            # "小区名称(community)" style headers
            key = re.sub(r"[\s*＊]", "", re.split(r"[（(]", name)[0])
            col = by_name.get(key)
        if col is None:
            if name:
                report.add(
                    1,
                    None,
                    f"第{i + 1}列表头无法识别：{name}",
                    f"Column {i + 1}: unknown header {name!r}",
                )
            mapped.append(None)
            continue
        if col.key in seen:
            report.add(1, col, f"表头重复：{col.header}", f"Duplicate column {col.header}")
            mapped.append(None)
            continue
        seen.add(col.key)
        mapped.append(col)
    for c in cols:
        if c.required and c.key not in seen:
            report.add(1, c, f"缺少必填列：{c.header}", f"Missing required column {c.header}")
    return mapped


def _parse_rows(
    sheet: Sheet, cols: tuple[Column, ...], report: Report
) -> list[tuple[int, dict[str, Any]]]:
    """Every cell through its column's rule; rows with a bad cell are reported and dropped."""
    mapped = _map_header(sheet, cols, report)
    if report.error_count:
        return []
    present = [(i, c) for i, c in enumerate(mapped) if c is not None]
    absent = [c for c in cols if c not in {c for _, c in present}]
    out = []
    for number, cells in sheet.rows:
        values: dict[str, Any] = {}
        ok = True
        for i, col in present:
            raw = cells[i] if i < len(cells) else ""
            try:
                values[col.key] = col.parse(raw, col.key)
            except AppError as exc:
                ok = False
                report.add(number, col, exc.message("zh-CN"), exc.message("en"))
        for col in absent:
            values[col.key] = col.parse("", col.key)
        if ok:
            out.append((number, values))
    return out


def _col(kind: str, key: str) -> Column:
    return next(c for c in KINDS[kind] if c.key == key)


async def validate(imp: Importer, kind: str, sheet: Sheet) -> tuple[Report, Plan]:
    cols = columns_of(kind)
    report = Report(kind, total=len(sheet.rows))
    rows = _parse_rows(sheet, cols, report)
    if not sheet.rows and not report.error_count:
        report.add(2, None, "文件没有数据行", "The file has no data rows")
    plan = Plan(kind, [])
    if rows or sheet.rows:
        check = _CHECKS[kind]
        await check(imp, rows, report, plan)
    return report, plan


def _any(column: Any, values: Sequence[Any], type_: Any) -> Any:
    """``column = ANY(:array)``: one parameter however long the list (an IN list of 50,000
    placeholders costs seconds to build and plan)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(type_)))


async def _communities_by_name(imp: Importer, names: Iterable[str]) -> dict[str, int]:
    """Communities the caller may see, by name; others do not exist for them."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found = await imp.session.execute(
        select(Community.name, Community.id).where(
            Community.name.in_(wanted), imp.scope.filter(Community.id)
        )
    )
    return {name: cid for name, cid in found}


def _unknown_community(report: Report, kind: str, number: int, name: str) -> None:
    report.add(number, _col(kind, "community"), f"小区不存在：{name}", f"Unknown community: {name}")


async def _check_communities(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]], report: Report, plan: Plan
) -> None:
    name_col = _col("communities", "name")
    if not imp.scope.all_communities:
        for number, _ in rows:
            report.add(
                number,
                name_col,
                "只有可管理全部小区的员工才能新建小区",
                "Only staff with every community in scope can create communities",
            )
        return
    names = [v["name"] for _, v in rows]
    existing = set(
        await imp.session.scalars(
            select(Community.name).where(_any(Community.name, sorted(set(names)), String))
        )
    )
    seen: dict[str, int] = {}
    for number, v in rows:
        if v["name"] in existing:
            report.add(
                number, name_col, f"小区已存在：{v['name']}", f"Community exists: {v['name']}"
            )
        elif v["name"] in seen:
            report.add(
                number,
                name_col,
                f"与第{seen[v['name']]}行重复：{v['name']}",
                f"Duplicate of row {seen[v['name']]}: {v['name']}",
            )
        else:
            seen[v["name"]] = number
            plan.records.append(v)


async def _check_buildings(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]], report: Report, plan: Plan
) -> None:
    communities = await _communities_by_name(imp, (v["community"] for _, v in rows))
    existing = set()
    if communities:
        existing = set(
            (
                await imp.session.execute(
                    select(Building.community_id, Building.name).where(
                        Building.community_id.in_(sorted(set(communities.values())))
                    )
                )
            ).all()
        )
    seen: dict[tuple[int, str], int] = {}
    name_col = _col("buildings", "name")
    for number, v in rows:
        cid = communities.get(v["community"])
        if cid is None:
            _unknown_community(report, "buildings", number, v["community"])
            continue
        key = (cid, v["name"])
        if key in existing:
            report.add(
                number,
                name_col,
                f"该小区已有楼栋：{v['name']}",
                f"The community already has building {v['name']}",
            )
        elif key in seen:
            report.add(
                number,
                name_col,
                f"与第{seen[key]}行重复：{v['name']}",
                f"Duplicate of row {seen[key]}: {v['name']}",
            )
        else:
            seen[key] = number
            plan.records.append({**v, "community_id": cid})


@dataclass(frozen=True)
class _BuildingRef:
    id: int
    community_id: int
    floors: int
    entrances: int


async def _buildings_by_name(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]]
) -> tuple[dict[str, int], dict[tuple[int, str], _BuildingRef]]:
    communities = await _communities_by_name(imp, (v["community"] for _, v in rows))
    buildings: dict[tuple[int, str], _BuildingRef] = {}
    if communities:
        found = await imp.session.execute(
            select(
                Building.community_id,
                Building.name,
                Building.id,
                Building.floors,
                Building.entrances,
            ).where(Building.community_id.in_(sorted(set(communities.values()))))
        )
        for cid, name, bid, floors, entrances in found:
            buildings[(cid, name)] = _BuildingRef(bid, cid, floors, entrances)
    return communities, buildings


def _resolve_building(
    kind: str,
    number: int,
    v: dict[str, Any],
    communities: dict[str, int],
    buildings: dict[tuple[int, str], _BuildingRef],
    report: Report,
) -> _BuildingRef | None:
    cid = communities.get(v["community"])
    if cid is None:
        _unknown_community(report, kind, number, v["community"])
        return None
    ref = buildings.get((cid, v["building"]))
    if ref is None:
        report.add(
            number,
            _col(kind, "building"),
            f"该小区没有楼栋：{v['building']}",
            f"No building {v['building']} in {v['community']}",
        )
    return ref


async def _check_units(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]], report: Report, plan: Plan
) -> None:
    communities, buildings = await _buildings_by_name(imp, rows)
    wanted = {ref.id for ref in buildings.values()}
    existing: set[tuple[int, str]] = set()
    if wanted:
        existing = set(
            (
                await imp.session.execute(
                    select(Unit.building_id, Unit.room_no).where(
                        Unit.building_id.in_(sorted(wanted))
                    )
                )
            ).all()
        )
    seen: dict[tuple[int, str], int] = {}
    room_col = _col("units", "room_no")
    for number, v in rows:
        ref = _resolve_building("units", number, v, communities, buildings, report)
        if ref is None:
            continue
        ok = True
        if v["floor"] > ref.floors:
            ok = False
            report.add(
                number,
                _col("units", "floor"),
                f"楼层超过楼栋层数{ref.floors}",
                f"Above the building's {ref.floors} floors",
            )
        if v["entrance"] > ref.entrances:
            ok = False
            report.add(
                number,
                _col("units", "entrance"),
                f"单元超过楼栋单元数{ref.entrances}",
                f"Above the building's {ref.entrances} entrances",
            )
        if v["inner_area"] is not None and v["inner_area"] > v["building_area"]:
            ok = False
            report.add(
                number,
                _col("units", "inner_area"),
                "套内面积不能大于建筑面积",
                "The inner area cannot exceed the building area",
            )
        key = (ref.id, v["room_no"])
        if key in existing:
            ok = False
            report.add(
                number,
                room_col,
                f"该楼栋已有房号：{v['room_no']}",
                f"Duplicate room in building: {v['room_no']} exists",
            )
        elif key in seen:
            ok = False
            report.add(
                number,
                room_col,
                f"与第{seen[key]}行房号重复：{v['room_no']}",
                f"Duplicate room in building: same as row {seen[key]}",
            )
        else:
            seen[key] = number
        if ok:
            plan.records.append({**v, "community_id": ref.community_id, "building_id": ref.id})


async def _check_parking_spaces(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]], report: Report, plan: Plan
) -> None:
    communities = await _communities_by_name(imp, (v["community"] for _, v in rows))
    lots: dict[tuple[int, str], int] = {}
    spaces: set[tuple[int, str]] = set()
    if communities:
        ids = sorted(set(communities.values()))
        for cid, name, lid in await imp.session.execute(
            select(ParkingLot.community_id, ParkingLot.name, ParkingLot.id).where(
                ParkingLot.community_id.in_(ids)
            )
        ):
            lots[(cid, name)] = lid
        spaces = set(
            (
                await imp.session.execute(
                    select(ParkingSpace.lot_id, ParkingSpace.number).where(
                        ParkingSpace.community_id.in_(ids)
                    )
                )
            ).all()
        )
    seen: dict[tuple[int, str, str], int] = {}
    number_col = _col("parking_spaces", "number")
    for number, v in rows:
        space_cid = communities.get(v["community"])
        if space_cid is None:
            _unknown_community(report, "parking_spaces", number, v["community"])
            continue
        cid = space_cid
        lot_id = lots.get((cid, v["lot"]))
        key = (cid, v["lot"], v["number"])
        if lot_id is not None and (lot_id, v["number"]) in spaces:
            report.add(
                number,
                number_col,
                f"该车场已有车位：{v['number']}",
                f"The lot already has space {v['number']}",
            )
        elif key in seen:
            report.add(
                number,
                number_col,
                f"与第{seen[key]}行重复：{v['number']}",
                f"Duplicate of row {seen[key]}: {v['number']}",
            )
        else:
            seen[key] = number
            if lot_id is None:
                plan.new_lots.setdefault((cid, v["lot"]), 0)
            plan.records.append({**v, "community_id": cid, "lot_id": lot_id})


async def _check_residents(
    imp: Importer, rows: list[tuple[int, dict[str, Any]]], report: Report, plan: Plan
) -> None:
    communities, buildings = await _buildings_by_name(imp, rows)
    wanted = sorted({ref.id for ref in buildings.values()})
    units: dict[tuple[int, str], tuple[int, int]] = {}  # (building, room) -> (unit, community)
    if wanted:
        for bid, room, uid, cid in await imp.session.execute(
            select(Unit.building_id, Unit.room_no, Unit.id, Unit.community_id).where(
                Unit.building_id.in_(wanted)
            )
        ):
            units[(bid, room)] = (uid, cid)
    phones = sorted({v["phone"] for _, v in rows})
    people: dict[str, tuple[int, str]] = {}
    if phones:
        for phone, pid, name in await imp.session.execute(
            select(Person.phone, Person.id, Person.name).where(_any(Person.phone, phones, String))
        ):
            people[phone or ""] = (pid, name)
    unit_ids = sorted({u for u, _ in units.values()})
    current: set[tuple[int, int]] = set()
    primary: set[int] = set()
    if unit_ids:
        for uid, pid, is_primary in await imp.session.execute(
            select(Occupancy.unit_id, Occupancy.person_id, Occupancy.is_primary).where(
                _any(Occupancy.unit_id, unit_ids, BigInteger), Occupancy.move_out_on.is_(None)
            )
        ):
            current.add((uid, pid))
            if is_primary:
                primary.add(uid)
    plates = sorted({p for _, v in rows for p, _ in v["plates"]})
    taken_plates: set[str] = set()
    if plates:
        taken_plates = set(
            await imp.session.scalars(
                select(Vehicle.plate).where(_any(Vehicle.plate, plates, String))
            )
        )
    plate_owner: dict[str, tuple[str, int]] = {}  # plate -> (phone, first row) within the file
    names: dict[str, tuple[str, int]] = {}  # phone -> (name, first row) within the file
    seen: dict[tuple[int, str], int] = {}
    primary_rows: dict[int, int] = {}
    today = date.today()
    col = {c.key: c for c in KINDS["residents"]}
    for number, v in rows:
        ref = _resolve_building("residents", number, v, communities, buildings, report)
        if ref is None:
            continue
        unit = units.get((ref.id, v["room_no"]))
        if unit is None:
            report.add(
                number,
                col["room_no"],
                f"该楼栋没有房号：{v['room_no']}",
                f"No room {v['room_no']} in {v['building']}",
            )
            continue
        uid, cid = unit
        phone = v["phone"]
        ok = True
        known = people.get(phone)
        if known is not None and known[1] != v["name"]:
            ok = False
            report.add(
                number,
                col["name"],
                f"该手机号已登记为“{known[1]}”",
                f"This phone belongs to {known[1]!r}",
            )
        elif phone in names and names[phone][0] != v["name"]:
            ok = False
            report.add(
                number,
                col["name"],
                f"与第{names[phone][1]}行手机号相同但姓名不同",
                f"Same phone as row {names[phone][1]} with another name",
            )
        names.setdefault(phone, (v["name"], number))
        if known is not None and (uid, known[0]) in current:
            ok = False
            report.add(
                number,
                col["phone"],
                "该住户已登记在此房屋",
                "This person is already registered in this unit",
            )
        elif (uid, phone) in seen:
            ok = False
            report.add(
                number,
                col["phone"],
                f"与第{seen[(uid, phone)]}行重复",
                f"Duplicate of row {seen[(uid, phone)]}",
            )
        else:
            seen[(uid, phone)] = number
        if v["is_primary"]:
            if uid in primary:
                ok = False
                report.add(
                    number,
                    col["is_primary"],
                    "该房屋已有主要联系人",
                    "The unit already has a primary contact",
                )
            elif uid in primary_rows:
                ok = False
                report.add(
                    number,
                    col["is_primary"],
                    f"与第{primary_rows[uid]}行同为该房屋的主要联系人",
                    f"Row {primary_rows[uid]} is already the unit's primary contact",
                )
            else:
                primary_rows[uid] = number
        for plate, _ in v["plates"]:
            if plate in taken_plates:
                ok = False
                report.add(
                    number,
                    col["plates"],
                    f"车牌号已登记：{plate}",
                    f"Plate already registered: {plate}",
                )
            elif plate in plate_owner and plate_owner[plate][0] != phone:
                ok = False
                report.add(
                    number,
                    col["plates"],
                    f"车牌号与第{plate_owner[plate][1]}行重复：{plate}",
                    f"Plate {plate} is on row {plate_owner[plate][1]} for another person",
                )
            else:
                plate_owner.setdefault(plate, (phone, number))
        if not ok:
            continue
        for plate, new_energy in v["plates"]:
            plan.new_vehicles.setdefault(plate, (phone, cid, new_energy))
        if known is None and phone not in plan.new_people:
            plan.new_people[phone] = {"name": v["name"], "id_number": v["id_number"]}
        plan.records.append(
            {
                "community_id": cid,
                "unit_id": uid,
                "person_id": known[0] if known else None,
                "phone": phone,
                "relation": v["relation"],
                "is_primary": v["is_primary"],
                "move_in_on": v["move_in_on"] or today,
            }
        )


_CHECKS: dict[
    str,
    Callable[[Importer, list[tuple[int, dict[str, Any]]], Report, Plan], Awaitable[None]],
] = {
    "communities": _check_communities,
    "buildings": _check_buildings,
    "units": _check_units,
    "parking_spaces": _check_parking_spaces,
    "residents": _check_residents,
}

# --- applying ------------------------------------------------------------------------------

Progress = Callable[[int], Awaitable[None]]


async def _copy(
    session: AsyncSession,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    progress: Progress | None = None,
    done_before: int = 0,
) -> None:
    """``COPY table (columns) FROM STDIN`` in the session's transaction (tenant-routed: the
    search_path is set for this transaction), in chunks with progress between them."""
    if not rows:
        return
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    pg: Any = raw.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    for start in range(0, len(rows), COPY_CHUNK):
        async with pg.cursor() as cur, cur.copy(statement) as copy:
            for row in rows[start : start + COPY_CHUNK]:
                await copy.write_row(row)
        if progress is not None:
            await progress(done_before + min(start + COPY_CHUNK, len(rows)))


async def _next_ids(session: AsyncSession, table: str, n: int) -> list[int]:
    """``n`` ids from the table's own sequence, so rows COPYed with them keep their links."""
    if n == 0:
        return []
    found = await session.scalars(
        text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        ).bindparams(t=table, n=n)
    )
    return list(found)


async def apply(imp: Importer, plan: Plan, progress: Progress | None = None) -> int:
    """Write every validated row; returns how many rows (of the file) were written."""
    s = imp.session
    r = plan.records
    if plan.kind == "communities":
        await _copy(
            s,
            "communities",
            ["name", "address", "district", "latitude", "longitude", "area_m2", "hotline"],
            [
                (
                    v["name"],
                    v["address"],
                    v["district"],
                    v["latitude"],
                    v["longitude"],
                    v["area_m2"],
                    v["hotline"],
                )
                for v in r
            ],
            progress,
        )
    elif plan.kind == "buildings":
        await _copy(
            s,
            "buildings",
            ["community_id", "name", "floors", "entrances"],
            [(v["community_id"], v["name"], v["floors"], v["entrances"]) for v in r],
            progress,
        )
    elif plan.kind == "units":
        unit_ids = await _next_ids(s, "units", len(r))
        await _copy(
            s,
            "units",
            [
                "id",
                "community_id",
                "building_id",
                "entrance",
                "floor",
                "room_no",
                "layout",
                "building_area",
                "inner_area",
                "property_type",
                "status",
            ],
            [
                (
                    uid,
                    v["community_id"],
                    v["building_id"],
                    v["entrance"],
                    v["floor"],
                    v["room_no"],
                    v["layout"],
                    v["building_area"],
                    v["inner_area"],
                    v["property_type"],
                    v["status"],
                )
                for uid, v in zip(unit_ids, r, strict=True)
            ],
            progress,
        )
        # the first entry of each unit's status history, as creating a unit one by one does
        await _copy(
            s,
            "unit_status_changes",
            ["unit_id", "from_status", "to_status", "reason", "changed_by"],
            [
                (uid, None, v["status"], "批量导入", imp.actor_id)
                for uid, v in zip(unit_ids, r, strict=True)
            ],
        )
    elif plan.kind == "parking_spaces":
        if plan.new_lots:
            keys = list(plan.new_lots)
            ids = await _next_ids(s, "parking_lots", len(keys))
            await _copy(
                s,
                "parking_lots",
                ["id", "community_id", "name"],
                [(i, cid, name) for i, (cid, name) in zip(ids, keys, strict=True)],
            )
            plan.new_lots = dict(zip(keys, ids, strict=True))
        await _copy(
            s,
            "parking_spaces",
            ["community_id", "lot_id", "number", "kind", "status", "monthly_rent_fen"],
            [
                (
                    v["community_id"],
                    v["lot_id"] or plan.new_lots[(v["community_id"], v["lot"])],
                    v["number"],
                    v["kind"],
                    v["status"],
                    v["monthly_rent"],
                )
                for v in r
            ],
            progress,
        )
    elif plan.kind == "residents":
        phones = list(plan.new_people)
        ids = await _next_ids(s, "people", len(phones))
        person_ids = dict(zip(phones, ids, strict=True))
        people_rows = []
        for pid, phone in zip(ids, phones, strict=True):
            p = plan.new_people[phone]
            enc = hint = None
            if p["id_number"]:
                enc = encrypt_field(
                    imp.secret, purpose=ID_PURPOSE, tenant=imp.tenant, plaintext=p["id_number"]
                )
                hint = validation.mask_id_number(p["id_number"])
            people_rows.append((pid, p["name"], phone, phone[-4:], enc, hint or ""))
        await _copy(
            s,
            "people",
            ["id", "name", "phone", "phone_last4", "id_number_enc", "id_number_hint"],
            people_rows,
        )
        known = {v["phone"]: v["person_id"] for v in r if v["person_id"]}
        person_ids.update(known)
        await _copy(
            s,
            "vehicles",
            ["community_id", "person_id", "plate", "new_energy"],
            [
                (cid, person_ids[phone], plate, new_energy)
                for plate, (phone, cid, new_energy) in plan.new_vehicles.items()
            ],
        )
        await _copy(
            s,
            "occupancies",
            ["community_id", "unit_id", "person_id", "relation", "is_primary", "move_in_on"],
            [
                (
                    v["community_id"],
                    v["unit_id"],
                    v["person_id"] or person_ids[v["phone"]],
                    v["relation"],
                    v["is_primary"],
                    v["move_in_on"],
                )
                for v in r
            ],
            progress,
        )
    else:  # pragma: no cover - columns_of() refused it before
        raise ValueError(plan.kind)
    return len(r)


# --- one import, start to end --------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # applied | rejected
    total: int
    applied: int
    errors: list[dict[str, Any]]
    message_zh: str
    message_en: str
    timings: dict[str, float] = field(default_factory=dict)


async def run(
    imp: Importer,
    kind: str,
    filename: str,
    content: bytes,
    *,
    progress: Progress | None = None,
    sheet: Sheet | None = None,
) -> Outcome:
    """Parse, validate every row, and apply all rows or none, in ``imp.session``."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if sheet is None:
        sheet = read_sheet(filename, content)
    t1 = time.perf_counter()
    timings["parse_s"] = t1 - t0
    report, plan = await validate(imp, kind, sheet)
    t2 = time.perf_counter()
    timings["validate_s"] = t2 - t1
    if report.error_count:
        zh, en = report.message()
        return Outcome("rejected", report.total, 0, report.errors, zh, en, timings)
    applied = await apply(imp, plan, progress)
    timings["apply_s"] = time.perf_counter() - t2
    zh = f"已导入{applied}行{KIND_TITLES[kind]}数据"
    en = f"Imported {applied} rows of {kind}"
    return Outcome("applied", report.total, applied, [], zh, en, timings)


def message_for(job: ImportJob, lang: str) -> str:
    """The stored message is ``zh\\nen``; the reader's language picks one."""
    zh, _, en = job.message.partition("\n")
    return en if lang == "en" and en else zh


async def start(
    session: AsyncSession,
    *,
    tenant: str,
    secret: str,
    scope: DataScope,
    user_id: int | None,
    kind: str,
    filename: str,
    content: bytes,
    enqueue: Callable[[int], Awaitable[Any]],
    threshold: int | None = None,
) -> ImportJob:
    """An import as the API starts it: small files now, large ones queued for the job."""
    columns_of(kind)
    limit = ASYNC_THRESHOLD if threshold is None else threshold
    sheet = read_sheet(filename, content)
    job = ImportJob(
        kind=kind,
        filename=filename[:200],
        status="queued",
        total_rows=len(sheet.rows),
        created_by=user_id,
    )
    if len(sheet.rows) > limit:
        job.content = content
        job.message = (
            f"已排队：{len(sheet.rows)}行，后台导入中\nQueued: {len(sheet.rows)} rows to import"
        )
        session.add(job)
        await session.flush()
        await session.refresh(job)
        await enqueue(job.id)
        return job
    imp = Importer(session, tenant, secret, scope, user_id)
    outcome = await run(imp, kind, filename, content, sheet=sheet)
    _finish(job, outcome)
    session.add(job)
    await session.flush()
    await session.refresh(job)
    return job


def _finish(job: ImportJob, outcome: Outcome) -> None:
    job.status = outcome.status
    job.total_rows = outcome.total
    job.processed_rows = outcome.applied if outcome.status == "applied" else outcome.total
    job.errors = outcome.errors
    job.message = f"{outcome.message_zh}\n{outcome.message_en}"
    job.content = None
    job.finished_at = func.now()


async def scope_of_user(session: AsyncSession, user_id: int | None) -> DataScope:
    """The data scope a staff member has now (the job re-reads it: a scope narrowed while the
    import waited counts)."""
    if user_id is None:
        return NO_SCOPE
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.kind != "staff":
        return NO_SCOPE
    if user.all_communities:
        return DataScope(all_communities=True)
    ids = await session.scalars(
        select(UserCommunityScope.community_id).where(UserCommunityScope.user_id == user_id)
    )
    return DataScope(False, frozenset(ids))


async def run_import_job(
    runtime: Runtime, tenant: str, session: AsyncSession, import_id: int
) -> str:
    """The body of ``run_estate_import``: validate and apply one queued import.

    Idempotent: a transaction-scoped advisory lock keeps two runs apart, and a run that
    finds the import applied or rejected does nothing. The data and the final status commit
    together (with the outbox intent); ``running`` and ``processed_rows`` are written in
    short transactions of their own so a client can poll them meanwhile.
    """
    got = await session.scalar(
        select(
            func.pg_try_advisory_xact_lock(
                func.hashtext(func.current_schema()), cast(import_id, Integer)
            )
        )
    )
    if not got:
        return "busy: another run holds this import"
    job = await session.scalar(
        select(ImportJob).where(ImportJob.id == import_id).execution_options(populate_existing=True)
    )
    if job is None:
        return "not found"
    if job.status not in ("queued", "running"):
        return f"already {job.status}"
    info = await runtime.directory.fresh(tenant)
    if info is None:
        return "unknown tenant"

    async def side_update(**values: Any) -> None:
        async with runtime.db.tenant_session(info.schema, info.cluster) as s:
            await s.execute(update(ImportJob).where(ImportJob.id == import_id).values(**values))
            await s.commit()

    await side_update(status="running", processed_rows=0)
    last = time.monotonic()

    async def progress(done: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY_S or done >= job.total_rows:
            last = time.monotonic()
            await side_update(processed_rows=done)

    scope = await scope_of_user(session, job.created_by)
    imp = Importer(session, tenant, runtime.settings.secret_key, scope, job.created_by)
    try:
        async with session.begin_nested():
            outcome = await run(imp, job.kind, job.filename, job.content or b"", progress=progress)
            if outcome.status != "applied":
                raise _Rejected(outcome)
    except _Rejected as rejected:
        outcome = rejected.outcome
    except AppError as exc:  # an unreadable file
        zh, en = exc.message("zh-CN"), exc.message("en")
        outcome = Outcome("rejected", job.total_rows, 0, [], zh, en)
    except IntegrityError:  # a concurrent change took a name or room the file also has
        outcome = Outcome(
            "failed",
            job.total_rows,
            0,
            [],
            "导入时数据已被其他操作修改，未导入任何数据，请重新上传",
            "The data changed while importing; nothing was imported. Upload it again.",
        )
    except Exception:  # a bug or an outage: say so, rather than stay "running" for ever
        log.exception("estate import %s failed", import_id)
        outcome = Outcome(
            "failed",
            job.total_rows,
            0,
            [],
            "导入失败（系统错误），未导入任何数据，请稍后重新上传",
            "The import failed (system error); nothing was imported. Upload it again later.",
        )
    await session.refresh(job)
    _finish(job, outcome)
    await session.flush()
    return outcome.status


class _Rejected(Exception):
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
