"""`pufa serve`: refuses unsafe production settings; in development starts with labelled defaults.

The development start-up runs the real command in a subprocess (migrate → build the index → uvicorn)
on one small law, with the session's converted model linked in so nothing is converted twice.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.server import DropQueryString, SkipAnsweredPushes, is_loopback, logging_config
from bot.settings import DEV_SECRET_KEY, DEV_WECHAT_TOKEN, Settings, with_development_defaults
from indexing.embedder import Embedder
from tests.fixtures.web import FakeWeChat, free_port

MEDIATION_LAW = "中华人民共和国人民调解法"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PUFA_* variable or .env from the developer's shell; data under tmp_path."""
    for name in list(os.environ):
        if name.startswith("PUFA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUFA_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "PUFA_WECHAT_TOKEN"),
        ({"PUFA_WECHAT_TOKEN": "real-token"}, "PUFA_SECRET_KEY"),
        ({"PUFA_WECHAT_TOKEN": "changethis", "PUFA_SECRET_KEY": "s3cret-key"}, "PUFA_WECHAT_TOKEN"),
        (
            {
                "PUFA_WECHAT_TOKEN": "real-token",
                "PUFA_SECRET_KEY": "s3cret-key",
                "PUFA_WECHAT_AES_KEY": "short",
            },
            "PUFA_WECHAT_AES_KEY",
        ),
    ],
    ids=["no-secrets", "no-secret-key", "placeholder-token", "bad-aes-key"],
)
def test_production_refuses_to_start_without_secrets(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    named: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.ERROR, logger="bot.server"):
        assert main(["serve", "--port", "1"]) == 2
    assert named in caplog.text and "refusing to start" in caplog.text
    assert not clean_env.exists(), "nothing may be migrated or built before the secrets are checked"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "pufa.example.org"])
def test_development_refuses_a_host_beyond_loopback(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    monkeypatch.setenv("PUFA_ENV", "development")

    def too_far(url: str) -> None:
        raise AssertionError("development must stop before migrating when the host is not loopback")

    monkeypatch.setattr("bot.server.migrations.upgrade", too_far)
    with caplog.at_level(logging.ERROR, logger="bot.server"):
        assert main(["serve", "--host", host, "--port", "1"]) == 2
    assert "loopback only" in caplog.text and repr(host) in caplog.text
    assert not clean_env.exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LOCALHOST", True), ("0.0.0.0", False), ("10.0.0.1", False), ("", False), ("127.0.0.1.nip.io", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_aes_key_makes_plaintext_pushes_refused_unless_told_otherwise() -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)

    aes_key = "a" * 43
    assert not settings().refuses_plaintext
    assert settings(wechat_aes_key=aes_key).refuses_plaintext
    assert not settings(wechat_aes_key=aes_key, wechat_require_encryption=False).refuses_plaintext
    assert settings(wechat_require_encryption=True).refuses_plaintext


def test_development_defaults_are_labelled_and_fill_only_what_is_missing() -> None:
    dev = with_development_defaults(Settings(_env_file=None, env="development", secret_key="mine"))  # type: ignore[call-arg]
    assert (dev.wechat_token, dev.secret_key) == (DEV_WECHAT_TOKEN, "mine")
    assert "NOT-FOR-PRODUCTION" in DEV_WECHAT_TOKEN and "NOT-FOR-PRODUCTION" in DEV_SECRET_KEY
    prod = Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    assert with_development_defaults(prod) is prod


def test_access_log_lines_lose_the_query_string() -> None:
    """WeChat appends the sender's openid to the URL: it must not reach the access log."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", "/wechat?signature=x&openid=oSECRET", "1.1", 200),
        None,
    )
    assert DropQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "POST /wechat HTTP/1.1" 200'
    config = logging_config()
    assert config["handlers"]["access"]["filters"] == ["drop_query", "skip_answered"]


@pytest.mark.parametrize(
    ("method", "path", "status", "kept"),
    [("POST", "/wechat?openid=o1", 200, False), ("POST", "/pufa/wechat", 200, False),
     ("POST", "/wechat", 400, True), ("GET", "/wechat?echostr=1", 200, True),
     ("POST", "/console/login", 200, True)],
)  # fmt: skip
def test_answered_pushes_have_no_access_line(method: str, path: str, status: int, kept: bool) -> None:
    """Their turn line says more; refusals, errors and every other request keep theirs."""
    args = ("127.0.0.1:5", method, path, "1.1", status)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert SkipAnsweredPushes().filter(record) is kept


@pytest.fixture
def dev_server(
    tmp_path: Path, embedder: Embedder, converted_model_dir: Path
) -> Iterator[tuple[str, Path, list[str]]]:
    """`pufa serve` in development mode, no secrets set, one small law; yields (url, data_dir, output)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "models").symlink_to(converted_model_dir.parent, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUFA_")}
    env.update(PUFA_ENV="development", PUFA_DATA_DIR=str(data_dir), PUFA_LAWS=f'["{MEDIATION_LAW}"]')
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(process, url, log_path)
        yield url, data_dir, [log_path.read_text(encoding="utf-8")]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_server(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"pufa serve exited with {process.returncode}\n{log_path.read_text('utf-8')}"
            )
        try:
            httpx.get(url + "/wechat", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"pufa serve did not answer within 180 s\n{log_path.read_text('utf-8')}")


def test_development_serve_migrates_builds_and_answers(dev_server: tuple[str, Path, list[str]]) -> None:
    url, data_dir, (output,) = dev_server
    assert "development mode: PUFA_WECHAT_TOKEN is not set" in output and DEV_WECHAT_TOKEN in output
    assert "development mode: PUFA_SECRET_KEY is not set" in output
    assert "building the index:" in output and "index ready" in output
    assert (data_dir / "index" / "manifest.json").is_file()
    with sqlite3.connect(data_dir / "pufa.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"consultations", "events", "alembic_version"} <= tables
    wechat = FakeWeChat(url, token=DEV_WECHAT_TOKEN)
    echo = wechat.client.get(wechat.url, params={**wechat.signed_query(), "echostr": "hello"})
    assert (echo.status_code, echo.text) == (200, "hello")
    answer = wechat.ask("oDevUser", "调解协议有没有法律效力")
    assert answer.status == 200 and "人民调解法" in answer.content
    forged = FakeWeChat(url, token="another-token").ask("oDevUser", "调解协议有没有法律效力")
    assert forged.status == 403
