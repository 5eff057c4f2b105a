"""Console users: volunteers who review answers and staff who also see statistics, export and manage users.

Passwords are stored only as argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory profile);
common ones (bot/data/common_passwords.txt) and one character repeated are refused. Login names are
NFKC-normalised, so ｐrobe (full-width ｐ) is probe and cannot be a second account beside it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, select, true
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.records.models import Base
from bot.staff.plain_text import strip_xml_illegal

VOLUNTEER = "volunteer"
STAFF = "staff"
ROLES = {VOLUNTEER: "普法志愿者", STAFF: "工作人员"}  # role → the word the console shows
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256  # argon2 hashes anything, but a megabyte "password" is an attack on the CPU
_USERNAME = re.compile(r"^[\w.\-]{2,32}$")  # \w includes Chinese characters: 张三 is a fine login name

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so a wrong name costs as long as a wrong password."""
    return _hasher.hash("pufa: no such user")


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says what to change."""


class ConsoleUser(Base):
    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]

    @property
    def is_staff(self) -> bool:
        return self.role == STAFF

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)


def normalise_username(username: str) -> str:
    """Login names are compared after NFKC (full-width and other compatibility forms folded), case-
    insensitively, without surrounding spaces or control characters (PostgreSQL refuses NUL in text)."""
    return strip_xml_illegal(unicodedata.normalize("NFKC", username)).strip().lower()


@cache
def common_passwords() -> frozenset[str]:
    """bot/data/common_passwords.txt, lower-cased (comments and blank lines left out)."""
    text = (resources.files("bot") / "data" / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r} is unknown; use one of: {', '.join(ROLES)}.")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`; UserError if it is too short or too long."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(
            f"password too short ({len(password)} characters); use at least {MIN_PASSWORD_CHARS}."
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise UserError(f"password too long ({len(password)} characters); use at most {MAX_PASSWORD_CHARS}.")
    if len(set(password)) == 1:
        raise UserError("password is one character repeated; choose one that is hard to guess.")
    if password.lower() in common_passwords():
        raise UserError("password is one of the most common passwords; choose one that is hard to guess.")
    return _hasher.hash(password)


def password_matches(user: ConsoleUser | None, password: str) -> bool:
    """True if `password` is the user's; with no user a dummy hash is checked so timing reveals nothing."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _hasher.verify(user.password_hash if user else _dummy_hash(), password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def find_user(session: Session, username: str) -> ConsoleUser | None:
    """The user with this login name; a name stored before NFKC normalisation is found as it was typed."""
    names = dict.fromkeys((normalise_username(username), strip_xml_illegal(username).strip().lower()))
    for name in names:
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == name)).first()
        if user is not None:
            return user
    return None


def _name_taken(session: Session, name: str) -> str | None:
    """The existing login name that normalises to `name` (older names may not be normalised)."""
    taken = session.scalars(select(ConsoleUser.username)).all()  # a township has tens of users
    return next((other for other in taken if normalise_username(other) == name), None)


def list_users(session: Session) -> list[ConsoleUser]:
    return list(session.scalars(select(ConsoleUser).order_by(ConsoleUser.role, ConsoleUser.username)))


def create_user(
    session: Session, *, username: str, password: str, role: str, now: datetime | None = None
) -> ConsoleUser:
    """Add an active user and commit; UserError if the name is malformed or taken."""
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise UserError(f"username {username!r} is not allowed; use 2–32 letters, digits, '.', '-' or '_'.")
    _check_role(role)
    other = _name_taken(session, name)
    if other == username.strip().lower():
        raise UserError(f"username {name!r} is taken; choose another or change that user's password.")
    if other is not None:
        raise UserError(f"username {username.strip()!r} looks the same as the existing {other!r}; choose another.")
    at = now or datetime.now(UTC)
    user = ConsoleUser(
        username=name,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=at,
        password_changed_at=at,
    )
    session.add(user)
    session.commit()
    return user


def update_user(
    session: Session,
    user: ConsoleUser,
    *,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> None:
    """Change a user's role, active flag or password and commit. Callers end the user's sessions."""
    if role is not None:
        _check_role(role)
        user.role = role
    if active is not None:
        user.active = active
    if password:
        user.password_hash = hash_password(password)
        user.password_changed_at = now or datetime.now(UTC)
    session.commit()
