"""Late fees (滞纳金): off unless a fee item turns them on (many cities regulate them).

For an open bill of such an item, ``days`` late = today − due date − grace days; the late
fee is ``principal × daily rate × days`` capped at ``cap × amount``, rounded half-up
(``money``), where principal = amount − discount − paid − waived. It is recomputed daily
and only ever grows (``GREATEST``): a later partial payment does not shrink what has
accrued, and the same day's second run changes nothing (idempotent). Each increase is
booked in the same statement's transaction: debit receivable / credit late_fees.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.modules.billing import ledger

_ACCRUE = text(
    """
    WITH due AS (
        SELECT b.id, b.unit_id, b.community_id, b.fee_item_id, b.late_fee_fen AS before,
               LEAST(
                   round(GREATEST(b.amount_fen - b.discount_fen - b.paid_fen - b.waived_fen, 0)
                         * f.late_fee_daily_bp::numeric / 10000
                         * (:today - b.due_on - f.late_fee_grace_days)),
                   round(b.amount_fen * f.late_fee_cap_bp::numeric / 10000)
               )::bigint AS target
        FROM bills b JOIN fee_items f ON f.id = b.fee_item_id
        WHERE f.late_fee_enabled AND b.status IN ('unpaid', 'partial')
          AND :today - b.due_on - f.late_fee_grace_days > 0
        FOR UPDATE OF b SKIP LOCKED
    )
    UPDATE bills SET late_fee_fen = due.target
    FROM due
    WHERE bills.id = due.id AND due.target > due.before
    RETURNING bills.id, due.unit_id, due.community_id, due.fee_item_id,
              due.target - due.before AS added
    """
)


async def accrue(session: AsyncSession, *, today: date) -> int:
    """Bring every open bill's late fee up to ``today``; the fen added in total."""
    rows = (await session.execute(_ACCRUE, {"today": today})).all()
    if not rows:
        return 0
    lines: list[ledger.Line] = []
    for bill_id, unit_id, community_id, fee_item_id, added in rows:
        where = {"unit_id": unit_id, "community_id": community_id, "fee_item_id": fee_item_id}
        lines.append(ledger.Line("receivable", debit=int(added), bill_id=bill_id, **where))
        lines.append(ledger.Line("late_fees", credit=int(added), bill_id=bill_id, **where))
    await ledger.post(
        session,
        kind="late_fee",
        ref_type="day",
        ref_id=int(today.strftime("%Y%m%d")),
        lines=lines,
        memo=f"滞纳金 {today.isoformat()}",
    )
    return sum(int(r[4]) for r in rows)
