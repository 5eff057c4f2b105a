"""Contacts by topic: who a villager can turn to for wages (劳动监察 12333), accidents (交警 122), land (乡镇
人民政府), domestic violence (110, 妇联 12338), consumer problems (12315)…

National defaults live in bot/data/contacts.json; a township replaces a topic's list with PUFA_CONTACTS
(bot/settings.py reads it, `parse_overrides` checks it). Everyone is also pointed to 人民调解 and the
12348 hotline, which the Township carries, so they are not listed here. Pure: no HTTP, no database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from bot.answers.topics import CATEGORIES

TOWNSHIP_MARK = "{township}"  # replaced by the township's name: {township}人民政府 → 青山镇人民政府
MAX_NAME_CHARS = 60  # a contact is one short phrase in a 2048-byte reply
MAX_PER_TOPIC = 4


class ContactsError(ValueError):
    """Contacts data or a PUFA_CONTACTS override is malformed; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class Contact:
    name: str  # 劳动保障监察
    phone: str = ""  # 12333
    words: tuple[str, ...] = ()  # named only when the question holds one of these; () = always
    also: tuple[str, ...] = ()  # ... and one of these too (骑车 is no accident unless something 撞 or 碰)

    def fits(self, question: str) -> bool:
        return all(not group or any(word in question for word in group) for group in (self.words, self.also))

    def text(self, township: str) -> str:
        return self.name.replace(TOWNSHIP_MARK, township) + self.phone


@dataclass(frozen=True, slots=True)
class ContactBook:
    """Each topic's contacts, in the order they are named."""

    topics: tuple[tuple[str, tuple[Contact, ...]], ...] = ()

    def contacts(self, category: str, question: str | None = None) -> tuple[Contact, ...]:
        """The topic's contacts that fit the question; without a question (a menu guide), those that
        fit every question of the topic."""
        listed = dict(self.topics).get(category, ())
        if question is None:
            return tuple(c for c in listed if not c.words)
        return tuple(c for c in listed if c.fits(question))

    def line(self, category: str, township: str, question: str | None = None) -> str:
        """劳动保障监察12333、劳动人事争议仲裁委员会 — or "" when the topic names nobody."""
        return "、".join(dict.fromkeys(c.text(township) for c in self.contacts(category, question)))

    def replaced(self, overrides: Mapping[str, tuple[Contact, ...]]) -> ContactBook:
        """This book with the overridden topics' lists replaced (an empty list names nobody)."""
        merged = {**dict(self.topics), **overrides}
        return ContactBook(tuple((c, merged[c]) for c in CATEGORIES if c in merged))


@cache
def default_contacts() -> ContactBook:
    """The national defaults from bot/data/contacts.json, loaded once."""
    raw = json.loads((resources.files("bot") / "data" / "contacts.json").read_text(encoding="utf-8"))
    try:
        return ContactBook().replaced(parse_overrides(raw.get("topics")))
    except ContactsError as exc:
        raise ContactsError(f"bot/data/contacts.json: {exc}") from exc


def parse_overrides(raw: Any) -> dict[str, tuple[Contact, ...]]:
    """{topic: [contact, …]} checked: topics from CATEGORIES; a contact is "name phone" text or
    {"name", "phone"?, "words"?}."""
    if not isinstance(raw, dict):
        raise ContactsError(
            f'expected an object like {{"劳动报酬（工钱）": ["县劳动监察大队 12333"]}}; got {raw!r:.80}'
        )
    unknown = [key for key in raw if key not in CATEGORIES]
    if unknown:
        raise ContactsError(f"unknown topic {unknown[0]!r}; use one of: {'、'.join(CATEGORIES)}")
    return {topic: _contacts(topic, entries) for topic, entries in raw.items()}


def _contacts(topic: str, entries: Any) -> tuple[Contact, ...]:
    if not isinstance(entries, list) or len(entries) > MAX_PER_TOPIC:
        raise ContactsError(f"{topic}: expected a list of at most {MAX_PER_TOPIC} contacts; got {entries!r:.80}")
    return tuple(_contact(topic, entry) for entry in entries)


def _contact(topic: str, entry: Any) -> Contact:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or set(entry) - {"name", "phone", "words", "also"}:
        raise ContactsError(f'{topic}: a contact is text or {{"name", "phone", "words", "also"}}; got {entry!r:.80}')
    name, phone = entry.get("name"), entry.get("phone", "")
    words, also = entry.get("words", []), entry.get("also", [])
    if not isinstance(name, str) or not name.strip() or len(name) + len(str(phone)) > MAX_NAME_CHARS:
        raise ContactsError(f"{topic}: a contact needs a name of 1-{MAX_NAME_CHARS} characters; got {name!r:.80}")
    if not isinstance(phone, str) or not all(_word_list(group) for group in (words, also)):
        raise ContactsError(f"{topic}: phone must be text, words and also lists of words; got {entry!r:.80}")
    if also and not words:
        raise ContactsError(f"{topic}: 'also' narrows 'words', so it needs them; got {entry!r:.80}")
    return Contact(name.strip(), phone.strip(), tuple(words), tuple(also))


def _word_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(word, str) and word for word in value)
