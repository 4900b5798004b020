"""Payments use billing's permissions (online payments settle bills): staff read payments
with ``billing.view``, refund with ``billing.refund``, manage merchant accounts with
``billing.settings.manage`` and reconcile with ``billing.reports.view``. Residents pay and
read their own payments signed in, without any permission."""

from __future__ import annotations

from wuye.modules.billing.permissions import REFUND, REPORTS, SETTINGS, VIEW

__all__ = ["REFUND", "REPORTS", "SETTINGS", "VIEW"]
