"""Messages that ask several things ("…？…？"): their parts, and one ranking that serves each part.

About one real question in twelve bundles two or more questions. Searched whole, the articles of the
part with the stronger words fill the top of the list and the other part gets none. Each part is
searched on its own too, and the rankings are interleaved (the whole message's first), so that every
part has articles among the first few hits.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# A question mark or semicolon ends a part; the last part needs no mark.
_PART = re.compile(r"[^？?；;]+[？?；;]*")
MIN_PART_CHARS = 4  # shorter pieces ("是吗？", "怎么办？") belong to the question before them
MAX_PARTS = 3  # a longer list of questions is searched whole, then by its first parts


def question_parts(message: str) -> list[str]:
    """The message's questions in order, or [message] when it asks one thing."""
    parts: list[str] = []
    for match in _PART.finditer(message.strip()):
        piece = match.group().strip()
        if parts and len(_letters(piece)) < MIN_PART_CHARS:
            parts[-1] += piece
        elif piece:
            parts.append(piece)
    if len(parts) > 1 and len(_letters(parts[0])) < MIN_PART_CHARS:
        parts[:2] = [parts[0] + parts[1]]
    return parts[:MAX_PARTS] if len(parts) > 1 else [message]


def interleave(rankings: Sequence[Sequence[K]]) -> list[K]:
    """Round-robin over the rankings (first ranking first at each depth), each item once."""
    out: dict[K, None] = {}
    for depth in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if depth < len(ranking):
                out.setdefault(ranking[depth], None)
    return list(out)


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text)
