"""Faults under load: PostgreSQL stopped and started again while the webhook is answering.

Every answered message must end up with exactly one record: those that arrived while the database was
down are spooled, then replayed by the app once it is back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.migrations import upgrade
from bot.ops.loadgen import drive
from bot.records.database import make_engine, make_session_factory
from bot.records.models import Consultation
from indexing.retrieval import Retriever
from tests.fixtures.postgres import PostgresCluster, postgres_wanted, running_cluster
from tests.fixtures.web import TOKEN, LiveServer, live_settings, run_live_server

pytestmark = pytest.mark.postgresql
QUESTIONS = ["邻居借钱不还怎么办", "老人没人赡养怎么办", "调解协议有没有法律效力", "宅基地被占了怎么办"]


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own: the test stops it."""
    if not postgres_wanted():
        pytest.skip("PUFA_TEST_POSTGRES=0")
    with running_cluster() as own:
        yield own


@pytest.fixture
def server(cluster: PostgresCluster, tmp_path: Path, live_retriever: Retriever) -> Iterator[LiveServer]:
    url = cluster.create_database("pufa")
    upgrade(url)
    settings = live_settings(
        tmp_path, url, spool_replay_s=0.3, rate_limit_per_minute=1000, reply_budget_s=3.0
    )
    with run_live_server(
        create_app(settings, retriever=live_retriever), settings, tmp_path / "server.log"
    ) as live:
        yield live


def _outage(cluster: PostgresCluster, *, after_s: float, for_s: float) -> threading.Thread:
    def run() -> None:
        time.sleep(after_s)
        cluster.stop("fast")
        time.sleep(for_s)
        cluster.start()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _stored(url: str) -> Counter[str]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return Counter(m for m in session.scalars(select(Consultation.msg_id)) if m is not None)
    finally:
        engine.dispose()


def test_postgresql_stopped_during_load_loses_no_answered_record(
    cluster: PostgresCluster, server: LiveServer
) -> None:
    outage = _outage(cluster, after_s=1.0, for_s=1.5)
    try:
        report = drive(server.url + "/wechat", TOKEN, QUESTIONS, duration_s=4.0, concurrency=6)
    finally:
        outage.join()
    assert report.errors == 0 and len(report.answered) > 20  # the webhook answered throughout
    assert "record spooled" in server.logs()  # the outage did hit requests
    deadline = time.monotonic() + 30
    while server.settings.spool_dir.exists() and list(server.settings.spool_dir.glob("*.jsonl")):
        assert time.monotonic() < deadline, "the spool was not replayed within 30 s"
        time.sleep(0.2)
    stored = _stored(server.settings.database_url)
    assert Counter(report.answered) == stored  # every answered message once, nothing else
    ready = httpx.get(server.url + "/readyz", timeout=5).json()
    assert ready == {"status": "ready", "database": "ok", "spooled_files": 0}


def test_readyz_reports_the_outage_and_healthz_stays_up(cluster: PostgresCluster, server: LiveServer) -> None:
    assert httpx.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    cluster.stop("fast")
    try:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert (ready.status_code, ready.json()["database"]) == (200, "unreachable")
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    finally:
        cluster.start()
