"""The review queue's filters and the verdict history (bot.staff.reviews), on seeded records."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.records.models import Consultation
from bot.staff.reviews import (
    LOW_CONFIDENCE,
    QueueFilter,
    ReviewError,
    record_review,
    review_history,
    review_queue,
)
from bot.staff.statistics import day_start
from bot.staff.users import STAFF, VOLUNTEER, ConsoleUser, create_user
from knowledge.corpus import Corpus
from tests.fixtures.console import SEEDS, local_time, seed_consultations

T = local_time("2026-07-01 09:00")


@pytest.fixture
def ids(db_session: Session, mini_corpus: Corpus) -> list[int]:
    return seed_consultations(db_session, mini_corpus)


@pytest.fixture
def reviewer(db_session: Session) -> ConsoleUser:
    return create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)


def _queue(db: Session, flt: QueueFilter) -> list[int]:
    rows, total = review_queue(db, flt, limit=100)
    assert total == len(rows)
    return [row.id for row in rows]


def _expected(ids: list[int], keep: object) -> list[int]:
    """Ids of the seeds `keep` accepts, newest first (the seeds are listed oldest first)."""
    return [i for i, seed in reversed(list(zip(ids, SEEDS, strict=True))) if keep(seed)]  # type: ignore[operator]


def test_the_queue_is_newest_first_and_pages(db_session: Session, ids: list[int]) -> None:
    assert _queue(db_session, QueueFilter()) == _expected(ids, lambda s: True)
    page2, total = review_queue(db_session, QueueFilter(), limit=5, offset=5)
    assert total == len(SEEDS)
    assert [row.id for row in page2] == _expected(ids, lambda s: True)[5:10]
    assert all(row.hits == sorted(row.hits, key=lambda h: h.rank) for row in page2)


@pytest.mark.parametrize(("flt", "keep"), [
    (QueueFilter(low_confidence=True), lambda s: s.confidence < LOW_CONFIDENCE or not s.articles),
    (QueueFilter(asked_for_person=True), lambda s: s.person),
    (QueueFilter(category="婚姻家庭"), lambda s: s.category == "婚姻家庭"),
    (
        QueueFilter(category="借贷欠款", low_confidence=True),
        lambda s: s.category == "借贷欠款" and s.confidence < LOW_CONFIDENCE,
    ),
    # 1 March in China starts at 16:00 UTC on 28 February: the 07:30 question belongs to March.
    (QueueFilter(start=day_start(date(2026, 3, 1)), end=day_start(date(2026, 4, 1))),
     lambda s: s.local.startswith("2026-03")),
])  # fmt: skip
def test_filters_select_exactly_the_matching_records(
    db_session: Session, ids: list[int], flt: QueueFilter, keep: object
) -> None:
    expected = _expected(ids, keep)
    assert expected, "the seeds must exercise this filter"
    assert _queue(db_session, flt) == expected


def test_a_verdict_is_kept_as_history_and_mirrored_on_the_record(
    db_session: Session, ids: list[int], reviewer: ConsoleUser
) -> None:
    row = db_session.get(Consultation, ids[2])
    assert row is not None
    record_review(
        db_session,
        row,
        reviewer=reviewer,
        verdict="partly",
        corrected_answer="  应先催告。 ",
        note="漏了诉讼时效",
        now=T,
    )
    staff = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    record_review(
        db_session, row, reviewer=staff, verdict="correct", category="合同买卖", now=T + timedelta(hours=1)
    )
    history = review_history(db_session, row.id)
    assert [(r.reviewer.username, r.verdict, r.created_at) for r in history] == [
        ("li", "partly", T),
        ("wang", "correct", T + timedelta(hours=1)),
    ]
    assert history[0].corrected_answer == "应先催告。" and history[0].note == "漏了诉讼时效"
    assert (history[1].category_before, history[1].category_after) == ("借贷欠款", "合同买卖")
    db_session.expire_all()
    row = db_session.get(Consultation, ids[2])
    assert row is not None
    assert (row.review_status, row.verdict, row.reviewer, row.category) == (
        "reviewed",
        "correct",
        "wang",
        "合同买卖",
    )
    assert row.reviewed_at == T + timedelta(hours=1) and row.corrected_answer is None
    assert ids[2] not in _queue(db_session, QueueFilter(unreviewed=True))
    assert len(_queue(db_session, QueueFilter(unreviewed=True))) == len(SEEDS) - 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"verdict": "maybe"}, "verdict 'maybe' is unknown"),
    ({"category": "税务"}, "not one of the statistics categories"),
    ({"note": "长" * 5000}, "note has 5000 characters"),
])  # fmt: skip
def test_bad_verdicts_are_refused_and_nothing_is_stored(
    db_session: Session, ids: list[int], reviewer: ConsoleUser, changes: dict[str, str], message: str
) -> None:
    row = db_session.get(Consultation, ids[0])
    assert row is not None
    with pytest.raises(ReviewError, match=message):
        record_review(db_session, row, reviewer=reviewer, **{"verdict": "wrong", **changes})  # type: ignore[arg-type]
    db_session.rollback()
    assert review_history(db_session, ids[0]) == []
    assert row.review_status == "unreviewed" and row.verdict is None


def test_control_characters_are_dropped_from_notes_and_corrections(
    db_session: Session, ids: list[int], reviewer: ConsoleUser
) -> None:
    row = db_session.get_one(Consultation, ids[2])
    review = record_review(db_session, row, reviewer=reviewer, verdict="wrong",
                           corrected_answer="应\x01先\x0b催告。\n再调解", note="\x0b漏了\x00时效\ufffe\t")  # fmt: skip
    assert (review.corrected_answer, review.note) == ("应先催告。\n再调解", "漏了时效")
    assert (row.corrected_answer, row.review_note) == ("应先催告。\n再调解", "漏了时效")
