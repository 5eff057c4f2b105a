"""WeChat's customer-service message API (客服消息): send a text to a user who wrote in the last 48 hours.

Two calls: GET token (an access_token valid for expires_in seconds) and POST message/custom/send.
Written on httpx rather than wechatpy's WeChatClient because that client fetches its token from a fixed
api.weixin.qq.com URL (PUFA_WECHAT_API_BASE must point both calls at a proxy or a test server) and
retries token errors without limit. https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.shared_state.base import MemoryState, TokenStore

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential / invalid or expired access_token
OUT_OF_WINDOW = 45015  # the user has not written within 48 h: WeChat refuses the message
TOKEN_MARGIN_S = 300  # renew a little before WeChat says the token expires
TIMEOUT_S = 10.0
TOKEN_WAIT_S = 2 * TIMEOUT_S  # how long to wait for another worker's renewal before giving up


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode (or not at all); errcode None means a transport failure."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        self.errcode, self.errmsg = errcode, errmsg
        super().__init__(f"WeChat API error {errcode}: {errmsg}")


class CustomerService:
    """Sends customer-service texts for one official account; safe to share between threads.

    The access token lives in `tokens`: pass the app's shared state so that every worker uses one token
    (WeChat invalidates the old token a few minutes after each renewal) and only one renews it at a time.
    """

    def __init__(
        self,
        *,
        api_base: str,
        appid: str,
        secret: str,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        tokens: TokenStore | None = None,
    ) -> None:
        if not appid or not secret:
            raise ValueError(
                "PUFA_WECHAT_APPID and PUFA_WECHAT_APPSECRET are needed to send follow-up messages."
            )
        self._base = api_base if api_base.endswith("/") else api_base + "/"
        self._appid, self._secret = appid, secret
        self._client = client or httpx.Client(timeout=TIMEOUT_S)
        self._clock = clock
        self._tokens: TokenStore = tokens or MemoryState(clock=clock)
        self._lock = threading.Lock()

    def send_text(self, openid: str, text: str) -> None:
        """Deliver `text` to the user; WeChatApiError if WeChat refuses (e.g. OUT_OF_WINDOW)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        token = self._access_token()
        try:
            self._post("message/custom/send", body, token)
        except WeChatApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            # Revoked early: one retry, with a token newer than the refused one.
            self._post("message/custom/send", body, self._access_token(refused=token))

    def _access_token(self, *, refused: str | None = None) -> str:
        """A valid token: the stored one, or a new one fetched by whichever worker holds the renewal lease."""
        with self._lock:
            give_up = time.monotonic() + TOKEN_WAIT_S
            while True:
                if (usable := self._stored_token(refused)) is not None:
                    return usable
                if self._tokens.lease_token(self._appid, lease_s=TIMEOUT_S + 1):
                    try:
                        # Look again under the lease: another worker may have renewed and released
                        # between our read and our lease.
                        return self._stored_token(refused) or self._fetch_token()
                    finally:
                        self._tokens.release_token(self._appid)
                if time.monotonic() > give_up:
                    raise WeChatApiError(None, "another worker's token renewal has not finished")
                time.sleep(0.1)

    def _stored_token(self, refused: str | None) -> str | None:
        stored = self._tokens.token(self._appid)
        if stored is not None and stored[0] != refused and stored[1] - TOKEN_MARGIN_S > self._clock():
            return stored[0]
        return None

    def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self._appid, "secret": self._secret}
        data = self._json(lambda: self._client.get(self._base + "token", params=params))
        token = str(data["access_token"])
        expires_at = self._clock() + int(data.get("expires_in", 7200))
        self._tokens.save_token(self._appid, token, expires_at=expires_at)
        return token

    def _post(self, endpoint: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        # Plain UTF-8, as wechatpy sends it: some WeChat clients show \uXXXX escapes literally.
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self._json(
            lambda: self._client.post(
                self._base + endpoint,
                params={"access_token": token},
                content=payload,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        )

    @staticmethod
    def _json(call: Callable[[], httpx.Response]) -> dict[str, Any]:
        """Make the HTTP call and return WeChat's JSON answer; every failure becomes WeChatApiError."""
        try:
            response = call()
        except httpx.HTTPError as exc:
            raise WeChatApiError(None, f"{type(exc).__name__}: WeChat's server could not be reached") from exc
        if response.status_code != 200:
            raise WeChatApiError(None, f"HTTP {response.status_code}")
        try:
            data: dict[str, Any] = response.json()
        except ValueError as exc:
            raise WeChatApiError(None, "the answer was not JSON") from exc
        if int(data.get("errcode", 0)) != 0:
            raise WeChatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
        return data
