"""Estate permissions (granted through roles; see module.role_grants)."""

from __future__ import annotations

from wuye.identity.permissions import Permission

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

ALL = (VIEW, MANAGE, RESIDENTS_VIEW, RESIDENTS_MANAGE, VIEW_SENSITIVE, ORG_MANAGE, IMPORT)
