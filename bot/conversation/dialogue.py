"""Conversation dispatch: which reply each message or event gets, and what the activity record keeps.

text → consultation; voice → its Recognition text; 更多 / 人工 / 调解 / 帮助 commands; subscribe →
welcome, menu CLICK → topic guide, unsubscribe → counted; anything else → polite guidance.
A message is claimed in the shared state first (bot/shared_state/base.py), so that a WeChat retry landing on
any worker gets the same reply; records go through the Recorder (database, or the spool during an outage).
Runs in a worker thread: every call here may block (retrieval, the database).
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.answers import replies
from bot.conversation.consultation import Consultant, clean_message
from bot.errors import describe_error, loggable
from bot.records import store as records
from bot.records.followups import record_satisfaction
from bot.records.privacy import pseudonymize
from bot.records.recorder import Recorder
from bot.settings import Settings
from bot.shared_state.base import OWNED, RATE_LIMITED, Claim, SharedState
from bot.wechat.messages import InboundMessage

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

RECORD_RESERVE_S = 0.3  # of the reply budget, kept for storing the record and sending the reply
CLAIM_POLL_S = 0.05  # how often a retry looks for the reply of the worker answering the original
COMMANDS = {"更多": "more", "人工": "person", "调解": "person", "帮助": "help", "help": "help"}
COUNTED_EVENTS = ("subscribe", "unsubscribe", "click")
VERDICT_DIGITS = {"1": 1, "2": 2}  # 回复1满意，2不满意 (bot/answers/composer.py)


def _letters(text: str) -> str:
    """The text's letters and digits, NFKC-folded (full-width １ is 1), spacing and punctuation dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch)[0] in "LN")


def command_of(text: str) -> str | None:
    """ "more", "person" or "help" when the text is just that command (spacing and punctuation ignored)."""
    return COMMANDS.get(_letters(text).lower())


def verdict_of(text: str) -> int | None:
    """1 or 2 when the text is just that digit: maybe the villager's verdict on the last answer."""
    return VERDICT_DIGITS.get(_letters(text))


@dataclass(frozen=True, slots=True)
class Turn:
    """One incoming message or event and its timing."""

    msg: InboundMessage
    channel: str  # "wechat" or "simulator"
    started: float  # time.monotonic() when the request arrived
    deadline: float  # retrieval must be done by then

    def latency_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000


class Dialogue:
    """Replies to messages and events, recording consultations and events on the way."""

    def __init__(
        self, *, settings: Settings, consultant: Consultant, sessions: sessionmaker[Session],
        state: SharedState, recorder: Recorder,
    ) -> None:
        self.consultant = consultant
        self.township = consultant.township
        self.state = state
        self.recorder = recorder
        self._sessions = sessions
        self._secret_key = settings.secret_key
        self._township_name = settings.township
        self._budget_s = settings.reply_budget_s
        self._per_minute = settings.rate_limit_per_minute
        self._window_h = settings.followup_window_h

    def respond(self, msg: InboundMessage, *, channel: str, started: float) -> str:
        """The reply text; "" means "nothing to say" (answered with `success`)."""
        turn = Turn(msg, channel, started, started + self._budget_s - RECORD_RESERVE_S)
        if msg.msg_type == "event":
            kind, reply = self._event(turn)
        else:
            kind, reply = self._claimed(turn)
        # repr: a MsgId, message type or event is the sender's text and must not start a log line of its own.
        log.info("msg=%s user=%s channel=%s turn=%s latency_ms=%.0f", loggable(msg.msg_id or msg.create_time),
                 self._pseudonym(msg.from_user), channel, loggable(kind), turn.latency_ms())
        return reply

    def _claimed(self, turn: Turn) -> tuple[str, str]:
        """Answer a message once across all workers: a retry gets the first reply again."""
        key = pseudonymize(f"{self._township_name}\x1f{turn.msg.dedupe_key}", secret_key=self._secret_key)
        claim = self._await_claim(key, turn)
        if claim.reply is not None:
            return "retry", claim.reply
        if not claim.allowed:
            kind, reply = "rate-limited", replies.rate_limited(self.township)
        else:
            kind, reply = self._message(turn)
        self.state.finish(key, reply)
        return kind, reply

    def _await_claim(self, key: str, turn: Turn) -> Claim:
        """Our claim (its message counted against its sender's rate limit), or the reply another worker
        stored. While another worker is still answering, wait for it up to half the budget, then answer too:
        the record's unique MsgId keeps one record either way."""
        give_up = turn.started + self._budget_s / 2
        user_ref = self._pseudonym(turn.msg.from_user)
        while True:
            claim = self.state.claim_turn(key, user_ref, lease_s=self._budget_s, per_minute=self._per_minute)
            if claim.owned or claim.reply is not None:
                return claim
            if time.monotonic() >= give_up:
                return OWNED if self.state.allow(user_ref, per_minute=self._per_minute) else RATE_LIMITED
            time.sleep(CLAIM_POLL_S)

    def _message(self, turn: Turn) -> tuple[str, str]:
        msg = turn.msg
        if msg.msg_type == "text":
            return self._text(msg.content, turn)
        if msg.msg_type == "voice":
            if clean_message(msg.recognition):
                return self._text(msg.recognition, turn)
            return "voice-without-text", replies.voice_without_text(self.township)
        return f"unsupported-{msg.msg_type[:16]}", replies.non_text_guidance(msg.msg_type, self.township)

    def _text(self, text: str, turn: Turn) -> tuple[str, str]:
        command = command_of(text)
        if command == "more":
            return "more", self._more(turn)
        if command == "person":
            return "person", self._person(text, turn)
        if command == "help":
            return "help", replies.help_text(self.township)
        welcome = replies.small_talk(text, self.township)  # 你好 / 谢谢: no consultation, no "没有找到"
        if welcome is not None:
            return "small-talk", welcome
        verdict = verdict_of(text)
        if verdict is not None and (thanks := self._verdict(verdict, turn)) is not None:
            return "verdict", thanks
        question = clean_message(text)
        if not question:
            return "empty", replies.empty_question(self.township)
        return self._consult(question, turn)

    def _consult(self, question: str, turn: Turn) -> tuple[str, str]:
        outcome = self.consultant.ask(question, deadline=turn.deadline)
        item = records.ConsultationIn(
            channel=turn.channel, msg_id=turn.msg.msg_id, openid=turn.msg.from_user, question=question,
            hits=outcome.hits, answer=outcome.answer, reply_text=outcome.answer.text,
            latency_ms=turn.latency_ms(), fallback=outcome.fallback,
        )
        row = records.build_consultation(item, secret_key=self._secret_key, township=self._township_name,
                                         followup_window_h=self._window_h)  # fmt: skip
        stored = self.recorder.consultation(row)
        if stored is not None and stored != item.reply_text:
            return "retry", stored  # another worker answered this MsgId first: send what it sent
        return ("fallback" if outcome.fallback else "consultation"), item.reply_text

    def _more(self, turn: Turn) -> str:
        keys = self._db((), records.take_more, openid=turn.msg.from_user, secret_key=self._secret_key)
        if not keys:
            return replies.no_more(self.township)
        try:
            return self.consultant.more(keys).text
        except Exception as exc:  # noqa: BLE001 - the villager still gets a reply
            log.error("composing 更多 failed: %s", describe_error(exc))
            return replies.fallback(self.township)

    def _verdict(self, satisfaction: int, turn: Turn) -> str | None:
        """Thanks for a 1 or 2 that follows an answer asking for it, recorded on that consultation; None
        when there is none (or the database fails): then the digit is an ordinary message."""
        found = self._db(None, record_satisfaction, openid=turn.msg.from_user, secret_key=self._secret_key,
                         satisfaction=satisfaction)  # fmt: skip
        return replies.verdict_thanks(satisfaction, self.township) if found is not None else None

    def _person(self, text: str, turn: Turn) -> str:
        reply = replies.person_contacts(self.township)
        msg = turn.msg
        request = records.build_person_request(
            openid=msg.from_user, secret_key=self._secret_key, township=self._township_name,
            channel=turn.channel, question=clean_message(text), reply_text=reply, msg_id=msg.msg_id,
            latency_ms=turn.latency_ms(), within_hours=self._window_h,
        )
        self.recorder.person_request(request, within_hours=self._window_h)
        return reply

    def _event(self, turn: Turn) -> tuple[str, str]:
        msg = turn.msg
        kind = msg.event or "unknown"
        if kind in COUNTED_EVENTS:
            self.recorder.event(records.build_event(
                kind=kind, openid=msg.from_user, create_time=msg.create_time, key=msg.event_key or None,
                secret_key=self._secret_key, township=self._township_name,
            ))
        if kind == "subscribe":
            return "event-subscribe", replies.welcome(self.township)
        if kind == "click":
            topic = replies.menu_topic(msg.event_key, self.township)
            return "event-click", topic if topic is not None else replies.help_text(self.township)
        return f"event-{kind[:16]}", ""  # unsubscribe, VIEW, LOCATION, SCAN: nothing to say

    def _db(self, default: T, work: Callable[Concatenate[Session, P], T],
            *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(session, ...)` for a read, or `default` when the database fails: never worth the reply."""
        try:
            with self._sessions() as session:
                return work(session, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            log.error("database step failed (reply still sent): %s", describe_error(exc))
            return default

    def _pseudonym(self, openid: str) -> str:
        return pseudonymize(openid, secret_key=self._secret_key)[:16]
