"""The messages the work-orders module sends through the notification pipeline."""

from __future__ import annotations

from wuye.notify.types import MessageType, Template

_RESIDENT = ("sms", "wechat", "email")


def _type(
    key: str,
    title: tuple[str, str],
    zh: tuple[str, str],
    en: tuple[str, str],
    variables: tuple[str, ...],
    *,
    default_channels: tuple[str, ...] = ("wechat",),
    urgent: bool = False,
) -> MessageType:
    return MessageType(
        key=key,
        title_zh=title[0],
        title_en=title[1],
        zh=Template(*zh),
        en=Template(*en),
        variables=("number", "order_id", *variables),
        channels=_RESIDENT,
        default_channels=default_channels,
        urgent=urgent,
        throttle=None,  # one message per step of one's own order is never noise
    )


ACCEPTED = _type(
    "workorders.accepted",
    ("工单已受理", "Order accepted"),
    ("工单已受理", "您的工单{{number}}已受理，我们会尽快安排处理。"),
    ("Order accepted", "Your order {{number}} has been accepted; we will deal with it soon."),
    (),
)
REJECTED = _type(
    "workorders.rejected",
    ("工单未受理", "Order not accepted"),
    ("工单未受理", "您的工单{{number}}未能受理：{{reason}}"),
    ("Order not accepted", "Your order {{number}} was not accepted: {{reason}}"),
    ("reason",),
)
DISPATCHED = _type(
    "workorders.dispatched",
    ("已派工", "Worker assigned"),
    ("已派工", "工单{{number}}已派给{{worker}}（{{worker_phone}}），预计{{arrival}}上门。"),
    (
        "Worker assigned",
        "{{worker}} ({{worker_phone}}) will handle order {{number}}; expected {{arrival}}.",
    ),
    ("worker", "worker_phone", "arrival"),
)
COMPLETED = _type(
    "workorders.completed",
    ("工单已完成，请评价", "Order done: please rate it"),
    ("工单已完成", "您的工单{{number}}已处理完成，请在应用中评价本次服务。"),
    ("Order done", "Your order {{number}} is done. Please rate the service in the app."),
    (),
)
ASSIGNED = _type(
    "workorders.assigned",
    ("新工单", "New order for you"),
    ("新工单", "工单{{number}}（{{category}}，{{place}}）已派给您。"),
    ("New order", "Order {{number}} ({{category}}, {{place}}) is now yours."),
    ("category", "place"),
)
REPLIED = _type(
    "workorders.replied",
    ("客服回复", "New reply"),
    ("客服回复", "您的咨询{{number}}有新回复。"),
    ("New reply", "There is a new reply to your enquiry {{number}}."),
    (),
    default_channels=(),
)
OVERDUE = _type(
    "workorders.overdue",
    ("工单超时", "Order overdue"),
    ("工单超时", "工单{{number}}（{{category}}）已超过{{deadline}}时限，请督办。"),
    ("Order overdue", "Order {{number}} ({{category}}) missed its {{deadline}} deadline."),
    ("category", "deadline"),
    default_channels=("wechat", "sms"),
    urgent=True,
)
ESCALATED = _type(
    "workorders.escalated",
    ("工单超时升级", "Overdue order escalated"),
    ("工单超时升级", "工单{{number}}（{{category}}）超时未处理，已升级至您。"),
    ("Order escalated", "Order {{number}} ({{category}}) is still overdue and now yours to chase."),
    ("category",),
    default_channels=("wechat", "sms"),
    urgent=True,
)

MESSAGE_TYPES = (ACCEPTED, REJECTED, DISPATCHED, COMPLETED, ASSIGNED, REPLIED, OVERDUE, ESCALATED)
