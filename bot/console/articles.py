"""Articles a reviewer chose for a curated answer: ticked boxes plus citations typed in by hand."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import FormData

from bot.console.context import ConsoleError
from knowledge.citations import find_citations
from knowledge.corpus import Corpus

BOX = "article"  # checkbox name; its values are Article.key
TYPED = "more_articles"  # free text such as 民法典第1079条、第188条


def chosen_articles(form: FormData, corpus: Corpus, *, offered: Sequence[str]) -> list[str]:
    """Article keys in the order chosen: ticked ones (only from `offered`), then typed citations.

    ConsoleError (400) if a typed citation names an article the corpus does not have, so a curated
    answer can never cite something that does not exist.
    """
    ticked = [key for key in form.getlist(BOX) if isinstance(key, str) and key in offered]
    typed = form.get(TYPED)
    keys = list(ticked)
    if isinstance(typed, str) and typed.strip():
        default_law = next((law for law in corpus.laws if law.endswith("民法典")), None)
        for law, number in find_citations(typed, corpus.laws, default_law):
            article = corpus.get(law, number)
            if article is None:
                raise ConsoleError(400, f"条文不存在：《{law}》第{number}条。请检查条号。")
            keys.append(article.key)
    return list(dict.fromkeys(keys))


def article_labels(keys: Sequence[str], corpus: Corpus) -> list[tuple[str, str]]:
    """(key, 《民法典》第六百七十五条) for display; keys no longer in the corpus are shown as they are."""
    labels = []
    for key in keys:
        law, _, number = key.rpartition(":")
        article = corpus.get(law, int(number)) if number.isdigit() else None
        labels.append((key, article.short_citation if article else key))
    return labels
