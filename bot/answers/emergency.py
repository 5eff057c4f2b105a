"""Emergencies: words about violence, threats or self-harm put 110 and the protection route first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class _Group:
    words: tuple[str, ...]
    extra_line: str


@dataclass(frozen=True, slots=True)
class _EmergencyData:
    first_line: str
    groups: tuple[_Group, ...]
    not_words: tuple[str, ...]  # harmless phrases that contain a word (催收打我电话)


@cache
def _data() -> _EmergencyData:
    raw = json.loads((resources.files("bot") / "data" / "emergency.json").read_text(encoding="utf-8"))
    groups = tuple(_Group(tuple(g["words"]), g.get("extra_line", "")) for g in raw["groups"])
    # Longest first: a phrase that holds a shorter one is taken out whole.
    not_words = tuple(sorted(raw.get("not_words", ()), key=len, reverse=True))
    return _EmergencyData(raw["first_line"], groups, not_words)


def _matching_groups(question: str) -> list[_Group]:
    data = _data()
    compact = "".join(question.split())
    for phrase in data.not_words:
        compact = compact.replace(phrase, "\x00")  # a gap, so that no word forms across the phrase
    return [g for g in data.groups if any(word in compact for word in g.words)]


def is_emergency(question: str) -> bool:
    """Whether the question mentions violence, threats or self-harm."""
    return bool(_matching_groups(question))


def emergency_lines(question: str) -> tuple[str, ...]:
    """The lines that must open the reply (110 and the protection route first); empty if no emergency."""
    groups = _matching_groups(question)
    if not groups:
        return ()
    extras = [g.extra_line for g in groups if g.extra_line]
    return (_data().first_line, *extras)
