"""Permissions are string keys declared by core and by modules; roles hold sets of them.

A role grants a key exactly, by module wildcard (``workorders.*``) or everything (``*``,
the tenant admin). Anything not granted is denied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    key: str
    title_zh: str
    title_en: str

    def __str__(self) -> str:
        return self.key


USERS_VIEW = Permission("identity.users.view", "查看员工和住户账号", "View user accounts")
USERS_MANAGE = Permission("identity.users.manage", "管理员工和住户账号", "Manage user accounts")
ROLES_MANAGE = Permission("identity.roles.manage", "管理角色和权限", "Manage roles and permissions")
AUDIT_VIEW = Permission("identity.audit.view", "查看操作日志", "View the audit log")

CORE_PERMISSIONS: tuple[Permission, ...] = (USERS_VIEW, USERS_MANAGE, ROLES_MANAGE, AUDIT_VIEW)


def grants(granted: Iterable[str], wanted: str) -> bool:
    for key in granted:
        if key == wanted or key == "*":
            return True
        if key.endswith(".*") and wanted.startswith(key[:-1]):
            return True
    return False


def granting_keys(wanted: str) -> list[str]:
    """Every role key that grants ``wanted``: itself, ``*`` and each wildcard above it."""
    parts = wanted.split(".")
    return ["*", wanted, *(".".join(parts[:i]) + ".*" for i in range(1, len(parts)))]


@dataclass(frozen=True)
class RoleTemplate:
    key: str
    name_zh: str
    name_en: str
    permissions: tuple[str, ...]


# Seeded in every new tenant; modules add their grants through Module.role_grants.
DEFAULT_ROLES: tuple[RoleTemplate, ...] = (
    RoleTemplate("tenant_admin", "系统管理员", "Tenant administrator", ("*",)),
    # "notify.messages.view" is wuye.notify.permissions.NOTIFY_MESSAGES_VIEW, spelled out
    # because importing notify here would be circular (notify imports ``Permission``).
    RoleTemplate(
        "manager",
        "项目经理",
        "Manager",
        (USERS_VIEW.key, AUDIT_VIEW.key, "notify.messages.view"),
    ),
    RoleTemplate("customer_service", "客服", "Customer service", (USERS_VIEW.key,)),
    RoleTemplate("maintenance_worker", "维修工", "Maintenance worker", ()),
    RoleTemplate("cashier", "收银员", "Cashier", ()),
    RoleTemplate("resident", "业主/住户", "Resident", ()),
)
