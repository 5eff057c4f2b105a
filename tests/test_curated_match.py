"""Curated answers matched to new questions (bot.conversation.curated_match), with the real model and real databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation.curated_match import MATCH_THRESHOLD, CuratedMatcher
from bot.records.database import make_engine, make_session_factory
from bot.staff.curated import CuratedAnswer, create_curated, set_retired, update_curated
from bot.staff.users import STAFF, ConsoleUser, create_user
from indexing.retrieval import Retriever

LOST_IOU = "借条丢了还能要回钱吗"
LOST_IOU_REWORDED = "借条丢了 还能要回钱吗"
CHILD_SUPPORT = "离婚以后孩子抚养费怎么算"
CUSTODY = "离婚后孩子归谁"  # a neighbouring question with other articles: must not take the answer above
DOG_BITE = "狗咬伤了人谁负责"
LOAN, LIMITATION = "中华人民共和国民法典:675", "中华人民共和国民法典:188"


@pytest.fixture
def staff(db_session: Session) -> ConsoleUser:
    return create_user(db_session, username="wang", password="staff-password", role=STAFF)


@pytest.fixture
def lost_iou(db_session: Session, staff: ConsoleUser) -> CuratedAnswer:
    return create_curated(
        db_session, question=LOST_IOU, answer="借条丢了，转账记录和聊天记录也能证明借款。",
        article_keys=[LOAN, LIMITATION], category="借贷欠款", author=staff,
    )  # fmt: skip


@pytest.fixture
def matcher(db_session_factory: sessionmaker[Session], mini_retriever: Retriever) -> CuratedMatcher:
    return CuratedMatcher(db_session_factory, mini_retriever.embed_question)


@pytest.fixture
def other_worker(db_url: str, mini_retriever: Retriever) -> Iterator[CuratedMatcher]:
    """A matcher with an engine of its own on the same database, as another worker process has."""
    engine = make_engine(db_url)
    yield CuratedMatcher(make_session_factory(engine), mini_retriever.embed_question)
    engine.dispose()


def test_a_reworded_question_gets_the_curated_answer(
    matcher: CuratedMatcher, lost_iou: CuratedAnswer, mini_retriever: Retriever
) -> None:
    asked = mini_retriever.embed_question(LOST_IOU_REWORDED)
    assert matcher.match(asked) is None  # nothing loaded yet: matching never reads the database itself
    assert matcher.refresh() is True
    found = matcher.match(asked)
    assert found is not None
    assert (found.id, found.answer, found.article_keys, found.category) == (
        lost_iou.id, lost_iou.answer, (LOAN, LIMITATION), "借贷欠款",
    )  # fmt: skip
    assert MATCH_THRESHOLD <= found.similarity < 1.0


def test_unrelated_and_merely_neighbouring_questions_do_not_match(
    matcher: CuratedMatcher, db_session: Session, staff: ConsoleUser, lost_iou: CuratedAnswer,
    mini_retriever: Retriever,
) -> None:  # fmt: skip
    create_curated(
        db_session, question=CHILD_SUPPORT, answer="按子女的实际需要和父母的负担能力确定。",
        article_keys=["中华人民共和国民法典:1085"], category="婚姻家庭", author=staff,
    )  # fmt: skip
    matcher.refresh()
    assert matcher.match(mini_retriever.embed_question(DOG_BITE)) is None
    assert matcher.match(mini_retriever.embed_question(CUSTODY)) is None
    found = matcher.match(mini_retriever.embed_question("离婚了孩子的抚养费该怎么算"))
    assert found is not None and found.category == "婚姻家庭"


def test_edits_take_effect_at_the_next_refresh_and_retired_answers_stop_matching(
    matcher: CuratedMatcher, db_session: Session, staff: ConsoleUser, lost_iou: CuratedAnswer,
    mini_retriever: Retriever,
) -> None:  # fmt: skip
    asked = mini_retriever.embed_question(LOST_IOU_REWORDED)
    matcher.refresh()
    update_curated(db_session, lost_iou, question=LOST_IOU, answer="先找转账记录。", article_keys=[LOAN],
                   category="借贷欠款", editor=staff)  # fmt: skip
    before = matcher.match(asked)
    assert before is not None and before.answer != "先找转账记录。"
    assert matcher.refresh() is True and matcher.refresh() is False  # unchanged since: one cheap query
    after = matcher.match(asked)
    assert after is not None and (after.answer, after.article_keys) == ("先找转账记录。", (LOAN,))

    set_retired(db_session, lost_iou, retired=True, editor=staff)
    matcher.refresh()
    assert matcher.match(asked) is None
    set_retired(db_session, lost_iou, retired=False, editor=staff)
    matcher.refresh()
    assert matcher.match(asked) is not None


def test_an_edited_question_is_embedded_again(
    matcher: CuratedMatcher, db_session: Session, staff: ConsoleUser, lost_iou: CuratedAnswer,
    mini_retriever: Retriever,
) -> None:  # fmt: skip
    matcher.refresh()
    assert matcher.match(mini_retriever.embed_question(DOG_BITE)) is None
    update_curated(
        db_session, lost_iou, question=DOG_BITE, answer="饲养人承担侵权责任。",
        article_keys=["中华人民共和国民法典:1245"], category="人身损害赔偿", editor=staff,
    )  # fmt: skip
    matcher.refresh()
    found = matcher.match(mini_retriever.embed_question("狗把人咬伤了由谁负责"))
    assert found is not None and found.answer == "饲养人承担侵权责任。"
    assert matcher.match(mini_retriever.embed_question(LOST_IOU_REWORDED)) is None


def test_another_worker_sees_new_and_retired_answers(
    matcher: CuratedMatcher, other_worker: CuratedMatcher, db_session: Session, staff: ConsoleUser,
    mini_retriever: Retriever,
) -> None:  # fmt: skip
    asked = mini_retriever.embed_question(LOST_IOU_REWORDED)
    for worker in (matcher, other_worker):
        worker.refresh()
        assert worker.match(asked) is None
    item = create_curated(db_session, question=LOST_IOU, answer="保留转账记录。", article_keys=[LOAN],
                          category="借贷欠款", author=staff)  # fmt: skip
    assert [w.refresh() and w.match(asked) is not None for w in (matcher, other_worker)] == [True, True]
    set_retired(db_session, item, retired=True, editor=staff)
    assert other_worker.refresh() is True and other_worker.match(asked) is None


def test_a_database_failure_keeps_the_answers_already_loaded(
    matcher: CuratedMatcher, lost_iou: CuratedAnswer, db_engine: Engine, mini_retriever: Retriever
) -> None:
    asked = mini_retriever.embed_question(LOST_IOU_REWORDED)
    matcher.refresh()
    with db_engine.begin() as conn:  # the table is gone, as in a botched restore
        conn.execute(text("ALTER TABLE curated_answers RENAME TO curated_answers_away"))
    try:
        with pytest.raises(SQLAlchemyError):
            matcher.refresh()
        found = matcher.match(asked)
        assert found is not None and found.id == lost_iou.id
    finally:
        with db_engine.begin() as conn:
            conn.execute(text("ALTER TABLE curated_answers_away RENAME TO curated_answers"))
