"""Revisions 0002 and 0003 (the console's tables) over the activity record: exact schema, clean downgrade."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from bot.migrations import downgrade, upgrade
from bot.records.database import make_engine

CONSOLE_TABLES = {
    "console_users": [
        "id",
        "username",
        "password_hash",
        "role",
        "active",
        "created_at",
        "password_changed_at",
    ],
    "console_login_attempts": ["username", "failures", "last_failure_at", "locked_until"],
    "console_sessions": ["token_hash", "user_id", "csrf_token", "created_at", "expires_at"],
    "consultation_reviews": [
        "id",
        "consultation_id",
        "reviewer_id",
        "created_at",
        "verdict",
        "corrected_answer",
        "note",
        "category_before",
        "category_after",
    ],
    "curated_answers": [
        "id",
        "question",
        "answer",
        "article_keys",
        "category",
        "source_consultation_id",
        "created_by_id",
        "created_at",
        "updated_by_id",
        "updated_at",
        "retired_at",
    ],
}
VOLUNTEER_REPLIES = {
    "volunteer_replies": ["id", "consultation_id", "sender_id", "created_at", "text", "status", "error"]
}


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        return {t: [c["name"] for c in insp.get_columns(t)] for t in insp.get_table_names()}
    finally:
        engine.dispose()


def test_0002_and_0003_add_exactly_the_console_tables_and_remove_them_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pufa.db'}"
    upgrade(url, "0001")
    before = _columns(url)
    upgrade(url, "0002")
    after = _columns(url)
    assert {t: c for t, c in after.items() if t not in before} == CONSOLE_TABLES
    assert {t: c for t, c in after.items() if t in before} == before  # the activity record is untouched
    upgrade(url, "0003")
    assert {t: c for t, c in _columns(url).items() if t not in after} == VOLUNTEER_REPLIES
    downgrade(url, "0001")
    assert _columns(url) == before


def test_deleting_a_consultation_takes_its_reviews_and_keeps_curated_answers(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO consultations (id, created_at, channel, township, question, category, reply,"
                " latency_ms,"
                " cited, more) VALUES (1, '2026-01-01', 'cli', 't', 'q', '其他', 'r', 1, '[]', '[]')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO console_users VALUES"
                " (1, 'li', 'h', 'volunteer', TRUE, '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO consultation_reviews VALUES (1, 1, 1, '2026-01-02', 'wrong', NULL, NULL, "
                "'其他', '其他')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO curated_answers (id, question, answer, article_keys, category,"
                " source_consultation_id, created_by_id, created_at, updated_by_id, updated_at, retired_at)"
                " VALUES (1, 'q', 'a', '[]', '其他', 1, 1, '2026-01-02', 1, '2026-01-02', NULL)"
            )
        )
        conn.execute(text("DELETE FROM consultations WHERE id = 1"))
        assert conn.execute(text("SELECT count(*) FROM consultation_reviews")).scalar() == 0
        assert conn.execute(text("SELECT source_consultation_id FROM curated_answers")).scalar() is None
    engine.dispose()
