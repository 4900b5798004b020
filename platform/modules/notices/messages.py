"""The message types the notices module sends."""

from __future__ import annotations

from wuye.notify.types import MessageType, Template, Throttle

_PUSH = ("sms", "wechat", "email")

NOTICE = MessageType(
    key="notices.notice",
    title_zh="通知公告",
    title_en="Notice",
    zh=Template("{{title}}", "{{summary}}"),
    en=Template("{{title}}", "{{summary}}"),
    variables=("title", "summary", "category", "notice_id"),
    channels=_PUSH,
    default_channels=("wechat",),
)
URGENT_NOTICE = MessageType(
    key="notices.urgent",
    title_zh="紧急通知",
    title_en="Urgent notice",
    zh=Template("【紧急】{{title}}", "{{summary}}"),
    en=Template("[Urgent] {{title}}", "{{summary}}"),
    variables=("title", "summary", "category", "notice_id"),
    channels=_PUSH,
    default_channels=("sms", "wechat"),
    urgent=True,
    throttle=None,
)
PERIODIC = MessageType(
    key="notices.periodic",
    title_zh="定期消息",
    title_en="Scheduled message",
    zh=Template("{{title}}", "{{body}}"),
    en=Template("{{title}}", "{{body}}"),
    variables=("title", "body", "name"),
    channels=_PUSH,
    default_channels=("wechat",),
    throttle=Throttle(limit=1, window_s=3600, group="push"),
)
APPROVAL_REQUESTED = MessageType(
    key="notices.approval_requested",
    title_zh="通知待审核",
    title_en="Notice awaiting approval",
    zh=Template("待审核：{{title}}", "{{author}}提交了通知《{{title}}》，请审核。"),
    en=Template(
        "To approve: {{title}}", "{{author}} submitted the notice “{{title}}” for approval."
    ),
    variables=("title", "author", "notice_id"),
    channels=("email", "wechat"),
    default_channels=(),
    throttle=None,
)

MESSAGE_TYPES = (NOTICE, URGENT_NOTICE, PERIODIC, APPROVAL_REQUESTED)
