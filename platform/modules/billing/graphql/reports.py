"""Finance reports API (财务报表), ``billing.reports.view`` and the caller's data scope.

``collectionReport``, ``agingReport``, ``dailyCashReport``, ``incomeExpenseReport``;
``exportBillingReport(input)`` returns any of them as XLSX (an ``EstateFile``; a mutation,
so exports are audited). Amounts are 元 strings with two decimals; rates fractions 0..1.
Definitions: ``wuye.modules.billing.reports``.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated, Any

import strawberry

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import gid, optional_gid, optional_id
from wuye.modules.billing import ledger
from wuye.modules.billing import reports as service
from wuye.modules.billing.graphql.collection import BucketsType
from wuye.modules.billing.money import yuan
from wuye.modules.billing.permissions import REPORTS
from wuye.modules.estate.graphql.transfer import EstateFile


@strawberry.enum(name="CollectionGroup")
class CollectionGroup(enum.Enum):
    COMMUNITY = "community"
    MONTH = "month"
    FEE_ITEM = "fee_item"


@strawberry.enum(name="BillingReportKind")
class ReportKind(enum.Enum):
    COLLECTION = "collection"
    AGING = "aging"
    DAILY_CASH = "daily_cash"
    INCOME_EXPENSE = "income_expense"


@strawberry.type(name="CollectionReportRow")
class CollectionRowType:
    key: str | None = strawberry.field(
        description="Community / BillingFeeItem id or the month; null for the totals"
    )
    label: str
    bills: int
    billed: str
    collected: str
    outstanding: str
    rate: float | None

    @classmethod
    def of(cls, r: service.CollectionRow, group_by: str) -> CollectionRowType:
        key: str | None = None
        if r.key is not None:
            kind = {"community": "Community", "fee_item": "FeeItem"}.get(group_by)
            key = str(gid(kind, int(r.key))) if kind else str(r.key)
        return cls(
            key=key,
            label=r.label,
            bills=r.bills,
            billed=yuan(r.billed_fen),
            collected=yuan(r.collected_fen),
            outstanding=yuan(r.outstanding_fen),
            rate=r.rate,
        )


@strawberry.type(name="CollectionReport")
class CollectionReportType:
    group_by: CollectionGroup
    from_month: str
    to_month: str
    rows: list[CollectionRowType]
    totals: CollectionRowType


@strawberry.type(name="AgingReportRow")
class AgingRowType:
    community_id: strawberry.ID | None
    label: str
    units: int
    bills: int
    buckets: BucketsType
    total: str

    @classmethod
    def of(cls, r: service.AgingRow) -> AgingRowType:
        return cls(
            community_id=optional_gid("Community", r.community_id),
            label=r.label,
            units=r.units,
            bills=r.bills,
            buckets=BucketsType.of(r.buckets),
            total=yuan(r.total_fen),
        )


@strawberry.type(name="AgingReport")
class AgingReportType:
    as_of: date
    rows: list[AgingRowType]
    totals: AgingRowType


@strawberry.type(name="DailyCashRow")
class CashRowType:
    cashier_id: strawberry.ID | None
    cashier: str
    method: str | None = strawberry.field(description="null: the cashier's subtotal / total")
    count: int
    received: str
    reversed: str
    net: str

    @classmethod
    def of(cls, r: service.CashRow) -> CashRowType:
        return cls(
            cashier_id=optional_gid("User", r.cashier_id),
            cashier=r.cashier,
            method=r.method,
            count=r.count,
            received=yuan(r.received_fen),
            reversed=yuan(r.reversed_fen),
            net=yuan(r.net_fen),
        )


@strawberry.type(name="DailyCashReport")
class CashReportType:
    day: date
    time_zone: str
    rows: list[CashRowType]
    totals: CashRowType


@strawberry.type(name="IncomeExpenseRow")
class IncomeRowType:
    source: str = strawberry.field(description="fee | maintenance | public_income | '' (totals)")
    label: str
    income: str
    expense: str
    net: str

    @classmethod
    def of(cls, r: service.IncomeRow) -> IncomeRowType:
        return cls(
            source=r.source,
            label=r.label,
            income=yuan(r.income_fen),
            expense=yuan(r.expense_fen),
            net=yuan(r.net_fen),
        )


@strawberry.type(name="IncomeExpenseReport")
class IncomeReportType:
    from_: date = strawberry.field(name="from")
    to: date
    rows: list[IncomeRowType]
    totals: IncomeRowType


@strawberry.input(name="ExportBillingReportInput")
class ExportInput:
    kind: ReportKind
    from_month: str | None = None
    to_month: str | None = None
    group_by: CollectionGroup = CollectionGroup.COMMUNITY
    community_id: strawberry.ID | None = None
    day: date | None = None
    cashier_id: strawberry.ID | None = None
    from_: date | None = strawberry.field(default=None, name="from")
    to: date | None = None


def _zone(ctx: Any) -> str | None:
    return getattr(ctx.tenant, "time_zone", None)


def _need(value: Any, name: str) -> Any:
    if value is None:
        raise AppError("VALIDATION_FAILED", field=name)
    return value


async def _build(ctx: Any, i: ExportInput) -> Any:
    scope = await ctx.data_scope()
    if i.kind is ReportKind.COLLECTION:
        return await service.collection(
            ctx.session,
            from_month=_need(i.from_month, "fromMonth"),
            to_month=_need(i.to_month, "toMonth"),
            group_by=i.group_by.value,
            scope=scope,
        )
    if i.kind is ReportKind.AGING:
        return await service.aging(
            ctx.session,
            scope=scope,
            today=ctx.tenant.today(),
            community_id=optional_id(i.community_id, "Community", "communityId"),
        )
    if i.kind is ReportKind.DAILY_CASH:
        return await service.daily_cash(
            ctx.session,
            day=_need(i.day, "day"),
            time_zone=_zone(ctx),
            scope=scope,
            cashier_id=optional_id(i.cashier_id, "User", "cashierId"),
        )
    return await service.income_expense(
        ctx.session,
        start=_need(i.from_, "from"),
        end=_need(i.to, "to"),
        time_zone=_zone(ctx),
        scope=scope,
    )


@strawberry.type
class ReportsQuery:
    @query(REPORTS, description="Billed vs collected of bills whose period is in the months")
    async def collection_report(
        self,
        info: strawberry.Info,
        from_month: str,
        to_month: str,
        group_by: CollectionGroup = CollectionGroup.COMMUNITY,
    ) -> CollectionReportType:
        ctx = info.context
        r = await _build(
            ctx,
            ExportInput(
                kind=ReportKind.COLLECTION,
                from_month=from_month,
                to_month=to_month,
                group_by=group_by,
            ),
        )
        return CollectionReportType(
            group_by=group_by,
            from_month=r.from_month,
            to_month=r.to_month,
            rows=[CollectionRowType.of(x, r.group_by) for x in r.rows],
            totals=CollectionRowType.of(r.totals, r.group_by),
        )

    @query(REPORTS, description="Receivables aging per community (overdue amounts by age)")
    async def aging_report(
        self, info: strawberry.Info, community_id: strawberry.ID | None = None
    ) -> AgingReportType:
        ctx = info.context
        r = await _build(ctx, ExportInput(kind=ReportKind.AGING, community_id=community_id))
        return AgingReportType(
            as_of=r.as_of,
            rows=[AgingRowType.of(x) for x in r.rows],
            totals=AgingRowType.of(r.totals),
        )

    @query(REPORTS, description="Payments of a day per cashier and method, with reversals")
    async def daily_cash_report(
        self, info: strawberry.Info, day: date, cashier_id: strawberry.ID | None = None
    ) -> CashReportType:
        ctx = info.context
        r = await _build(
            ctx, ExportInput(kind=ReportKind.DAILY_CASH, day=day, cashier_id=cashier_id)
        )
        return CashReportType(
            day=r.day,
            time_zone=r.time_zone,
            rows=[CashRowType.of(x) for x in r.rows],
            totals=CashRowType.of(r.totals),
        )

    @query(REPORTS, description="Billing income by fee item and public ledgers by category")
    async def income_expense_report(
        self,
        info: strawberry.Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> IncomeReportType:
        ctx = info.context
        r = await _build(ctx, ExportInput(kind=ReportKind.INCOME_EXPENSE, from_=from_, to=to))
        return IncomeReportType(
            from_=r.start,
            to=r.end,
            rows=[IncomeRowType.of(x) for x in r.rows],
            totals=IncomeRowType.of(r.totals),
        )


@strawberry.type(name="LedgerAccountTotals")
class AccountTotalsType:
    account: str = strawberry.field(description="receivable, cash, prepaid, income:<code>, ...")
    debit: str = strawberry.field(description="元")
    credit: str = strawberry.field(description="元")


@strawberry.type(name="LedgerCheck")
class LedgerCheckType:
    balanced: bool = strawberry.field(description="Every entry's debits equal its credits")
    unbalanced_entry_ids: list[strawberry.ID]
    total_debit: str = strawberry.field(description="元")
    total_credit: str = strawberry.field(description="元")
    accounts: list[AccountTotalsType]


@strawberry.type
class LedgerQuery:
    @query(REPORTS, description="The ledger's consistency check and trial balance")
    async def ledger_check(self, info: strawberry.Info) -> LedgerCheckType:
        session = info.context.session
        unbalanced = await ledger.unbalanced_entries(session)
        totals = await ledger.trial_balance(session)
        return LedgerCheckType(
            balanced=not unbalanced,
            unbalanced_entry_ids=[gid("LedgerEntry", i) for i in unbalanced],
            total_debit=yuan(sum(d for d, _ in totals.values())),
            total_credit=yuan(sum(c for _, c in totals.values())),
            accounts=[
                AccountTotalsType(account=a, debit=yuan(d), credit=yuan(c))
                for a, (d, c) in sorted(totals.items())
            ],
        )


@strawberry.type
class ReportsMutation:
    @mutation(REPORTS, description="A finance report as XLSX (audited)")
    async def export_billing_report(self, info: strawberry.Info, input: ExportInput) -> EstateFile:
        ctx = info.context
        report = await _build(ctx, input)
        name = f"billing-{input.kind.value}-{ctx.tenant.today().isoformat()}.xlsx"
        return EstateFile.of(*service.encode_xlsx(report, name))
