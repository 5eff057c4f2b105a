"""What commands print: the one place in bot/ that writes to standard output or error (ruff's T201 allows it
here and nowhere else)."""

from __future__ import annotations

import json
import sys
from typing import Any


def say(text: str) -> None:
    """A line of a command's result, on standard output."""
    print(text)


def say_json(value: Any) -> None:
    """A command's result as one JSON line (UTF-8 kept readable)."""
    print(json.dumps(value, ensure_ascii=False, default=str))


def complain(text: str) -> None:
    """An error a user can fix, on standard error."""
    print(text, file=sys.stderr)
