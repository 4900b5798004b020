"""Application errors with a stable machine code and a zh-CN / en message.

Services raise ``AppError``; every surface (GraphQL, HTTP JSON, CLI) renders it. Codes never
change with the language.
"""

from __future__ import annotations

from typing import Any

# code -> (zh-CN, en, HTTP status when rendered outside GraphQL)
CATALOG: dict[str, tuple[str, str, int]] = {
    "UNAUTHENTICATED": ("请先登录", "Please sign in first", 401),
    "INVALID_CREDENTIALS": ("账号或密码错误", "Wrong account or password", 401),
    "TOKEN_EXPIRED": ("登录已过期，请重新登录", "Your session has expired; sign in again", 401),
    "FORBIDDEN": ("没有权限执行此操作", "You do not have permission to do this", 403),
    "ACCOUNT_DISABLED": ("账号已停用", "This account is disabled", 403),
    "NOT_FOUND": ("未找到对象", "Not found", 404),
    "MODULE_DISABLED": ("该功能未开通", "This module is not enabled for your company", 403),
    "VALIDATION_FAILED": ("输入有误", "The input is not valid", 400),
    "CONFLICT": ("数据冲突", "This conflicts with existing data", 409),
    "TOO_MANY_ATTEMPTS": (
        "尝试次数过多，请{retry_after}秒后再试",
        "Too many attempts; try again in {retry_after} s",
        429,
    ),
    "TENANT_NOT_FOUND": ("未找到该物业公司", "No property company at this address", 404),
    "TENANT_SUSPENDED": ("该物业公司已暂停服务", "This property company is suspended", 403),
    "BAD_REQUEST": ("请求格式错误", "The request is malformed", 400),
    "GRAPHQL_PARSE_FAILED": ("查询语法错误", "The query cannot be parsed", 400),
    "GRAPHQL_VALIDATION_FAILED": ("查询无效", "The query is not valid", 400),
    "QUERY_TOO_COMPLEX": ("查询过于复杂", "The query is too complex", 400),
    "WECHAT_CODE_INVALID": (
        "微信授权无效或已过期，请重新授权",
        "The WeChat authorisation is invalid or has expired; please try again",
        400,
    ),
    "TIMEOUT": ("请求超时", "The request took too long", 504),
    "INTERNAL_SERVER_ERROR": ("服务器内部错误", "Internal server error", 500),
    "INVALID_TRANSITION": (
        "当前状态（{status}）不能执行此操作",
        "This cannot be done while the item is {status}",
        409,
    ),
    "TEMPLATE_UNKNOWN_VARIABLE": (
        "模板使用了未知变量：{variables}",
        "The template uses unknown variables: {variables}",
        400,
    ),
    "CHANNEL_NOT_ALLOWED": (
        "该消息类型不支持此渠道",
        "This message type cannot be sent on that channel",
        400,
    ),
    "SECOND_APPROVER_REQUIRED": (
        "需由作者以外的人审核",
        "Someone other than the author must approve this",
        403,
    ),
    "URGENT_NOT_OPTIONAL": (
        "紧急通知不能关闭",
        "Urgent messages cannot be turned off",
        400,
    ),
}


class AppError(Exception):
    """An expected failure the client can act on.

    ``zh``/``en`` override the catalogue text; ``{name}`` placeholders are filled from
    ``params``, which are also returned to the client in ``extensions``.
    """

    def __init__(self, code: str, zh: str | None = None, en: str | None = None, **params: Any):
        if code not in CATALOG and (zh is None or en is None):
            raise ValueError(f"unknown error code {code!r} needs explicit zh and en texts")
        self.code = code
        self.zh = zh
        self.en = en
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str) -> str:
        default_zh, default_en, _ = CATALOG.get(self.code, ("", "", 400))
        text = (self.en or default_en) if lang == "en" else (self.zh or default_zh)
        try:
            return text.format(**self.params)
        except (KeyError, IndexError):
            return text

    @property
    def http_status(self) -> int:
        return CATALOG.get(self.code, ("", "", 400))[2]


def pick_language(accept_language: str | None) -> str:
    """'en' when the client prefers English over Chinese, else 'zh-CN' (the default)."""
    if not accept_language:
        return "zh-CN"
    best_lang, best_q = "zh-CN", -1.0
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh-CN" if tag.startswith("zh") else None
        if lang and weight > best_q:
            best_lang, best_q = lang, weight
    return best_lang
