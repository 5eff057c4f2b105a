"""Follow-up replies (bot.staff.volunteer_replies): sent only inside WeChat's window, every attempt logged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.records.models import Consultation
from bot.records.store import record_consultation
from bot.staff.users import VOLUNTEER, ConsoleUser, create_user
from bot.staff.volunteer_replies import FAILED, SENT, FollowupError, can_follow_up, replies_for, send_followup
from bot.wechat.customer_service import OUT_OF_WINDOW, CustomerService
from knowledge.corpus import Corpus
from tests.fixtures.console import SEEDS, TOWNSHIP, consultation_in
from tests.fixtures.web import APP_ID, TEST_SECRET_KEY
from tests.fixtures.wechat_api import APP_SECRET, FakeWeChatApi

T = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def api() -> Iterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    yield fake
    fake.close()


@pytest.fixture
def row(db_session: Session, mini_corpus: Corpus) -> Consultation:
    consultation_id = record_consultation(
        db_session,
        consultation_in(SEEDS[2], mini_corpus, "777"),
        secret_key=TEST_SECRET_KEY,
        township=TOWNSHIP,
        now=T,
    )
    found = db_session.get(Consultation, consultation_id)
    assert found is not None
    return found


@pytest.fixture
def volunteer(db_session: Session) -> ConsoleUser:
    return create_user(db_session, username="li", password="volunteer-password", role=VOLUNTEER)


def _send(
    db: Session, row: Consultation, volunteer: ConsoleUser, api: FakeWeChatApi, text: str, now: datetime
) -> None:
    service = CustomerService(api_base=api.api_base, appid=APP_ID, secret=APP_SECRET)
    send_followup(db, row, sender=volunteer, text=text, wechat=service, secret_key=TEST_SECRET_KEY, now=now)


def test_a_reply_reaches_the_villager_who_asked_and_is_logged(
    db_session: Session, row: Consultation, volunteer: ConsoleUser, api: FakeWeChatApi
) -> None:
    assert can_follow_up(row, now=T + timedelta(hours=47))
    _send(db_session, row, volunteer, api, "  借条丢了也可以用转账记录证明。 ", T + timedelta(hours=1))
    assert api.sent == [
        {"touser": SEEDS[2].openid, "msgtype": "text", "text": {"content": "借条丢了也可以用转账记录证明。"}}
    ]
    [logged] = replies_for(db_session, row.id)
    assert (logged.status, logged.sender.username, logged.text) == (
        SENT,
        "li",
        "借条丢了也可以用转账记录证明。",
    )
    assert SEEDS[2].openid not in repr(vars(logged))


def test_no_reply_once_the_window_closed(
    db_session: Session, row: Consultation, volunteer: ConsoleUser, api: FakeWeChatApi
) -> None:
    late = T + timedelta(hours=48, minutes=1)
    assert not can_follow_up(row, now=late)
    with pytest.raises(FollowupError, match="48小时"):
        _send(db_session, row, volunteer, api, "太晚了", late)
    assert api.sent == [] and replies_for(db_session, row.id) == []


def test_a_refusal_by_wechat_is_logged_as_failed(
    db_session: Session, row: Consultation, volunteer: ConsoleUser, api: FakeWeChatApi
) -> None:
    api.refuse.append(OUT_OF_WINDOW)
    with pytest.raises(FollowupError, match="群众超过48小时未发消息"):
        _send(db_session, row, volunteer, api, "您好", T + timedelta(hours=2))
    [logged] = replies_for(db_session, row.id)
    assert logged.status == FAILED and "45015" in (logged.error or "")


@pytest.mark.parametrize(("text", "message"), [("   ", "不能为空"), ("长" * 700, "最多 2048 字节")])
def test_empty_or_too_long_texts_are_refused_before_sending(
    db_session: Session,
    row: Consultation,
    volunteer: ConsoleUser,
    api: FakeWeChatApi,
    text: str,
    message: str,
) -> None:
    with pytest.raises(FollowupError, match=message):
        _send(db_session, row, volunteer, api, text, T)
    assert api.tokens == [] and replies_for(db_session, row.id) == []


def test_control_characters_are_dropped_before_sending_and_storing(
    db_session: Session, row: Consultation, volunteer: ConsoleUser, api: FakeWeChatApi
) -> None:
    """PostgreSQL refuses NUL in text (the reply was sent, then its log row failed with a 500)."""
    _send(db_session, row, volunteer, api, "您好\x00，请\x0b带上借条。", T + timedelta(hours=1))
    assert api.sent[-1]["text"] == {"content": "您好，请带上借条。"}
    assert [r.text for r in replies_for(db_session, row.id)] == ["您好，请带上借条。"]
