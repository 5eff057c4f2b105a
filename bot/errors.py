"""Errors as logs may show them: the type and the place, never the message (it may quote a villager)."""

from __future__ import annotations

import re
import traceback

LOGGABLE_CHARS = 40
_PLAIN = re.compile(r"[0-9A-Za-z_.:-]*")


def loggable(value: object, limit: int = LOGGABLE_CHARS) -> str:
    """A sender-supplied value (a MsgId, a message type) for a log line or a refusal: as is when it is short
    and plain, else repr() so that a newline cannot start a forged line, cut to `limit` characters so that
    a huge one cannot flood the log."""
    text = str(value)
    if len(text) <= limit and _PLAIN.fullmatch(text):
        return text
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def describe_error(exc: BaseException) -> str:
    """Exception type and where it was raised, without its message (which may quote the question)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"
