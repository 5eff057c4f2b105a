"""Shared state in the database: turn claims, rate-limit windows and the WeChat access token.

Times here are Unix seconds (floats): they are compared with every worker's `time.time()`, never shown.
Correctness between workers rests on primary keys and conditional UPDATEs, which SQLite and PostgreSQL
both serialise; no table lock is taken.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import BigInteger, CursorResult, Float, Integer, String, Text, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.models import Base
from bot.shared_state import OWNED, PENDING, RATE_WINDOW_S, TURN_KEEP_S, Claim, Clock, sliding_count


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


def _rowcount(result: Any) -> int:
    return cast("CursorResult[Any]", result).rowcount


def _count_message(session: Session, user_ref: str, window: int) -> int:
    """Add one to (user_ref, window) atomically and return the new count."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(RateWindow)
        .values(user_ref=user_ref, window=window, count=1)
        .on_conflict_do_update(
            index_elements=["user_ref", "window"], set_={"count": RateWindow.__table__.c.count + 1}
        )
        .returning(RateWindow.count)
    )
    return int(session.execute(stmt).scalar_one())


class DatabaseState:
    """SharedState on the activity-record database (SQLite file or PostgreSQL)."""

    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock = time.time) -> None:
        self._sessions = sessions
        self._clock = clock

    def claim(self, key: str, *, lease_s: float) -> Claim:
        now = self._clock()
        with self._sessions() as session:
            session.add(TurnClaim(key=key, created_at=now, lease_until=now + lease_s))
            try:
                session.commit()
                return OWNED
            except IntegrityError:
                session.rollback()
            row = session.get(TurnClaim, key)
            if row is None or row.reply is not None:
                return Claim(owned=False, reply=row.reply) if row is not None else PENDING
            if row.lease_until > now:
                return PENDING
            # The owner's lease passed without a reply: it died. Take over, unless another worker just did.
            stmt = (
                update(TurnClaim)
                .where(
                    TurnClaim.key == key, TurnClaim.reply.is_(None), TurnClaim.lease_until == row.lease_until
                )
                .values(lease_until=now + lease_s)
            )
            taken = _rowcount(session.execute(stmt))
            session.commit()
            return OWNED if taken == 1 else PENDING

    def finish(self, key: str, reply: str) -> None:
        now = self._clock()
        with self._sessions() as session:
            done = session.execute(update(TurnClaim).where(TurnClaim.key == key).values(reply=reply))
            if _rowcount(done) == 0:  # claimed in memory during an outage
                session.add(TurnClaim(key=key, created_at=now, lease_until=now, reply=reply))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()  # another worker stored it first: its reply stands

    def allow(self, user_ref: str, *, per_minute: int) -> bool:
        now = self._clock()
        window = int(now // RATE_WINDOW_S)
        with self._sessions() as session:
            current = _count_message(session, user_ref, window)
            previous = session.scalar(
                select(RateWindow.count).where(
                    RateWindow.user_ref == user_ref, RateWindow.window == window - 1
                )
            )
            allowed = sliding_count(previous or 0, current, now) <= per_minute
            if not allowed:  # a refused message does not count, so it cannot prolong the block
                session.execute(
                    update(RateWindow)
                    .where(RateWindow.user_ref == user_ref, RateWindow.window == window)
                    .values(count=RateWindow.count - 1)
                )
            session.commit()
            return allowed

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
    """Delete turn claims older than an hour and rate windows older than two minutes; returns how many."""
    claims = session.execute(delete(TurnClaim).where(TurnClaim.created_at < now - TURN_KEEP_S))
    windows = session.execute(delete(RateWindow).where(RateWindow.window < int(now // RATE_WINDOW_S) - 1))
    session.commit()
    return _rowcount(claims) + _rowcount(windows)
