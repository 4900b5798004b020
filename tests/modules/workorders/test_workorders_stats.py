"""Work-order statistics: exact counts, medians and rates per group, every dimension, local
day boundaries, data scope, private complaints, a worker's own figures, the XLSX, one
statement per request, tenant isolation, and the GraphQL fields.

The service is tested directly against real tenant schemas. The GraphQL tests run on a
runtime of their own whose ``workorders`` module carries ``StatsQuery``/``StatsMutation``:
the registered module (with them added if it does not wire them yet), or a stand-in while
the module is not registered.
"""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import (
    Api,
    Services,
    TenantFixture,
    add_account,
    build_runtime,
    client_for,
    count_statements,
    login,
    make_tenant,
)
from sqlalchemy import select, update

import wuye.modules.workorders.models  # noqa: F401  (the tables exist before provisioning)
from wuye.app import create_app
from wuye.errors import AppError
from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.identity.models import AuditLog, Role
from wuye.identity.scope import DataScope
from wuye.modules.base import Module
from wuye.modules.estate.models import Community, Department
from wuye.modules.registry import MODULES
from wuye.modules.workorders import permissions as perms
from wuye.modules.workorders import stats
from wuye.modules.workorders.graphql.stats import StatsMutation, StatsQuery
from wuye.modules.workorders.models import STATUSES, TYPES, Category, WorkOrder
from wuye.runtime import Runtime
from wuye.settings import Settings
from wuye.tenancy.models import Tenant

SH = ZoneInfo("Asia/Shanghai")
ALL = DataScope(all_communities=True)
EVERY_LEVEL = frozenset({"normal", "vip"})
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=SH)


def _types(declared: type | tuple[type, ...] | None) -> tuple[type, ...]:
    return () if declared is None else declared if isinstance(declared, tuple) else (declared,)


def _with_stats(module: Module) -> Module:
    """The registered module, with the statistics API added if it is not wired in yet."""
    queries, mutations = _types(module.query), _types(module.mutation)
    return replace(
        module,
        query=queries if StatsQuery in queries else (*queries, StatsQuery),
        mutation=mutations if StatsMutation in mutations else (*mutations, StatsMutation),
    )


# Until the module is registered: a stand-in with the statistics API only.
STATS_ONLY = Module(
    key="workorders",
    title_zh="工单",
    title_en="Work orders",
    depends_on=("estate",),
    permissions=perms.ALL,
    query=StatsQuery,
    mutation=StatsMutation,
)
REGISTERED = any(m.key == "workorders" for m in MODULES)
TEST_MODULES = (
    tuple(_with_stats(m) if m.key == "workorders" else m for m in MODULES)
    if REGISTERED
    else (*MODULES, STATS_ONLY)
)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


def mins(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- fixtures and a small kit -----------------------------------------------------------------


@pytest.fixture(scope="module")
async def wo_runtime(settings: Settings, services: Services) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, services, modules=TEST_MODULES)
    yield rt
    await rt.close()


@pytest.fixture(scope="module")
async def wo_api(wo_runtime: Runtime) -> AsyncIterator[Api]:
    async with client_for(create_app(wo_runtime)) as client:
        yield Api(client, "/graphql")


@dataclass
class Kit:
    runtime: Runtime
    tenant: TenantFixture
    ids: dict[str, int] = field(default_factory=dict)
    seq: int = 0

    async def setup(self) -> Kit:
        """Communities 阳光花园 (A) and 翠湖苑 (B); categories 给排水 and 电梯维保 (not
        among the defaults the module seeds); teams 维修一班 and 维修二班; workers 王师傅
        and 李师傅."""
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            for key, name in (("A", "阳光花园"), ("B", "翠湖苑")):
                c = Community(name=name)
                s.add(c)
                await s.flush()
                self.ids[key] = c.id
            for key, zh, en in (
                ("plumbing", "给排水", "Water supply"),
                ("lift", "电梯维保", "Lift"),
            ):
                cat = Category(name_zh=zh, name_en=en)
                s.add(cat)
                await s.flush()
                self.ids[key] = cat.id
            for key, name in (("team1", "维修一班"), ("team2", "维修二班")):
                d = Department(name=name, kind="team")
                s.add(d)
                await s.flush()
                self.ids[key] = d.id
            for key, name in (("w1", "王师傅"), ("w2", "李师傅")):
                u = await identity.create_user(
                    s, kind="staff", name=name, phone=f"+86137{secrets.randbelow(10**8):08d}"
                )
                self.ids[key] = u.id
            await s.commit()
        return self

    async def orders(self, *specs: dict[str, Any]) -> list[int]:
        out = []
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            for spec in specs:
                spec = dict(spec)
                self.seq += 1
                created = spec.pop("created_at", T0)
                for ref in ("community", "category", "team", "worker"):
                    if ref in spec:
                        name = spec.pop(ref)
                        spec[f"{ref}_id"] = None if name is None else self.ids[name]
                spec.setdefault("community_id", self.ids["A"])
                for offset in ("accepted", "completed", "due"):
                    if offset in spec:
                        column = "completion_due_at" if offset == "due" else f"{offset}_at"
                        spec[column] = created + mins(spec.pop(offset))
                o = WorkOrder(
                    number=f"WO{self.seq:08d}",
                    type=spec.pop("type", "repair"),
                    status=spec.pop("status", "submitted"),
                    description="测试",
                    created_at=created,
                    updated_at=created,
                    **spec,
                )
                s.add(o)
                await s.flush()
                out.append(o.id)
            await s.commit()
        return out

    async def stats(
        self,
        group_by: str = "community",
        *,
        scope: DataScope = ALL,
        levels: frozenset[str] = EVERY_LEVEL,
        period: tuple[date, date] = MARCH,
        time_zone: str = "Asia/Shanghai",
        **filters: Any,
    ) -> stats.StatsResult:
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            return await stats.work_order_stats(
                s,
                stats.StatsFilters(period[0], period[1], group_by, **filters),
                scope=scope,
                complaint_levels=levels,
                time_zone=time_zone,
            )

    async def mine(self, worker: str, group_by: str = "type") -> stats.StatsResult:
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            return await stats.worker_stats(
                s, worker_id=self.ids[worker], start=MARCH[0], end=MARCH[1], group_by=group_by
            )


async def new_kit(runtime: Runtime, **kw: Any) -> Kit:
    return await Kit(runtime, await make_tenant(runtime, **kw)).setup()


# The reference set: four orders of 阳光花园 (给排水, team 1, 王师傅).
REFERENCE = (
    # accepted in 10, done in 60 of a 120 deadline, rated 5
    dict(category="plumbing", team="team1", worker="w1", status="rated", accepted=10,
         completed=60, due=120, rating=5),
    # accepted in 30, done in 180: late; rated 3; reopened once
    dict(category="plumbing", team="team1", worker="w1", status="rated", accepted=30,
         completed=180, due=120, rating=3, reopen_count=1),
    # accepted in 20, dispatched, not done
    dict(type="appointment", category="plumbing", team="team1", worker="w1",
         status="dispatched", accepted=20),
    # a (normal) complaint accepted in 40, done in 100 without a deadline, rated 4
    dict(type="complaint", category="plumbing", team="team1", worker="w1", status="rated",
         accepted=40, completed=100, rating=4),
)  # fmt: skip


def assert_reference(row: stats.StatsRow) -> None:
    assert row.total == 4
    assert row.by_status == {
        **dict.fromkeys(STATUSES, 0),
        "rated": 3,
        "dispatched": 1,
    }
    assert list(row.by_status) == list(STATUSES) and list(row.by_type) == list(TYPES)
    assert row.by_type == {**dict.fromkeys(TYPES, 0), "repair": 2, "appointment": 1, "complaint": 1}
    assert row.median_response_minutes == 25.0  # 10 20 | 30 40
    assert row.median_completion_minutes == 100.0  # 60 100 180
    assert (row.completed, row.completed_with_deadline, row.on_time) == (3, 2, 1)
    assert row.on_time_rate == 0.5
    assert (row.rated, row.satisfied) == (3, 2)
    assert row.satisfaction_rate == 0.6667
    assert (row.reached_completion, row.reopened) == (3, 1)
    assert row.reopen_rate == 0.3333


# --- the figures ----------------------------------------------------------------------------


async def test_counts_medians_and_rates_are_exact(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(*REFERENCE)

    result = await kit.stats("community")

    assert [r.key for r in result.rows] == [kit.ids["A"]]
    assert result.rows[0].label == "阳光花园"
    assert_reference(result.rows[0])
    assert_reference(result.totals)
    assert result.totals.key is None and result.totals.label == "合计"


async def test_rates_and_medians_are_null_when_nothing_qualifies(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(dict(status="submitted"), dict(status="accepted", accepted=15))

    row = (await kit.stats()).totals

    assert row.total == 2 and row.median_response_minutes == 15.0
    assert row.median_completion_minutes is None
    assert row.on_time_rate is None and row.satisfaction_rate is None
    assert row.reopen_rate is None


async def test_a_period_without_orders_has_zero_totals(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)

    result = await kit.stats("day")

    assert result.rows == []
    assert result.totals.total == 0 and result.totals.by_status["submitted"] == 0
    assert result.totals.median_response_minutes is None


async def test_a_reopened_order_counts_as_having_reached_completion(wo_runtime: Runtime) -> None:
    # Given an order reopened and back to submitted, whose completion time was cleared
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(status="submitted", reopen_count=2),
        dict(status="closed", completed=30),
    )

    row = (await kit.stats()).totals

    assert (row.reached_completion, row.reopened, row.reopen_rate) == (2, 1, 0.5)


async def test_each_dimension_groups_with_labels(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        *REFERENCE,
        dict(community="B", category="lift", team="team2", worker="w2", status="completed",
             accepted=50, completed=300, due=600),
        dict(community="B", type="consultation", category=None, status="submitted"),
        dict(community="B", type="suggestion", category=None, status="cancelled",
             created_at=local(2026, 4, 2, 10)),  # outside the period
    )  # fmt: skip
    ids = kit.ids

    by = {d: await kit.stats(d) for d in stats.DIMENSIONS}

    def table(result: stats.StatsResult) -> list[tuple[Any, str, int]]:
        return [(r.key, r.label, r.total) for r in result.rows]

    assert table(by["community"]) == [(ids["B"], "翠湖苑", 2), (ids["A"], "阳光花园", 4)]
    assert table(by["category"]) == [
        (ids["lift"], "电梯维保", 1),
        (ids["plumbing"], "给排水", 4),
        (None, "未分类", 1),
    ]
    assert [r.label_en for r in by["category"].rows] == ["Lift", "Water supply", "Uncategorised"]
    assert table(by["team"]) == [
        (ids["team1"], "维修一班", 4),
        (ids["team2"], "维修二班", 1),
        (None, "未分配班组", 1),
    ]
    assert table(by["worker"]) == [
        (ids["w2"], "李师傅", 1),
        (ids["w1"], "王师傅", 4),
        (None, "未派工", 1),
    ]
    assert table(by["type"]) == [
        ("repair", "报修", 3),
        ("appointment", "预约维修", 1),
        ("complaint", "投诉", 1),
        ("consultation", "咨询", 1),
    ]
    assert table(by["day"]) == [("2026-03-10", "2026-03-10", 6)]
    assert table(by["month"]) == [("2026-03", "2026-03", 6)]
    # the totals are the same whatever the grouping, and the median is over all orders
    for result in by.values():
        assert result.totals.total == 6
        assert result.totals.median_response_minutes == 30.0  # 10 20 30 40 50
        assert result.totals.median_completion_minutes == 140.0  # 60 100 180 300
        assert result.totals.on_time_rate == 0.6667
    team1 = by["team"].rows[0]
    assert_reference(team1)


async def test_filters_narrow_the_orders(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        *REFERENCE,
        dict(community="B", category="lift", team="team2", worker="w2", status="completed"),
    )
    ids = kit.ids

    async def total(**filters: Any) -> int:
        return (await kit.stats("type", **filters)).totals.total

    assert await total() == 5
    assert await total(community_id=ids["B"]) == 1
    assert await total(category_id=ids["plumbing"]) == 4
    assert await total(type="repair") == 3
    assert await total(team_id=ids["team1"]) == 4
    assert await total(worker_id=ids["w2"]) == 1
    assert await total(worker_id=ids["w2"], community_id=ids["A"]) == 0


async def test_days_and_the_period_follow_the_tenant_time_zone(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(created_at=local(2026, 2, 28, 23, 30)),  # before the period
        dict(created_at=local(2026, 3, 1, 0, 30)),  # UTC: 28 February 16:30
        dict(created_at=local(2026, 3, 15, 23, 30)),  # 23:30 belongs to the 15th
        dict(created_at=local(2026, 3, 16, 7, 30)),  # UTC: 15 March 23:30
        dict(created_at=local(2026, 3, 31, 23, 30)),  # the last evening is in
        dict(created_at=local(2026, 4, 1, 0, 30)),  # UTC: 31 March 16:30, but April here
    )

    result = await kit.stats("day")

    assert [(r.key, r.total) for r in result.rows] == [
        ("2026-03-01", 1),
        ("2026-03-15", 1),
        ("2026-03-16", 1),
        ("2026-03-31", 1),
    ]
    assert result.totals.total == 4
    assert result.since == datetime(2026, 2, 28, 16, tzinfo=ZoneInfo("UTC"))
    assert result.until == datetime(2026, 3, 31, 16, tzinfo=ZoneInfo("UTC"))
    months = await kit.stats("month", period=(date(2026, 2, 1), date(2026, 4, 30)))
    assert [(r.key, r.total) for r in months.rows] == [
        ("2026-02", 1),
        ("2026-03", 4),
        ("2026-04", 1),
    ]
    # a tenant in UTC sees other days from the same orders (1 March 00:30 here is
    # 28 February there; 1 April 00:30 here is 31 March there)
    utc = await kit.stats("day", time_zone="UTC")
    assert [(r.key, r.total) for r in utc.rows] == [("2026-03-15", 2), ("2026-03-31", 2)]


async def test_a_one_day_period(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(created_at=local(2026, 3, 15, 0, 0)),
        dict(created_at=local(2026, 3, 15, 23, 59)),
        dict(created_at=local(2026, 3, 16, 0, 0)),
    )
    day = date(2026, 3, 15)

    result = await kit.stats("day", period=(day, day))

    assert [(r.key, r.total) for r in result.rows] == [("2026-03-15", 2)]


# --- who sees what --------------------------------------------------------------------------


async def test_data_scope_limits_the_figures(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(community="A", worker="w1"),
        dict(community="A", worker="w2"),
        dict(community="B", worker="w2", accepted=5),
    )
    only_a = DataScope(False, frozenset({kit.ids["A"]}))

    result = await kit.stats("community", scope=only_a)
    assert [(r.key, r.total) for r in result.rows] == [(kit.ids["A"], 2)]
    assert result.totals.total == 2
    assert result.totals.median_response_minutes is None  # B's accepted order is not seen
    # grouped by worker: 李师傅's order in B is not counted either
    workers = await kit.stats("worker", scope=only_a)
    assert [(r.key, r.total) for r in workers.rows] == [(kit.ids["w2"], 1), (kit.ids["w1"], 1)]
    # asking for B by name: NOT_FOUND, as for any community outside the scope
    with pytest.raises(AppError) as err:
        await kit.stats(scope=only_a, community_id=kit.ids["B"])
    assert err.value.code == "NOT_FOUND"
    # no community at all: nothing
    nothing = await kit.stats(scope=DataScope(False))
    assert nothing.rows == [] and nothing.totals.total == 0


async def test_complaints_count_only_for_those_who_may_handle_them(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(type="repair", status="completed", completed=60, rating=5),
        dict(type="complaint", level="normal", status="completed", completed=30, rating=1),
        dict(type="complaint", level="vip", status="rated", completed=90, rating=2),
    )
    complaints_key = perms.COMPLAINTS.key
    vip_key = perms.COMPLAINTS_VIP.key

    assert stats.visible_complaint_levels([perms.STATS.key]) == frozenset()
    assert stats.visible_complaint_levels([complaints_key]) == {"normal"}
    assert stats.visible_complaint_levels([vip_key]) == {"vip"}
    assert stats.visible_complaint_levels(["workorders.*"]) == {"normal", "vip"}
    assert stats.visible_complaint_levels(["*"]) == {"normal", "vip"}

    none = await kit.stats("type", levels=frozenset())
    assert [(r.key, r.total) for r in none.rows] == [("repair", 1)]
    assert none.totals.total == 1 and none.totals.by_type["complaint"] == 0
    assert none.totals.satisfaction_rate == 1.0 and none.totals.median_completion_minutes == 60
    # asking for complaints does not reveal them either
    asked = await kit.stats("type", levels=frozenset(), type="complaint")
    assert asked.rows == [] and asked.totals.total == 0

    normal = await kit.stats("type", levels=frozenset({"normal"}))
    assert [(r.key, r.total) for r in normal.rows] == [("repair", 1), ("complaint", 1)]
    assert normal.totals.satisfaction_rate == 0.5

    every = await kit.stats("type", levels=EVERY_LEVEL)
    assert [(r.key, r.total) for r in every.rows] == [("repair", 1), ("complaint", 2)]
    assert every.totals.median_completion_minutes == 60.0
    assert every.totals.satisfaction_rate == 0.3333


async def test_a_worker_sees_only_their_own_orders(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        dict(community="A", worker="w1", status="completed", accepted=10, completed=50),
        dict(community="B", worker="w1", type="complaint", level="vip", status="rated",
             accepted=20, completed=70, rating=5),
        dict(community="A", worker="w2", status="completed", accepted=1, completed=2),
        dict(community="A", worker=None),
        dict(community="A", worker="w1", created_at=local(2026, 4, 1, 8)),  # April
    )  # fmt: skip

    mine = await kit.mine("w1")

    assert mine.totals.total == 2
    assert [(r.key, r.total) for r in mine.rows] == [("repair", 1), ("complaint", 1)]
    assert mine.totals.median_response_minutes == 15.0
    assert mine.totals.median_completion_minutes == 60.0
    assert mine.totals.satisfaction_rate == 1.0
    by_community = await kit.mine("w1", "community")
    assert [(r.key, r.total) for r in by_community.rows] == [(kit.ids["B"], 1), (kit.ids["A"], 1)]
    theirs = await kit.mine("w2")
    assert theirs.totals.total == 1 and theirs.totals.median_completion_minutes == 2.0
    async with kit.runtime.db.tenant_session(kit.tenant.schema) as s:
        nobody = await stats.worker_stats(s, worker_id=None, start=MARCH[0], end=MARCH[1])
    assert nobody.totals.total == 0


async def test_tenants_never_see_each_others_orders(wo_runtime: Runtime) -> None:
    # Given two tenants whose rows have the same ids
    first = await new_kit(wo_runtime)
    second = await new_kit(wo_runtime)
    assert first.ids == second.ids
    await first.orders(*REFERENCE)
    await second.orders(dict(status="completed", accepted=7, completed=8, rating=1))

    a = await first.stats("community")
    b = await second.stats("community")
    b_worker = await second.mine("w1", "community")

    assert_reference(a.totals)
    assert b.totals.total == 1 and b.totals.median_response_minutes == 7.0
    assert b.totals.satisfaction_rate == 0.0
    assert b_worker.totals.total == 0  # tenant A's orders of "the same" worker id


# --- validation, statements, XLSX -----------------------------------------------------------


async def test_bad_requests_are_refused(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)

    async def code(**kw: Any) -> tuple[str, Any]:
        with pytest.raises(AppError) as err:
            await kit.stats(**kw)
        return err.value.code, err.value.params.get("field")

    assert await code(period=(date(2026, 3, 2), date(2026, 3, 1))) == ("VALIDATION_FAILED", "to")
    assert await code(period=(date(2020, 1, 1), date(2026, 1, 1))) == ("VALIDATION_FAILED", "to")
    assert await code(group_by="building") == ("VALIDATION_FAILED", "groupBy")
    assert await code(type="party") == ("VALIDATION_FAILED", "type")


@pytest.mark.parametrize("group_by", stats.DIMENSIONS)
async def test_one_statement_per_request(wo_runtime: Runtime, group_by: str) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        *REFERENCE,
        *(dict(community="B", category="lift", team="team2", worker="w2") for _ in range(5)),
    )
    async with wo_runtime.db.tenant_session(kit.tenant.schema) as s:
        await s.execute(WorkOrder.__table__.select().limit(1))  # the routing is done
        with count_statements(wo_runtime) as seen:
            result = await stats.work_order_stats(
                s,
                stats.StatsFilters(*MARCH, group_by),
                scope=DataScope(False, frozenset({kit.ids["A"], kit.ids["B"]})),
                complaint_levels={"normal"},
            )
        assert len(seen) == 1, seen
        assert "percentile_cont" in seen[0] and "ROLLUP" in seen[0].upper()
        with count_statements(wo_runtime) as seen:
            await stats.worker_stats(
                s, worker_id=kit.ids["w1"], start=MARCH[0], end=MARCH[1], group_by=group_by
            )
        assert len(seen) == 1, seen
    assert result.totals.total == 9


async def test_the_xlsx_has_a_row_per_group_and_the_totals(wo_runtime: Runtime) -> None:
    kit = await new_kit(wo_runtime)
    await kit.orders(
        *REFERENCE, dict(community="B", status="completed", accepted=50, completed=300, due=600)
    )
    result = await kit.stats("community")

    filename, content_type, data = stats.encode_xlsx(result)

    assert filename == "工单统计-work-order-stats-2026-03-01_2026-03-31.xlsx"
    assert content_type.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["工单统计", "说明"]
    sheet = book["工单统计"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[:3] == ["小区 Community", "数量 Count", "待受理 Submitted"]
    assert "报修 Repair" in header and "投诉 Complaint" in header
    assert header[-5:] == [
        "响应时长中位数(分钟) Median response (min)",
        "完成时长中位数(分钟) Median completion (min)",
        "按时完成率 On-time rate",
        "满意率 Satisfaction rate",
        "重开率 Reopen rate",
    ]
    assert len(header) == 2 + len(STATUSES) + len(TYPES) + 5
    assert [r[0] for r in rows[1:]] == ["翠湖苑", "阳光花园", "合计"]
    by_label = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    a = by_label["阳光花园"]
    assert a["数量 Count"] == 4 and a["已评价 Rated"] == 3 and a["已派工 Dispatched"] == 1
    assert a["报修 Repair"] == 2 and a["预约维修 Appointment"] == 1
    assert a["响应时长中位数(分钟) Median response (min)"] == 25.0
    assert a["完成时长中位数(分钟) Median completion (min)"] == 100.0
    assert a["按时完成率 On-time rate"] == 0.5
    assert a["满意率 Satisfaction rate"] == 0.6667
    assert a["重开率 Reopen rate"] == 0.3333
    b = by_label["翠湖苑"]
    assert b["数量 Count"] == 1 and b["满意率 Satisfaction rate"] is None
    assert b["按时完成率 On-time rate"] == 1.0
    total = by_label["合计"]
    assert total["数量 Count"] == 5 and total["响应时长中位数(分钟) Median response (min)"] == 30
    # rates are numbers shown as percentages
    rate_cell = sheet.cell(row=3, column=header.index("满意率 Satisfaction rate") + 1)
    assert rate_cell.number_format == "0.0%"
    notes = [list(r) for r in book["说明"].iter_rows(values_only=True)]
    assert notes[0] == ["统计时段 Period", "2026-03-01 ~ 2026-03-31"]
    assert notes[1] == ["时区 Time zone", "Asia/Shanghai"]
    # English labels when asked for
    _, _, en = stats.encode_xlsx(await kit.stats("type"), lang="en")
    en_rows = list(openpyxl.load_workbook(io.BytesIO(en)).active.iter_rows(values_only=True))
    assert [r[0] for r in en_rows[1:]] == ["Repair", "Appointment", "Complaint", "Total"]


# --- GraphQL --------------------------------------------------------------------------------

STATS_QUERY = """query($i: WorkOrderStatsInput!) { workOrderStats(input: $i) {
  groupBy from to timeZone
  rows { key label total byStatus { status count } byType { type count }
    medianResponseMinutes medianCompletionMinutes onTimeRate satisfactionRate reopenRate }
  totals { key label total medianResponseMinutes onTimeRate satisfactionRate reopenRate } } }"""
MY_STATS = """query($from: Date!, $to: Date!) { myWorkOrderStats(from: $from, to: $to) {
  rows { key total } totals { total medianCompletionMinutes } } }"""
EXPORT = """mutation($i: WorkOrderStatsInput!) { exportWorkOrderStats(input: $i) {
  filename contentType base64 } }"""


async def add_role(runtime: Runtime, tenant: TenantFixture, key: str, *permissions: str) -> None:
    async with runtime.db.tenant_session(tenant.schema) as s:
        s.add(Role(key=key, name_zh=key, name_en=key, permissions=list(permissions)))
        await s.commit()


async def token_for(
    api: Api, runtime: Runtime, tenant: TenantFixture, *permissions: str, **scope: Any
) -> str:
    role = f"r{secrets.token_hex(3)}"
    await add_role(runtime, tenant, role, *permissions)
    account = await add_account(runtime, tenant, roles=(role,), **scope)
    return str((await login(api, tenant.slug, account.phone))["accessToken"])


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return body["data"]


def march(**kw: Any) -> dict[str, Any]:
    return {"i": {"from": "2026-03-01", "to": "2026-03-31", **kw}}


async def test_graphql_stats_export_and_access(wo_runtime: Runtime, wo_api: Api) -> None:
    kit = await new_kit(wo_runtime, modules=("workorders",))
    await kit.orders(
        *REFERENCE,
        dict(community="B", worker="w2", status="completed", accepted=50, completed=300),
        dict(community="B", type="complaint", status="submitted"),
    )
    slug = kit.tenant.slug
    viewer = await token_for(
        wo_api, wo_runtime, kit.tenant, perms.STATS.key, perms.COMPLAINTS.key,
        all_communities=True,
    )  # fmt: skip
    limited = await token_for(
        wo_api, wo_runtime, kit.tenant, perms.STATS.key, communities=(kit.ids["B"],)
    )
    nobody = await token_for(wo_api, wo_runtime, kit.tenant, perms.VIEW.key, all_communities=True)

    # a viewer of every community who may handle complaints
    body = ok(await wo_api(STATS_QUERY, march(groupBy="COMMUNITY"), tenant=slug, token=viewer))
    result = body["workOrderStats"]
    assert (result["groupBy"], result["from"], result["timeZone"]) == (
        "COMMUNITY",
        "2026-03-01",
        "Asia/Shanghai",
    )
    assert [(r["key"], r["label"], r["total"]) for r in result["rows"]] == [
        (encode_id("Community", kit.ids["B"]), "翠湖苑", 2),
        (encode_id("Community", kit.ids["A"]), "阳光花园", 4),
    ]
    a = result["rows"][1]
    assert {s["status"]: s["count"] for s in a["byStatus"]}["rated"] == 3
    assert [s["status"] for s in a["byStatus"]] == list(STATUSES)
    assert {t["type"]: t["count"] for t in a["byType"]}["complaint"] == 1
    assert (a["medianResponseMinutes"], a["medianCompletionMinutes"]) == (25.0, 100.0)
    assert (a["onTimeRate"], a["satisfactionRate"], a["reopenRate"]) == (0.5, 0.6667, 0.3333)
    assert result["totals"]["key"] is None and result["totals"]["total"] == 6

    # limited to B, without the complaint permission: B's repair only; A is NOT_FOUND
    body = ok(await wo_api(STATS_QUERY, march(groupBy="TYPE"), tenant=slug, token=limited))
    assert [(r["key"], r["total"]) for r in body["workOrderStats"]["rows"]] == [("repair", 1)]
    asked = march(communityId=encode_id("Community", kit.ids["A"]))
    assert codes(await wo_api(STATS_QUERY, asked, tenant=slug, token=limited)) == ["NOT_FOUND"]
    bad = march(to="2026-02-01")
    assert codes(await wo_api(STATS_QUERY, bad, tenant=slug, token=viewer)) == ["VALIDATION_FAILED"]

    # without workorders.stats.view: nothing
    assert codes(await wo_api(STATS_QUERY, march(), tenant=slug, token=nobody)) == ["FORBIDDEN"]
    assert codes(await wo_api(EXPORT, march(), tenant=slug, token=nobody)) == ["FORBIDDEN"]

    # the export: the same figures as XLSX, delivered as an estate export is
    body = ok(await wo_api(EXPORT, march(groupBy="WORKER"), tenant=slug, token=limited))
    file = body["exportWorkOrderStats"]
    assert file["filename"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(file["base64"]))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "维修人员 Worker"
    assert [(r[0], r[1]) for r in rows[1:]] == [("李师傅", 1), ("合计", 1)]
    # and, like an estate export, it is audited
    async with wo_runtime.db.tenant_session(kit.tenant.schema) as s:
        actions = list(await s.scalars(select(AuditLog.action)))
    assert actions.count("exportWorkOrderStats") == 1


async def test_graphql_my_stats_is_the_workers_own(wo_runtime: Runtime, wo_api: Api) -> None:
    kit = await new_kit(wo_runtime, modules=("workorders",))
    role = "worker_only"
    await add_role(wo_runtime, kit.tenant, role, perms.WORK.key)
    me = await add_account(wo_runtime, kit.tenant, roles=(role,), name="赵师傅")
    other = await add_account(wo_runtime, kit.tenant, roles=(role,))
    kit.ids["me"], kit.ids["other"] = me.user_id, other.user_id
    await kit.orders(
        dict(worker="me", status="completed", completed=40),
        dict(worker="me", community="B", status="completed", completed=80),
        dict(worker="other", status="completed", completed=1),
    )
    token = str((await login(wo_api, kit.tenant.slug, me.phone))["accessToken"])
    variables = {"from": "2026-03-01", "to": "2026-03-31"}

    body = ok(await wo_api(MY_STATS, variables, tenant=kit.tenant.slug, token=token))

    mine = body["myWorkOrderStats"]
    assert mine["rows"] == [{"key": "repair", "total": 2}]
    assert mine["totals"] == {"total": 2, "medianCompletionMinutes": 60.0}
    # a worker does not get the staff statistics
    assert codes(await wo_api(STATS_QUERY, march(), tenant=kit.tenant.slug, token=token)) == [
        "FORBIDDEN"
    ]
    # and staff without workorders.work do not get "my" figures
    viewer = await token_for(wo_api, wo_runtime, kit.tenant, perms.STATS.key)
    assert codes(await wo_api(MY_STATS, variables, tenant=kit.tenant.slug, token=viewer)) == [
        "FORBIDDEN"
    ]


async def test_graphql_statements_do_not_grow_with_the_groups(
    wo_runtime: Runtime, wo_api: Api
) -> None:
    kit = await new_kit(wo_runtime, modules=("workorders",))
    token = await token_for(wo_api, wo_runtime, kit.tenant, perms.STATS.key, all_communities=True)

    async def statements() -> int:
        with count_statements(wo_runtime) as seen:
            ok(await wo_api(STATS_QUERY, march(groupBy="WORKER"), tenant=kit.tenant.slug,
                            token=token))  # fmt: skip
        return len(seen)

    await kit.orders(dict(worker="w1"))
    few = await statements()
    await kit.orders(dict(worker="w2"), dict(worker=None), dict(community="B", worker="w2"))
    many = await statements()
    assert few == many


async def test_graphql_days_are_the_tenants_days(wo_runtime: Runtime, wo_api: Api) -> None:
    # Given a company in UTC (set before its first request, so no cache holds the old zone)
    kit = await new_kit(wo_runtime, modules=("workorders",))
    async with wo_runtime.db.shared_session() as s:
        await s.execute(
            update(Tenant).where(Tenant.slug == kit.tenant.slug).values(time_zone="UTC")
        )
        await s.commit()
    await kit.orders(
        dict(created_at=local(2026, 3, 16, 7, 30)),  # 15 March 23:30 UTC
        dict(created_at=local(2026, 3, 1, 0, 30)),  # 28 February 16:30 UTC: out
    )
    token = await token_for(wo_api, wo_runtime, kit.tenant, perms.STATS.key, all_communities=True)

    body = ok(await wo_api(STATS_QUERY, march(groupBy="DAY"), tenant=kit.tenant.slug, token=token))

    result = body["workOrderStats"]
    assert result["timeZone"] == "UTC"
    assert [(r["key"], r["total"]) for r in result["rows"]] == [("2026-03-15", 1)]
