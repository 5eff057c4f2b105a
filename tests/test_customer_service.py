"""The customer-service API client (bot.wechat.customer_service) against a local server that speaks WeChat's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.wechat.customer_service import OUT_OF_WINDOW, TOKEN_MARGIN_S, CustomerService, WeChatApiError
from tests.fixtures.web import APP_ID, free_port
from tests.fixtures.wechat_api import APP_SECRET, FakeWeChatApi

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def api() -> Iterator[FakeWeChatApi]:
    fake = FakeWeChatApi()  # one per test: tokens and messages start empty
    yield fake
    fake.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_fetched_once_and_the_text_is_sent_as_utf8_json(api: FakeWeChatApi) -> None:
    service = CustomerService(api_base=api.api_base, appid=APP_ID, secret=APP_SECRET)
    service.send_text(OPENID, "您好，关于借款的问题：可以先申请人民调解。")
    service.send_text(OPENID, "第二条")
    assert api.tokens == ["ACCESS_TOKEN_1"]
    assert api.sent[0] == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您好，关于借款的问题：可以先申请人民调解。"},
    }
    assert "人民调解".encode() in api.raw_bodies[0]  # not \\u escapes
    assert [m["text"]["content"] for m in api.sent] == [
        "您好，关于借款的问题：可以先申请人民调解。",
        "第二条",
    ]


def test_a_revoked_token_is_renewed_once_and_an_expired_one_before_use(api: FakeWeChatApi) -> None:
    clock = Clock()
    service = CustomerService(api_base=api.api_base.rstrip("/"), appid=APP_ID, secret=APP_SECRET, clock=clock)
    service.send_text(OPENID, "一")
    api.revoke()
    service.send_text(OPENID, "二")
    assert api.tokens == ["ACCESS_TOKEN_1", "ACCESS_TOKEN_2"] and len(api.sent) == 2
    clock.now += 7200 - TOKEN_MARGIN_S  # the token's life as WeChat gave it, less the safety margin
    service.send_text(OPENID, "三")
    assert api.tokens[-1] == "ACCESS_TOKEN_3" and len(api.sent) == 3


def test_refusals_and_outages_raise_with_the_code(api: FakeWeChatApi) -> None:
    service = CustomerService(api_base=api.api_base, appid=APP_ID, secret=APP_SECRET)
    api.refuse.append(OUT_OF_WINDOW)
    with pytest.raises(WeChatApiError) as refused:
        service.send_text(OPENID, "超过48小时")
    assert refused.value.errcode == OUT_OF_WINDOW and api.sent == []
    wrong = CustomerService(api_base=api.api_base, appid=APP_ID, secret="not-the-secret")
    with pytest.raises(WeChatApiError, match="40013"):
        wrong.send_text(OPENID, "x")
    down = CustomerService(
        api_base=f"http://127.0.0.1:{free_port()}/cgi-bin/", appid=APP_ID, secret=APP_SECRET
    )
    with pytest.raises(WeChatApiError, match="could not be reached") as unreachable:
        down.send_text(OPENID, "x")
    assert unreachable.value.errcode is None
    with pytest.raises(ValueError, match="PUFA_WECHAT_APPSECRET"):
        CustomerService(api_base=api.api_base, appid=APP_ID, secret="")
