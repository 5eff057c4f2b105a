"""`pufa check replies`: the replies the bot would send to a file of villagers' situations, measured.

Each situation names the articles that truly answer it and the words that would mark a tip written for
another situation. Every reply is composed the way the webhook composes it (Consultant over the configured
retriever, with the situation cards), then judged on what the villager reads: its numbered quotes, its
advice (the reply without those quotes), whether a situation card leads it, and its size.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.answers.composer import NO_HIT_LINE, Answer
from bot.answers.text import utf8_len
from bot.answers.topics import CATEGORIES
from bot.commands.output import say, say_json
from bot.settings import Settings
from indexing.evaluation import QuestionFileError
from knowledge.corpus import TOWNSHIP_LAWS, Corpus
from knowledge.numerals import from_chinese_numeral

if TYPE_CHECKING:
    from bot.conversation.consultation import Consultant

DEFAULT_DEADLINE_S = 60.0  # measuring replies, not latency: a slow search must not turn into a fallback
# "1.《民法典》第一千零六十七条：…" at the start of a line: a numbered quote of the reply.
_QUOTE = re.compile(r"^\d+\.《([^《》]+)》第([0-9零一二两三四五六七八九十百千]+)条：", re.MULTILINE)
_TO_TYPE = re.compile(r"“[^“”]*”")


class SituationFileError(QuestionFileError):
    """A situation file line that is malformed or names an article the corpus does not have."""


@dataclass(frozen=True, slots=True)
class Situation:
    line: int
    question: str
    topic: str  # one of bot.answers.topics.CATEGORIES
    acceptable: frozenset[str]  # Article.key of every article that answers the situation
    forbidden: tuple[str, ...]  # words that would mark a tip written for another situation


@dataclass(frozen=True, slots=True)
class Verdict:
    quotes_acceptable: bool
    forbidden_found: tuple[str, ...]
    card_led: bool
    plain_led: bool  # a plain answer leads: a card's, or a guide's tip on the first quoted article
    refusal: bool
    fallback: bool
    reply_bytes: int


def load_situations(path: Path, corpus: Corpus) -> list[Situation]:
    """The situations of a JSON Lines file; the first bad line is refused with its number."""
    situations = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            situations.append(_situation(path, n, line, corpus))
    if not situations:
        raise SituationFileError(path, 0, "no situations in the file")
    return situations


def _situation(path: Path, n: int, line: str, corpus: Corpus) -> Situation:
    try:
        item = json.loads(line)
        question = item["question"]
        topic = item["topic"]
        refs = [(ref["law"], ref["article"]) for ref in item["acceptable"]]
        forbidden = item["forbidden_tip_words"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SituationFileError(path, n, 'expected {"question", "topic", "acceptable": [{"law", "article"}], '
                                          f'"forbidden_tip_words": [...]}} ({exc.__class__.__name__}: {exc})') from exc
    if not isinstance(question, str) or not question.strip():
        raise SituationFileError(path, n, "'question' must be a non-empty string")
    if topic not in CATEGORIES:
        raise SituationFileError(path, n, f"unknown topic {topic!r}; one of {', '.join(CATEGORIES)}")
    if not refs:
        raise SituationFileError(path, n, "'acceptable' is empty")
    if not isinstance(forbidden, list) or not all(isinstance(w, str) and w for w in forbidden):
        raise SituationFileError(path, n, "'forbidden_tip_words' must be a list of non-empty strings")
    keys = frozenset(key for law, number in refs if (key := _article_key(path, n, law, number, corpus)))
    if not keys:
        raise SituationFileError(path, n, f"no acceptable article in the laws of this corpus ({len(refs)} "
                                          "in laws it leaves out)")  # fmt: skip
    return Situation(n, question.strip(), topic, keys, tuple(forbidden))


def _article_key(path: Path, n: int, law: object, number: object, corpus: Corpus) -> str | None:
    """The key of an article named by its law's full name and its number, as the corpus has it; None for
    a law of a township's default set that this corpus leaves out (a situation lists the articles that
    answer it in every law of that set, and is judged by those of the configured ones)."""
    if isinstance(law, str) and law in TOWNSHIP_LAWS and law not in corpus.laws:
        return None
    if not isinstance(law, str) or law not in corpus.laws:
        raise SituationFileError(path, n, f"unknown law {law!r}: use a full name of {', '.join(corpus.laws)}")
    if not isinstance(number, int) or isinstance(number, bool):
        raise SituationFileError(path, n, f"article number must be an integer, got {number!r}")
    article = corpus.get(law, number)
    if article is None:
        raise SituationFileError(path, n, f"《{law}》 has no article {number}")
    return article.key


def quoted_keys(text: str, corpus: Corpus) -> list[str]:
    """Article.key of each numbered quote of a reply, in order (unknown laws are left out)."""
    keys = []
    for law, number in _QUOTE.findall(text):
        article = corpus.get(law, from_chinese_numeral(number))
        if article is not None:
            keys.append(article.key)
    return keys


def advice_part(text: str) -> str:
    """The reply without its numbered quotes: header, plain answer, tips and contacts. A quote runs from
    its "N.《…》第…条：" line to the next blank line (its 款 are joined by single line breaks). Words in
    “…” are left out too: they are what to type (回复“调解”) or an example question to copy, not advice."""
    blocks = text.split("\n\n")
    return _TO_TYPE.sub("“”", "\n\n".join(block for block in blocks if not _QUOTE.match(block)))


def judge(situation: Situation, answer: Answer, corpus: Corpus, *, fallback: bool = False) -> Verdict:
    advice = advice_part(answer.text)
    return Verdict(
        quotes_acceptable=bool(situation.acceptable.intersection(quoted_keys(answer.text, corpus))),
        forbidden_found=tuple(word for word in situation.forbidden if word in advice),
        card_led=answer.card_id is not None,  # a situation card's plain answer leads the reply
        plain_led=answer.card_id is not None or answer.tip_led,
        refusal=answer.no_hit or NO_HIT_LINE in answer.text,
        fallback=fallback,
        reply_bytes=utf8_len(answer.text),
    )


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def summarize(situations: Sequence[Situation], verdicts: Sequence[Verdict]) -> dict[str, object]:
    """The figures of a run: shares over all situations, and the acceptable-quote share by topic."""
    n = len(verdicts)
    by_topic: dict[str, list[Verdict]] = {}
    for situation, verdict in zip(situations, verdicts, strict=True):
        by_topic.setdefault(situation.topic, []).append(verdict)
    return {
        "n": n,
        "quotes_acceptable": _share(sum(v.quotes_acceptable for v in verdicts), n),
        "forbidden_tip": _share(sum(bool(v.forbidden_found) for v in verdicts), n),
        "card_led": _share(sum(v.card_led for v in verdicts), n),
        "plain_led": _share(sum(v.plain_led for v in verdicts), n),
        "refusals": sum(v.refusal for v in verdicts),
        "fallbacks": sum(v.fallback for v in verdicts),
        "mean_reply_bytes": round(sum(v.reply_bytes for v in verdicts) / n, 1) if n else 0.0,
        "quotes_acceptable_by_topic": {
            topic: _share(sum(v.quotes_acceptable for v in group), len(group))
            for topic, group in sorted(by_topic.items(), key=lambda item: CATEGORIES.index(item[0]))
        },
    }


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="measure what the bot would reply")
    checks = p.add_subparsers(dest="check", required=True)
    r = checks.add_parser("replies", help="the replies to a JSON Lines file of situations, judged")
    r.add_argument("--questions", type=Path, required=True,
                   help='JSON Lines: {"question", "topic", "acceptable": [{"law", "article"}], "forbidden_tip_words"}')
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(handler=cmd_check_replies)


def cmd_check_replies(args: argparse.Namespace, settings: Settings) -> int:
    from bot.search.pipeline import open_corpus

    situations = load_situations(args.questions, open_corpus(settings))  # refuse a bad file before loading
    consultant = webhook_consultant(settings)
    try:
        verdicts = list(replies_judged(consultant, situations))
    finally:
        consultant.close()
    report = summarize(situations, verdicts)
    if args.json:
        say_json(report)
    else:
        _say_table(args.questions, report)
    return 0


def webhook_consultant(settings: Settings) -> Consultant:
    """A Consultant composing as the webhook's does (bot/app.py): the index loaded for answering, the
    township's names and contacts, the shipped situation cards. Approved card edits and curated answers
    live in the database and are left out, so that a run measures the code and data of the repository."""
    from bot.app import township_from_settings
    from bot.conversation.card_match import CardMatcher
    from bot.conversation.consultation import Consultant
    from bot.search.pipeline import open_retriever

    retriever = open_retriever(settings, answering_only=True)
    cards = CardMatcher(retriever.embed_question, corpus=retriever.corpus)
    return Consultant(retriever, township_from_settings(settings), workers=1, cards=cards)


def replies_judged(consultant: Consultant, situations: Iterable[Situation]) -> Iterator[Verdict]:
    """Each situation's reply as the webhook would compose it, judged."""
    corpus = consultant.retriever.corpus
    for situation in situations:
        outcome = consultant.ask(situation.question, deadline=time.monotonic() + DEFAULT_DEADLINE_S)
        yield judge(situation, outcome.answer, corpus, fallback=outcome.fallback)


def _say_table(path: Path, report: dict[str, object]) -> None:
    say(f"{report['n']} situations from {path}")
    for name in ("quotes_acceptable", "forbidden_tip", "card_led", "plain_led"):
        say(f"{name:<20}{float(report[name]):>8.1%}")  # type: ignore[arg-type]
    say(f"{'refusals':<20}{report['refusals']:>8}")
    say(f"{'fallbacks':<20}{report['fallbacks']:>8}")
    say(f"{'mean_reply_bytes':<20}{report['mean_reply_bytes']:>8}")
    by_topic: dict[str, float] = report["quotes_acceptable_by_topic"]  # type: ignore[assignment]
    for topic, share in by_topic.items():
        say(f"{share:>28.1%}  {topic}")  # topic last: CJK names would break a padded column
