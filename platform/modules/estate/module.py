"""The estate module: the data backbone every other module uses. Always on."""

from __future__ import annotations

from wuye.identity.permissions import Permission
from wuye.modules.base import Module
from wuye.modules.estate.graphql.org import OrgMutation, OrgQuery
from wuye.modules.estate.graphql.property import PropertyMutation, PropertyQuery
from wuye.modules.estate.graphql.residents import ResidentMutation, ResidentQuery
from wuye.modules.estate.graphql.transfer import TransferMutation, TransferQuery
from wuye.modules.estate.jobs import run_estate_import

VIEW = Permission(
    "estate.view", "查看小区、楼栋、房屋和车位", "View communities, buildings, units, parking"
)
MANAGE = Permission(
    "estate.manage", "管理小区、楼栋、房屋和车位", "Manage communities, buildings, units, parking"
)
RESIDENTS_VIEW = Permission("estate.residents.view", "查看住户", "View residents")
RESIDENTS_MANAGE = Permission(
    "estate.residents.manage", "管理住户和入住审核", "Manage residents and approve unit claims"
)
VIEW_SENSITIVE = Permission(
    "estate.residents.view_sensitive",
    "查看住户完整手机号和身份证号",
    "See residents' full phone and ID numbers",
)
ORG_MANAGE = Permission(
    "estate.org.manage", "管理组织架构和员工调动", "Manage departments and staff"
)
IMPORT = Permission("estate.import", "批量导入导出", "Bulk import and export")

ESTATE = Module(
    key="estate",
    title_zh="房产与住户",
    title_en="Estate and people",
    always_on=True,
    permissions=(
        VIEW,
        MANAGE,
        RESIDENTS_VIEW,
        RESIDENTS_MANAGE,
        VIEW_SENSITIVE,
        ORG_MANAGE,
        IMPORT,
    ),
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
)
