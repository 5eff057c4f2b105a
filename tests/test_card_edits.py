"""Situation card edits: volunteers propose, staff approve, only then do villagers get the edited card."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.answers.cards import Card, cards
from bot.conversation.card_match import CardMatcher
from bot.records.database import make_engine, make_session_factory
from bot.staff.approval import ApprovalError
from bot.staff.card_edits import CardEdit, CardEditError, decide_card_edit, effective_cards, propose_card_edit
from bot.staff.users import STAFF, VOLUNTEER, ConsoleUser, create_user
from indexing.retrieval import Hit
from knowledge.corpus import Corpus
from tests.fixtures.console import VOLUNTEER_NAME
from tests.test_console_http import _staff, _token, client, log_in  # noqa: F401 - client is a fixture

FREE = next(c for c in cards() if c.id == "tiaojie-shoufei")  # 人民调解法 only: in the mini corpus too
NEW_ANSWER = "不收钱，一分钱都不用出（《人民调解法》第四条）。"


def _edit(session: Session, author: ConsoleUser, corpus: Corpus, **changes: object) -> CardEdit:
    fields: dict[str, object] = {
        "situation": FREE.situation, "answer": NEW_ANSWER, "examples": [*FREE.examples, "调解收费不"],
        "tips": [(t.text, t.law, t.number) for t in FREE.tips],
    } | changes  # fmt: skip
    return propose_card_edit(session, FREE, author=author, corpus=corpus, **fields)  # type: ignore[arg-type]


@pytest.fixture
def people(db_session: Session) -> tuple[ConsoleUser, ConsoleUser]:
    volunteer = create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)
    staff = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    return volunteer, staff


def test_a_volunteers_edit_waits_for_staff(
    db_session: Session, people: tuple[ConsoleUser, ConsoleUser], full_corpus: Corpus
) -> None:
    volunteer, staff = people
    edit = _edit(db_session, volunteer, full_corpus)
    assert edit.status == "proposed" and _in_use(db_session).answer == FREE.answer
    with pytest.raises(ApprovalError):
        decide_card_edit(db_session, edit, "approve", staff=volunteer)
    decide_card_edit(db_session, edit, "approve", staff=staff)
    assert _in_use(db_session).answer == NEW_ANSWER and _in_use(db_session).articles == FREE.articles
    rejected = _edit(db_session, volunteer, full_corpus, answer="不收费（《人民调解法》第四条）。")
    decide_card_edit(db_session, rejected, "reject", staff=staff)
    assert _in_use(db_session).answer == NEW_ANSWER


def test_a_staff_edit_is_live_at_once(
    db_session: Session, people: tuple[ConsoleUser, ConsoleUser], full_corpus: Corpus
) -> None:
    edit = _edit(db_session, people[1], full_corpus)
    assert edit.status == "active" and _in_use(db_session).answer == NEW_ANSWER


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"answer": "不收钱，放心去。"}, "must end with its citation"),
        ({"answer": "不收钱（《人民调解法》第九十九条）。"}, "rests on articles the card does not quote"),
        ({"tips": [("去法院", "民法典", 9999)]}, r"not in the corpus: 《民法典》第9999条"),
        ({"examples": []}, "1-12 examples"),
        ({"situation": ""}, "situation must be a non-empty string"),
    ],
)
def test_an_edit_that_would_fail_the_build_is_refused(
    db_session: Session,
    people: tuple[ConsoleUser, ConsoleUser],
    full_corpus: Corpus,
    changes: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(CardEditError, match=message):
        _edit(db_session, people[0], full_corpus, **changes)
    assert db_session.scalars(select(CardEdit)).all() == []


def test_the_matcher_picks_up_an_approved_edit(
    db_session: Session,
    db_session_factory: sessionmaker[Session],
    people: tuple[ConsoleUser, ConsoleUser],
    full_corpus: Corpus,
) -> None:
    matcher = CardMatcher(_bag, corpus=full_corpus, shipped=[FREE], sessions=db_session_factory)
    hits = [_hit(full_corpus)]
    new_phrase = "找人说和收不收票子"
    assert matcher.match(_bag(new_phrase), hits) is None
    edit = _edit(db_session, people[0], full_corpus, examples=[*FREE.examples, new_phrase])
    assert matcher.refresh() and matcher.match(_bag(new_phrase), hits) is None  # only proposed
    decide_card_edit(db_session, edit, "approve", staff=people[1])
    assert matcher.refresh() and not matcher.refresh()  # a second call finds nothing new
    found = matcher.match(_bag(new_phrase), hits)
    assert found is not None and found.card.answer == NEW_ANSWER


def test_a_volunteer_proposes_in_the_console_and_staff_approve_it(
    client: httpx.Client,  # noqa: F811 - the fixture imported above
    console_db_url: str,
    mini_corpus: Corpus,
) -> None:
    matcher = CardMatcher(_bag, corpus=mini_corpus, shipped=[FREE],
                          sessions=make_session_factory(make_engine(console_db_url)))  # fmt: skip
    question, hits = "找人说和收不收票子呀", [_hit(mini_corpus)]
    assert log_in(client, VOLUNTEER_NAME).status_code == 303
    listing = client.get("/console/cards").text  # the cards in use: none on laws the console's corpus lacks
    assert f'/console/cards/{FREE.id}"' in listing
    assert not any(f'/console/cards/{card.id}"' in listing for card in cards() if card.replaces)
    page = client.get(f"/console/cards/{FREE.id}")
    assert page.status_code == 200 and FREE.answer in page.text and "提交修改，等待审核" in page.text
    token = _token(page.text)
    form = {"csrf_token": token, "situation": FREE.situation, "answer": NEW_ANSWER,
            "examples": "\n".join([*FREE.examples, question]), "tips": "", "note": "说得更直白"}  # fmt: skip
    bad = client.post(f"/console/cards/{FREE.id}", data=form | {"answer": "不收钱。"})
    assert bad.status_code == 400 and "每句话都要以所依据的条文结尾" in bad.text
    assert client.post(f"/console/cards/{FREE.id}", data=form).status_code == 303
    matcher.refresh()
    assert matcher.match(_bag(question), hits) is None  # a volunteer's edit never reaches villagers alone
    assert "待审核的修改（1）" in client.get("/console/cards").text
    assert "/decision" not in client.get(f"/console/cards/{FREE.id}").text  # volunteers cannot decide
    client.cookies.clear()
    staff_token = _staff(client)
    staff_page = client.get(f"/console/cards/{FREE.id}").text
    edit_id = int(staff_page.split("/console/cards/edits/")[1].split("/")[0])
    decision = f"/console/cards/edits/{edit_id}/decision"
    assert client.post(decision, data={"csrf_token": staff_token, "decision": "approve"}).status_code == 303
    time.sleep(0.01)  # updated_at moves on even on a coarse clock
    matcher.refresh()
    found = matcher.match(_bag(question), hits)
    assert found is not None and found.card.answer == NEW_ANSWER


def _in_use(session: Session) -> Card:
    return next(c for c in effective_cards(session, cards()) if c.id == FREE.id)


def _hit(corpus: Corpus) -> Hit:
    article = corpus.get("人民调解法", 4)
    assert article is not None
    return Hit(article, score=0.9, retrievers=("bm25",), chunk_id=f"{article.key}#0")


def _bag(text: str) -> np.ndarray:
    """A stand-in encoder: a unit vector of character counts."""
    vector = np.zeros(4096, dtype=np.float32)
    for ch in text:
        vector[ord(ch) % 4096] += 1.0
    return vector / max(float(np.linalg.norm(vector)), 1e-9)
