"""Bills API: residents see their units' bills and totals; staff (billing.view, in their
data scope) see a unit's bills, totals, payments and prepaid balance; waivers (减免).

Bill states come from the dates (see ``accounts``): overdue, due (this month), not yet
due, paid, void.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from sqlalchemy import Select, or_, select

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid
from wuye.graphql.loaders import batch
from wuye.graphql.pagination import Connection, paginate
from wuye.modules.billing import accounts, settlement
from wuye.modules.billing.graphql.common import actor_of, fee_items_by_id, places_by_unit
from wuye.modules.billing.graphql.payments import PaymentType
from wuye.modules.billing.models import Adjustment, Bill, Payment
from wuye.modules.billing.permissions import REFUND, VIEW, WAIVE
from wuye.modules.billing.receipts import payments_of_units
from wuye.modules.estate.models import Unit
from wuye.modules.estate.residents import places_of_user


@strawberry.type(name="Bill")
class BillType:
    id: strawberry.ID
    period: str
    period_start: date
    period_end: date
    due_on: date
    status: str = strawberry.field(description="unpaid | partial | paid | waived | void")
    state: str = strawberry.field(description="overdue | due | not_yet_due | paid | void")
    amount_fen: int
    discount_fen: int
    late_fee_fen: int
    paid_fen: int
    waived_fen: int
    outstanding_fen: int
    calc: str
    created_at: datetime
    paid_at: datetime | None
    row: strawberry.Private[Bill]

    @classmethod
    def of(cls, b: Bill, on: date) -> BillType:
        return cls(
            id=gid("Bill", b.id),
            period=b.period,
            period_start=b.period_start,
            period_end=b.period_end,
            due_on=b.due_on,
            status=b.status,
            state=accounts.state_of(b, on),
            amount_fen=b.amount_fen,
            discount_fen=b.discount_fen,
            late_fee_fen=b.late_fee_fen,
            paid_fen=b.paid_fen,
            waived_fen=b.waived_fen,
            outstanding_fen=settlement.outstanding(b),
            calc=b.calc,
            created_at=b.created_at,
            paid_at=b.paid_at,
            row=b,
        )

    @strawberry.field
    def unit_id(self) -> strawberry.ID | None:
        return None if self.row.unit_id is None else gid("Unit", self.row.unit_id)

    @strawberry.field(description="小区 楼栋 房号")
    async def place(self, info: strawberry.Info) -> str:
        if self.row.unit_id is None:
            return ""
        return await batch(info.context, "billing.places", places_by_unit, "").load(
            self.row.unit_id
        )

    @strawberry.field(description="The fee item's name (zh)")
    async def fee_item(self, info: strawberry.Info) -> str:
        item = await batch(info.context, "billing.fee_items", fee_items_by_id, None).load(
            self.row.fee_item_id
        )
        return "" if item is None else item.name_zh

    @strawberry.field
    async def fee_item_en(self, info: strawberry.Info) -> str:
        item = await batch(info.context, "billing.fee_items", fee_items_by_id, None).load(
            self.row.fee_item_id
        )
        return "" if item is None else (item.name_en or item.name_zh)


@strawberry.type(name="BillUnitTotals")
class UnitTotalsType:
    unit_id: strawberry.ID
    place: str
    due_fen: int
    overdue_fen: int
    not_yet_due_fen: int
    paid_fen: int
    prepaid_balance_fen: int


@strawberry.type(name="BillSummary")
class SummaryType:
    due_fen: int = strawberry.field(description="Open, due from today to the month's end")
    overdue_fen: int = strawberry.field(description="Open, due before today")
    not_yet_due_fen: int = strawberry.field(description="Open, due after this month")
    paid_fen: int
    prepaid_balance_fen: int
    units: list[UnitTotalsType]


async def _summary(info: strawberry.Info, unit_ids: list[int]) -> SummaryType:
    ctx = info.context
    t = await accounts.totals(ctx.session, ctx.tenant, unit_ids)
    labels = await places_by_unit(ctx.session, unit_ids) if unit_ids else {}
    return SummaryType(
        due_fen=t.due_fen,
        overdue_fen=t.overdue_fen,
        not_yet_due_fen=t.not_yet_due_fen,
        paid_fen=t.paid_fen,
        prepaid_balance_fen=t.prepaid_balance_fen,
        units=[
            UnitTotalsType(
                unit_id=gid("Unit", u.unit_id),
                place=labels.get(u.unit_id, ""),
                due_fen=u.due_fen,
                overdue_fen=u.overdue_fen,
                not_yet_due_fen=u.not_yet_due_fen,
                paid_fen=u.paid_fen,
                prepaid_balance_fen=u.prepaid_balance_fen,
            )
            for u in t.units
        ],
    )


@strawberry.type(name="UnitAccount")
class UnitAccountType:
    unit_id: strawberry.ID
    summary: SummaryType
    _unit: strawberry.Private[int]

    @strawberry.field(description="Payments, top-ups and reversals of the unit, newest first")
    async def payments(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[PaymentType]:
        stmt = (
            select(Payment)
            .where(payments_of_units([self._unit]))
            .order_by(Payment.created_at.desc(), Payment.id.desc())
        )
        return await paginate(info.context, stmt, first=first, after=after, to_node=PaymentType.of)


@strawberry.type(name="BillAdjustment")
class AdjustmentType:
    id: strawberry.ID
    kind: str = strawberry.field(description="waive | refund")
    amount_fen: int
    method: str
    reason: str
    created_at: datetime
    bill_id: strawberry.ID | None
    unit_id: strawberry.ID | None

    @classmethod
    def of(cls, a: Adjustment) -> AdjustmentType:
        return cls(
            id=gid("BillAdjustment", a.id),
            kind=a.kind,
            amount_fen=a.amount_fen,
            method=a.method,
            reason=a.reason,
            created_at=a.created_at,
            bill_id=None if a.bill_id is None else gid("Bill", a.bill_id),
            unit_id=None if a.unit_id is None else gid("Unit", a.unit_id),
        )


def _states(state: list[str] | None) -> list[str]:
    for s in state or []:
        if s not in accounts.STATES:
            raise AppError("VALIDATION_FAILED", field="state")
    return list(state or [])


def _bills_of(unit_ids: list[int], states: list[str], on: date) -> Select[Any]:
    stmt = select(Bill).where(Bill.unit_id.in_(unit_ids))
    if states:
        stmt = stmt.where(or_(*(accounts.state_filter(s, on) for s in states)))
    return stmt.order_by(Bill.due_on.desc(), Bill.id.desc())


async def _staff_unit(info: strawberry.Info, unit_gid: strawberry.ID) -> int:
    ctx = info.context
    unit_id = decode_id(unit_gid, "Unit", "unitId")
    actor = await actor_of(ctx)
    community = await ctx.session.scalar(select(Unit.community_id).where(Unit.id == unit_id))
    if community is None or not actor.scope.allows(community):
        raise AppError("NOT_FOUND", field="unitId")
    return unit_id


@strawberry.input
class WaiveBillInput:
    bill_id: strawberry.ID
    amount_fen: int
    reason: str
    client_request_id: str | None = None


@strawberry.input
class RefundBalanceInput:
    unit_id: strawberry.ID
    amount_fen: int
    method: str = strawberry.field(description="cash | transfer | cheque")
    reason: str
    client_request_id: str


@strawberry.type
class BillQuery:
    @query(signed_in=True, description="Resident: the bills of the units I live in")
    async def my_bills(
        self,
        info: strawberry.Info,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[BillType]:
        ctx = info.context
        actor = await actor_of(ctx)
        units = sorted((await places_of_user(ctx.session, actor.user_id)).unit_ids)
        on = ctx.tenant.today()
        stmt = _bills_of(units, _states(state), on)
        return await paginate(
            ctx,
            stmt,
            first=first,
            after=after,
            to_node=lambda b: BillType.of(b, on),  # type: ignore[arg-type]
        )

    @query(signed_in=True, description="Resident: totals over the units I live in, and each")
    async def my_bill_summary(self, info: strawberry.Info) -> SummaryType:
        ctx = info.context
        actor = await actor_of(ctx)
        units = sorted((await places_of_user(ctx.session, actor.user_id)).unit_ids)
        return await _summary(info, units)

    @query(VIEW, description="Staff: a unit's bills (in my data scope), newest due first")
    async def unit_bills(
        self,
        info: strawberry.Info,
        unit_id: strawberry.ID,
        state: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[BillType]:
        unit = await _staff_unit(info, unit_id)
        on = info.context.tenant.today()
        stmt = _bills_of([unit], _states(state), on)
        return await paginate(
            info.context,
            stmt,
            first=first,
            after=after,
            to_node=lambda b: BillType.of(b, on),  # type: ignore[arg-type]
        )

    @query(VIEW, description="Staff: a unit's totals, prepaid balance and payment history")
    async def unit_account(self, info: strawberry.Info, unit_id: strawberry.ID) -> UnitAccountType:
        unit = await _staff_unit(info, unit_id)
        return UnitAccountType(
            unit_id=gid("Unit", unit), summary=await _summary(info, [unit]), _unit=unit
        )


@strawberry.type
class BillMutation:
    @mutation(WAIVE, description="Waive (减免) part or all of an open bill, with a reason")
    async def waive_bill(self, info: strawberry.Info, input: WaiveBillInput) -> AdjustmentType:
        ctx = info.context
        adjustment = await settlement.waive_bill(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            bill_id=decode_id(input.bill_id, "Bill", "billId"),
            amount_fen=input.amount_fen,
            reason=input.reason,
            client_request_id=input.client_request_id,
        )
        ctx.audit_target = ("BillAdjustment", str(adjustment.id))
        return AdjustmentType.of(adjustment)

    @mutation(REFUND, description="Pay (part of) a unit's prepaid balance back, with a reason")
    async def refund_balance(
        self, info: strawberry.Info, input: RefundBalanceInput
    ) -> AdjustmentType:
        ctx = info.context
        adjustment = await settlement.refund_balance(
            ctx.session,
            ctx.runtime,
            ctx.tenant,
            await actor_of(ctx),
            unit_id=decode_id(input.unit_id, "Unit", "unitId"),
            amount_fen=input.amount_fen,
            method=input.method,
            reason=input.reason,
            client_request_id=input.client_request_id,
        )
        ctx.audit_target = ("BillAdjustment", str(adjustment.id))
        return AdjustmentType.of(adjustment)
