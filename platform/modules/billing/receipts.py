"""Receipts: who may see a payment, what its receipt says, and the printable PDF.

A payment's receipt number is fixed when it is recorded (``R<local date><id>``). A
reversal's receipt is headed 冲正 / Reversal and names the receipt it reverses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wuye.errors import AppError
from wuye.identity.models import User
from wuye.modules.billing import pdf
from wuye.modules.billing.models import Allocation, Bill, FeeItem, Payment
from wuye.modules.billing.money import yuan
from wuye.modules.billing.permissions import VIEW
from wuye.modules.billing.settlement import Actor
from wuye.modules.estate.property import unit_labels
from wuye.modules.estate.residents import places_of_user
from wuye.tenancy.directory import TenantInfo

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL = ("", "拾", "佰", "仟")
_BIG = ("", "万", "亿", "万亿")

METHOD_NAMES = {
    "cash": "现金 Cash",
    "transfer": "银行转账 Bank transfer",
    "pos": "POS刷卡 POS",
    "cheque": "支票 Cheque",
    "online": "在线支付 Online",
    "balance": "预存款 Prepaid balance",
}


def capital(fen: int) -> str:
    """Fen in Chinese capital numerals (大写金额): 25060 -> 贰佰伍拾元陆角整,
    100005 -> 壹仟元零伍分, 0 -> 零元整; negative amounts start with 负."""
    if fen < 0:
        return "负" + capital(-fen)
    yuan_part, jiao, fen_digit = fen // 100, fen // 10 % 10, fen % 10
    text = _integer(yuan_part) + "元" if yuan_part else ""
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif fen_digit and yuan_part:
        text += "零"
    if fen_digit:
        text += _DIGITS[fen_digit] + "分"
    else:
        text = (text or "零元") + "整"
    return text


def _integer(n: int) -> str:
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out, zero = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero = bool(out)
            continue
        if out and (zero or group < 1000):
            out += "零"
        out += _group(group) + _BIG[index]
        zero = False
    return out


def _group(n: int) -> str:
    out, zero = "", False
    for position in range(3, -1, -1):
        digit = n // 10**position % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[digit] + _SMALL[position]
    return out


# --- who sees a payment --------------------------------------------------------------------


async def visible_payment(
    session: AsyncSession, actor: Actor, payment_id: int, field: str = "paymentId"
) -> Payment:
    """Staff with billing.view in scope; a resident when it paid for a unit they live in.
    NOT_FOUND otherwise."""
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise AppError("NOT_FOUND", field=field)
    if actor.is_staff:
        if actor.can(VIEW) and actor.scope.allows(payment.community_id):
            return payment
        raise AppError("NOT_FOUND", field=field)
    units = (await places_of_user(session, actor.user_id)).unit_ids
    if payment.unit_id is not None and payment.unit_id in units:
        return payment
    if payment.unit_id is None and units:
        found = await session.scalar(
            select(Allocation.bill_id)
            .join(Bill, Bill.id == Allocation.bill_id)
            .where(Allocation.payment_id == payment.id, Bill.unit_id.in_(sorted(units)))
            .limit(1)
        )
        if found is not None:
            return payment
    raise AppError("NOT_FOUND", field=field)


# --- what a receipt says -------------------------------------------------------------------


@dataclass
class ReceiptLine:
    bill_id: int
    fee_item: str
    period: str
    amount_fen: int


@dataclass
class Receipt:
    payment: Payment
    receipt_no: str
    issued_at: datetime  # in the tenant's zone
    kind: str
    method: str
    payer: str
    place: str
    cashier: str
    total_fen: int
    reverses: str | None  # the receipt number a reversal reverses
    lines: list[ReceiptLine] = field(default_factory=list)

    @property
    def capital(self) -> str:
        return capital(self.total_fen)

    @property
    def is_reversal(self) -> bool:
        return self.kind == "reversal"


async def receipt_of(session: AsyncSession, tenant: TenantInfo, payment: Payment) -> Receipt:
    rows = await session.execute(
        select(
            Allocation.bill_id, Allocation.amount_fen, Bill.period, FeeItem.name_zh, Bill.unit_id
        )
        .join(Bill, Bill.id == Allocation.bill_id)
        .join(FeeItem, FeeItem.id == Bill.fee_item_id)
        .where(Allocation.payment_id == payment.id)
        .order_by(Bill.due_on, Bill.id)
    )
    lines, units = [], set()
    for bill_id, amount, period, item, unit_id in rows:
        lines.append(ReceiptLine(bill_id, item, period, int(amount)))
        if unit_id is not None:
            units.add(unit_id)
    if payment.unit_id is not None:
        units.add(payment.unit_id)
    labels = await unit_labels(session, units)
    reverses = None
    if payment.reversal_of_id is not None:
        reverses = await session.scalar(
            select(Payment.receipt_no).where(Payment.id == payment.reversal_of_id)
        )
    cashier = ""
    if payment.cashier_id is not None:
        cashier = await session.scalar(select(User.name).where(User.id == payment.cashier_id)) or ""
    return Receipt(
        payment=payment,
        receipt_no=payment.receipt_no,
        issued_at=payment.created_at.astimezone(tenant.zone),
        kind=payment.kind,
        method=payment.method,
        payer=payment.payer_name,
        place="，".join(labels[u] for u in sorted(labels)),
        cashier=cashier,
        total_fen=payment.amount_fen,
        reverses=reverses,
        lines=lines,
    )


def render_pdf(receipt: Receipt, tenant: TenantInfo) -> bytes:
    """The printable receipt: company, number, local date, payer, unit, one row per bill
    (fee item, period, amount), the total in 元 and in capital numerals."""
    kinds = {
        "payment": "收款收据 Receipt",
        "topup": "预存款收据 Prepaid top-up receipt",
        "reversal": "冲正收据 Reversal",
    }
    before = [
        f"收款单位 Company: {tenant.name_zh} {tenant.name_en}".strip(),
        f"收据编号 Receipt no.: {receipt.receipt_no}",
        f"日期 Date: {receipt.issued_at:%Y-%m-%d %H:%M}",
        f"缴款人 Payer: {receipt.payer or '—'}",
        f"房屋 Unit: {receipt.place or '—'}",
        f"付款方式 Method: {METHOD_NAMES.get(receipt.method, receipt.method)}",
    ]
    if receipt.is_reversal:
        before.append(f"冲正 Reversal of receipt: {receipt.reverses or '—'}")
        if receipt.payment.note:
            before.append(f"原因 Reason: {receipt.payment.note}")
    table: list[list[str]] = []
    if receipt.lines:
        table = [["收费项目 Fee item", "账期 Period", "金额（元）Amount (yuan)"]]
        table += [[line.fee_item, line.period, yuan(line.amount_fen)] for line in receipt.lines]
    after = [
        f"合计 Total: {yuan(receipt.total_fen)} 元",
        f"大写 In words: {receipt.capital}",
        f"收款人 Cashier: {receipt.cashier or '—'}",
    ]
    return pdf.render(
        pdf.Document(
            title=f"{tenant.name_zh} {kinds.get(receipt.kind, kinds['payment'])}",
            before=before,
            table=table,
            after=after,
            meta={"author": tenant.name_zh, "subject": receipt.receipt_no},
        )
    )


def payments_of_units(unit_ids: list[int]) -> ColumnElement[bool]:
    """The WHERE clause of payments for these units (also online ones over several)."""
    return or_(
        Payment.unit_id.in_(unit_ids),
        Payment.id.in_(
            select(Allocation.payment_id)
            .join(Bill, Bill.id == Allocation.bill_id)
            .where(Bill.unit_id.in_(unit_ids))
        ),
    )
