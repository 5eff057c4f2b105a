"""Law names: the full names of the statute source (中华人民共和国民法典) and the short ones people write."""

from __future__ import annotations

LAW_PREFIX = "中华人民共和国"


def short_law_name(law: str) -> str:
    """民法典 for 中华人民共和国民法典; other names unchanged."""
    return law.removeprefix(LAW_PREFIX) or law


def law_name_candidates(name: str) -> tuple[str, ...]:
    """Full names a user-supplied law name may stand for: 《民法典》 → (民法典, 中华人民共和国民法典)."""
    bare = name.strip().strip("《》").strip()
    return (bare,) if bare.startswith(LAW_PREFIX) else (bare, LAW_PREFIX + bare)
