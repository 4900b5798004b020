"""The billing module: fee items and rates, meter readings, monthly bills, offline payments,
prepaid balance, waivers and refunds, reminders and arrears, public ledgers, finance
reports, all on a double-entry ledger that online payments post into."""

from __future__ import annotations

from wuye.modules.base import CronSpec, Module
from wuye.modules.billing.collection_jobs import send_bill_reminders
from wuye.modules.billing.demo import seed_billing_demo
from wuye.modules.billing.graphql.bills import BillMutation, BillQuery
from wuye.modules.billing.graphql.charges import ChargesMutation, ChargesQuery
from wuye.modules.billing.graphql.collection import CollectionMutation, CollectionQuery
from wuye.modules.billing.graphql.funds import FundsMutation, FundsQuery
from wuye.modules.billing.graphql.generation import GenerationMutation, GenerationQuery
from wuye.modules.billing.graphql.meters import MetersMutation, MetersQuery
from wuye.modules.billing.graphql.payments import PaymentMutation, PaymentQuery
from wuye.modules.billing.graphql.reports import LedgerQuery, ReportsMutation, ReportsQuery
from wuye.modules.billing.jobs import accrue_late_fees, generate_scheduled_bills, run_bills
from wuye.modules.billing.messages import MESSAGE_TYPES
from wuye.modules.billing.meters import PHOTO_PURPOSE as METER_PHOTO_PURPOSE
from wuye.modules.billing.permissions import (
    ALL,
    ARREARS,
    COLLECT,
    METERS,
    REPORTS,
    VIEW,
)
from wuye.payments.graphql import (
    OnlinePaymentMutation,
    OnlinePaymentQuery,
    OnlinePaymentSubscription,
)
from wuye.storage.purposes import UploadPurpose

# residents' photos of their meters (meters.submit_reading), anyone signed in
METER_PHOTO = UploadPurpose(METER_PHOTO_PURPOSE, "billing", "photo", thumbnails=True)

BILLING = Module(
    key="billing",
    title_zh="收费",
    title_en="Billing",
    depends_on=("estate",),
    permissions=ALL,
    role_grants={
        "manager": tuple(p.key for p in ALL),
        "cashier": (VIEW.key, COLLECT.key, ARREARS.key, REPORTS.key),
        "customer_service": (VIEW.key, METERS.key),
        "maintenance_worker": (METERS.key,),
    },
    query=(
        BillQuery,
        PaymentQuery,
        GenerationQuery,
        CollectionQuery,
        FundsQuery,
        ReportsQuery,
        LedgerQuery,
        ChargesQuery,
        MetersQuery,
        OnlinePaymentQuery,  # the payments core's API is billing's (gated with it)
    ),
    mutation=(
        BillMutation,
        PaymentMutation,
        GenerationMutation,
        CollectionMutation,
        FundsMutation,
        ReportsMutation,
        ChargesMutation,
        MetersMutation,
        OnlinePaymentMutation,
    ),
    subscription=OnlinePaymentSubscription,
    upload_purposes=(METER_PHOTO,),
    demo=seed_billing_demo,
    message_types=MESSAGE_TYPES,
    jobs=(run_bills,),
    # bill generation on the tenant's auto_generate_day (daily, the job checks the day)
    cron=(
        CronSpec(generate_scheduled_bills, minute=20, hour=1),
        # late fees: daily just after 00:00 Shanghai (UTC 16:10); the job uses local dates
        CronSpec(accrue_late_fees, minute=10, hour=16),
        # hourly; acts from 09:00 tenant-local (collection_jobs.py)
        CronSpec(send_bill_reminders, minute=5),
    ),
)
