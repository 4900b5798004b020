"""Chinese word segmentation (jieba) for the knowledge-base search.

PostgreSQL's ``simple`` parser splits on spaces only, so a Chinese text is indexed as the
space-separated words jieba finds in it (``tokens``), and a query is segmented the same way
(``query_terms``) and matched as an AND of its words.

Indexing uses ``cut_for_search`` (a long word and its 2-/3-character sub-words) plus every
dictionary word inside the text (``cut_all``): ``cut_for_search`` alone never emits a 4-character
word inside a longer one, so 专项维修基金 would not be found by 维修基金.
"""

from __future__ import annotations

import logging
import re
import threading

import jieba

# Property-management words jieba's general dictionary misses or splits badly.
DOMAIN_WORDS = (
    "物业费",
    "物业服务费",
    "物业服务中心",
    "物业管理条例",
    "前期物业",
    "业委会",
    "业主委员会",
    "业主大会",
    "维修基金",
    "维修资金",
    "专项维修基金",
    "专项维修资金",
    "公共收益",
    "公摊",
    "报修",
    "门禁卡",
    "停车费",
    "装修押金",
    "垃圾分类",
    "水电费",
    "开锁换锁",
    "桶装水",
    "家政保洁",
)
# Colloquial and official forms of the same thing: both index and query use the first.
SYNONYMS = {
    "维修资金": "维修基金",
    "专项维修资金": "专项维修基金",
    "业委会": "业主委员会",
    "物业服务费": "物业费",
}
# A token worth indexing has a letter, digit or CJK character (drops punctuation and spaces).
_WORDLIKE = re.compile(r"[0-9a-z\u3400-\u9fff]")
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def tokenizer() -> jieba.Tokenizer:
    """The one jieba tokenizer with the domain words, built on first use (~0.6 s).

    A private ``Tokenizer`` rather than jieba's global one, so our dictionary does not change
    segmentation elsewhere in the process.
    """
    global _tokenizer
    if _tokenizer is None:
        with _lock:  # two threads may ask at once: build it once
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                t = jieba.Tokenizer()
                t.initialize()
                for word in DOMAIN_WORDS:
                    t.add_word(word)
                _tokenizer = t
    return _tokenizer


def is_ready() -> bool:
    return _tokenizer is not None


def _clean(words: list[str]) -> list[str]:
    """Lower-cased words, punctuation dropped; a word with inner punctuation (``a&b``) is
    split at it so nothing but plain words reaches PostgreSQL."""
    out: list[str] = []
    for word in words:
        for part in _NOT_WORD.split(word.lower()):
            if part and _WORDLIKE.search(part):
                out.append(part)
    return out


def _with_synonyms(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        out.append(word)
        canonical = SYNONYMS.get(word)
        if canonical is not None:
            out.append(canonical)
    return out


def tokens(text: str) -> str:
    """The words of ``text`` for ``search_tokens``, space-separated."""
    t = tokenizer()
    lowered = text.lower()
    words = _clean(list(t.cut_for_search(lowered)))
    seen = set(words)
    # every dictionary word inside the text, e.g. 维修基金 inside 专项维修基金
    extra = [w for w in _clean(list(t.cut(lowered, cut_all=True))) if w not in seen]
    return " ".join(_with_synonyms(words + extra))


def query_terms(query: str) -> list[str]:
    """The words of a search query, each once, in order; synonyms mapped to one form."""
    words = _clean(list(tokenizer().cut(query.lower())))
    out: list[str] = []
    for word in words:
        canonical = SYNONYMS.get(word, word)
        if canonical not in out:
            out.append(canonical)
    return out
