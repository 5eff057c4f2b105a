"""Several workers on one database (or one Redis): a retry on any worker gets one record and one reply.

In-process pairs of apps check the sharing on every backend; `pufa serve --workers 2` on PostgreSQL
checks it across real processes, and that SIGKILLing a worker under load loses no answered record.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.answers import replies
from bot.answers.composer import VERDICT_ASK
from bot.app import create_app, township_from_settings
from bot.ops.loadgen import drive
from bot.records.database import make_engine, make_session_factory
from bot.records.models import Consultation
from indexing.retrieval import Retriever
from tests.fixtures.postgres import PostgresCluster, postgres_copy
from tests.fixtures.serve import ServeProcess, children_of, is_alive, pufa_serve
from tests.fixtures.web import (
    LIVE_RATE_LIMIT,
    TOKEN,
    FakeWeChat,
    LiveServer,
    WeChatReply,
    consultations,
    live_settings,
    new_msg_id,
    new_openid,
    run_live_server,
)

QUESTION = "邻居借了我五千块钱一直不还怎么办"
LOAD_QUESTIONS = ["调解协议有没有法律效力", "人民调解员是怎么产生的", "调解不成怎么办", "村里有调解委员会吗"]


def _same_message_everywhere(urls: list[str], copies: int) -> tuple[str, list[WeChatReply]]:
    """One MsgId sent `copies` times at once, spread over `urls`, as WeChat's retries could land."""
    openid, msg_id = new_openid(), new_msg_id()
    fakes = [FakeWeChat(urls[n % len(urls)]) for n in range(copies)]
    barrier = threading.Barrier(copies)
    answers: list[WeChatReply] = []

    def send(fake: FakeWeChat) -> None:
        barrier.wait()
        answers.append(fake.ask(openid, QUESTION, msg_id=msg_id))

    threads = [threading.Thread(target=send, args=(f,)) for f in fakes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for fake in fakes:
        fake.client.close()
    return openid, answers


@pytest.fixture(scope="module", params=["database", "redis"])
def worker_pair(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    live_db_url: str,
    live_retriever: Retriever,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two apps on one database, sharing state through it or through Redis, as two workers would."""
    extra = {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    with ExitStack() as stack:
        servers = []
        for n in range(2):
            data_dir = tmp_path_factory.mktemp(f"worker-{n}")
            settings = live_settings(data_dir, live_db_url, **extra)
            app = create_app(settings, retriever=live_retriever)
            servers.append(stack.enter_context(run_live_server(app, settings, data_dir / "server.log")))
        yield servers[0], servers[1]


def test_simultaneous_copies_on_two_workers_get_one_reply_and_one_record(
    worker_pair: tuple[LiveServer, LiveServer], live_sessions: sessionmaker[Session]
) -> None:
    openid, answers = _same_message_everywhere([s.url for s in worker_pair], copies=6)
    assert len(answers) == 6 and {a.status for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    (row,) = consultations(live_sessions, openid=openid)
    assert row.reply == answers[0].content


def test_the_rate_limit_counts_messages_on_every_worker(worker_pair: tuple[LiveServer, LiveServer]) -> None:
    openid = new_openid()
    fakes = [FakeWeChat(s.url) for s in worker_pair]
    township = township_from_settings(worker_pair[0].settings)
    answers = [fakes[n % 2].ask(openid, f"{QUESTION} {n}").content for n in range(LIVE_RATE_LIMIT + 1)]
    assert replies.rate_limited(township) not in answers[:-1]
    assert answers[-1] == replies.rate_limited(township)


def test_a_verdict_on_the_other_worker_is_recorded_once_and_its_retry_thanked_alike(
    worker_pair: tuple[LiveServer, LiveServer], live_sessions: sessionmaker[Session]
) -> None:
    """The answer from one worker, the 2 to the other, WeChat's retry of the 2 back to the first."""
    openid, msg_id = new_openid(), new_msg_id()
    first, second = (FakeWeChat(s.url) for s in worker_pair)
    township = township_from_settings(worker_pair[0].settings)
    try:
        assert VERDICT_ASK in first.ask(openid, QUESTION).content
        assert second.ask(openid, "2", msg_id=msg_id).content == replies.verdict_thanks(2, township)
        assert first.ask(openid, "2", msg_id=msg_id).content == replies.verdict_thanks(2, township)
    finally:
        first.client.close()
        second.client.close()
    (row,) = consultations(live_sessions, openid=openid)
    assert (row.question, row.satisfaction) == (QUESTION, 2)


# --- pufa serve --workers 2 on PostgreSQL -----------------------------------------------------------------


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    mediation_data_dir: Path,
    postgres: PostgresCluster,
    postgres_template: str,
) -> Iterator[tuple[ServeProcess, str]]:
    with (
        postgres_copy(postgres, postgres_template) as url,
        pufa_serve(
            mediation_data_dir,
            tmp_path_factory.mktemp("serve-2"),
            url,
            workers=2,
            PUFA_SPOOL_REPLAY_S="0.5",
            PUFA_LOG_FORMAT="json",
        ) as process,
    ):
        yield process, url


def _stored_msg_ids(url: str) -> Counter[str]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return Counter(m for m in session.scalars(select(Consultation.msg_id)) if m is not None)
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_two_processes_answer_copies_of_a_message_once(served: tuple[ServeProcess, str]) -> None:
    process, url = served
    assert len(process.worker_pids()) == 2
    for _ in range(3):
        openid, answers = _same_message_everywhere([process.url], copies=6)
        assert {a.status for a in answers} == {200} and len({a.content for a in answers}) == 1
    stored = _stored_msg_ids(url)
    assert stored and set(stored.values()) == {1}


@pytest.mark.postgresql
def test_the_supervising_process_never_loads_the_model(served: tuple[ServeProcess, str]) -> None:
    process, _ = served
    assert "preparing the model and the index in a child process" in process.logs()
    # It holds no retriever: a fraction of what each worker holds with one.
    workers = [_resident_mb(pid) for pid in process.worker_pids()]
    assert _resident_mb(process.process.pid) < min(workers) / 2, workers


def _resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


@pytest.mark.postgresql
def test_json_logs_hold_neither_openid_nor_question(served: tuple[ServeProcess, str]) -> None:
    process, _ = served
    openid, msg_id, question = new_openid(), new_msg_id(), "我家宅基地被邻居占了一米多宽怎么调解"
    fake = FakeWeChat(process.url)
    assert fake.ask(openid, question, msg_id=msg_id).status == 200
    fake.client.close()
    logs = process.logs()
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {"time", "level", "logger", "pid", "message"} <= set(entries[-1])
    assert any(f"msg={msg_id} " in e["message"] and e["logger"] == "bot.conversation.dialogue" for e in entries)
    assert {e["pid"] for e in entries if e["logger"] == "bot.conversation.dialogue"} <= set(process.worker_pids())
    assert openid not in logs and question not in logs and "宅基地" not in logs


@pytest.mark.postgresql
def test_a_worker_killed_under_load_loses_no_answered_record(served: tuple[ServeProcess, str]) -> None:
    process, url = served
    victim = process.worker_pids()[0]
    orphans = children_of(victim)
    assert orphans, "each worker searches in a retrieval process of its own"
    killer = threading.Timer(1.5, os.kill, args=(victim, signal.SIGKILL))
    killer.start()
    try:
        report = drive(process.url + "/wechat", TOKEN, LOAD_QUESTIONS, duration_s=4, concurrency=8, retries=3)
    finally:
        killer.cancel()
        killer.join()
    assert victim not in process.worker_pids()
    assert len(report.answered) > 20
    stored = _stored_msg_ids(url)
    answered = Counter(report.answered)
    assert set(answered.values()) == {1}
    missing = [m for m in answered if stored[m] != 1]
    assert missing == [], f"{len(missing)} answered messages without exactly one record"
    assert max(stored.values()) == 1
    deadline = time.monotonic() + 15  # the retrieval process checks its parent every second
    while any(is_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(is_alive(pid) for pid in orphans), "the killed worker's retrieval process outlived it"
