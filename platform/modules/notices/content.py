"""Rich text from staff: Markdown or HTML in, sanitised HTML and a plain-text summary out.

Residents' apps render the HTML, so it is cleaned on the way in (nh3, an allow-list
sanitiser): no scripts, no event handlers, no javascript: links.
"""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

from wuye.errors import AppError

FORMATS = ("markdown", "html")
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
_TAGS = nh3.ALLOWED_TAGS | {"img", "figure", "figcaption", "u", "s", "del", "span"}
_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "img": {"src", "alt", "title", "width", "height"}}
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def to_html(source: str, body_format: str) -> str:
    if body_format not in FORMATS:
        raise AppError("VALIDATION_FAILED", field="bodyFormat", allowed=", ".join(FORMATS))
    raw = _markdown.render(source) if body_format == "markdown" else source
    return nh3.clean(raw, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https"})


def plain_text(clean_html: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", clean_html))).strip()


def summary(clean_html: str, length: int = 120) -> str:
    text = plain_text(clean_html)
    return text if len(text) <= length else text[: length - 1] + "…"
