"""Structural headings of a law (第二编 物权, 第一分编 通则, 第四章 离婚, 附则) and how to spot them."""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMERAL = "零一二三四五六七八九十百千两"
# A heading is short, has no sentence punctuation, and is either "第X编/分编/章/节 <title>"
# or a bare 总则/分则/附则. The source sometimes spaces out short titles: "第二编 物 权", "附 则".
_NUMBERED = re.compile(rf"^(第[{_NUMERAL}]+(?:分编|编|章|节))(?:\s+(\S.*))?$")
_BARE = re.compile(r"^(?:总|分|附)\s*则$")
_SENTENCE_MARKS = set('。；：，？！“”"')
_MAX_HEADING_CHARS = 40


def is_heading(line: str) -> bool:
    """True for a line that is a 编/分编/章/节 heading or 总则/分则/附则, never for a 款 of text."""
    line = line.strip()
    if not line or len(line) > _MAX_HEADING_CHARS or _SENTENCE_MARKS & set(line):
        return False
    return bool(_NUMBERED.match(line) or _BARE.match(line))


def normalise_title(line: str) -> str:
    """'第二编 物 权' → '第二编 物权'; '附 则' → '附则': one space after the number, none inside the title."""
    line = line.strip()
    match = _NUMBERED.match(line)
    if match is None:
        return re.sub(r"\s+", "", line)
    title = re.sub(r"\s+", "", match.group(2) or "")
    return f"{match.group(1)} {title}".strip()


def split_trailing_headings(lines: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split heading lines glued onto the end of an article's text from its body.

    The source appends the heading of the next 编/分编 to the last article before it; the body keeps
    every line up to the first of those trailing headings. Headings come back normalised.
    """
    end = len(lines)
    while end > 0 and is_heading(lines[end - 1]):
        end -= 1
    return list(lines[:end]), [normalise_title(line) for line in lines[end:]]
