"""Which body a matter goes to, by the law of a quoted article (bot/data/bodies.json): 劳动仲裁 before a
court for wages, 交警 for an accident's certificate, 乡镇人民政府 and the land-contract arbitration
committee for contracted land. Pure text, like the rest of answers/.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from bot.answers.guides import Tip

if TYPE_CHECKING:
    from knowledge.articles import Article
    from knowledge.corpus import Corpus


class BodiesDataError(ValueError):
    """bot/data/bodies.json is malformed."""


@cache
def bodies() -> dict[str, Tip]:
    """{law short name: the line and the article it rests on}, loaded once."""
    raw = json.loads((resources.files("bot") / "data" / "bodies.json").read_text(encoding="utf-8"))
    try:
        return {law: Tip(e["text"], e["law"], int(e["number"])) for law, e in raw["bodies"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise BodiesDataError(f"bot/data/bodies.json: each entry needs text, law and number ({exc!r})") from exc


def body_line(quoted: Sequence[Article], corpus: Corpus) -> str:
    """去哪儿办：… (《劳动争议调解仲裁法》第五条) for the first quoted article whose law has an entry whose
    article the corpus holds; empty otherwise (the three laws alone never add one)."""
    for article in quoted:
        tip = bodies().get(article.short_law)
        cited = corpus.get(tip.law, tip.number) if tip else None
        if tip and cited is not None:
            return f"去哪儿办：{tip.text}（{cited.short_citation}）。"
    return ""
