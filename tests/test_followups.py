from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.records.followups import (
    followup_openid,
    last_consultation_for_user,
    purge_expired_openids,
    recent_message_count,
    take_more,
)
from bot.records.models import Consultation
from bot.records.privacy import pseudonymize
from bot.records.store import ConsultationIn, record_consultation
from tests.fixtures.web import TEST_OPENID as OPENID
from tests.fixtures.web import TEST_SECRET_KEY as KEY
from tests.fixtures.web import MakeConsultation

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _record(session: Session, item: ConsultationIn, *, at: datetime = T0) -> int:
    return record_consultation(session, item, secret_key=KEY, township="某某乡", now=at)


def test_more_hands_out_the_held_back_articles_of_the_last_question(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    item = make_consultation()
    _record(db_session, make_consultation(msg_id="1", answer=replace(item.answer, more=("旧问题的条文",))))
    _record(db_session, make_consultation(msg_id="2"), at=T0 + timedelta(minutes=1))
    later, held = T0 + timedelta(minutes=5), item.answer.more
    assert len(held) == 4
    assert take_more(db_session, openid=OPENID, secret_key=KEY, n=3, now=later) == held[:3]
    db_session.rollback()  # what was taken must be committed, not just changed in memory
    assert take_more(db_session, openid=OPENID, secret_key=KEY, n=3, now=later) == held[3:]
    assert take_more(db_session, openid=OPENID, secret_key=KEY, n=3, now=later) == ()
    assert take_more(db_session, openid="another-openid", secret_key=KEY, now=later) == ()


def test_more_expires_with_the_followup_window(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    _record(db_session, make_consultation())
    assert take_more(db_session, openid=OPENID, secret_key=KEY, now=T0 + 49 * HOUR) == ()
    last = last_consultation_for_user(db_session, openid=OPENID, secret_key=KEY, now=T0 + HOUR)
    assert last is not None and last.more == list(make_consultation().answer.more)


def test_the_openid_is_readable_during_the_followup_window_then_purged(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    old = _record(db_session, make_consultation())
    new = _record(db_session, make_consultation(msg_id="24400002"), at=T0 + 30 * HOUR)
    assert followup_openid(db_session, old, secret_key=KEY, now=T0 + 47 * HOUR) == OPENID
    assert followup_openid(db_session, old, secret_key=KEY, now=T0 + 48 * HOUR) is None

    assert purge_expired_openids(db_session, T0 + 48 * HOUR) == 1
    assert purge_expired_openids(db_session, T0 + 48 * HOUR) == 0
    db_session.rollback()
    db_session.expunge_all()
    purged, kept = db_session.get_one(Consultation, old), db_session.get_one(Consultation, new)
    assert (purged.openid_enc, purged.openid_expires_at) == (None, None)
    assert purged.user_ref == kept.user_ref  # statistics still count the user
    assert followup_openid(db_session, old, secret_key=KEY, now=T0) is None
    assert followup_openid(db_session, new, secret_key=KEY, now=T0 + 48 * HOUR) == OPENID


def test_recent_message_count_counts_one_users_recent_consultations(
    db_session: Session, make_consultation: MakeConsultation
) -> None:
    for minute, msg_id in ((0, "1"), (1, "2"), (5, "3")):
        _record(db_session, make_consultation(msg_id=msg_id), at=T0 + timedelta(minutes=minute))
    _record(db_session, make_consultation(msg_id="4", openid="another-openid"), at=T0 + timedelta(minutes=5))
    ref = pseudonymize(OPENID, secret_key=KEY)
    assert recent_message_count(db_session, user_ref=ref, since=T0 + timedelta(minutes=1)) == 2
    assert recent_message_count(db_session, user_ref=ref, since=T0 + timedelta(minutes=6)) == 0
