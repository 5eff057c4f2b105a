"""Console log-in: password checks with a lock-out after repeated failures, and server-side sessions.

Failures are counted per login name (5 lock the name) and per client address (20 within a quarter of an
hour lock the address), so one address cannot try a few passwords on each of many names. The rows are
erased a day after their last failure by the retention job (they may hold a password typed as a name).

The browser holds only a random session token; the database keeps its SHA-256, the user and the
session's CSRF token, so logging out, disabling a user or changing a password takes effect at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, ForeignKey, String, delete, or_
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bot.records.models import Base
from bot.staff.plain_text import strip_xml_illegal
from bot.staff.users import ConsoleUser, find_user, normalise_username, password_matches

MAX_FAILURES = 5  # failed log-ins in a row before the name is locked
LOCKOUT = timedelta(minutes=15)
MAX_ADDRESS_FAILURES = 20  # failed log-ins from one address, each within ADDRESS_WINDOW of the last
ADDRESS_WINDOW = timedelta(minutes=15)
FAILURE_RETENTION = timedelta(days=1)  # then a failure row is purged (it may hold a mistyped password)
SESSION_LIFETIME = timedelta(hours=12)  # one working day on a phone; then log in again


class LoginFailed(Exception):
    """Wrong name or password (deliberately not saying which)."""


class LoginLocked(Exception):
    """Too many failures: the name (or, with `by_address`, the client's address) is locked until `until`."""

    def __init__(self, until: datetime, *, by_address: bool = False) -> None:
        self.until, self.by_address = until, by_address
        super().__init__(f"login locked until {until.isoformat()}")


class _FailureCount:
    """Mixin: a count of failed log-ins and the lock it led to."""

    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class LoginAttempts(_FailureCount, Base):
    """Failures per login name, whether or not the name exists (so locking reveals nothing either)."""

    __tablename__ = "console_login_attempts"

    username: Mapped[str] = mapped_column(String(256), primary_key=True)


class AddressAttempts(_FailureCount, Base):
    """Failures per client address (as uvicorn reports it: behind the proxy, from X-Forwarded-For)."""

    __tablename__ = "console_login_addresses"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    user: Mapped[ConsoleUser] = relationship(lazy="joined")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def locked_until(session: Session, username: str, *, now: datetime | None = None) -> datetime | None:
    """When the lock on this name ends, or None if it may log in now."""
    return _lock_end(session.get(LoginAttempts, normalise_username(username)[:256]), _now(now))


def _address_locked_until(session: Session, address: str, at: datetime) -> datetime | None:
    return _lock_end(session.get(AddressAttempts, address), at)


def _lock_end(row: _FailureCount | None, at: datetime) -> datetime | None:
    if row is None or row.locked_until is None or row.locked_until <= at:
        return None
    return row.locked_until


def _record_address_failure(session: Session, address: str, at: datetime) -> None:
    row = session.get(AddressAttempts, address) or AddressAttempts(address=address, failures=0, last_failure_at=at)
    # A quiet quarter of an hour counts afresh too: failures add up for an address only when close together.
    _count_failure(session, row, at, limit=MAX_ADDRESS_FAILURES, quiet_after=ADDRESS_WINDOW)


def _record_failure(session: Session, name: str, at: datetime) -> None:
    row = session.get(LoginAttempts, name) or LoginAttempts(username=name, failures=0, last_failure_at=at)
    _count_failure(session, row, at, limit=MAX_FAILURES)


def _count_failure(
    session: Session, row: _FailureCount, at: datetime, *, limit: int, quiet_after: timedelta | None = None
) -> None:
    quiet = quiet_after is not None and row.last_failure_at < at - quiet_after
    if quiet or (row.locked_until is not None and row.locked_until <= at):
        row.failures, row.locked_until = 0, None  # an expired lock (or a quiet spell) gives a fresh count
    row.failures += 1
    row.last_failure_at = at
    if row.failures >= limit:
        row.locked_until = at + LOCKOUT
    session.add(row)
    session.commit()


def authenticate(
    session: Session, username: str, password: str, *, address: str | None = None, now: datetime | None = None
) -> ConsoleUser:
    """The active user with this name and password; LoginLocked or LoginFailed otherwise.

    While a name (or the client's `address`) is locked even the right password is refused, so guessing
    cannot go on in the background.
    """
    at = _now(now)
    name = normalise_username(username)[:256]
    address = strip_xml_illegal(address)[:64] if address else None
    until = _address_locked_until(session, address, at) if address else None
    if until is not None:
        raise LoginLocked(until, by_address=True)
    until = locked_until(session, name, now=at)
    if until is not None:
        raise LoginLocked(until)
    user = find_user(session, username)
    if not password_matches(user, password) or user is None or not user.active:
        _record_failure(session, name, at)
        if address:
            _record_address_failure(session, address, at)
            until = _address_locked_until(session, address, at)
            if until is not None:
                raise LoginLocked(until, by_address=True)
        until = locked_until(session, name, now=at)
        raise LoginLocked(until) if until else LoginFailed()
    session.execute(delete(LoginAttempts).where(LoginAttempts.username == name))
    session.commit()
    return user


def purge_login_failures(session: Session, *, now: datetime | None = None) -> int:
    """Delete failure rows (per name and per address) idle for FAILURE_RETENTION and not locked; how many."""
    at = _now(now)
    deleted = 0
    for table in (LoginAttempts, AddressAttempts):
        stmt = delete(table).where(
            table.last_failure_at < at - FAILURE_RETENTION,
            or_(table.locked_until.is_(None), table.locked_until <= at),
        )
        deleted += cast("CursorResult[Any]", session.execute(stmt)).rowcount
    session.commit()
    return deleted


def start_session(session: Session, user: ConsoleUser, *, now: datetime | None = None) -> str:
    """Create a session for `user` and return its token (the cookie value; only its hash is stored).

    Expired sessions of everyone are deleted on the way, so the table never grows without bound.
    """
    at = _now(now)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= at))
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=at,
            expires_at=at + SESSION_LIFETIME,
        )
    )
    session.commit()
    return token


def load_session(session: Session, token: str, *, now: datetime | None = None) -> ConsoleSession | None:
    """The live session for a cookie token, or None (unknown, expired, or its user disabled)."""
    if not token or len(token) > 128:
        return None
    row = session.get(ConsoleSession, _token_hash(token))
    if row is None or row.expires_at <= _now(now) or not row.user.active:
        return None
    return row


def end_session(session: Session, token: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _token_hash(token)))
    session.commit()


def end_user_sessions(session: Session, user: ConsoleUser, *, keep: ConsoleSession | None = None) -> None:
    """Log a user out everywhere (after a password, role or active change), except in session `keep`
    (the one in which users changed their own password: the others may be a thief's)."""
    stmt = delete(ConsoleSession).where(ConsoleSession.user_id == user.id)
    if keep is not None:
        stmt = stmt.where(ConsoleSession.token_hash != keep.token_hash)
    session.execute(stmt)
    session.commit()
