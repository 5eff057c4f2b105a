from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.records.models import Consultation
from bot.records.privacy import pseudonymize
from bot.records.store import record_event
from bot.staff.counts import consultation_stats
from tests.fixtures.web import TEST_SECRET_KEY as KEY

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)


def _consultation(
    at: datetime,
    *,
    user: str | None,
    category: str,
    township: str = "甲乡",
    channel: str = "wechat",
    **flags: bool,
) -> Consultation:
    return Consultation(
        created_at=at,
        channel=channel,
        township=township,
        msg_id=None,
        question="问题",
        user_ref=pseudonymize(user, secret_key=KEY) if user else None,
        category=category,
        reply="答复",
        confidence=0.5,
        latency_ms=10.0,
        **flags,
    )


def _seed(session: Session) -> None:
    day = timedelta(days=1)
    session.add_all([
        _consultation(MARCH, user="u1", category="借贷欠款"),
        _consultation(MARCH + day, user="u1", category="借贷欠款", no_hit=True),
        _consultation(MARCH + 2 * day, user="u2", category="婚姻家庭", asked_for_person=True, emergency=True),
        _consultation(MARCH + 3 * day, user="u3", category="借贷欠款", fallback=True),
        _consultation(MARCH + 4 * day, user=None, category="其他", channel="cli"),
        _consultation(APRIL - timedelta(seconds=1), user="u2", category="继承", asked_for_person=True),
        _consultation(APRIL, user="u4", category="继承"),  # first moment of April: outside March
        _consultation(MARCH + day, user="u5", category="继承", township="乙乡"),
    ])  # fmt: skip
    reviewed = _consultation(MARCH + 5 * day, user="u3", category="婚姻家庭")
    reviewed.review_status = "reviewed"
    session.add(reviewed)
    session.commit()
    for openid, t, kind, key in (
        ("u1", 1, "subscribe", None),
        ("u2", 2, "subscribe", None),
        ("u2", 3, "click", "TOPIC_DEBT"),
        ("u3", 4, "click", "TOPIC_DEBT"),
        ("u3", 5, "click", "TOPIC_LAND"),
        ("u1", 6, "unsubscribe", None),
    ):
        record_event(
            session,
            kind=kind,
            openid=openid,
            create_time=t,
            key=key,
            secret_key=KEY,
            township="甲乡",
            now=MARCH + timedelta(hours=t),
        )
    record_event(
        session,
        kind="subscribe",
        openid="u9",
        create_time=7,
        key=None,
        secret_key=KEY,
        township="甲乡",
        now=APRIL,
    )


def test_stats_for_a_month_and_township(db_session: Session) -> None:
    _seed(db_session)
    stats = consultation_stats(db_session, start=MARCH, end=APRIL, township="甲乡")
    assert stats == {
        "consultations": 7,
        "users": 3,  # u1, u2, u3; the CLI row has no user
        "by_category": {"借贷欠款": 3, "婚姻家庭": 2, "其他": 1, "继承": 1},
        "by_channel": {"wechat": 6, "cli": 1},
        "no_hit": 1,
        "emergency": 1,
        "asked_for_person": 2,
        "fallback": 1,
        "reviewed": 1,
        "satisfaction": {"asked": 0, "answered": 0, "satisfied": 0},
        "events": {"click": 3, "subscribe": 2, "unsubscribe": 1},
        "event_keys": {"TOPIC_DEBT": 2, "TOPIC_LAND": 1},
    }
    json.dumps(stats, ensure_ascii=False)  # `pufa stats --json` prints it as is


def test_stats_without_filters_count_everything(db_session: Session) -> None:
    _seed(db_session)
    stats = consultation_stats(db_session)
    assert (stats["consultations"], stats["users"]) == (9, 5)
    assert stats["by_category"]["继承"] == 3
    assert stats["events"]["subscribe"] == 3


def test_stats_of_an_empty_database(db_session: Session) -> None:
    stats = consultation_stats(db_session, start=MARCH, end=APRIL)
    assert stats["consultations"] == 0 and stats["users"] == 0
    assert stats["by_category"] == {} and stats["events"] == {}
