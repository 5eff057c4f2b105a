"""Township: who the bot refers villagers to. Built from Settings; nothing township-specific is hard-coded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Township:
    """Who to refer villagers to; built from Settings, nothing township-specific is hard-coded."""

    name: str
    bot_name: str
    mediation_contact: str
    legal_adviser_contact: str
    hotline: str = "12348"
