"""Real-time topic of online payments: ``payments.payer.<user id>``, a payer's payment
whose status changed (succeeded, failed, closed, refunded), published once the change has
committed, so the app waiting on its result page hears it the moment the notification is
processed. Events carry the id and status only: the subscription re-reads the payment as
its payer before sending anything."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wuye.graphql.realtime import publish_after_commit
from wuye.payments.models import OnlinePayment
from wuye.runtime import Runtime
from wuye.tenancy.directory import TenantInfo


def payer_topic(user_id: int) -> str:
    return f"payments.payer.{user_id}"


def announce(
    session: AsyncSession, runtime: Runtime, tenant: TenantInfo, payment: OnlinePayment
) -> None:
    if payment.payer_user_id is None:  # the payer's account is gone
        return
    publish_after_commit(
        session,
        runtime,
        tenant.slug,
        payer_topic(payment.payer_user_id),
        {"payment_id": payment.id, "status": payment.status},
    )
