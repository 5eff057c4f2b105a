"""The console in headless Chromium on the live server: review, statistics, export, escaping, phone size."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.records.models import Consultation
from bot.records.store import record_consultation
from bot.staff import statistics as st
from bot.staff.curated import CuratedAnswer
from bot.staff.exports import annual_paragraph
from bot.staff.reviews import LOW_CONFIDENCE, review_history
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus
from tests.fixtures.console import (
    PASSWORD,
    SEEDS,
    STAFF_NAME,
    TOWNSHIP,
    VOLUNTEER_NAME,
    XSS_QUESTION,
    console_settings,
    consultation_in,
    log_in,
)
from tests.fixtures.web import TEST_SECRET_KEY, FakeWeChat, LiveServer, new_openid, run_live_server
from tests.fixtures.wechat_api import FakeWeChatApi

YEAR = st.Period.year(2026)
PHONE = {"width": 390, "height": 844}


def _shown_ids(page: Any) -> list[int]:
    return [
        int(i.removeprefix("c"))
        for i in page.eval_on_selector_all("article.item", "els => els.map(e => e.id)")
    ]


def _low_loans(db: Session) -> list[int]:
    """What the filter must show, asked of the database directly, newest first."""
    rows = db.scalars(
        select(Consultation)
        .where(Consultation.category == "借贷欠款")
        .order_by(Consultation.created_at.desc())
    )
    return [r.id for r in rows if r.no_hit or r.fallback or (r.confidence or 0) < LOW_CONFIDENCE]


def test_a_volunteer_filters_the_queue_and_corrects_an_answer(
    page: Any, console_db: Session, console_db_url: str, mini_retriever: Retriever, tmp_path: Path
) -> None:
    page.goto("/console/queue?low=1")
    assert "/console/login" in page.url  # anonymous: sent to log in first, then back
    page.fill("input[name=username]", VOLUNTEER_NAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/queue?low=1")
    page.select_option("select[name=category]", "借贷欠款")
    page.click("form.filters button")
    page.wait_for_url("**category=*")
    expected = _low_loans(console_db)
    assert expected and _shown_ids(page) == expected
    assert page.locator("nav a", has_text="统计").count() == 0  # staff links are not offered

    target = expected[0]
    page.click(f"#c{target} a.button")
    page.check("input[name=verdict][value=partly]")
    page.fill("textarea[name=corrected_answer]", "借条丢了，转账记录和聊天记录也能证明借款。")
    page.fill("textarea[name=note]", "原答复没提其他证据")
    page.check("input[name=curate]")
    page.fill("input[name=more_articles]", "民法典第188条")
    page.click("form.review button[type=submit]")
    page.wait_for_url(f"**/console/consultations/{target}?saved=1")
    assert page.locator(".history .entry").last.inner_text().count(VOLUNTEER_NAME) == 1
    assert "部分正确" in page.locator(".history").inner_text()

    console_db.expire_all()
    last = review_history(console_db, target)[-1]
    assert (last.reviewer.username, last.verdict, last.note) == (
        VOLUNTEER_NAME,
        "partly",
        "原答复没提其他证据",
    )
    curated = console_db.scalars(
        select(CuratedAnswer).where(CuratedAnswer.source_consultation_id == target)
    ).one()
    assert curated.answer == last.corrected_answer
    assert "中华人民共和国民法典:188" in curated.article_keys
    assert curated.status == "proposed"  # a volunteer only proposes it

    # A villager asks much the same question: the bot (webhook, on the same database) does not use it yet.
    assert console_db.get_one(Consultation, target).question == SEEDS[6].question == "借条丢了还能要回钱吗"
    (tmp_path / "before").mkdir()
    before = _ask_the_bot(console_db_url, mini_retriever, tmp_path / "before", "借条丢了 还能要回钱吗")
    assert curated.answer not in before
    # Staff approve the proposal; from then on the bot reuses it.
    page.context.clear_cookies()
    log_in(page, STAFF_NAME)
    page.wait_for_url("**/console/queue")
    page.goto(f"/console/curated/{curated.id}")
    page.click("button[name=decision][value=approve]")
    page.wait_for_url(f"**/console/curated/{curated.id}?saved=1")
    reply = _ask_the_bot(console_db_url, mini_retriever, tmp_path, "借条丢了 还能要回钱吗")
    assert reply.startswith(f"【借钱不还】{curated.answer}") and "《民法典》第一百八十八条" in reply
    console_db.expire_all()
    used = console_db.scalars(select(Consultation).where(Consultation.curated_answer_id == curated.id)).one()
    assert used.reply == reply
    page.goto(f"/console/consultations/{used.id}")
    assert f"采用了审核答案 #{curated.id}" in page.inner_text(".flags")


def _ask_the_bot(db_url: str, retriever: Retriever, data_dir: Path, question: str) -> str:
    """The reply of the production app (webhook and all) to one question sent as WeChat would."""
    retriever.search(question, k=1)  # warm jieba and the encoder before the reply budget runs
    settings = console_settings(data_dir, db_url, reply_budget_s=4.5)
    with run_live_server(create_app(settings, retriever=retriever), settings, data_dir / "bot.log") as bot:
        wechat = FakeWeChat(bot.url)
        try:
            return wechat.ask(new_openid(), question).content
        finally:
            wechat.client.close()


def test_staff_see_statistics_that_match_the_report_and_the_export(
    page: Any, console_db: Session, console_server: LiveServer, tmp_path: Path
) -> None:
    log_in(page, STAFF_NAME)
    page.goto("/console/stats?start=2026-01-01&end=2026-12-31")
    summary = st.summary(console_db, YEAR)
    paragraph = page.inner_text("#report-paragraph")
    assert paragraph == annual_paragraph(console_db, YEAR, console_server.settings)
    assert f"开展线上法律咨询{summary.consultations}人次，服务群众{summary.users}人" in paragraph
    assert paragraph.startswith(f"2026年，{TOWNSHIP}")
    assert page.inner_text("#n-consultations") == str(summary.consultations)
    assert page.locator("svg.chart").count() == 2

    with page.expect_download() as info:
        page.click("#export-records-xlsx")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name == "pufa-records-2026-01-01_2026-12-31.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()))
    records = list(book["咨询记录"].iter_rows(values_only=True))
    assert len(records) - 1 == summary.consultations
    assert "13812345678" not in str(records)
    counts = list(book["月度分类统计"].iter_rows(values_only=True))
    assert counts[-1][-1] == summary.consultations


def test_question_html_is_shown_as_text_and_never_runs(page: Any, console_db: Session) -> None:
    log_in(page, STAFF_NAME)
    xss_id = console_db.scalars(select(Consultation.id).where(Consultation.question == XSS_QUESTION)).one()
    for path in ("/console/queue?start=2026-04-02&end=2026-04-02", f"/console/consultations/{xss_id}"):
        page.goto(path)
        assert XSS_QUESTION in page.locator(".question").first.inner_text()
        assert page.evaluate("typeof window.__pufa_xss") == "undefined"
        assert page.locator(".question img, .question script").count() == 0


def test_staff_add_a_volunteer_who_can_then_log_in(
    page: Any, browser: Any, console_server: LiveServer
) -> None:
    log_in(page, STAFF_NAME)
    page.goto("/console/users")
    add = page.locator("form", has_text="添加用户")
    add.locator("input[name=username]").fill("zhou")
    add.locator("input[name=password]").fill("zhou-password-1")
    add.locator("button").click()
    assert "已保存用户 zhou" in page.inner_text("main")
    other = browser.new_context(base_url=console_server.url)
    try:
        tab = other.new_page()
        log_in(tab, "zhou", "zhou-password-1")
        assert tab.inner_text(".who") == "zhou（普法志愿者）"
        tab.goto("/console/users")
        assert "只对工作人员开放" in tab.inner_text("main")
    finally:
        other.close()


def test_the_queue_fits_a_phone_screen(browser: Any, console_server: LiveServer, tmp_path: Path) -> None:
    context = browser.new_context(
        base_url=console_server.url,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    try:
        page = context.new_page()
        log_in(page, VOLUNTEER_NAME)
        page.goto("/console/queue")
        assert (
            page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        )  # no sideways scrolling
        button = page.locator("article.item a.button").first.bounding_box()
        assert button is not None and button["height"] >= 44  # a finger-sized target
        page.screenshot(path=str(tmp_path / "queue-phone.png"))
        assert (tmp_path / "queue-phone.png").stat().st_size > 10_000
    finally:
        context.close()


def test_a_volunteer_replies_to_the_villager_through_wechat(
    page: Any, console_db: Session, mini_corpus: Corpus, fake_wechat_api: FakeWeChatApi
) -> None:
    fresh = replace(SEEDS[6], openid="oFreshVillager0001")  # asked just now: WeChat's 48 h window is open
    consultation_id = record_consultation(
        console_db,
        consultation_in(fresh, mini_corpus, "88000001"),
        secret_key=TEST_SECRET_KEY,
        township=TOWNSHIP,
    )
    log_in(page, VOLUNTEER_NAME)
    page.goto(f"/console/consultations/{consultation_id}")
    page.fill("section.followup textarea[name=text]", "借条丢了，转账记录和聊天记录也能证明借款。")
    page.click("section.followup button[type=submit]")
    page.wait_for_url(f"**/console/consultations/{consultation_id}?sent=1")
    assert "已送达微信" in page.inner_text("section.followup")
    assert fake_wechat_api.sent[-1] == {
        "touser": "oFreshVillager0001",
        "msgtype": "text",
        "text": {"content": "借条丢了，转账记录和聊天记录也能证明借款。"},
    }
    page.goto("/console/consultations/2")  # a record from January: the window closed long ago
    assert page.locator("section.followup form").count() == 0
