"""Work-order permissions. Staff see orders of their communities (data scope); a resident
sees their own orders without any of these. Complaints need a complaint permission on top,
chosen by the complainant's customer level."""

from __future__ import annotations

from wuye.identity.permissions import Permission

VIEW = Permission("workorders.view", "查看工单", "View work orders")
HANDLE = Permission(
    "workorders.handle",
    "受理工单（代客报修、驳回、合并、关闭、回访、在线客服）",
    "Handle work orders (phone reports, accept, reject, merge, close, return visits, chat)",
)
DISPATCH = Permission("workorders.dispatch", "派工和转单", "Dispatch and transfer work orders")
WORK = Permission(
    "workorders.work", "接单和处理派给自己的工单", "Take and work on one's own work orders"
)
COMPLAINTS = Permission("workorders.complaints.handle", "处理投诉", "Handle complaints")
COMPLAINTS_VIP = Permission(
    "workorders.complaints.vip", "处理VIP客户投诉", "Handle complaints of VIP customers"
)
RECORDINGS = Permission(
    "workorders.recordings.listen", "收听通话录音（留痕）", "Listen to call recordings (audited)"
)
SUPERVISE = Permission(
    "workorders.supervise", "接收超时工单提醒", "Receive overdue work-order alerts"
)
ESCALATIONS = Permission(
    "workorders.escalations", "接收超时工单升级", "Receive escalated overdue work orders"
)
SETTINGS = Permission(
    "workorders.settings.manage",
    "管理工单类别、时限和客户等级",
    "Manage categories, deadlines and customer levels",
)
STATS = Permission("workorders.stats.view", "查看工单统计", "View work-order statistics")

ALL = (
    VIEW,
    HANDLE,
    DISPATCH,
    WORK,
    COMPLAINTS,
    COMPLAINTS_VIP,
    RECORDINGS,
    SUPERVISE,
    ESCALATIONS,
    SETTINGS,
    STATS,
)

# the permission a staff member needs to see a complaint, by the complainant's level
COMPLAINT_PERMISSION = {"normal": COMPLAINTS, "vip": COMPLAINTS_VIP}
