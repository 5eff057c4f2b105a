"""Township: who the bot refers villagers to. Built from Settings; nothing township-specific is hard-coded."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.answers.contacts import ContactBook, default_contacts


@dataclass(frozen=True, slots=True)
class Township:
    """Who to refer villagers to; built from Settings, nothing township-specific is hard-coded."""

    name: str
    bot_name: str
    mediation_contact: str
    legal_adviser_contact: str
    hotline: str = "12348"
    contacts: ContactBook = field(default_factory=default_contacts)  # by topic (bot/answers/contacts.py)

    def topic_contacts(self, category: str, question: str | None = None) -> str:
        """Who to turn to for this topic (and question): 劳动保障监察12333、劳动人事争议仲裁委员会, or ""."""
        return self.contacts.line(category, self.name, question)
