"""Small text tools for WeChat replies: UTF-8 byte budgets, Markdown stripping, character bigrams."""

from __future__ import annotations

import re

ELLIPSIS = "……"
MAX_REPLY_BYTES = 2048  # WeChat drops passive text replies longer than this (UTF-8 bytes)

# Markdown that WeChat would show literally: headings, emphasis, code fences, quotes, links.
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_MD_LINE_START = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+(?=\S))", re.MULTILINE)
_MD_MARKS = re.compile(r"`{1,3}|\*{1,3}|_{2,3}|~~|#")
_WORD_CHARS = re.compile(r"[\w]+")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def clip_bytes(text: str, limit: int) -> str:
    """text cut at a character boundary so that it, plus a trailing ……, fits in `limit` UTF-8 bytes."""
    if utf8_len(text) <= limit:
        return text
    room = limit - utf8_len(ELLIPSIS)
    return text.encode("utf-8")[: max(room, 0)].decode("utf-8", errors="ignore") + ELLIPSIS


def strip_markdown(text: str) -> str:
    """Plain text: Markdown marks removed, link text kept."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_LINE_START.sub("", text)
    return _MD_MARKS.sub("", text)


def bigrams(text: str) -> set[str]:
    """Distinct character bigrams inside runs of letters/digits/CJK (punctuation breaks a run)."""
    return {run[i : i + 2] for run in _WORD_CHARS.findall(text) for i in range(len(run) - 1)}
