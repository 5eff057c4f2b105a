"""Shared state in the database: turn claims, rate-limit windows, the WeChat access token, used signatures.

Times here are Unix seconds (floats): they are compared with every worker's `time.time()`, never shown.
Correctness between workers rests on primary keys and conditional UPDATEs, which SQLite and PostgreSQL
both serialise; no table lock is taken.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.records.database import engine_of
from bot.records.models import Base
from bot.shared_state.base import (
    OWNED,
    PENDING,
    RATE_WINDOW_S,
    TURN_KEEP_S,
    Claim,
    Clock,
    claim_then_allow,
    sliding_count,
)


class TurnClaim(Base):
    """A message being answered (reply None) or answered; `key` is an HMAC, never the raw MsgId/openid."""

    __tablename__ = "turn_claims"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    lease_until: Mapped[float] = mapped_column(Float)
    reply: Mapped[str | None] = mapped_column(Text)


class RateWindow(Base):
    """Messages of one pseudonymous user in one fixed minute (`window` = Unix time // 60)."""

    __tablename__ = "rate_windows"

    user_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class WeChatToken(Base):
    """The account's access_token, and the lease of the worker renewing it (one renewal at a time)."""

    __tablename__ = "wechat_tokens"

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[float | None] = mapped_column(Float)
    lease_until: Mapped[float | None] = mapped_column(Float)


class UsedSignature(Base):
    """A request signature already accepted, with a digest of the body it came with, until it expires."""

    __tablename__ = "used_signatures"

    signature: Mapped[str] = mapped_column(String(40), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    until: Mapped[float] = mapped_column(Float, index=True)


def _rowcount(result: Any) -> int:
    return cast("CursorResult[Any]", result).rowcount


class _Statements:
    """The per-message statements, built once with bound parameters: each is a single atomic statement,
    so it runs in autocommit (no BEGIN/COMMIT round trips) and its compiled form is cached."""

    def __init__(self, dialect: str) -> None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Declarative models' __table__ is typed as a FromClause; it is a Table, which insert/update take.
        turns, rates, used = (cast(Table, model.__table__) for model in (TurnClaim, RateWindow, UsedSignature))
        previous = rates.alias("previous")
        self.claim = (
            insert(turns)
            .values(key=bindparam("turn"), created_at=bindparam("now"), lease_until=bindparam("until"))
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(turns.c.key)
        )
        self.read_claim = select(turns.c.reply, turns.c.lease_until).where(turns.c.key == bindparam("turn"))
        self.take_over = (
            update(turns)
            .where(turns.c.key == bindparam("turn"), turns.c.reply.is_(None),
                   turns.c.lease_until == bindparam("seen"))
            .values(lease_until=bindparam("until"))
        )  # fmt: skip
        self.store_reply = (
            update(turns).where(turns.c.key == bindparam("turn")).values(reply=bindparam("text"))
        )
        self.insert_reply = (  # claimed in memory during an outage; if another worker stored one, it stands
            insert(turns)
            .values(key=bindparam("turn"), created_at=bindparam("now"), lease_until=bindparam("now"),
                    reply=bindparam("text"))
            .on_conflict_do_nothing(index_elements=["key"])
        )  # fmt: skip
        # One statement counts the message and reads the previous minute's count.
        self.count = (
            insert(rates)
            .values(user_ref=bindparam("user"), window=bindparam("minute"), count=1)
            .on_conflict_do_update(index_elements=["user_ref", "window"], set_={"count": rates.c.count + 1})
            .returning(
                rates.c.count,
                select(previous.c.count)
                .where(previous.c.user_ref == bindparam("user"), previous.c.window == bindparam("minute") - 1)
                .scalar_subquery(),
            )
        )
        self.use_signature = (
            insert(used)
            .values(signature=bindparam("sig"), body_digest=bindparam("digest"), until=bindparam("until"))
            .on_conflict_do_nothing(index_elements=["signature"])
            .returning(used.c.signature)
        )
        self.read_signature = select(used.c.body_digest, used.c.until).where(used.c.signature == bindparam("sig"))
        self.renew_signature = (  # expired but not yet purged: a new use, unless another worker took it
            update(used)
            .where(used.c.signature == bindparam("sig"), used.c.until == bindparam("seen"))
            .values(body_digest=bindparam("digest"), until=bindparam("until"))
        )
        self.uncount = (
            update(rates)
            .where(rates.c.user_ref == bindparam("user"), rates.c.window == bindparam("minute"))
            .values(count=rates.c.count - 1)
        )


class DatabaseState:
    """SharedState on the activity-record database (SQLite file or PostgreSQL).

    claim, allow and finish run on a Core connection in autocommit, one statement each in the usual case:
    through ORM sessions, each was a transaction of its own (BEGIN, statements, COMMIT), three per
    message, and cost ~3 ms of a worker's CPU per message.
    """

    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock = time.time) -> None:
        self._sessions = sessions
        self._clock = clock
        engine = engine_of(sessions)
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sql = _Statements(engine.dialect.name)

    def claim(self, key: str, *, lease_s: float) -> Claim:
        now = self._clock()
        with self._engine.connect() as conn:
            if conn.execute(self._sql.claim, {"turn": key, "now": now, "until": now + lease_s}).first():
                return OWNED
            row = conn.execute(self._sql.read_claim, {"turn": key}).first()
            if row is None:
                return PENDING  # purged between our two statements
            if row.reply is not None:
                return Claim(owned=False, reply=row.reply)
            if row.lease_until > now:
                return PENDING
            # The owner's lease passed without a reply: it died. Take over, unless another worker just did.
            params = {"turn": key, "seen": row.lease_until, "until": now + lease_s}
            taken = _rowcount(conn.execute(self._sql.take_over, params))
            return OWNED if taken == 1 else PENDING

    def claim_turn(self, key: str, user_ref: str, *, lease_s: float, per_minute: int) -> Claim:
        return claim_then_allow(self, key, user_ref, lease_s=lease_s, per_minute=per_minute)

    def finish(self, key: str, reply: str) -> None:
        with self._engine.connect() as conn:
            if _rowcount(conn.execute(self._sql.store_reply, {"turn": key, "text": reply})) == 0:
                conn.execute(self._sql.insert_reply, {"turn": key, "now": self._clock(), "text": reply})

    def allow(self, user_ref: str, *, per_minute: int) -> bool:
        now = self._clock()
        params = {"user": user_ref, "minute": int(now // RATE_WINDOW_S)}
        with self._engine.connect() as conn:
            current, previous = conn.execute(self._sql.count, params).one()
            if sliding_count(previous or 0, current, now) <= per_minute:
                return True
            # A refused message does not count, so it cannot prolong the block. Messages counted meanwhile
            # see a count one too high only when theirs is over the limit anyway.
            conn.execute(self._sql.uncount, params)
            return False

    def use_signature(self, signature: str, body_digest: str, *, until: float) -> bool:
        params = {"sig": signature, "digest": body_digest, "until": until}
        with self._engine.connect() as conn:
            if conn.execute(self._sql.use_signature, params).first():
                return True
            row = conn.execute(self._sql.read_signature, params).first()
            if row is None:
                return False  # purged between our two statements: refuse rather than guess
            if row.until >= self._clock():
                return bool(row.body_digest == body_digest)
            return _rowcount(conn.execute(self._sql.renew_signature, {**params, "seen": row.until})) == 1

    def token(self, appid: str) -> tuple[str, float] | None:
        with self._sessions() as session:
            row = session.get(WeChatToken, appid)
            if row is None or row.access_token is None or row.expires_at is None:
                return None
            return row.access_token, row.expires_at

    def save_token(self, appid: str, token: str, *, expires_at: float) -> None:
        with self._sessions() as session:
            stmt = update(WeChatToken).where(WeChatToken.appid == appid)
            if _rowcount(session.execute(stmt.values(access_token=token, expires_at=expires_at))) == 0:
                session.add(WeChatToken(appid=appid, access_token=token, expires_at=expires_at))
            session.commit()

    def lease_token(self, appid: str, *, lease_s: float) -> bool:
        now = self._clock()
        with self._sessions() as session:
            if session.get(WeChatToken, appid) is None:
                session.add(WeChatToken(appid=appid))
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
            free = (WeChatToken.lease_until.is_(None)) | (WeChatToken.lease_until < now)
            stmt = (
                update(WeChatToken).where(WeChatToken.appid == appid, free).values(lease_until=now + lease_s)
            )
            taken = _rowcount(session.execute(stmt))
            session.commit()
            return taken == 1

    def release_token(self, appid: str) -> None:
        with self._sessions() as session:
            session.execute(update(WeChatToken).where(WeChatToken.appid == appid).values(lease_until=None))
            session.commit()


def purge_shared_state(session: Session, *, now: float) -> int:
    """Delete turn claims older than an hour, rate windows older than two minutes and expired signatures;
    returns how many."""
    claims = session.execute(delete(TurnClaim).where(TurnClaim.created_at < now - TURN_KEEP_S))
    windows = session.execute(delete(RateWindow).where(RateWindow.window < int(now // RATE_WINDOW_S) - 1))
    signatures = session.execute(delete(UsedSignature).where(UsedSignature.until < now))
    session.commit()
    return _rowcount(claims) + _rowcount(windows) + _rowcount(signatures)
