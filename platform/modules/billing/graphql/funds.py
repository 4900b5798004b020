"""Public ledgers API (公共账目): the maintenance fund and public income per community.

- ``recordFundEntry(input)`` / ``correctFundEntry(input)`` (``billing.funds.manage``, data
  scope): append-only entries; a correction is the opposite entry referencing the original.
- ``fundLedger(communityId, fund, from, to, first, after)`` (signed in): residents of that
  community and staff in scope (``funds.check_reader``); anyone else NOT_FOUND. Entries
  carry the running balance; the summary the opening/closing balance and per-category
  totals of the period. Amounts are 元 strings with two decimals.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated, Any

import strawberry

from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.graphql.ids import decode_id, gid, optional_gid
from wuye.graphql.pagination import Connection, paginate
from wuye.identity.scope import NO_SCOPE
from wuye.modules.billing import funds as service
from wuye.modules.billing.money import parse_yuan, yuan
from wuye.modules.billing.permissions import FUNDS


@strawberry.enum(name="PublicFund")
class Fund(enum.Enum):
    MAINTENANCE = "maintenance"
    PUBLIC_INCOME = "public_income"


@strawberry.enum(name="FundDirection")
class Direction(enum.Enum):
    INCOME = "income"
    EXPENSE = "expense"


@strawberry.type(name="FundEntry")
class FundEntryType:
    id: strawberry.ID
    community_id: strawberry.ID
    fund: Fund
    direction: Direction
    category: str
    amount: str
    occurred_on: date
    description: str
    corrects_id: strawberry.ID | None
    balance: str | None = strawberry.field(
        description="The fund's balance after this entry (in fundLedger)"
    )
    created_at: datetime

    @classmethod
    def of(cls, e: Any, balance: int | None = None) -> FundEntryType:
        return cls(
            id=gid("FundEntry", e.id),
            community_id=gid("Community", e.community_id),
            fund=Fund(e.fund),
            direction=Direction(e.direction),
            category=e.category,
            amount=yuan(e.amount_fen),
            occurred_on=e.occurred_on,
            description=e.description,
            corrects_id=optional_gid("FundEntry", e.corrects_id),
            balance=None if balance is None else yuan(balance),
            created_at=e.created_at,
        )


@strawberry.type(name="FundCategoryTotal")
class CategoryTotalType:
    direction: Direction
    category: str
    amount: str


@strawberry.type(name="FundLedgerSummary")
class SummaryType:
    opening_balance: str
    income: str
    expense: str
    closing_balance: str
    categories: list[CategoryTotalType]


@strawberry.type(name="FundLedger")
class LedgerType:
    community_id: strawberry.ID
    fund: Fund
    summary: SummaryType
    entries: Connection[FundEntryType]


@strawberry.input(name="RecordFundEntryInput")
class RecordInput:
    community_id: strawberry.ID
    fund: Fund
    direction: Direction
    category: str = strawberry.field(description="e.g. 广告, 停车, 场地租金, 电梯大修")
    amount: str = strawberry.field(description="元, up to two decimals, > 0")
    occurred_on: date
    description: str = ""


@strawberry.input(name="CorrectFundEntryInput")
class CorrectInput:
    id: strawberry.ID
    reason: str
    occurred_on: date | None = strawberry.field(
        default=None, description="Default: today (the company's time zone)"
    )


@strawberry.type
class FundsQuery:
    @query(
        signed_in=True,
        description="A community's public ledger with running balances (its residents; staff "
        "in scope)",
    )
    async def fund_ledger(
        self,
        info: strawberry.Info,
        community_id: strawberry.ID,
        fund: Fund,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LedgerType:
        ctx = info.context
        cid = decode_id(community_id, "Community", "communityId")
        user = await ctx.user()
        scope = await ctx.data_scope() if user.kind == "staff" else None
        await service.check_reader(
            ctx.session, user, await ctx.permissions(), scope or NO_SCOPE, cid
        )
        if from_ and to and to < from_:
            raise AppError("VALIDATION_FAILED", field="to")
        summary = await service.summary(ctx.session, cid, fund.value, from_, to)
        entries = await paginate(
            ctx,
            service.ledger_statement(cid, fund.value, from_, to),
            first=first,
            after=after,
            to_node=lambda r: FundEntryType.of(r, int(r.balance)),
            scalars=False,
        )
        return LedgerType(
            community_id=gid("Community", cid),
            fund=fund,
            summary=SummaryType(
                opening_balance=yuan(summary.opening_fen),
                income=yuan(summary.income_fen),
                expense=yuan(summary.expense_fen),
                closing_balance=yuan(summary.closing_fen),
                categories=[
                    CategoryTotalType(
                        direction=Direction(c.direction),
                        category=c.category,
                        amount=yuan(c.amount_fen),
                    )
                    for c in summary.categories
                ],
            ),
            entries=entries,
        )


@strawberry.type
class FundsMutation:
    @mutation(FUNDS, description="Record an income or expense of a public ledger")
    async def record_fund_entry(self, info: strawberry.Info, input: RecordInput) -> FundEntryType:
        ctx = info.context
        try:
            amount = parse_yuan(input.amount)
        except (ValueError, ArithmeticError) as e:
            raise AppError("VALIDATION_FAILED", field="amount") from e
        user = await ctx.user()
        row = await service.record(
            ctx.session,
            service.NewEntry(
                community_id=decode_id(input.community_id, "Community", "communityId"),
                fund=input.fund.value,
                direction=input.direction.value,
                category=input.category,
                amount_fen=amount,
                occurred_on=input.occurred_on,
                description=input.description,
            ),
            scope=await ctx.data_scope(),
            actor_id=user.id,
        )
        await ctx.session.refresh(row)
        return FundEntryType.of(row)

    @mutation(FUNDS, description="Correct an entry: the opposite entry, referencing it (once)")
    async def correct_fund_entry(self, info: strawberry.Info, input: CorrectInput) -> FundEntryType:
        ctx = info.context
        user = await ctx.user()
        row = await service.correct(
            ctx.session,
            decode_id(input.id, "FundEntry", "id"),
            reason=input.reason,
            occurred_on=input.occurred_on or ctx.tenant.today(),
            scope=await ctx.data_scope(),
            actor_id=user.id,
        )
        await ctx.session.refresh(row)
        return FundEntryType.of(row)
