"""Billing permissions. Residents see and pay their own units' bills without any of these."""

from __future__ import annotations

from wuye.identity.permissions import Permission

VIEW = Permission("billing.view", "查看账单和收费记录", "View bills and payments")
SETTINGS = Permission(
    "billing.settings.manage", "管理收费项目和收费标准", "Manage fee items and rates"
)
METERS = Permission("billing.meters.manage", "录入和审核抄表", "Enter and review meter readings")
GENERATE = Permission("billing.generate", "生成账单", "Generate bills")
COLLECT = Permission(
    "billing.collect", "收款、预存和冲正（收银）", "Take payments, top-ups and reversals (cashier)"
)
REFUND = Permission("billing.refund", "退款", "Refund")
WAIVE = Permission("billing.waive", "减免", "Waive (part of) a bill")
ARREARS = Permission(
    "billing.arrears.view", "查看欠费和发催费函", "View arrears, send dunning letters"
)
ARREARS_PUBLISH = Permission(
    "billing.arrears.publish", "向业主公示欠费", "Publish the arrears list to residents"
)
FUNDS = Permission(
    "billing.funds.manage",
    "记录维修基金和公共收益",
    "Record the maintenance fund and public income",
)
REPORTS = Permission("billing.reports.view", "查看财务报表", "View finance reports")

ALL = (
    VIEW,
    SETTINGS,
    METERS,
    GENERATE,
    COLLECT,
    REFUND,
    WAIVE,
    ARREARS,
    ARREARS_PUBLISH,
    FUNDS,
    REPORTS,
)
