"""Bill generation (生成账单): one bill per unit (or parking space), fee item and period.

``start_run`` records a ``BillRun`` (``billing.generate``, within the caller's data scope)
and queues the ``run_bills`` job through the outbox; the job calls ``run_job``, which
writes every bill of a fee item with **one** ``INSERT INTO bills ... SELECT ... ON CONFLICT
ON CONSTRAINT uq_bills_once DO NOTHING`` statement (plus, in the same statement, the
ledger entry of the item and, for metered items, the readings it billed). The statement
count is per fee item, never per unit; a re-run, a second run for the same period or arq
running the job twice inserts nothing twice (the unique key, not a check-then-insert).

**Periods.** ``period`` is 'YYYY-MM'. A monthly item bills that month; a quarterly item
bills only when the month ends a quarter (03, 06, 09, 12), for the quarter's 3 months; a
yearly item only in December, for the calendar year; a one-off item bills the month given,
once per unit or space ever (a target that has any bill of the item is skipped). Every bill
stores ``period`` (the month given), the cycle's first and last day, and ``due_on`` = the
item's ``due_day`` of the month after the cycle's last month.

**Rates.** The rate of a target is the most specific ``FeeRate`` of the item in force on the
cycle's first day: for each (community, building, property type) scope its latest row with
``effective_from <= start``; among the scopes matching the target, a building's beats a
community's beats the tenant's, and a matching property type beats none (in that order).
An issued bill never changes when a rate does.

**Amounts** (integer fen, exact numeric, rounded half-up once per bill with ``round()``):

- ``area``: building area × price × months; ``fixed``: price × months. A parking-space item
  (``target = 'parking_space'``, method fixed) bills every space with a current assignment
  (starts on or before the cycle's end, not ended before its start; the latest one): the
  payer is the assignment's unit (if any), the price is the assignment's
  ``monthly_rent_fen``, else the space's, else the fee rate (the specific standard beats the
  general one). Spaces have no building: a building-scoped run bills no spaces.
- Proration: a unit whose earliest current occupancy (not moved out by the cycle's end)
  moved in after the cycle's first day and by its last pays ``days/days in cycle`` of an
  area or fixed amount; a space whose assignment starts mid-cycle likewise.
- Vacancy: a unit nobody lives in by the cycle's end with ``units.status = 'vacant'`` pays
  ``(100 - vacancy_discount_pct)%`` when the item sets a discount; otherwise the full fee
  (owners pay property fees on empty flats).
- ``metered``: the item's meter type's accepted readings not billed yet, read on or before
  the cycle's last day (so a reading accepted late is billed with the next period), summed
  per unit; units without usage get no bill. Tiered rates (``tiers``: ``up_to`` cumulative
  usage, the last one null) split the usage over the tiers. The readings get
  ``billed_bill_id`` in the same statement.
- ``one_off``: the price, once.
- Bills of 0 fen are not created (e.g. a 100 % vacancy discount).

``calc`` says how, with 元 shown like ``money.yuan`` (two decimals; a sub-fen rate shows
its exact decimals): ``89.50 m² × 2.80 元/m²/月 × 1 月 = 250.60 元``, ``… × 16/30 天 = …``,
``… × (1 − 50% 空置) = …``, ``180 吨 × 4.96 元/吨 + 20 吨 × 7.45 元/吨 = 1041.80 元``.

**Ledger.** One entry per (run, fee item) — kind and ref ``bill_run`` — with a ``receivable``
debit per new bill (unit, community, fee item, bill) and one ``income:<code>`` credit per
community for the sum, written by the same statement from the rows it inserted.

**Schedule.** Module config ``auto_generate_day`` (1–28; absent = off): the daily
``generate_scheduled_bills`` job bills the previous month for the whole tenant on that day
of the month (tenant time zone) as a ``scheduled`` run, once per period.

Concurrency: a run takes a transaction-scoped advisory lock per tenant for generation, so
two runs (or a run and its duplicate) never read the same unbilled readings at once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.permissions import grants
from wuye.modules.billing.config import config_of
from wuye.modules.billing.models import BillRun, FeeItem
from wuye.modules.billing.permissions import GENERATE
from wuye.modules.billing.settlement import Actor
from wuye.modules.estate.models import Building, Community
from wuye.modules.rows import get_row
from wuye.outbox import enqueue_with

if TYPE_CHECKING:
    from wuye.runtime import Runtime
    from wuye.tenancy.directory import TenantInfo

log = logging.getLogger(__name__)

RUN_JOB = "run_bills"  # the tenant job (billing.jobs) that runs a queued BillRun
PROGRESS_EVERY_S = 0.5
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# the unit a meter type's usage is shown in
USAGE_UNITS = {"water": "吨", "hot_water": "吨", "electricity": "度", "gas": "m³", "heat": "GJ"}


@dataclass(frozen=True)
class Cycle:
    """The stretch of time one bill of an item covers for a period."""

    start: date
    end: date  # inclusive
    months: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class RunResult:
    """What a run created: the new bills' ids (to hand to auto-settlement), how many, their
    sum, and per fee item ``{fee item id: created}``."""

    bill_ids: list[int] = field(default_factory=list)
    created: int = 0
    total_fen: int = 0
    per_item: dict[int, int] = field(default_factory=dict)


# --- periods ---------------------------------------------------------------------------------


def parse_period(period: str) -> tuple[int, int]:
    m = _PERIOD.match(period or "")
    if m is None:
        raise AppError(
            "VALIDATION_FAILED", "账期格式须为YYYY-MM", "The period must be YYYY-MM", field="period"
        )
    return int(m.group(1)), int(m.group(2))


def _month_start(year: int, month: int) -> date:
    return date(year, month, 1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def previous_period(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def cycle_of(cycle: str, period: str) -> Cycle | None:
    """The cycle an item of ``cycle`` bills for ``period``, or None when it bills nothing
    then (a quarterly item outside quarter-end months, a yearly one outside December)."""
    year, month = parse_period(period)
    end = _next_month(_month_start(year, month)) - timedelta(days=1)
    if cycle in ("monthly", "one_off"):
        return Cycle(_month_start(year, month), end, 1)
    if cycle == "quarterly":
        return Cycle(_month_start(year, month - 2), end, 3) if month % 3 == 0 else None
    if cycle == "yearly":
        return Cycle(date(year, 1, 1), end, 12) if month == 12 else None
    raise ValueError(f"unknown cycle {cycle!r}")


def due_on(cycle: Cycle, due_day: int) -> date:
    return _next_month(cycle.end).replace(day=due_day)


# --- starting a run --------------------------------------------------------------------------


async def start_run(
    session: AsyncSession,
    runtime: Runtime,
    tenant: TenantInfo,
    *,
    period: str,
    community_id: int | None = None,
    building_id: int | None = None,
    fee_item_ids: Sequence[int] = (),
    actor: Actor,
) -> BillRun:
    """Record a queued run and its job intent (relayed after commit). Staff limited to some
    communities must name one of theirs (a whole-tenant run is refused)."""
    if not actor.is_staff or not grants(actor.permissions, GENERATE.key):
        raise AppError("FORBIDDEN")
    parse_period(period)
    if building_id is not None:
        building = await get_row(session, Building, building_id, field="buildingId")
        actor.scope.check(building.community_id)
        if community_id is not None and community_id != building.community_id:
            raise AppError(
                "VALIDATION_FAILED",
                "楼栋不属于该小区",
                "The building is not in that community",
                field="buildingId",
            )
        community_id = building.community_id
    elif community_id is not None:
        await get_row(session, Community, community_id, field="communityId")
        actor.scope.check(community_id)
    elif not actor.scope.all_communities:
        raise AppError(
            "FORBIDDEN",
            "您只能为自己负责的小区生成账单，请选择小区",
            "You may generate bills only for your communities: choose one",
        )
    ids = sorted(set(fee_item_ids))
    if ids:
        found = set(await session.scalars(select(FeeItem.id).where(FeeItem.id.in_(ids))))
        if found != set(ids):
            raise AppError("NOT_FOUND", field="feeItemIds")
    run = BillRun(
        period=period,
        community_id=community_id,
        building_id=building_id,
        fee_item_ids=ids,
        status="queued",
        started_by=actor.user_id,
    )
    session.add(run)
    await session.flush()
    await session.refresh(run)
    await enqueue_with(
        session,
        runtime,
        tenant,
        job=RUN_JOB,
        args={"run_id": run.id},
        dedup_key=f"billing:run:{tenant.slug}:{run.id}",
    )
    return run


# --- running it ------------------------------------------------------------------------------


async def lock_generation(session: AsyncSession) -> None:
    """One generation at a time per tenant (transaction-scoped: released at commit)."""
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('billing.generate'))"
        )
    )


async def run_job(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, run_id: int
) -> RunResult | None:
    """The body of ``run_bills``: generate a queued run's bills in ``session`` (the job's
    transaction); ``status``/``progress`` are also written in short transactions of their
    own so a client can poll them meanwhile. Idempotent: a run found done or failed does
    nothing (returns None), and the bills' unique key covers the rest."""
    await lock_generation(session)
    run = await session.scalar(
        select(BillRun).where(BillRun.id == run_id).execution_options(populate_existing=True)
    )
    if run is None or run.status in ("done", "failed"):
        return None

    async def side_update(**values: Any) -> None:
        async with runtime.db.tenant_session(tenant.schema, tenant.cluster) as s:
            await s.execute(update(BillRun).where(BillRun.id == run_id).values(**values))
            await s.commit()

    await side_update(status="running", progress=0)
    return await execute(session, run, progress=side_update)


async def execute(session: AsyncSession, run: BillRun, *, progress: Any = None) -> RunResult:
    """Generate ``run``'s bills (the caller holds ``lock_generation``) and finish the run in
    ``session``: done with counts, or failed with the error (nothing written)."""
    result = RunResult()
    try:
        async with session.begin_nested():
            items = await _items(session, run)
            last = time.monotonic()
            for n, item in enumerate(items, 1):
                cycle = cycle_of(item.cycle, run.period)
                if cycle is not None:
                    ids, total = await generate_item(session, run, item, cycle)
                    result.bill_ids.extend(ids)
                    result.created += len(ids)
                    result.total_fen += total
                    result.per_item[item.id] = len(ids)
                if progress is not None and (
                    time.monotonic() - last >= PROGRESS_EVERY_S or n == len(items)
                ):
                    last = time.monotonic()
                    await progress(progress=min(99, n * 100 // max(len(items), 1)))
    except Exception as exc:
        log.exception("bill run %s failed", run.id)
        await session.execute(
            update(BillRun)
            .where(BillRun.id == run.id)
            .values(status="failed", error=str(exc)[:2000], finished_at=func.now())
        )
        return RunResult()
    await session.execute(
        update(BillRun)
        .where(BillRun.id == run.id)
        .values(
            status="done",
            progress=100,
            created_count=result.created,
            total_fen=result.total_fen,
            error="",
            finished_at=func.now(),
        )
    )
    return result


async def _items(session: AsyncSession, run: BillRun) -> list[FeeItem]:
    stmt = select(FeeItem).where(FeeItem.active).order_by(FeeItem.sort, FeeItem.id)
    if run.fee_item_ids:
        stmt = stmt.where(FeeItem.id.in_([int(i) for i in run.fee_item_ids]))
    return list(await session.scalars(stmt))


# --- scheduled runs --------------------------------------------------------------------------


async def generate_scheduled(
    session: AsyncSession, tenant: TenantInfo, *, now: datetime | None = None
) -> tuple[BillRun, RunResult] | None:
    """On the tenant's ``auto_generate_day`` (its local date), bill the previous month for
    the whole tenant as a scheduled run, unless one exists for that period already (checked
    under the generation lock: two workers or a repeated job make one run). Returns the run
    and what it created, or None."""
    day = config_of(tenant).auto_generate_day
    if day is None:
        return None
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(tenant.time_zone or "Asia/Shanghai"))
    if today.day != day:
        return None
    period = previous_period(today.date())
    await lock_generation(session)
    existing = await session.scalar(
        select(BillRun.id).where(
            BillRun.scheduled,
            BillRun.period == period,
            BillRun.community_id.is_(None),
            BillRun.building_id.is_(None),
        )
    )
    if existing is not None:
        return None
    run = BillRun(period=period, status="running", scheduled=True)
    session.add(run)
    await session.flush()
    result = await execute(session, run)
    await session.refresh(run)
    return run, result


# --- the statement -----------------------------------------------------------------------------

# 元 with two decimals (money.yuan) of a fen amount, and a rate in fen shown exactly
_YUAN = "CAST(round(({x}) / 100.0, 2) AS text)"
_RATE = (
    "CASE WHEN ({x}) = trunc({x}) THEN CAST(round(({x}) / 100.0, 2) AS text) "
    "ELSE CAST(trim_scale(({x}) / 100.0) AS text) END"
)

_RATES = """
rates AS MATERIALIZED (
  SELECT DISTINCT ON (community_id, building_id, property_type)
         community_id, building_id, property_type, unit_price, tiers
  FROM fee_rates
  WHERE fee_item_id = :item_id AND effective_from <= :start
  ORDER BY community_id, building_id, property_type, effective_from DESC
)"""

_RATE_OF = """
JOIN LATERAL (
  SELECT r.unit_price, r.tiers FROM rates r
  WHERE (r.building_id IS NULL OR r.building_id = t.building_id)
    AND (r.community_id IS NULL OR r.community_id = t.community_id)
    AND (r.property_type IS NULL OR r.property_type = t.property_type)
  ORDER BY (r.building_id IS NOT NULL) DESC, (r.community_id IS NOT NULL) DESC,
           (r.property_type IS NOT NULL) DESC
  LIMIT 1
) rate ON true"""


def _unit_targets(run: BillRun, *, occupancy: bool) -> str:
    where = ["true"]
    occ_where = ["(move_out_on IS NULL OR move_out_on > :end)"]
    if run.community_id is not None:
        where.append("u.community_id = :community_id")
        occ_where.append("community_id = :community_id")
    if run.building_id is not None:
        where.append("u.building_id = :building_id")
    moved_in = "o.moved_in" if occupancy else "CAST(NULL AS date)"
    occ_join = (
        f"""LEFT JOIN (SELECT unit_id, min(move_in_on) AS moved_in FROM occupancies
            WHERE {" AND ".join(occ_where)} GROUP BY unit_id) o ON o.unit_id = u.id"""
        if occupancy
        else ""
    )
    return f"""
targets AS (
  SELECT u.id AS unit_id, CAST(NULL AS bigint) AS space_id, 'u:' || u.id AS target_key,
         u.community_id, u.building_id, u.building_area AS area, u.property_type,
         u.status AS unit_status, {moved_in} AS moved_in, CAST(NULL AS numeric) AS own_price
  FROM units u {occ_join}
  WHERE {" AND ".join(where)}
)"""


def _space_targets(run: BillRun) -> str:
    where = ["true"] if run.building_id is None else ["false"]
    if run.community_id is not None:
        where.append("s.community_id = :community_id")
    return f"""
targets AS (
  SELECT a.unit_id, s.id AS space_id, 's:' || s.id AS target_key, s.community_id,
         CAST(NULL AS bigint) AS building_id, CAST(NULL AS numeric) AS area,
         CAST(NULL AS varchar) AS property_type, CAST(NULL AS varchar) AS unit_status,
         a.starts_on AS moved_in,
         CAST(coalesce(a.monthly_rent_fen, s.monthly_rent_fen) AS numeric) AS own_price
  FROM parking_spaces s
  JOIN LATERAL (
    SELECT pa.unit_id, pa.starts_on, pa.monthly_rent_fen FROM parking_assignments pa
    WHERE pa.space_id = s.id AND pa.starts_on <= :end
      AND (pa.ends_on IS NULL OR pa.ends_on >= :start)
    ORDER BY pa.starts_on DESC, pa.id DESC LIMIT 1
  ) a ON true
  WHERE {" AND ".join(where)}
)"""


def _time_based(item: FeeItem) -> str:
    """``lines``: exact amount and the calc text before ' = ', for area and fixed items
    (prorated by move-in day, discounted when vacant)."""
    price = "coalesce(t.own_price, rate.unit_price)"
    if item.method == "area":
        base_exact = f"t.area * {price} * :months"
        base_calc = (
            f"CAST(t.area AS text) || ' m² × ' || {_RATE.format(x=price)} "
            "|| ' 元/m²/月 × ' || :months || ' 月'"
        )
        having = "t.area IS NOT NULL"
    else:
        base_exact = f"{price} * :months"
        base_calc = f"{_RATE.format(x=price)} || ' 元/月 × ' || :months || ' 月'"
        having = f"{price} IS NOT NULL"
    prorated = "(t.moved_in > :start AND t.moved_in <= :end)"
    vacant = (
        "(CAST(:vacancy_pct AS integer) > 0 AND t.unit_status = 'vacant' "
        "AND (t.moved_in IS NULL OR t.moved_in > :end))"
    )
    days = "(:end - t.moved_in + 1)"
    num = (
        f"(CASE WHEN {prorated} THEN {days} ELSE 1 END)"
        f" * (CASE WHEN {vacant} THEN 100 - :vacancy_pct ELSE 100 END)"
    )
    den = f"(CASE WHEN {prorated} THEN :days ELSE 1 END) * 100"
    calc = (
        f"{base_calc}"
        f" || CASE WHEN {prorated} THEN ' × ' || {days} || '/' || :days || ' 天' ELSE '' END"
        f" || CASE WHEN {vacant} THEN ' × (1 − ' || :vacancy_pct || '% 空置)' ELSE '' END"
    )
    return f"""
lines AS (
  SELECT t.*, ({base_exact}) * {num} / ({den}) AS exact, {calc} AS calc_head
  FROM targets t {_RATE_OF.replace("JOIN LATERAL", "LEFT JOIN LATERAL")}
  WHERE {having} AND (t.own_price IS NOT NULL OR rate.unit_price IS NOT NULL)
)"""


def _metered(run: BillRun) -> str:
    where = [
        "meter_type = :meter_type",
        "status = 'accepted'",
        "billed_bill_id IS NULL",
        "usage IS NOT NULL",
        "read_on <= :end",
    ]
    if run.community_id is not None:
        where.append("community_id = :community_id")
    rate = _RATE.format(x="tier.price")
    flat_rate = _RATE.format(x="rate.unit_price")
    return f"""
used AS (
  SELECT unit_id, sum(usage) AS qty FROM meter_readings
  WHERE {" AND ".join(where)}
  GROUP BY unit_id HAVING sum(usage) > 0
),
lines AS (
  SELECT t.*, used.qty,
         CASE WHEN tiered.exact IS NOT NULL THEN tiered.exact
              ELSE used.qty * rate.unit_price END AS exact,
         CASE WHEN tiered.exact IS NOT NULL THEN tiered.calc
              ELSE CAST(trim_scale(used.qty) AS text) || ' ' || :usage_unit || ' × '
                   || {flat_rate} || ' 元/' || :usage_unit END AS calc_head
  FROM targets t
  JOIN used ON used.unit_id = t.unit_id
  {_RATE_OF}
  LEFT JOIN LATERAL (
    SELECT sum(tier.qty * tier.price) AS exact,
           string_agg(CAST(trim_scale(tier.qty) AS text) || ' ' || :usage_unit || ' × '
                      || {rate} || ' 元/' || :usage_unit, ' + ' ORDER BY tier.n) AS calc
    FROM (
      SELECT b.n, b.price,
             greatest(0, least(used.qty, b.upper) - coalesce(b.lower, 0)) AS qty
      FROM (
        SELECT x.n, CAST(x.e ->> 'unit_price' AS numeric) AS price,
               CAST(x.e ->> 'up_to' AS numeric) AS upper,
               lag(CAST(x.e ->> 'up_to' AS numeric)) OVER (ORDER BY x.n) AS lower
        FROM jsonb_array_elements(rate.tiers) WITH ORDINALITY AS x(e, n)
      ) b
    ) tier
    WHERE tier.qty > 0
  ) tiered ON true
)"""


def _one_off() -> str:
    price = "coalesce(t.own_price, rate.unit_price)"
    return f"""
lines AS (
  SELECT t.*, {price} AS exact, {_RATE.format(x=price)} || ' 元 × 1 次' AS calc_head
  FROM targets t {_RATE_OF.replace("JOIN LATERAL", "LEFT JOIN LATERAL")}
  WHERE {price} IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM bills b
                    WHERE b.fee_item_id = :item_id AND b.target_key = t.target_key)
)"""


def statement(run: BillRun, item: FeeItem) -> str | None:
    """The one statement that bills ``item`` for ``run`` (None: nothing to bill, e.g. an
    area item on parking spaces, or a metered one on them)."""
    spaces = item.target == "parking_space"
    if spaces and item.method in ("area", "metered"):
        return None
    if spaces:
        targets = _space_targets(run)
    else:
        targets = _unit_targets(run, occupancy=item.method in ("area", "fixed"))
    if item.method in ("area", "fixed"):
        lines = _time_based(item)
    elif item.method == "metered":
        lines = _metered(run)
    else:
        lines = _one_off()
    mark = (
        """,
marked AS (
  UPDATE meter_readings r SET billed_bill_id = ins.id FROM ins
  WHERE r.unit_id = ins.unit_id AND r.meter_type = :meter_type AND r.status = 'accepted'
    AND r.billed_bill_id IS NULL AND r.usage IS NOT NULL AND r.read_on <= :end
)"""
        if item.method == "metered"
        else ""
    )
    amount = "round(l.exact)"
    return f"""
WITH {_RATES},{targets},{lines},
ins AS (
  INSERT INTO bills (fee_item_id, target_key, unit_id, space_id, community_id, building_id,
                     period, period_start, period_end, due_on, amount_fen, calc, run_id)
  SELECT :item_id, l.target_key, l.unit_id, l.space_id, l.community_id, l.building_id,
         :period, :start, :end, :due_on, CAST({amount} AS bigint),
         left(l.calc_head || ' = ' || {_YUAN.format(x=amount)} || ' 元', 300), :run_id
  FROM lines l
  WHERE {amount} > 0
  ON CONFLICT ON CONSTRAINT uq_bills_once DO NOTHING
  RETURNING id, unit_id, community_id, amount_fen
),
entry AS (
  INSERT INTO ledger_entries (kind, ref_type, ref_id, memo, actor_id)
  SELECT 'bill_run', 'bill_run', :run_id, :memo, :actor_id WHERE EXISTS (SELECT 1 FROM ins)
  RETURNING id
),
debits AS (
  INSERT INTO ledger_lines (entry_id, account, unit_id, community_id, fee_item_id, bill_id,
                            debit_fen, credit_fen)
  SELECT entry.id, 'receivable', ins.unit_id, ins.community_id, :item_id, ins.id,
         ins.amount_fen, 0
  FROM entry, ins
),
credits AS (
  INSERT INTO ledger_lines (entry_id, account, community_id, fee_item_id, debit_fen,
                            credit_fen)
  SELECT entry.id, :income, ins.community_id, :item_id, 0, sum(ins.amount_fen)
  FROM entry, ins GROUP BY entry.id, ins.community_id
){mark}
SELECT coalesce(array_agg(id), '{{}}'), coalesce(sum(amount_fen), 0) FROM ins"""


async def generate_item(
    session: AsyncSession, run: BillRun, item: FeeItem, cycle: Cycle
) -> tuple[list[int], int]:
    """Bill one fee item for a run with one statement: (new bill ids, their total fen)."""
    sql = statement(run, item)
    if sql is None:
        return [], 0
    params: dict[str, Any] = {
        "item_id": item.id,
        "run_id": run.id,
        "period": run.period,
        "start": cycle.start,
        "end": cycle.end,
        "days": cycle.days,
        "months": cycle.months,
        "due_on": due_on(cycle, item.due_day),
        "memo": f"{run.period} {item.name_zh}"[:300],
        "actor_id": run.started_by,
        "income": f"income:{item.code}",
    }
    if run.community_id is not None:
        params["community_id"] = run.community_id
    if run.building_id is not None:
        params["building_id"] = run.building_id
    if item.method in ("area", "fixed"):
        params["vacancy_pct"] = item.vacancy_discount_pct or 0
    if item.method == "metered":
        params["meter_type"] = item.meter_type
        params["usage_unit"] = USAGE_UNITS.get(item.meter_type or "", "")
    row = (await session.execute(text(sql), params)).one()
    return [int(i) for i in row[0]], int(row[1])
