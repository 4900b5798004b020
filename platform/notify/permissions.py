"""Core notification permissions (every tenant has them, whatever modules it runs).

The inbox and a user's own preferences need no permission, only a signed-in account.
"""

from __future__ import annotations

from wuye.identity.permissions import Permission

NOTIFY_SETTINGS_MANAGE = Permission(
    "notify.settings.manage",
    "管理通知设置和消息模板",
    "Manage notification settings and message templates",
)
NOTIFY_MESSAGES_VIEW = Permission(
    "notify.messages.view", "查看消息发送记录", "View the message delivery log"
)

NOTIFY_PERMISSIONS: tuple[Permission, ...] = (NOTIFY_SETTINGS_MANAGE, NOTIFY_MESSAGES_VIEW)
