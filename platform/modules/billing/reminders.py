"""Reminders before a bill's due date and dunning (催缴) after it.

Module config (``config.BillingConfig``): ``reminder_days_before`` (default ``[3]``: 3 days before
the due date) and ``dunning_days_after`` (default ``[1, 15, 30, 60]``). A bill's stages are
``before:N`` on ``due_on - N`` and ``after:N`` on ``due_on + N``, dates local to the tenant.

The run (``collection_jobs.send_bill_reminders``, hourly; it acts from 09:00 tenant-local
time, so a missed 09:00 run is made up later that day) is ONE set-based statement:

- only **open** bills (``unpaid``/``partial``) with a paying unit are seen, so a paid,
  waived or void bill never gets another message;
- per bill, only the **latest** stage whose date has come is taken (DISTINCT ON, the
  latest offset first): after a downtime a bill gets its latest missed dunning, never a
  burst of all the ones it missed; a ``before`` stage counts only until the due date (no
  "due soon" for an overdue bill);
- ``INSERT INTO bill_reminders ... ON CONFLICT DO NOTHING RETURNING``: a stage is recorded
  once per bill, so a job run twice, or twice at once (the second insert waits for the
  first's commit, then conflicts), sends once.

The returned rows are grouped per unit and stage: one message per unit (to the users of the
people currently living there) listing the count and the outstanding total of the bills,
``billing.reminder`` before the due date and ``billing.dunning`` after it. The messages are
recorded in the same transaction as the reminder rows (and with a dedup key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.identity.models import User
from wuye.modules.billing import messages
from wuye.modules.billing.arrears import unit_labels
from wuye.modules.billing.config import BillingConfig, config_of
from wuye.modules.billing.money import yuan
from wuye.modules.estate.models import Occupancy, Person
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo

SEND_FROM_HOUR = 9  # tenant-local hour from which the daily run acts


def stages_of(config: BillingConfig) -> list[tuple[str, int]]:
    """(stage, offset in days from the due date): before:3 -> -3, after:15 -> 15."""
    stages = [(f"before:{d}", -d) for d in config.reminder_days_before]
    stages += [(f"after:{d}", d) for d in config.dunning_days_after]
    return stages


async def residents_by_unit(
    session: AsyncSession, unit_ids: Collection[int]
) -> dict[int, list[int]]:
    """unit -> the active resident accounts of the people living there now (one query; the
    same rule as ``estate.residents.resident_users(unit_ids=...)``)."""
    rows = await session.execute(
        select(Occupancy.unit_id, User.id)
        .join(Person, Person.id == Occupancy.person_id)
        .join(User, User.id == Person.user_id)
        .where(
            Occupancy.unit_id.in_(sorted(unit_ids)),
            Occupancy.move_out_on.is_(None),
            User.kind == "resident",
            User.is_active,
        )
        .distinct()
        .order_by(Occupancy.unit_id, User.id)
    )
    found: dict[int, list[int]] = defaultdict(list)
    for unit_id, user_id in rows:
        found[int(unit_id)].append(int(user_id))
    return found


@dataclass(frozen=True)
class Sent:
    """One message: a unit, a stage and the bills it covered."""

    unit_id: int
    stage: str
    bill_ids: tuple[int, ...]
    total_fen: int
    due_on: date  # the earliest due date of the bills
    recipients: int


_RECORD = """
WITH stages(stage, off) AS (SELECT * FROM unnest(CAST(:stages AS text[]),
                                                 CAST(:offsets AS int[]))),
picked AS (
    SELECT DISTINCT ON (b.id) b.id AS bill_id, s.stage
    FROM bills b
    JOIN stages s ON b.due_on + s.off <= CAST(:today AS date)
                 AND (s.off > 0 OR b.due_on >= CAST(:today AS date))
    WHERE b.status IN ('unpaid', 'partial') AND b.unit_id IS NOT NULL
    ORDER BY b.id, s.off DESC
),
recorded AS (
    INSERT INTO bill_reminders (bill_id, stage)
    SELECT bill_id, stage FROM picked
    ON CONFLICT DO NOTHING
    RETURNING bill_id, stage
)
SELECT r.stage, b.unit_id, b.id, b.due_on,
       b.amount_fen + b.late_fee_fen - b.discount_fen - b.paid_fen - b.waived_fen
FROM recorded r JOIN bills b ON b.id = r.bill_id
ORDER BY b.unit_id, r.stage, b.id
"""


async def send_due(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, *, today: date | None = None
) -> list[Sent]:
    """Record and send every stage due ``today`` (tenant-local; default: now). Idempotent."""
    day = today or tenant.today()
    stages = stages_of(config_of(tenant))
    if not stages:
        return []
    rows = (
        await session.execute(
            text(_RECORD),
            {
                "stages": [s for s, _ in stages],
                "offsets": [o for _, o in stages],
                "today": day,
            },
        )
    ).all()
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for stage, unit_id, bill_id, due_on, outstanding in rows:
        groups[(int(unit_id), str(stage))].append((int(bill_id), due_on, int(outstanding)))
    if not groups:
        return []
    units = {u for u, _ in groups}
    labels = await unit_labels(session, units)
    people = await residents_by_unit(session, units)
    sent: list[Sent] = []
    for (unit_id, stage), bills in sorted(groups.items()):
        users = people.get(unit_id, [])
        total = sum(b[2] for b in bills)
        due = min(b[1] for b in bills)
        kind, _, n = stage.partition(":")
        message = messages.DUNNING if kind == "after" else messages.REMINDER
        if users:
            await runtime.notifier.notify(
                session,
                runtime=runtime,
                tenant=tenant.slug,
                type_key=message.key,
                users=users,
                variables={
                    "unit": labels.get(unit_id, ""),
                    "count": len(bills),
                    "amount": yuan(total),
                    "due_on": due.isoformat(),
                    "days": (day - due).days if kind == "after" else int(n),
                },
                source=f"billing.unit:{unit_id}",
                dedup=f"{message.key}:{unit_id}:{stage}:{day.isoformat()}",
            )
        sent.append(Sent(unit_id, stage, tuple(b[0] for b in bills), total, due, len(users)))
    return sent
