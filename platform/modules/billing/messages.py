"""The messages the billing module sends through the notification pipeline: reminders
before a bill's due date and dunning (催缴) after it, one per unit and stage (see
``reminders``)."""

from __future__ import annotations

from wuye.notify.types import MessageType, Template

_CHANNELS = ("sms", "wechat", "email")
_VARIABLES = ("unit", "count", "amount", "due_on", "days")

REMINDER = MessageType(
    key="billing.reminder",
    title_zh="缴费提醒",
    title_en="Bill due soon",
    zh=Template(
        "缴费提醒",
        "您的房屋{{unit}}有{{count}}笔费用共{{amount}}元将于{{due_on}}到期，请及时缴纳。",
    ),
    en=Template(
        "Bill due soon",
        "{{count}} bill(s) of {{unit}}, {{amount}} yuan in all, are due on {{due_on}}.",
    ),
    variables=_VARIABLES,
    channels=_CHANNELS,
    default_channels=("wechat",),
    # the job sends one message per unit and stage; never more often than the tenant set
    throttle=None,
)
DUNNING = MessageType(
    key="billing.dunning",
    title_zh="催缴通知",
    title_en="Overdue bills",
    zh=Template(
        "催缴通知",
        "您的房屋{{unit}}有{{count}}笔费用共{{amount}}元已逾期{{days}}天"
        "（应缴日期{{due_on}}），请尽快缴纳。如已缴费请忽略。",
    ),
    en=Template(
        "Overdue bills",
        "{{count}} bill(s) of {{unit}}, {{amount}} yuan in all, are {{days}} days overdue "
        "(due {{due_on}}). Please pay soon; ignore this if you have paid.",
    ),
    variables=_VARIABLES,
    channels=_CHANNELS,
    default_channels=("sms", "wechat"),
    throttle=None,
)

MESSAGE_TYPES = (REMINDER, DUNNING)
