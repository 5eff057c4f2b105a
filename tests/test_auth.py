"""Console accounts (bot.staff.users) and log-in (bot.staff.auth): argon2 hashes, lock-out, server-side sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bot.staff.auth import (
    ADDRESS_WINDOW,
    FAILURE_RETENTION,
    LOCKOUT,
    MAX_ADDRESS_FAILURES,
    MAX_FAILURES,
    SESSION_LIFETIME,
    AddressAttempts,
    ConsoleSession,
    LoginAttempts,
    LoginFailed,
    LoginLocked,
    authenticate,
    end_session,
    end_user_sessions,
    load_session,
    locked_until,
    purge_login_failures,
    start_session,
)
from bot.staff.users import (
    STAFF,
    VOLUNTEER,
    ConsoleUser,
    UserError,
    common_passwords,
    create_user,
    find_user,
    update_user,
)

PASSWORD = "a-long-enough-password"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def user(db_session: Session) -> ConsoleUser:
    return create_user(db_session, username="  Wang ", password=PASSWORD, role=VOLUNTEER, now=T0)


def _fail(db: Session, name: str, times: int, at: datetime) -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            authenticate(db, name, "wrong password!", now=at)


def test_users_get_a_normalised_name_and_an_argon2id_hash(db_session: Session, user: ConsoleUser) -> None:
    assert user.username == "wang"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert find_user(db_session, "WANG") is user
    assert authenticate(db_session, "Wang", PASSWORD, now=T0) is user


@pytest.mark.parametrize(("changes", "message"), [
    ({"password": "short"}, "too short"),
    ({"password": "x" * 300}, "too long"),
    ({"role": "admin"}, "role 'admin' is unknown"),
    ({"username": "a b"}, "is not allowed"),
    ({"username": "WANG"}, "is taken"),
    # Issue 24: look-alike names and guessable passwords.
    ({"username": "ｗａｎｇ"}, "looks the same as the existing"),  # full-width: NFKC makes it wang
    ({"username": "Ｗang"}, "looks the same as the existing"),
    ({"password": "aaaaaaaaaa"}, "one character repeated"),
    ({"password": "１１１１１１１１１１１"}, "one character repeated"),
    ({"password": "1234567890"}, "most common passwords"),
    ({"password": "WoAiNi1314"}, "most common passwords"),
    ({"password": "Password123"}, "most common passwords"),
])  # fmt: skip
def test_bad_accounts_are_refused_with_the_reason(
    db_session: Session, user: ConsoleUser, changes: dict[str, str], message: str
) -> None:
    values = {"username": "zhang", "password": PASSWORD, "role": STAFF, **changes}
    with pytest.raises(UserError, match=message):
        create_user(db_session, **values)


def test_a_look_alike_of_an_older_unnormalised_name_is_refused(db_session: Session) -> None:
    """A name stored before names were NFKC-normalised still blocks its look-alikes, and still logs in."""
    legacy = create_user(db_session, username="probe", password=PASSWORD, role=VOLUNTEER)
    db_session.execute(text("UPDATE console_users SET username = 'ｐrobe' WHERE id = :id"), {"id": legacy.id})
    db_session.commit()
    with pytest.raises(UserError, match="looks the same as the existing 'ｐrobe'"):
        create_user(db_session, username="probe", password=PASSWORD, role=STAFF)
    assert find_user(db_session, "ｐrobe") is legacy


def test_the_common_password_list_is_shipped_and_sensible() -> None:
    listed = common_passwords()
    assert 100 <= len(listed) <= 250
    assert "woaini1314" in listed and all(p == p.lower() and not p.startswith("#") for p in listed)
    assert PASSWORD not in listed


def test_wrong_password_unknown_name_and_disabled_account_all_fail_alike(
    db_session: Session, user: ConsoleUser
) -> None:
    for name, password in (("wang", "not the password"), ("nobody", PASSWORD)):
        with pytest.raises(LoginFailed):
            authenticate(db_session, name, password, now=T0)
    update_user(db_session, user, active=False)
    with pytest.raises(LoginFailed):
        authenticate(db_session, "wang", PASSWORD, now=T0)
    # Failures are counted per name, also for names that do not exist.
    counts = dict(db_session.execute(select(LoginAttempts.username, LoginAttempts.failures)).all())
    assert counts == {"wang": 2, "nobody": 1}


def test_one_address_trying_many_names_is_locked_even_against_the_right_password(
    db_session: Session, user: ConsoleUser
) -> None:
    attacker, office = "203.0.113.7", "10.0.0.8"
    for n in range(MAX_ADDRESS_FAILURES - 1):  # a few guesses at each of many names: no name is locked
        with pytest.raises(LoginFailed):
            authenticate(db_session, f"user{n // 4}", "guess", address=attacker, now=T0)
    with pytest.raises(LoginLocked) as locked:
        authenticate(db_session, "user99", "guess", address=attacker, now=T0)
    assert (locked.value.by_address, locked.value.until) == (True, T0 + LOCKOUT)
    with pytest.raises(LoginLocked):
        authenticate(db_session, "wang", PASSWORD, address=attacker, now=T0 + LOCKOUT / 2)
    assert authenticate(db_session, "wang", PASSWORD, address=office, now=T0) is user
    assert authenticate(db_session, "wang", PASSWORD, address=attacker, now=T0 + LOCKOUT) is user


def test_failures_far_apart_do_not_add_up_for_an_address(db_session: Session, user: ConsoleUser) -> None:
    for n in range(MAX_ADDRESS_FAILURES + 5):
        with pytest.raises(LoginFailed):
            authenticate(db_session, f"user{n}", "guess", address="10.0.0.9", now=T0 + n * ADDRESS_WINDOW * 1.1)
    assert db_session.get_one(AddressAttempts, "10.0.0.9").failures == 1


def test_failed_login_rows_are_purged_a_day_after_the_last_failure_unless_locked(
    db_session: Session, user: ConsoleUser
) -> None:
    _fail(db_session, "old typo", 1, T0)
    _fail(db_session, "locked", MAX_FAILURES - 1, T0 + FAILURE_RETENTION)
    with pytest.raises(LoginLocked):
        authenticate(db_session, "locked", "x", address="10.0.0.1", now=T0 + FAILURE_RETENTION)
    with pytest.raises(LoginFailed):
        authenticate(db_session, "fresh", "x", address="10.0.0.2", now=T0 + 2 * FAILURE_RETENTION)
    later = T0 + 2 * FAILURE_RETENTION + timedelta(minutes=1)
    assert purge_login_failures(db_session, now=later) == 3  # "old typo", "locked" (lock over), 10.0.0.1
    names = set(db_session.scalars(select(LoginAttempts.username)))
    assert (names, set(db_session.scalars(select(AddressAttempts.address)))) == ({"fresh"}, {"10.0.0.2"})
    assert purge_login_failures(db_session, now=later) == 0


def test_repeated_failures_lock_the_name_even_against_the_right_password(
    db_session: Session, user: ConsoleUser
) -> None:
    _fail(db_session, "wang", MAX_FAILURES - 1, T0)
    with pytest.raises(LoginLocked) as locked:
        authenticate(db_session, "wang", "still wrong!!", now=T0)
    assert locked.value.until == T0 + LOCKOUT
    just_before = T0 + LOCKOUT - timedelta(seconds=1)
    with pytest.raises(LoginLocked):
        authenticate(db_session, "wang", PASSWORD, now=just_before)
    assert locked_until(db_session, "wang", now=just_before) == T0 + LOCKOUT
    # The lock lives in the database: a new session (another worker) sees it too.
    assert db_session.get(LoginAttempts, "wang").locked_until == T0 + LOCKOUT  # type: ignore[union-attr]
    assert authenticate(db_session, "wang", PASSWORD, now=T0 + LOCKOUT) is user
    assert db_session.get(LoginAttempts, "wang") is None


def test_a_success_resets_the_count_and_an_expired_lock_starts_afresh(
    db_session: Session, user: ConsoleUser
) -> None:
    _fail(db_session, "wang", MAX_FAILURES - 1, T0)
    authenticate(db_session, "wang", PASSWORD, now=T0)
    _fail(db_session, "wang", MAX_FAILURES - 1, T0)  # would lock if the earlier failures still counted
    assert locked_until(db_session, "wang", now=T0) is None
    with pytest.raises(LoginLocked):
        authenticate(db_session, "wang", "wrong again!", now=T0)
    later = T0 + LOCKOUT + timedelta(minutes=1)
    with pytest.raises(LoginFailed):  # one failure after the lock ran out: counted from 1 again
        authenticate(db_session, "wang", "wrong again!", now=later)
    assert db_session.get(LoginAttempts, "wang").failures == 1  # type: ignore[union-attr]


def test_sessions_store_only_a_hash_of_the_token(db_session: Session, user: ConsoleUser) -> None:
    token = start_session(db_session, user, now=T0)
    row = load_session(db_session, token, now=T0 + timedelta(minutes=5))
    assert row is not None and row.user is user and len(row.csrf_token) >= 40
    dump = db_session.execute(text("SELECT token_hash, csrf_token FROM console_sessions")).all()
    assert token not in str(dump)
    assert load_session(db_session, token + "x", now=T0) is None
    assert load_session(db_session, token, now=T0 + SESSION_LIFETIME) is None  # expired
    start_session(db_session, user, now=T0 + SESSION_LIFETIME)  # clears expired sessions on the way
    assert db_session.scalar(select(func.count()).select_from(ConsoleSession)) == 1


def test_logging_out_disabling_or_ending_all_sessions_invalidates_tokens(
    db_session: Session, user: ConsoleUser
) -> None:
    first, second, third = (start_session(db_session, user, now=T0) for _ in range(3))
    end_session(db_session, first)
    assert load_session(db_session, first, now=T0) is None
    assert load_session(db_session, second, now=T0) is not None
    update_user(db_session, user, active=False)
    assert load_session(db_session, second, now=T0) is None
    end_user_sessions(db_session, user)
    assert db_session.scalar(select(ConsoleSession).where(ConsoleSession.user_id == user.id)) is None
    assert len({first, second, third}) == 3


def test_a_new_password_replaces_the_old(db_session: Session, user: ConsoleUser) -> None:
    update_user(db_session, user, password="another-long-password", now=T0 + timedelta(days=1))
    assert user.password_changed_at == T0 + timedelta(days=1)
    with pytest.raises(LoginFailed):
        authenticate(db_session, "wang", PASSWORD, now=T0)
    assert authenticate(db_session, "wang", "another-long-password", now=T0) is user


def test_control_characters_in_a_typed_name_are_counted_not_stored(db_session: Session, user: ConsoleUser) -> None:
    """PostgreSQL refuses NUL in text: a name with one was a 500 there; now it is a plain failure."""
    with pytest.raises(LoginFailed):
        authenticate(db_session, "wang\x00\x01", "wrong password!", address="10.0.0.3\x00", now=T0)
    assert list(db_session.scalars(select(LoginAttempts.username))) == ["wang"]
    assert list(db_session.scalars(select(AddressAttempts.address))) == ["10.0.0.3"]
