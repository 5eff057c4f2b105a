"""bot/answers/bodies.py: where a matter goes, by the law of a quoted article."""

from __future__ import annotations

from bot.answers.bodies import bodies
from knowledge.corpus import VILLAGE_LAWS, Corpus
from knowledge.law_names import short_law_name


def test_every_body_line_rests_on_an_article_of_its_own_law(township_corpus: Corpus) -> None:
    entries = bodies()
    assert set(entries) <= {short_law_name(law) for law in VILLAGE_LAWS}
    assert {"劳动合同法", "道路交通安全法", "农村土地承包法"} <= set(entries)
    for law, tip in entries.items():
        assert township_corpus.get(tip.law, tip.number) is not None, f"{law}: {tip.law} {tip.number}"
        assert tip.text and not tip.text.endswith("。")
    assert "乡镇人民政府" in entries["农村土地承包法"].text and "交警" in entries["道路交通安全法"].text
