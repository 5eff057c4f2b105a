"""Retention: expired openids, old question text (when configured) and stale worker state are erased."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from bot.ops.retention import ERASED_QUESTION, Purged, purge
from bot.records.models import Consultation
from bot.records.store import record_consultation
from bot.shared_state.database import DatabaseState, TurnClaim
from bot.staff.auth import LoginAttempts, LoginFailed, authenticate
from bot.staff.counts import consultation_stats
from tests.fixtures.web import TEST_SECRET_KEY, MakeConsultation

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def _seed(sessions: sessionmaker[Session], make_consultation: MakeConsultation, now: datetime = NOW) -> None:
    """A consultation of 10 days ago and one of an hour ago; a worker claim of 2 hours ago and a fresh one."""
    with sessions() as session:
        for msg_id, age in (("old", timedelta(days=10)), ("new", timedelta(hours=1))):
            record_consultation(session, make_consultation(msg_id=msg_id), secret_key=TEST_SECRET_KEY,
                                township="青山镇", now=now - age)  # fmt: skip
    DatabaseState(sessions, clock=lambda: (now - timedelta(hours=2)).timestamp()).claim("stale", lease_s=5)
    DatabaseState(sessions, clock=lambda: now.timestamp()).claim("fresh", lease_s=5)


def _rows(sessions: sessionmaker[Session]) -> dict[str, Consultation]:
    with sessions() as session:
        return {str(c.msg_id): c for c in session.scalars(select(Consultation))}


def test_purge_erases_what_has_outlived_its_purpose(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    _seed(db_session_factory, make_consultation)
    with db_session_factory() as session:
        assert purge(session, question_retention_days=7, now=NOW) == Purged(
            openids=1, questions=1, shared_state=1
        )
        assert purge(session, question_retention_days=7, now=NOW) == Purged(0, 0, 0)  # idempotent
        assert [c.key for c in session.scalars(select(TurnClaim))] == ["fresh"]
        assert consultation_stats(session)["consultations"] == 2  # the counts for reports stay
    rows = _rows(db_session_factory)
    assert (rows["old"].question, rows["old"].openid_enc, rows["old"].category) == (
        ERASED_QUESTION,
        None,
        "借贷欠款",
    )
    assert rows["new"].question.startswith("邻居借了我5000元") and rows["new"].openid_enc is not None


def test_question_text_is_kept_unless_a_retention_period_is_set(
    db_session_factory: sessionmaker[Session], make_consultation: MakeConsultation
) -> None:
    _seed(db_session_factory, make_consultation)
    with db_session_factory() as session:
        assert purge(session, question_retention_days=0, now=NOW).questions == 0
    assert _rows(db_session_factory)["old"].question != ERASED_QUESTION


def test_pufa_purge_applies_the_configured_retention(
    db_url: str,
    db_session_factory: sessionmaker[Session],
    make_consultation: MakeConsultation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(db_session_factory, make_consultation, now=datetime.now(UTC))
    monkeypatch.setenv("PUFA_DATABASE_URL", db_url)
    monkeypatch.setenv("PUFA_QUESTION_RETENTION_DAYS", "3")
    assert main(["purge"]) == 0
    assert json.loads(capsys.readouterr().out) == {"openids": 1, "questions": 1, "shared_state": 1,
                                                   "login_failures": 0}  # fmt: skip
    rows = _rows(db_session_factory)
    assert rows["old"].question == ERASED_QUESTION and rows["new"].question != ERASED_QUESTION


def test_purge_erases_failed_login_rows_a_day_old(db_session_factory: sessionmaker[Session]) -> None:
    """A name typed at the log-in page may be someone's password: it is not kept for long."""
    with db_session_factory() as session:
        for name, age in (("my-secret-passw0rd", timedelta(days=2)), ("wang", timedelta(hours=1))):
            with pytest.raises(LoginFailed):
                authenticate(session, name, "wrong", address="10.0.0.5", now=NOW - age)
        purged = purge(session, question_retention_days=0, now=NOW)
        assert purged.login_failures == 1  # the name row of two days ago; the address failed an hour ago
        assert list(session.scalars(select(LoginAttempts.username))) == ["wang"]
