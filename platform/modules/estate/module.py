"""The estate module: the data backbone every other module uses. Always on."""

from __future__ import annotations

from wuye.modules.base import Module
from wuye.modules.estate.demo import seed_estate_demo
from wuye.modules.estate.graphql.org import OrgMutation, OrgQuery
from wuye.modules.estate.graphql.property import PropertyMutation, PropertyQuery
from wuye.modules.estate.graphql.residents import ResidentMutation, ResidentQuery
from wuye.modules.estate.graphql.transfer import TransferMutation, TransferQuery
from wuye.modules.estate.jobs import run_estate_import
from wuye.modules.estate.permissions import (
    ALL,
    IMPORT,
    MANAGE,
    ORG_MANAGE,
    RESIDENTS_MANAGE,
    RESIDENTS_VIEW,
    VIEW,
)

ESTATE = Module(
    key="estate",
    title_zh="房产与住户",
    title_en="Estate and people",
    always_on=True,
    permissions=ALL,
    role_grants={
        "manager": (
            VIEW.key,
            MANAGE.key,
            RESIDENTS_VIEW.key,
            RESIDENTS_MANAGE.key,
            ORG_MANAGE.key,
            IMPORT.key,
        ),
        "customer_service": (VIEW.key, RESIDENTS_VIEW.key, RESIDENTS_MANAGE.key),
        "maintenance_worker": (VIEW.key,),
        "cashier": (VIEW.key, RESIDENTS_VIEW.key),
    },
    query=(PropertyQuery, ResidentQuery, OrgQuery, TransferQuery),
    mutation=(PropertyMutation, ResidentMutation, OrgMutation, TransferMutation),
    jobs=(run_estate_import,),
    demo=seed_estate_demo,
)
