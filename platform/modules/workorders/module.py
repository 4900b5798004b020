"""The work-orders module: repairs, appointment repairs, complaints, consultations and
suggestions, from report to return visit."""

from __future__ import annotations

from wuye.modules.base import CronSpec, Module
from wuye.modules.workorders import setup
from wuye.modules.workorders.demo import seed_workorders_demo
from wuye.modules.workorders.graphql.live import OrderSubscription
from wuye.modules.workorders.graphql.orders import OrderMutation, OrderQuery
from wuye.modules.workorders.graphql.setup import SetupMutation, SetupQuery
from wuye.modules.workorders.graphql.stats import StatsMutation, StatsQuery
from wuye.modules.workorders.graphql.threads import ThreadMutation, ThreadQuery
from wuye.modules.workorders.graphql.visits import VisitMutation, VisitQuery
from wuye.modules.workorders.jobs import check_work_order_deadlines, close_unrated_work_orders
from wuye.modules.workorders.messages import MESSAGE_TYPES
from wuye.modules.workorders.permissions import (
    ALL,
    COMPLAINTS,
    DISPATCH,
    HANDLE,
    RECORDINGS,
    SUPERVISE,
    VIEW,
    WORK,
)
from wuye.storage.purposes import UploadPurpose

PHOTO = UploadPurpose("workorders.photo", "workorders", "photo", thumbnails=True)
# call recordings are played only through playRecording (listen permission, audited)
RECORDING = UploadPurpose(
    "workorders.recording", "workorders", "recording", permission=HANDLE, downloadable=False
)
VOICE = UploadPurpose("workorders.voice", "workorders", "recording")

WORKORDERS = Module(
    key="workorders",
    title_zh="工单",
    title_en="Work orders",
    depends_on=("estate",),
    permissions=ALL,
    role_grants={
        # managers oversee; doing the repairs (workorders.work) is the workers' part
        "manager": tuple(p.key for p in ALL if p is not WORK),
        "customer_service": (
            VIEW.key,
            HANDLE.key,
            DISPATCH.key,
            COMPLAINTS.key,
            RECORDINGS.key,
            SUPERVISE.key,
        ),
        "maintenance_worker": (WORK.key,),
    },
    query=(OrderQuery, SetupQuery, ThreadQuery, VisitQuery, StatsQuery),
    mutation=(OrderMutation, SetupMutation, ThreadMutation, VisitMutation, StatsMutation),
    subscription=OrderSubscription,
    message_types=MESSAGE_TYPES,
    upload_purposes=(PHOTO, RECORDING, VOICE),
    cron=(
        CronSpec(check_work_order_deadlines, minute=set(range(0, 60, 5))),
        CronSpec(close_unrated_work_orders, minute=17),
    ),
    on_enable=setup.on_enable,  # the default categories, once
    demo=seed_workorders_demo,
)
