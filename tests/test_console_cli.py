"""`pufa user add`, `pufa export` and `pufa report` (bot.commands.console), run through bot.cli.main."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from bot.cli import main
from bot.records.database import make_engine, make_session_factory
from bot.settings import Settings
from bot.staff import statistics as st
from bot.staff.auth import authenticate
from bot.staff.exports import annual_paragraph
from bot.staff.users import find_user
from knowledge.corpus import Corpus
from tests.fixtures.console import seed_consultations

YEAR = st.Period.year(2026)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Settings:
    """The CLI reads its settings from the environment, as in production."""
    for name, value in {
        "PUFA_DATA_DIR": str(tmp_path),
        "PUFA_DATABASE_URL": db_url,
        "PUFA_TOWNSHIP": "青山镇",
        "PUFA_BOT_NAME": "青山普法",
    }.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_user_add_reads_the_password_from_stdin_and_migrates_a_new_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'pufa.db'}"  # nothing there yet: `user add` creates the schema
    monkeypatch.setenv("PUFA_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-staff-password\n"))
    assert main(["user", "add", "Wang", "--role", "staff", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "added wang (staff)\n"
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        user = find_user(session, "wang")
        assert user is not None and user.role == "staff"
        assert authenticate(session, "wang", "a-long-staff-password") is user
    engine.dispose()


def test_user_add_prompts_twice_and_refuses_a_mismatch(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(["first-password-1", "second-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["user", "add", "li"]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "li", "--password-stdin"]) == 2
    assert "password too short" in capsys.readouterr().err


def test_export_and_report_agree_with_the_statistics(
    env: Settings,
    db_session: Session,
    mini_corpus: Corpus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_consultations(db_session, mini_corpus)
    out = tmp_path / "out" / "2026.xlsx"
    assert (
        main(
            ["export", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "xlsx", "--output", str(out)]
        )
        == 0
    )
    summary = st.summary(db_session, YEAR)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["咨询记录", "月度分类统计"]
    assert book["咨询记录"].max_row - 1 == summary.consultations
    capsys.readouterr()
    assert main(["report", "--year", "2026"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == annual_paragraph(db_session, YEAR, env)
    assert printed.startswith("2026年，青山镇通过微信公众号“青山普法”") and f"{summary.users}人" in printed
    assert main(["export", "--from", "2026-13-01", "--to", "2026-12-31", "--output", str(out)]) == 2
    assert "2026-03-01" in capsys.readouterr().err


def test_stats_json_agrees_with_the_export_and_the_report(
    env: Settings, db_session: Session, mini_corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed_consultations(db_session, mini_corpus)
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything["consultations"] == len(ids)
    assert sum(everything["by_category"].values()) == len(ids)
    assert main(["stats", "--from", "2026-01-01", "--to", "2026-12-31", "--json"]) == 0
    year = json.loads(capsys.readouterr().out)
    summary = st.summary(db_session, YEAR)
    assert year["consultations"] == summary.consultations and year["users"] == summary.users
    assert main(["stats", "--from", "2026-02-30"]) == 2
