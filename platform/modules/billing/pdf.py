"""Printable documents (receipts, dunning letters) as PDF, in Chinese and English.

reportlab's built-in CID font ``STSong-Light`` renders Chinese without shipping a font file
(the reader's PDF viewer supplies the glyphs, as every Chinese PDF reader does).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, alignment=1)
_TEXT = ParagraphStyle("text", fontName=FONT, fontSize=10.5, leading=16)


@dataclass
class Document:
    """A title, paragraphs before a table, the table (header row first), paragraphs after."""

    title: str
    before: Sequence[str] = ()
    table: Sequence[Sequence[str]] = ()
    after: Sequence[str] = ()
    meta: dict[str, str] = field(default_factory=dict)  # PDF metadata (author, subject)


def render(*docs: Document) -> bytes:
    """One PDF: each document starts on a new page (e.g. a dunning letter per debtor)."""
    out = io.BytesIO()
    first = docs[0]
    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=first.title,
        author=first.meta.get("author", ""),
        subject=first.meta.get("subject", ""),
    )
    story: list[Flowable] = []
    for i, doc in enumerate(docs):
        if i:
            story.append(PageBreak())
        story += _page(doc)
    pdf.build(story)
    return out.getvalue()


def _page(doc: Document) -> list[Flowable]:
    story: list[Flowable] = [Paragraph(_escape(doc.title), _TITLE), Spacer(1, 6 * mm)]
    story += [_text(p) for p in doc.before]
    if doc.table:
        table = Table([[_text(c) for c in row] for row in doc.table])
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        story += [Spacer(1, 4 * mm), table, Spacer(1, 4 * mm)]
    story += [_text(p) for p in doc.after]
    return story


def _text(text: str) -> Paragraph:
    return Paragraph(_escape(text) or "&nbsp;", _TEXT)  # an empty line keeps its height


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
