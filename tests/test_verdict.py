"""The villager's verdict (issue 22, item 7): a composed answer ends with 回复1满意，2不满意; a 1 or 2 soon after
is recorded on that consultation, a 2 tops the review queue, and the figures reach `pufa stats --json`, the
console's statistics page and `pufa report`. Over real HTTP, with wechatpy-signed pushes (tests/fixtures/web.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import replies
from bot.answers.composer import VERDICT_ASK, compose_answer, compose_more
from bot.answers.township import Township
from bot.cli import main
from bot.records.database import engine_of
from bot.records.followups import VERDICT_WINDOW_MIN, record_satisfaction
from bot.records.models import Consultation
from bot.records.store import record_consultation
from bot.staff import statistics as st
from bot.staff.reviews import QueueFilter, review_queue
from bot.staff.sheets import report_paragraph
from bot.staff.users import STAFF, create_user
from indexing.retrieval import Hit, Retriever
from knowledge.corpus import Corpus
from tests.fixtures.console import console_app, console_settings
from tests.fixtures.web import (
    TEST_OPENID,
    TEST_SECRET_KEY,
    FakeWeChat,
    MakeConsultation,
    consultations,
    expected_answer,
    new_openid,
    run_live_server,
)
from tests.reply_checks import TOWNSHIP, assert_sendable

QUESTION = "邻居借了我五千块钱一直不还怎么办"
OTHER_QUESTION = "儿子不给老人赡养费怎么办"
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


def _stats(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, data: Path) -> Any:
    """`pufa stats --json`, as staff run it, on the live server's database."""
    monkeypatch.setenv("PUFA_DATABASE_URL", url)
    monkeypatch.setenv("PUFA_DATA_DIR", str(data))
    capsys.readouterr()
    assert main(["stats", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["satisfaction"]


def _top_of_queue(sessions: sessionmaker[Session], flt: QueueFilter) -> int:
    with sessions() as session:
        rows, _ = review_queue(session, flt, limit=1)
        return rows[0].id


def test_a_2_is_recorded_tops_the_review_queue_and_counts(
    wechat: FakeWeChat,
    live_township: Township,
    live_retriever: Retriever,
    live_sessions: sessionmaker[Session],
    live_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _stats(monkeypatch, capsys, live_db_url, tmp_path)
    openid = new_openid()
    answer = wechat.ask(openid, QUESTION).content
    assert answer == expected_answer(live_retriever, QUESTION, live_township)
    assert VERDICT_ASK in answer.splitlines()[-2]  # the line before the disclaimer
    wechat.ask(new_openid(), OTHER_QUESTION)  # someone else's question, newer
    thanks = wechat.ask(openid, "2").content
    assert thanks == replies.verdict_thanks(2, live_township)
    assert "志愿者" in thanks and "调解" in thanks and live_township.hotline in thanks
    (row,) = consultations(live_sessions, openid=openid)  # the 2 is a turn, not a consultation
    assert (row.question, row.satisfaction_asked, row.satisfaction) == (QUESTION, True, 2)
    assert row.satisfaction_at is not None and row.satisfaction_at >= row.created_at
    assert _top_of_queue(live_sessions, QueueFilter()) == row.id
    assert _top_of_queue(live_sessions, QueueFilter(unreviewed=True)) == row.id
    after = _stats(monkeypatch, capsys, live_db_url, tmp_path)
    assert {k: after[k] - before[k] for k in after} == {"asked": 2, "answered": 1, "satisfied": 0}
    # The villager changes their mind (a full-width １ is a 1): replaced, and no longer first in the queue.
    assert wechat.ask(openid, "１").content == replies.verdict_thanks(1, live_township)
    (row,) = consultations(live_sessions, openid=openid)
    assert row.satisfaction == 1
    assert _top_of_queue(live_sessions, QueueFilter()) != row.id
    again = _stats(monkeypatch, capsys, live_db_url, tmp_path)
    assert {k: again[k] - before[k] for k in again} == {"asked": 2, "answered": 1, "satisfied": 1}


def test_a_1_as_a_first_message_is_no_verdict(
    wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    reply = wechat.ask(openid, "1").content
    assert reply != replies.verdict_thanks(1, live_township)
    (row,) = consultations(live_sessions, openid=openid)  # an ordinary message: a consultation of its own
    assert (row.question, row.satisfaction) == ("1", None)


def test_a_2_after_a_reply_that_asked_nothing_is_no_verdict(
    wechat: FakeWeChat, live_township: Township, live_sessions: sessionmaker[Session]
) -> None:
    openid = new_openid()
    assert wechat.ask(openid, "调解").content == replies.person_contacts(live_township)
    reply = wechat.ask(openid, "2").content
    assert reply != replies.verdict_thanks(2, live_township)
    rows = consultations(live_sessions, openid=openid)
    assert [(r.question, r.satisfaction_asked, r.satisfaction) for r in rows][0] == ("调解", False, None)
    assert [r.question for r in rows] == ["调解", "2"]


# --- The window, on both databases --------------------------------------------------------------------


def test_a_verdict_counts_only_within_the_window(db_session: Session, make_consultation: MakeConsultation) -> None:
    item = make_consultation()
    asked = make_consultation(msg_id="24400002", answer=replace(item.answer, asks_verdict=True))
    first = record_consultation(db_session, asked, secret_key=TEST_SECRET_KEY, township="甲乡", now=T0)
    late = T0 + timedelta(minutes=VERDICT_WINDOW_MIN, seconds=1)
    verdict = partial(record_satisfaction, db_session, openid=TEST_OPENID, secret_key=TEST_SECRET_KEY)
    assert verdict(satisfaction=2, now=late) is None
    in_time = T0 + timedelta(minutes=VERDICT_WINDOW_MIN - 1)
    assert verdict(satisfaction=2, now=in_time) == first
    row = db_session.get(Consultation, first)
    assert row is not None and (row.satisfaction, row.satisfaction_at) == (2, in_time)
    # A newer consultation whose reply asked nothing (a fallback) hides the older one: no verdict.
    record_consultation(db_session, item, secret_key=TEST_SECRET_KEY, township="甲乡", now=in_time)
    assert verdict(satisfaction=1, now=in_time) is None
    with pytest.raises(ValueError, match="satisfaction"):
        verdict(satisfaction=3, now=in_time)


# --- Which replies ask ------------------------------------------------------------------------------------


def test_only_composed_answers_ask_and_stay_within_the_limit(full_corpus: Corpus) -> None:
    longest = sorted(full_corpus.articles, key=lambda a: len(a.text), reverse=True)[:6]
    hits = [Hit(a, score=0.025, retrievers=("bm25", "dense"), chunk_id=f"{a.key}#0", dense_score=0.85,
                dense_margin=0.025) for a in longest]  # fmt: skip
    answer = compose_answer("有关规定是什么", hits, corpus=full_corpus, township=TOWNSHIP)
    assert answer.asks_verdict and VERDICT_ASK in answer.text
    assert_sendable(answer.text)  # the longest articles: the ask made room, the reply did not grow past 2048
    nothing = compose_answer("今天天气怎么样", [], corpus=full_corpus, township=TOWNSHIP)
    assert nothing.no_hit and not nothing.asks_verdict and VERDICT_ASK not in nothing.text
    more = compose_more(answer.more, corpus=full_corpus, township=TOWNSHIP)
    assert not more.asks_verdict and VERDICT_ASK not in more.text
    for fixed in (replies.welcome(TOWNSHIP), replies.help_text(TOWNSHIP), replies.fallback(TOWNSHIP)):
        assert VERDICT_ASK not in fixed


# --- 满意率 in the report and on the console --------------------------------------------------------------


def test_the_report_names_the_satisfaction_rate_once_villagers_have_judged() -> None:
    base = st.Summary(consultations=1234, users=567, by_category={"婚姻家庭": 210}, asked_for_person=45,
                      emergency=3, no_hit=7, reviewed=320, judged_correct=300)  # fmt: skip
    period = st.Period.year(2026)
    plain = report_paragraph(base, period=period, township="青山镇", bot_name="普法助手")
    assert "满意率" not in plain and plain.endswith("转介人民调解45件。")
    judged = replace(base, satisfaction_asked=900, satisfaction_answered=200, satisfied=185)
    text = report_paragraph(judged, period=period, township="青山镇", bot_name="普法助手")
    assert text == plain.removesuffix("。") + "；群众评价答复200件，满意率92.5%。"


def test_the_statistics_page_and_pufa_report_show_the_satisfaction_rate(
    db_session: Session,
    db_url: str,
    tmp_path: Path,
    mini_corpus: Corpus,
    make_consultation: MakeConsultation,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    for index, satisfaction in enumerate((1, 1, 1, 2, None)):
        item = make_consultation(msg_id=f"2450000{index}", openid=f"user-{index}")
        item = replace(item, answer=replace(item.answer, asks_verdict=True))
        row_id = record_consultation(db_session, item, secret_key=TEST_SECRET_KEY, township="青山镇", now=now)
        row = db_session.get(Consultation, row_id)
        assert row is not None
        row.satisfaction, row.satisfaction_at = satisfaction, now if satisfaction else None
    db_session.commit()
    create_user(db_session, username="zhang", password="a-long-staff-password", role=STAFF)
    settings = console_settings(tmp_path, db_url)
    app = console_app(settings, mini_corpus)
    try:
        with (
            run_live_server(app, settings, tmp_path / "server.log") as live,
            httpx.Client(base_url=live.url, timeout=10) as client,
        ):
            form = client.get("/console/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            credentials = {"username": "zhang", "password": "a-long-staff-password", "csrf_token": token.group(1)}
            assert client.post("/console/login", data=credentials).status_code == 303
            page = client.get("/console/stats").text
    finally:
        engine_of(app.state.session_factory).dispose()
    assert re.search(r'id="n-satisfied">75%</b><span>满意率（4人次评价）', page), page[:3000]
    assert "群众评价答复4件，满意率75.0%" in page
    assert "PUFA_LOCAL_DOCS_DIR" in page and "保障农民工工资支付条例" in page  # how staff add regulations laws.db lacks
    monkeypatch.setenv("PUFA_DATABASE_URL", db_url)
    capsys.readouterr()
    assert main(["report", "--year", str(datetime.now(st.REPORT_TZ).year)]) == 0
    assert capsys.readouterr().out.strip().endswith("；群众评价答复4件，满意率75.0%。")
