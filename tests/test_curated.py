"""Curated answers (bot.staff.curated): created from a review, edited and retired by staff, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bot.staff.approval import ACTIVE, PROPOSED, REJECTED, ApprovalError
from bot.staff.curated import (
    CuratedError,
    create_curated,
    curated_for_consultation,
    decide_curated,
    list_curated,
    set_retired,
    update_curated,
)
from bot.staff.users import STAFF, VOLUNTEER, create_user
from knowledge.corpus import Corpus
from tests.fixtures.console import local_time, seed_consultations

T = local_time("2026-07-01 09:00")
LOAN, STATUTE = "中华人民共和国民法典:675", "中华人民共和国民法典:188"


def test_curated_answers_are_created_edited_retired_and_restored(
    db_session: Session, mini_corpus: Corpus
) -> None:
    ids = seed_consultations(db_session, mini_corpus)
    volunteer = create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)
    staff = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    item = create_curated(
        db_session,
        question=" 借钱不还怎么办 ",
        answer="先催告，再调解。",
        category="借贷欠款",
        article_keys=[LOAN, STATUTE, LOAN],
        author=volunteer,
        source_consultation_id=ids[2],
        now=T,
    )
    assert (item.question, item.article_keys, item.created_by.username) == (
        "借钱不还怎么办",
        [LOAN, STATUTE],
        "li",
    )
    assert curated_for_consultation(db_session, ids[2]) == [item]
    assert (item.status, item.active, list_curated(db_session)) == (PROPOSED, False, [])  # a volunteer's
    assert list_curated(db_session, status=PROPOSED) == [item]
    update_curated(
        db_session,
        item,
        question="借钱不还",
        answer="可申请人民调解。",
        article_keys=[STATUTE],
        category="合同买卖",
        editor=staff,
        now=T + timedelta(hours=1),
    )
    assert (item.answer, item.article_keys, item.category) == ("可申请人民调解。", [STATUTE], "合同买卖")
    assert (item.created_by.username, item.updated_by.username, item.updated_at) == (
        "li",
        "wang",
        T + timedelta(hours=1),
    )
    assert list_curated(db_session) == []  # an edit is no approval
    decide_curated(db_session, item, "approve", staff=staff, now=T + timedelta(hours=1, minutes=30))
    assert (item.status, item.decided_by, item.decided_at) == (ACTIVE, staff, T + timedelta(hours=1, minutes=30))
    assert list_curated(db_session) == [item] and item.active
    set_retired(db_session, item, retired=True, editor=staff, now=T + timedelta(hours=2))
    assert list_curated(db_session) == [] and list_curated(db_session, include_retired=True) == [item]
    set_retired(db_session, item, retired=False, editor=staff)
    assert list_curated(db_session) == [item] and item.active


def test_only_staff_publish_and_a_rejected_proposal_is_never_listed_as_usable(db_session: Session) -> None:
    volunteer = create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)
    staff = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    values = {"question": "借钱不还怎么办", "answer": "先协商。", "category": "借贷欠款", "article_keys": [LOAN]}
    published = create_curated(db_session, author=staff, **values)  # type: ignore[arg-type]
    proposal = create_curated(db_session, author=volunteer, **values)  # type: ignore[arg-type]
    assert (published.status, published.decided_by) == (ACTIVE, staff)
    assert (proposal.status, proposal.decided_by) == (PROPOSED, None)
    with pytest.raises(ApprovalError, match="only staff"):
        decide_curated(db_session, proposal, "approve", staff=volunteer)
    with pytest.raises(ApprovalError, match="unknown"):
        decide_curated(db_session, proposal, "publish", staff=staff)
    decide_curated(db_session, proposal, "reject", staff=staff)
    assert proposal.status == REJECTED and not proposal.active
    assert list_curated(db_session, include_retired=True) == [published]
    assert list_curated(db_session, status=REJECTED) == [proposal]


@pytest.mark.parametrize(("changes", "message"), [
    ({"answer": "  "}, "needs both"),
    ({"answer": "长" * 2001}, "2001 characters"),
    ({"category": "税务"}, "not one of the statistics categories"),
])  # fmt: skip
def test_incomplete_curated_answers_are_refused(
    db_session: Session, changes: dict[str, str], message: str
) -> None:
    author = create_user(db_session, username="wang", password="staff-password", role=STAFF)
    values = {"question": "问题", "answer": "答复", "category": "其他", **changes}
    with pytest.raises(CuratedError, match=message):
        create_curated(db_session, article_keys=[], author=author, **values)
    assert list_curated(db_session, include_retired=True) == []
