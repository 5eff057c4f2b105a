"""`pufa build`, `pufa ask`, `pufa eval`, `pufa bench retrieval` through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexing.embedder import DEFAULT_MODEL_DIR

PUFA = Path(sys.executable).with_name("pufa")
MEDIATION_LAW = "中华人民共和国人民调解法"
MEDIATION_CHUNKS = 87  # its 35 articles, one part each, and the 52 sentences of its longer articles


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory, converted_model_dir: Path) -> dict[str, str]:
    """A data dir whose model cache is the session's converted model, and a one-law corpus."""
    data = tmp_path_factory.mktemp("cli-data")
    (data / "models").mkdir()
    (data / "models" / DEFAULT_MODEL_DIR).symlink_to(converted_model_dir, target_is_directory=True)
    env = {**os.environ, "PUFA_DATA_DIR": str(data), "PUFA_LAWS": json.dumps([MEDIATION_LAW])}
    return env


def pufa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PUFA), *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def test_build_then_rebuild_reuses_every_vector(cli_env: dict[str, str]) -> None:
    first = pufa(cli_env, "build")
    assert first.returncode == 0, first.stderr
    assert f"chunks: {MEDIATION_CHUNKS}" in first.stdout
    assert f"re-embedded: {MEDIATION_CHUNKS}" in first.stdout
    assert "embedding" in first.stderr  # progress bar on stderr
    second = pufa(cli_env, "build")
    assert second.returncode == 0 and "re-embedded: 0" in second.stdout


def test_ask_prints_citation_path_score_and_retrievers(cli_env: dict[str, str]) -> None:
    done = pufa(cli_env, "ask", "村里调解委员会调解达成的协议算不算数", "-k", "3")
    assert done.returncode == 0, done.stderr
    assert "《中华人民共和国人民调解法》第" in done.stdout and "found by:" in done.stdout
    hits = json.loads(pufa(cli_env, "ask", "人民调解法第三十一条", "--json").stdout)
    assert hits[0]["citation"] == "《中华人民共和国人民调解法》第三十一条" and "direct" in hits[0]["retrievers"]
    assert hits[0]["path"] and isinstance(hits[0]["score"], float)


def test_eval_reports_every_metric_for_every_retriever(cli_env: dict[str, str], tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        {"query": "调解达成的协议有没有法律约束力", "gold": [{"law": MEDIATION_LAW, "article": 31}], "x": 1},
        {"query": "调解要不要交钱", "gold": [{"law": MEDIATION_LAW, "article": 4}]},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    done = pufa(cli_env, "eval", "--questions", str(questions), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 2 and set(report["retrievers"]) == {"hybrid", "bm25", "dense", "bank"}
    for metrics in report["retrievers"].values():
        assert {f"{m}@{k}" for m in ("recall", "hit") for k in (1, 3, 5, 10, 20)} | {"mrr@10", "ndcg@10"} \
            == set(metrics)
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    table = pufa(cli_env, "eval", "--questions", str(questions))
    assert "mrr@10" in table.stdout and "hybrid" in table.stdout


def test_eval_names_a_bad_question_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x"}\n', encoding="utf-8")
    done = pufa(cli_env, "eval", "--questions", str(bad))
    assert done.returncode != 0 and "line 1" in done.stderr


def test_bench_retrieval_prints_its_figures(cli_env: dict[str, str], tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"query": "调解协议", "gold": [{"law": MEDIATION_LAW, "article": 31}]},
                                    ensure_ascii=False), encoding="utf-8")
    done = pufa(cli_env, "bench", "retrieval", "--questions", str(questions), "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert {"query_ms_p50", "query_ms_p99", "rerank_ms_p50", "index_build_s", "rss_mb"} <= set(figures)
    assert 0 < figures["rerank_ms_p50"] <= figures["query_ms_p99"]
    assert figures["chunks"] == MEDIATION_CHUNKS and figures["query_ms_p50"] > 0


def _questions(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


MEDIATION_QUESTIONS = [
    {"query": "调解达成的协议有没有法律约束力", "gold": [{"law": MEDIATION_LAW, "article": 31}]},
    {"query": "调解要不要交钱", "gold": [{"law": MEDIATION_LAW, "article": 4}]},
    {"query": "调解员偏袒一方怎么办", "gold": [{"law": MEDIATION_LAW, "article": 15}]},
    {"query": "签了调解协议可以去法院确认吗", "gold": [{"law": MEDIATION_LAW, "article": 33}]},
    {"query": "刑法问题", "gold": [{"law": "中华人民共和国刑法", "article": 20}], "three_laws": False},
]


def test_eval_cross_validates_real_questions(cli_env: dict[str, str], tmp_path: Path) -> None:
    questions = _questions(tmp_path / "q.jsonl", MEDIATION_QUESTIONS)
    done = pufa(cli_env, "eval", "--questions", str(questions), "--cv", "2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 4 and report["skipped"] == 1
    assert report["cv"]["folds"] == 2 and [f["n"] for f in report["cv"]["per_fold"]] == [2, 2]
    for fold in report["cv"]["per_fold"]:
        assert set(fold["retrievers"]) == set(report["retrievers"]) == {"hybrid", "bm25", "dense", "bank"}
    table = pufa(cli_env, "eval", "--questions", str(questions), "--cv", "2")
    assert "mean of 2 held-out folds" in table.stdout and "1 skipped" in table.stdout


@pytest.mark.parametrize(("gold", "message"), [
    ({"law": "中华人民共和国民法典", "article": 1079}, "line 2: unknown law '中华人民共和国民法典'"),
    ({"law": MEDIATION_LAW, "article": 99}, f"line 2: {MEDIATION_LAW} has no article 99"),
])
def test_eval_refuses_unknown_laws_and_articles(cli_env: dict[str, str], tmp_path: Path,
                                                gold: dict[str, object], message: str) -> None:  # fmt: skip
    questions = _questions(tmp_path / "q.jsonl", [MEDIATION_QUESTIONS[0], {"query": "x", "gold": [gold]}])
    done = pufa(cli_env, "eval", "--questions", str(questions))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_eval_refuses_more_folds_than_questions(cli_env: dict[str, str], tmp_path: Path) -> None:
    questions = _questions(tmp_path / "q.jsonl", MEDIATION_QUESTIONS[:3])
    done = pufa(cli_env, "eval", "--questions", str(questions), "--cv", "5")
    assert done.returncode == 2 and "more folds than questions (3)" in done.stderr
    assert "Traceback" not in done.stderr
