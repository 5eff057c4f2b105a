"""Shared test set-up. Fixtures live in tests/fixtures/<area>.py, one module per pipeline step."""

from __future__ import annotations

import os

# No test may reach a model hub: everything must come from installed packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = [
    "tests.fixtures.knowledge",
    "tests.fixtures.model",
    "tests.fixtures.index",
    "tests.fixtures.postgres",
    "tests.fixtures.web",
    "tests.fixtures.redis",
    "tests.fixtures.serve",
    "tests.fixtures.wechat_api",
    "tests.fixtures.console",
]
