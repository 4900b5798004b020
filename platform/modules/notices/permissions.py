from __future__ import annotations

from wuye.identity.permissions import Permission

VIEW = Permission("notices.view", "查看通知公告与传达情况", "View notices and their reach")
MANAGE = Permission("notices.manage", "编辑和发布通知公告", "Write and publish notices")
APPROVE = Permission("notices.approve", "审核通知公告", "Approve notices")
PERIODIC_MANAGE = Permission("notices.periodic.manage", "管理定期消息", "Manage periodic messages")
DIRECTORY_MANAGE = Permission(
    "notices.directory.manage", "管理社区黄页和知识库", "Manage yellow pages and the knowledge base"
)

ALL = (VIEW, MANAGE, APPROVE, PERIODIC_MANAGE, DIRECTORY_MANAGE)
