"""The notices module: notices, periodic messages, yellow pages, knowledge base."""

from __future__ import annotations

from wuye.modules.base import CronSpec, Module
from wuye.modules.notices.demo import seed_notices_demo
from wuye.modules.notices.graphql.knowledge import KnowledgeMutation, KnowledgeQuery
from wuye.modules.notices.graphql.notices import NoticeMutation, NoticeQuery
from wuye.modules.notices.graphql.periodic import PeriodicMutation, PeriodicQuery
from wuye.modules.notices.graphql.yellowpages import YellowPagesMutation, YellowPagesQuery
from wuye.modules.notices.jobs import (
    deliver_notice,
    publish_due_notices,
    send_periodic_messages,
)
from wuye.modules.notices.messages import MESSAGE_TYPES
from wuye.modules.notices.permissions import (
    ALL,
    APPROVE,
    DIRECTORY_MANAGE,
    MANAGE,
    PERIODIC_MANAGE,
    VIEW,
)
from wuye.storage.purposes import UploadPurpose

NOTICES = Module(
    key="notices",
    title_zh="通知公告",
    title_en="Notices",
    depends_on=("estate",),
    permissions=ALL,
    role_grants={
        "manager": (VIEW.key, MANAGE.key, APPROVE.key, PERIODIC_MANAGE.key, DIRECTORY_MANAGE.key),
        "customer_service": (VIEW.key, MANAGE.key, DIRECTORY_MANAGE.key),
    },
    query=(NoticeQuery, PeriodicQuery, YellowPagesQuery, KnowledgeQuery),
    mutation=(NoticeMutation, PeriodicMutation, YellowPagesMutation, KnowledgeMutation),
    message_types=MESSAGE_TYPES,
    jobs=(deliver_notice,),
    cron=(
        CronSpec(publish_due_notices, minute=None),
        CronSpec(send_periodic_messages, minute=None),
    ),
    demo=seed_notices_demo,
    # files staff attach to a notice (PDFs, office documents, images)
    upload_purposes=(UploadPurpose("notices.attachment", "notices", "attachment", MANAGE),),
)
