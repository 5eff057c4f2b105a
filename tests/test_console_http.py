"""The console over real HTTP (httpx → uvicorn on loopback): who may do what, CSRF, lock-out, cookies."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import quote

import httpx
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.conversation.consultation import Consultant
from bot.conversation.curated_match import CuratedMatcher
from bot.records.database import make_engine, make_session_factory
from bot.records.models import Consultation
from bot.records.store import record_consultation
from bot.staff.auth import MAX_ADDRESS_FAILURES, MAX_FAILURES, LoginAttempts
from bot.staff.curated import CuratedAnswer, create_curated
from bot.staff.reviews import Review
from bot.staff.users import VOLUNTEER, ConsoleUser, create_user, find_user
from indexing.retrieval import Retriever
from knowledge.corpus import Corpus
from tests.fixtures.console import (
    PASSWORD,
    SEEDS,
    STAFF_NAME,
    TOWNSHIP,
    VOLUNTEER_NAME,
    console_app,
    console_settings,
    consultation_in,
)
from tests.fixtures.web import TEST_SECRET_KEY, LiveServer, live_settings, run_live_server
from tests.fixtures.wechat_api import APP_SECRET, FakeWeChatApi
from tests.reply_checks import TOWNSHIP as VILLAGE

STAFF_PAGES = (
    "/console/stats",
    "/console/export?kind=records&format=xlsx",
    "/console/users",
    "/console/curated",
)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no form token"
    return match.group(1)


def log_in(
    client: httpx.Client, username: str, password: str = PASSWORD, *, next_path: str = ""
) -> httpx.Response:
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": _token(form.text), "next": next_path},
    )


@pytest.fixture
def client(console_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=10) as c:
        yield c


def _staff(client: httpx.Client) -> str:
    """Log in as staff; returns the session's form token."""
    assert log_in(client, STAFF_NAME).status_code == 303
    return _token(client.get("/console/queue").text)


def _reviews(db: Session) -> int:
    return db.scalar(select(func.count(Review.id))) or 0


@pytest.mark.parametrize(
    "path", ["/console", "/console/queue?low=1", "/console/consultations/1", *STAFF_PAGES]
)
def test_anonymous_visitors_are_sent_to_the_login_page(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    if path == "/console":
        response = client.get(response.headers["location"])
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=/console/")
    posted = client.post("/console/consultations/1/review", data={"verdict": "correct"})
    assert (posted.status_code, posted.headers["location"]) == (303, "/console/login")


def test_after_login_the_user_returns_to_the_page_asked_for_and_never_elsewhere(client: httpx.Client) -> None:
    assert (
        log_in(client, VOLUNTEER_NAME, next_path="/console/queue?person=1").headers["location"]
        == "/console/queue?person=1"
    )
    client.cookies.clear()
    assert (
        log_in(client, VOLUNTEER_NAME, next_path="https://evil.example/").headers["location"]
        == "/console/queue"
    )


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_volunteers_may_review_but_not_see_staff_pages(client: httpx.Client, path: str) -> None:
    log_in(client, VOLUNTEER_NAME)
    assert client.get("/console/queue").status_code == 200
    response = client.get(path)
    assert response.status_code == 403
    assert "只对工作人员开放" in response.text


def test_volunteers_cannot_add_users_even_with_a_valid_form(
    client: httpx.Client, console_db: Session
) -> None:
    log_in(client, VOLUNTEER_NAME)
    token = _token(client.get("/console/queue").text)
    response = client.post(
        "/console/users",
        data={"csrf_token": token, "username": "sneaky", "password": "long-enough-pass", "role": "staff"},
    )
    assert response.status_code == 403
    assert console_db.scalar(select(ConsoleUser).where(ConsoleUser.username == "sneaky")) is None


@pytest.mark.parametrize(("data", "headers"), [
    ({}, {}),  # no token at all
    ({"csrf_token": "forged"}, {}),
    ({"csrf_token": None}, {"Origin": "http://evil.example"}),  # None: the session's real token
    ({"csrf_token": None}, {"Sec-Fetch-Site": "cross-site"}),
    ({"csrf_token": None}, {"Sec-Fetch-Site": "same-site"}),  # another port of 127.0.0.1 is same-site
])  # fmt: skip
def test_forged_posts_are_refused_and_change_nothing(
    client: httpx.Client, console_db: Session, data: dict[str, str | None], headers: dict[str, str]
) -> None:
    token = _staff(client)
    before = _reviews(console_db)
    form = {"verdict": "wrong", **{k: v or token for k, v in data.items()}}
    response = client.post("/console/consultations/2/review", data=form, headers=headers)
    assert response.status_code == 403
    assert "表单已失效" in response.text
    assert _reviews(console_db) == before


def test_the_real_form_with_same_origin_headers_is_accepted(
    client: httpx.Client, console_server: LiveServer, console_db: Session
) -> None:
    token = _staff(client)
    before = _reviews(console_db)
    response = client.post(
        "/console/consultations/3/review",
        data={"csrf_token": token, "verdict": "correct"},
        headers={"Origin": console_server.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert (response.status_code, response.headers["location"]) == (303, "/console/consultations/3?saved=1")
    assert _reviews(console_db) == before + 1


def test_login_needs_its_own_form_token(client: httpx.Client) -> None:
    response = client.post(
        "/console/login", data={"username": STAFF_NAME, "password": PASSWORD, "csrf_token": "guessed"}
    )
    assert response.status_code == 403
    assert "pufa_console" not in response.headers.get("set-cookie", "")


def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: httpx.Client, console_db: Session
) -> None:
    create_user(console_db, username="zhao", password=PASSWORD, role=VOLUNTEER)
    statuses = [log_in(client, "zhao", "wrong-password").status_code for _ in range(MAX_FAILURES)]
    assert statuses == [401] * (MAX_FAILURES - 1) + [429]
    locked = log_in(client, "zhao", PASSWORD)
    assert locked.status_code == 429 and "锁定15分钟" in locked.text
    assert "pufa_console" not in client.cookies
    console_db.expire_all()
    assert console_db.get(LoginAttempts, "zhao").locked_until is not None  # type: ignore[union-attr]


def test_logging_out_ends_the_session_on_the_server(client: httpx.Client) -> None:
    token = _staff(client)
    old_cookie = client.cookies["pufa_console"]
    assert client.post("/console/logout", data={"csrf_token": token}).headers["location"] == "/console/login"
    client.cookies.set("pufa_console", old_cookie)  # a copied cookie is no use after logout
    assert client.get("/console/queue").status_code == 303


def test_pages_forbid_framing_caching_and_foreign_scripts(client: httpx.Client) -> None:
    _staff(client)
    headers = client.get("/console/queue").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["cache-control"]) == ("DENY", "no-store")
    css = client.get("/console/static/console.css")
    assert css.status_code == 200 and "@media" in css.text


def test_production_cookies_are_secure_httponly_and_samesite(
    tmp_path: Path, console_db_url: str, mini_corpus: Corpus
) -> None:
    settings = console_settings(tmp_path, console_db_url, env="production")
    with (
        run_live_server(console_app(settings, mini_corpus), settings, tmp_path / "server.log") as live,
        httpx.Client(base_url=live.url, follow_redirects=False) as client,
    ):
        form = client.get("/console/login")
        login_cookie = form.headers["set-cookie"].lower()
        token = _token(form.text)
        # httpx, like a browser, keeps Secure cookies off plain HTTP: send this one by hand.
        response = client.post(
            "/console/login",
            headers={"Cookie": f"pufa_login_csrf={token}"},
            data={"username": STAFF_NAME, "password": PASSWORD, "csrf_token": token},
        )
        session_cookie = response.headers.get_list("set-cookie")[0].lower()
    assert all(
        flag in login_cookie for flag in ("secure", "httponly", "samesite=strict", "path=/console/login")
    )
    assert all(
        flag in session_cookie
        for flag in ("pufa_console=", "secure", "httponly", "samesite=lax", "path=/console")
    )


def test_the_production_app_serves_the_console(tmp_path: Path) -> None:
    app = create_app(live_settings(tmp_path, "sqlite:///" + str(tmp_path / "pufa.db")))
    assert app.url_path_for("login_form") == "/console/login"
    assert app.url_path_for("export") == "/console/export"
    assert app.url_path_for("console-static", path="console.css") == "/console/static/console.css"


def test_staff_edit_and_retire_a_curated_answer(client: httpx.Client, console_db: Session) -> None:
    author = console_db.scalars(select(ConsoleUser).where(ConsoleUser.username == STAFF_NAME)).one()
    item = create_curated(
        console_db,
        question="借钱不还怎么办",
        answer="先协商。",
        category="借贷欠款",
        article_keys=["中华人民共和国民法典:675"],
        author=author,
    )
    token = _staff(client)
    assert "先协商。" in client.get("/console/curated").text
    edit = {
        "csrf_token": token,
        "question": "借钱不还怎么办",
        "answer": "可以申请人民调解。",
        "category": "借贷欠款",
        "article": "中华人民共和国民法典:675",
    }
    bad = client.post(f"/console/curated/{item.id}", data={**edit, "more_articles": "民法典第9999条"})
    assert bad.status_code == 400 and "条文不存在" in bad.text
    saved = client.post(f"/console/curated/{item.id}", data={**edit, "more_articles": "民法典第1079条"})
    assert saved.status_code == 303
    page = client.get(f"/console/curated/{item.id}").text
    assert "可以申请人民调解。" in page and "《民法典》第一千零七十九条" in page
    client.post(f"/console/curated/{item.id}/retire", data={"csrf_token": token, "retired": "1"})
    assert "可以申请人民调解。" not in client.get("/console/curated").text
    assert "可以申请人民调解。" in client.get("/console/curated?retired=1").text
    console_db.expire_all()
    assert console_db.get(CuratedAnswer, item.id).article_keys == [  # type: ignore[union-attr]
        "中华人民共和国民法典:675",
        "中华人民共和国民法典:1079",
    ]


def test_staff_cannot_demote_or_disable_themselves(client: httpx.Client, console_db: Session) -> None:
    token = _staff(client)
    me = console_db.scalars(select(ConsoleUser).where(ConsoleUser.username == STAFF_NAME)).one()
    response = client.post(
        f"/console/users/{me.id}", data={"csrf_token": token, "role": "volunteer", "active": "1"}
    )
    assert response.status_code == 400 and "不能停用自己的账号或更改自己的角色" in response.text
    console_db.refresh(me)
    assert me.role == "staff"


def test_workers_share_one_wechat_access_token(
    tmp_path: Path, console_db_url: str, console_db: Session, mini_corpus: Corpus, mini_retriever: Retriever,
    fake_wechat_api: FakeWeChatApi,
) -> None:  # fmt: skip
    """Two production apps on one database, as two workers: the second reuses the first one's token."""
    fresh = replace(SEEDS[6], openid="oSharedTokenVillager")  # asked just now: WeChat's window is open
    cid = record_consultation(console_db, consultation_in(fresh, mini_corpus, "88000002"),
                              secret_key=TEST_SECRET_KEY, township=TOWNSHIP)  # fmt: skip
    settings = console_settings(
        tmp_path, console_db_url, wechat_api_base=fake_wechat_api.api_base, wechat_appsecret=APP_SECRET
    )
    issued, sent = len(fake_wechat_api.tokens), len(fake_wechat_api.sent)
    with (
        run_live_server(create_app(settings, retriever=mini_retriever), settings, tmp_path / "1.log") as one,
        run_live_server(create_app(settings, retriever=mini_retriever), settings, tmp_path / "2.log") as two,
    ):
        for n, worker in enumerate((one, two)):
            with httpx.Client(base_url=worker.url, follow_redirects=False, timeout=10) as client:
                assert log_in(client, VOLUNTEER_NAME).status_code == 303
                token = _token(client.get(f"/console/consultations/{cid}").text)
                response = client.post(f"/console/consultations/{cid}/followup",
                                       data={"csrf_token": token, "text": f"第{n + 1}次回复"})  # fmt: skip
                assert response.headers["location"].endswith("?sent=1")
    assert [m["text"]["content"] for m in fake_wechat_api.sent[sent:]] == ["第1次回复", "第2次回复"]
    assert len(fake_wechat_api.tokens) - issued <= 1  # one worker fetched it (or an earlier one had)


def test_a_volunteers_curated_answer_reaches_villagers_only_once_staff_approve_it(
    client: httpx.Client, console_db: Session, console_db_url: str, mini_corpus: Corpus,
    mini_retriever: Retriever,
) -> None:  # fmt: skip
    question = "邻居家的狗把我家小孩咬伤了医药费谁出"
    seed = replace(SEEDS[9], openid="oDogBiteVillager", question=question)
    cid = record_consultation(console_db, consultation_in(seed, mini_corpus, "88000003"),
                              secret_key=TEST_SECRET_KEY, township=TOWNSHIP)  # fmt: skip
    answer = "饲养的动物造成他人损害的，动物饲养人或者管理人应当承担侵权责任。"
    assert log_in(client, VOLUNTEER_NAME).status_code == 303
    token = _token(client.get(f"/console/consultations/{cid}").text)
    review = {"csrf_token": token, "verdict": "partly", "corrected_answer": answer, "curate": "1",
              "article": "中华人民共和国民法典:1245"}  # fmt: skip
    assert client.post(f"/console/consultations/{cid}/review", data=review).status_code == 303
    proposal = console_db.scalars(select(CuratedAnswer).where(CuratedAnswer.source_consultation_id == cid)).one()
    assert proposal.status == "proposed"
    decision = f"/console/curated/{proposal.id}/decision"
    assert client.post(decision, data={"csrf_token": token, "decision": "approve"}).status_code == 403

    engine = make_engine(console_db_url)  # the bot's side: its own matcher on the console's database
    matcher = CuratedMatcher(make_session_factory(engine), mini_retriever.embed_question)
    consultant = Consultant(mini_retriever, VILLAGE, workers=1, matcher=matcher)

    def villager_asks() -> str:
        matcher.refresh()
        return consultant.ask(question, deadline=time.monotonic() + 30).answer.text

    try:
        assert answer not in villager_asks()
        client.cookies.clear()
        staff_token = _staff(client)
        listed = client.get("/console/curated").text
        assert "待审核的提议" in listed and answer in listed
        approved = client.post(decision, data={"csrf_token": staff_token, "decision": "approve"})
        assert approved.status_code == 303
        assert answer in villager_asks()
    finally:
        consultant.close()
        engine.dispose()
    console_db.expire_all()
    approved_row = console_db.get_one(CuratedAnswer, proposal.id)
    assert (approved_row.status, approved_row.decided_by.username) == ("active", STAFF_NAME)  # type: ignore[union-attr]


HUGE = "1" + "0" * 30
HOSTILE_PAGES = [
    ("/console/consultations/9223372036854775808", 404, "没有编号为"),
    (f"/console/consultations/{HUGE}", 404, "没有编号为"),
    ("/console/consultations/-1", 404, "没有编号为"),
    ("/console/consultations/abc", 400, "参数格式不对"),
    (f"/console/curated/{HUGE}", 404, "没有编号为"),
    ("/console/queue?page=100000000000000000000", 400, "页码应在"),
    ("/console/queue?page=0", 400, "页码应在"),
    ("/console/queue?page=x", 400, "参数格式不对"),
    ("/console/queue?start=0001-01-01", 400, "日期应为"),
    ("/console/queue?end=9999-12-31", 400, "日期应为"),
    ("/console/stats?start=0001-01-01", 400, "日期范围无效"),
    ("/console/stats?end=9999-12-31", 400, "日期范围无效"),
    ("/console/stats?start=1000-01-01&end=9000-12-31", 400, "日期范围无效"),
    ("/console/stats?start=2000-01-01&end=2026-12-31", 400, "日期范围太长"),
    ("/console/export?kind=records&format=xlsx&start=0001-01-01&end=9999-12-31", 400, "日期范围无效"),
    ("/console/export?kind=counts&format=csv&start=2001-01-01&end=2099-12-31", 400, "日期范围太长"),
]


@pytest.mark.parametrize(("path", "status", "message"), HOSTILE_PAGES)
def test_out_of_range_ids_pages_and_dates_get_a_chinese_error_page_not_a_500(
    client: httpx.Client, path: str, status: int, message: str
) -> None:
    _staff(client)
    response = client.get(path)
    assert (response.status_code, message in response.text) == (status, True)
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", [
    f"/console/users/{HUGE}",
    f"/console/consultations/{HUGE}/review",
    f"/console/curated/{HUGE}/decision",
    "/console/users/9223372036854775808",
])  # fmt: skip
def test_posts_to_ids_beyond_any_row_are_a_404(client: httpx.Client, path: str) -> None:
    token = _staff(client)
    response = client.post(path, data={"csrf_token": token, "verdict": "correct", "decision": "approve"})
    assert response.status_code == 404 and "没有编号为" in response.text


def test_control_characters_in_notes_never_break_the_xlsx_export(
    client: httpx.Client, console_db: Session
) -> None:
    token = _staff(client)
    posted = client.post("/console/consultations/5/review",
                         data={"csrf_token": token, "verdict": "wrong", "note": "村委会\x0b说\x01过"})  # fmt: skip
    assert posted.status_code == 303
    console_db.expire_all()
    assert console_db.get_one(Consultation, 5).review_note == "村委会说过"
    legacy = console_db.get_one(Consultation, 6)  # a note stored before they were refused
    legacy.review_note = "旧\x0b备注"
    console_db.commit()
    response = client.get("/console/export?kind=records&format=xlsx&start=2026-01-01&end=2026-12-31")
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content))["咨询记录"].iter_rows(values_only=True))
    column = rows[0].index("复核备注")
    notes = {row[0]: row[column] for row in rows[1:]}
    assert (notes[5], notes[6]) == ("村委会说过", "旧备注")


def test_changing_ones_own_password_ends_ones_other_sessions_but_not_this_one(
    console_server: LiveServer, console_db: Session
) -> None:
    me = create_user(console_db, username="zhou_pw", password=PASSWORD, role="staff")
    other_staff = create_user(console_db, username="qian_pw", password=PASSWORD, role="staff")
    clients = [httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=10) for _ in range(3)]
    here, phone, colleague = clients
    try:
        for client, name in ((here, "zhou_pw"), (phone, "zhou_pw"), (colleague, "qian_pw")):
            assert log_in(client, name).status_code == 303
        token = _token(here.get("/console/users").text)
        changed = here.post(f"/console/users/{me.id}", data={"csrf_token": token, "password": "a-new-long-passphrase"})
        assert changed.status_code == 303
        assert here.get("/console/queue").status_code == 200  # the session that changed it goes on
        assert phone.get("/console/queue").status_code == 303  # the other one is logged out
        assert colleague.get("/console/queue").status_code == 200  # other users are untouched
        assert log_in(phone, "zhou_pw", "a-new-long-passphrase").status_code == 303
    finally:
        for client in clients:
            client.close()
    assert other_staff.active


@pytest.mark.parametrize(("username", "password", "message"), [
    ("ｐrobe", PASSWORD, "looks the same as the existing"),
    ("PROBE", PASSWORD, "is taken"),
    ("probe2", "aaaaaaaaaa", "one character repeated"),
    ("probe3", "qwertyuiop", "most common passwords"),
])  # fmt: skip
def test_look_alike_names_and_guessable_passwords_are_refused(
    client: httpx.Client, console_db: Session, username: str, password: str, message: str
) -> None:
    if find_user(console_db, "probe") is None:
        create_user(console_db, username="probe", password=PASSWORD, role=VOLUNTEER)
    users = console_db.scalar(select(func.count(ConsoleUser.id)))
    form = {"csrf_token": _staff(client), "username": username, "password": password, "role": "volunteer"}
    response = client.post("/console/users", data=form)
    assert response.status_code == 400 and message in response.text
    assert console_db.scalar(select(func.count(ConsoleUser.id))) == users


def test_one_address_guessing_at_many_names_is_locked_out_by_its_forwarded_address(
    console_server: LiveServer,
) -> None:
    """Behind the proxy the address is the one in X-Forwarded-For (uvicorn trusts it from 127.0.0.1)."""

    def client_at(address: str) -> httpx.Client:
        return httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=10,
                            headers={"X-Forwarded-For": address})  # fmt: skip

    with client_at("203.0.113.7") as attacker, client_at("203.0.113.8") as colleague:
        statuses = [log_in(attacker, f"guess{n // 4}", "wrong-password").status_code
                    for n in range(MAX_ADDRESS_FAILURES)]  # fmt: skip
        assert statuses == [401] * (MAX_ADDRESS_FAILURES - 1) + [429]
        refused = log_in(attacker, STAFF_NAME)  # even the right password, while the address is locked
        assert refused.status_code == 429 and "从您所在网络的登录已暂时锁定" in refused.text
        assert log_in(colleague, STAFF_NAME).status_code == 303


def test_a_volunteer_changes_their_own_password_and_their_other_sessions_end(
    console_server: LiveServer, console_db: Session
) -> None:
    create_user(console_db, username="sun", password=PASSWORD, role=VOLUNTEER)
    here, phone = (httpx.Client(base_url=console_server.url, follow_redirects=False, timeout=10) for _ in "12")
    with here, phone:
        for client in (here, phone):
            assert log_in(client, "sun").status_code == 303
        token = _token(here.get("/console/account").text)
        form = {"csrf_token": token, "current_password": PASSWORD,
                "new_password": "sun-new-passphrase", "repeat_password": "sun-new-passphrase"}  # fmt: skip
        wrong = here.post("/console/account/password", data={**form, "current_password": "not-my-password"})
        assert wrong.status_code == 400 and "当前密码不正确" in wrong.text
        weak = here.post("/console/account/password",
                         data={**form, "new_password": "qwertyuiop", "repeat_password": "qwertyuiop"})  # fmt: skip
        assert weak.status_code == 400 and "most common passwords" in weak.text
        assert phone.get("/console/queue").status_code == 200  # nothing changed yet
        changed = here.post("/console/account/password", data=form)
        assert changed.headers["location"] == "/console/account?saved=1"
        assert here.get("/console/queue").status_code == 200
        assert phone.get("/console/queue").status_code == 303
        assert log_in(phone, "sun", "sun-new-passphrase").status_code == 303


_NUMBER = st.one_of(st.integers(min_value=-(10**40), max_value=10**40), st.text(max_size=30))
_DAY = st.one_of(st.dates().map(date.isoformat), st.text(max_size=20))


@st.composite
def _hostile_console_request(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    kind = draw(st.sampled_from(["consultation", "curated", "queue", "stats", "export"]))
    if kind in ("consultation", "curated"):
        segment = quote(str(draw(_NUMBER)), safe="")
        return f"/console/{'consultations' if kind == 'consultation' else 'curated'}/{segment}", {}
    params = {"start": draw(_DAY), "end": draw(_DAY)}
    if kind == "queue":
        return "/console/queue", {**params, "page": str(draw(_NUMBER)), "low": draw(st.sampled_from(["1", "x"]))}
    if kind == "export":
        params |= {"kind": draw(st.sampled_from(["records", "counts", "x"])), "format": "csv"}
    return f"/console/{kind}", params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_hostile_console_request())
def test_no_console_page_answers_hostile_ids_pages_or_dates_with_a_5xx(
    client: httpx.Client, request: tuple[str, dict[str, str]]
) -> None:
    if "pufa_console" not in client.cookies:
        _staff(client)
    path, params = request
    response = client.get(path, params=params)
    assert response.status_code < 500, (path, params, response.status_code)
