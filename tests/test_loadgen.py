"""The load generator and `pufa bench webhook`, against the live server on loopback (a second or two)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.ops.loadgen import LoadReport, NotLoopback, check_loopback, signed_query
from bot.wechat.crypto import verify_query
from tests.fixtures.web import TOKEN, LiveServer


def test_bench_webhook_reports_requests_latency_and_records(
    live_server: LiveServer, live_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"query": "邻居借钱不还怎么办", "gold": [{"law": "中华人民共和国民法典", "article": 675}]}\n'
        '{"query": "调解协议有没有法律效力", "gold": [{"law": "中华人民共和国人民调解法", "article": 31}]}\n',
        encoding="utf-8",
    )
    code = main(["bench", "webhook", "--url", live_server.url + "/wechat", "--duration", "1.5",
                 "--concurrency", "4", "--questions", str(questions), "--database-url", live_db_url,
                 "--token", TOKEN, "--json"])  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(figures) == {"requests", "rps", "p50_ms", "p99_ms", "errors", "records"}
    assert figures["requests"] > 4 and figures["errors"] == 0 and figures["records"] == figures["requests"]
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["rps"] > 0


def test_a_wrong_token_counts_as_errors_and_fails_the_bench(
    live_server: LiveServer, live_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "webhook", "--url", live_server.url + "/wechat", "--duration", "0.5",
                 "--concurrency", "2", "--database-url", live_db_url, "--token", "not-the-token",
                 "--json"])  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert code == 1 and figures["errors"] == figures["requests"] > 0 and figures["records"] == 0
    assert figures["error_kinds"] == {"HTTP 403": figures["errors"]}  # what went wrong, not only how often


def test_only_loopback_servers_are_driven() -> None:
    check_loopback("http://127.0.0.1:8000/wechat")
    check_loopback("http://localhost:8000/wechat")
    for url in ("http://10.0.0.5/wechat", "https://example.org/wechat", "http://192.168.1.2:8000/wechat"):
        with pytest.raises(NotLoopback, match="not on this machine"):
            check_loopback(url)


def test_the_signature_is_what_the_webhook_verifies() -> None:
    query = signed_query(TOKEN)
    assert verify_query(query, token=TOKEN, now=float(query["timestamp"]), max_skew_s=5).encrypted is False


def test_percentiles_come_from_the_measured_latencies() -> None:
    report = LoadReport(started=0.0, elapsed_s=2.0, latencies_ms=[float(n) for n in range(1, 101)])
    report.fail("ReadTimeout")
    report.fail("HTTP 500")
    assert report.figures() == {"requests": 102, "rps": 51.0, "p50_ms": 51.0, "p99_ms": 100.0, "errors": 2,
                                "error_kinds": {"ReadTimeout": 1, "HTTP 500": 1}}
