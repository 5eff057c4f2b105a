"""Errors as logs may show them: the type and the place, never the message (it may quote a villager)."""

from __future__ import annotations

import traceback


def describe_error(exc: BaseException) -> str:
    """Exception type and where it was raised, without its message (which may quote the question)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"
