"""Shared state between workers: one contract, checked on the database (SQLite, PostgreSQL) and on Redis.

Each "worker" is its own state object on the same backend, as separate processes would have.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.records.database import make_engine, make_session_factory
from bot.shared_state import open_shared_state
from bot.shared_state.base import Claim, MemoryState, Resilient, SharedState
from bot.shared_state.database import (
    DatabaseState,
    RateWindow,
    TurnClaim,
    UsedSignature,
    purge_shared_state,
)
from bot.wechat.customer_service import CustomerService
from tests.fixtures.web import APP_ID, DB_BACKENDS, backend_url, live_settings
from tests.fixtures.wechat_api import APP_SECRET, FakeWeChatApi

Worker = Callable[[], SharedState]
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)  # the start of a minute


@pytest.fixture(params=[*DB_BACKENDS, pytest.param("redis", id="redis")])
def new_worker(
    request: pytest.FixtureRequest, tmp_path: Path, _migrated_sqlite_file: Path, clock: Clock
) -> Iterator[Worker]:
    """Makes the state objects of one deployment's workers: on SQLite, PostgreSQL or Redis."""
    if request.param == "redis":
        from bot.shared_state.redis import RedisState

        url = request.getfixturevalue("redis_url")
        pytest.importorskip("redis").Redis.from_url(url).flushdb()
        yield lambda: RedisState.from_url(url, namespace="青山镇", clock=clock)
        return
    for url in backend_url(request, tmp_path / "pufa.db", _migrated_sqlite_file):
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        yield lambda: DatabaseState(sessions, clock=clock)  # noqa: B023 - used before the loop moves on
        engine.dispose()


def test_a_turn_is_claimed_once_and_its_reply_is_shared(new_worker: Worker) -> None:
    a, b = new_worker(), new_worker()
    assert a.claim("k1", lease_s=30).owned
    pending = b.claim("k1", lease_s=30)
    assert (pending.owned, pending.reply) == (False, None)
    a.finish("k1", "答复一")
    assert b.claim("k1", lease_s=30).reply == "答复一"
    assert b.claim("k2", lease_s=30).owned  # another message is another turn


def test_concurrent_claims_have_one_winner(new_worker: Worker) -> None:
    workers = [new_worker() for _ in range(8)]
    barrier = threading.Barrier(len(workers))
    owned: list[bool] = []

    def run(state: SharedState) -> None:
        barrier.wait()
        owned.append(state.claim("same", lease_s=30).owned)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(owned) == [False] * 7 + [True]


def test_the_claim_of_a_dead_worker_is_taken_over_after_its_lease(
    new_worker: Worker, clock: Clock, request: pytest.FixtureRequest
) -> None:
    a, b = new_worker(), new_worker()
    assert a.claim("k", lease_s=0.3).owned  # a dies before finishing
    assert not b.claim("k", lease_s=0.3).owned
    clock.now += 0.5
    time.sleep(0.5 if "redis" in request.node.name else 0)  # Redis expires leases on its own clock
    assert b.claim("k", lease_s=30).owned
    assert not a.claim("k", lease_s=30).owned  # one taker only


def test_rate_limit_is_shared_and_refusals_do_not_count(new_worker: Worker, clock: Clock) -> None:
    a, b = new_worker(), new_worker()
    clock.now += 1
    assert [w.allow("u1", per_minute=3) for w in (a, b, a, b)] == [True, True, True, False]
    assert a.allow("u2", per_minute=3)  # every user has a window of their own
    clock.now += 60  # the previous minute still weighs, fading out
    assert not b.allow("u1", per_minute=3)
    clock.now += 60
    assert [w.allow("u1", per_minute=3) for w in (b, a, b, a)] == [True, True, True, False]


def test_a_claimed_turn_counts_against_its_senders_rate_limit_and_others_do_not(
    new_worker: Worker, clock: Clock
) -> None:
    a, b = new_worker(), new_worker()
    clock.now += 1
    assert a.claim_turn("t1", "u1", lease_s=30, per_minute=2) == Claim(owned=True, allowed=True)
    assert b.claim_turn("t1", "u1", lease_s=30, per_minute=2) == Claim(owned=False)  # pending: not counted
    a.finish("t1", "答复一")
    assert b.claim_turn("t1", "u1", lease_s=30, per_minute=2).reply == "答复一"  # a retry: not counted
    assert b.claim_turn("t2", "u1", lease_s=30, per_minute=2).allowed
    refused = a.claim_turn("t3", "u1", lease_s=30, per_minute=2)
    assert (refused.owned, refused.allowed) == (True, False)  # ours to answer, with the rate-limit reply
    assert b.claim_turn("t4", "u2", lease_s=30, per_minute=2).allowed  # every user has a window of their own
    clock.now += 120  # the refusal did not count: the window empties as if it never came
    assert [w.allow("u1", per_minute=2) for w in (a, b, a)] == [True, True, False]


def test_a_used_signature_is_refused_with_another_body_on_every_worker(
    new_worker: Worker, clock: Clock, request: pytest.FixtureRequest
) -> None:
    a, b = new_worker(), new_worker()
    assert a.use_signature("sig1", "body1", until=clock.now + 1)
    assert b.use_signature("sig1", "body1", until=clock.now + 1)  # the same push again: WeChat resending
    assert not b.use_signature("sig1", "body2", until=clock.now + 1)  # another body: a replay
    assert not a.use_signature("sig1", "body2", until=clock.now + 1)
    assert a.use_signature("sig2", "body2", until=clock.now + 1)  # every signature is its own
    clock.now += 2
    time.sleep(1.5 if "redis" in request.node.name else 0)  # Redis expires keys on its own clock
    assert b.use_signature("sig1", "body3", until=clock.now + 1)  # expired: no longer valid anyway


def test_concurrent_uses_of_one_signature_with_different_bodies_have_one_winner(
    new_worker: Worker, clock: Clock
) -> None:
    workers = [new_worker() for _ in range(8)]
    barrier = threading.Barrier(len(workers))
    accepted: list[bool] = []

    def run(index: int, state: SharedState) -> None:
        barrier.wait()
        accepted.append(state.use_signature("same", f"body{index}", until=clock.now + 3600))

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(accepted) == [False] * 7 + [True]


def test_the_access_token_is_renewed_by_one_worker_and_shared(
    new_worker: Worker, clock: Clock, fake_wechat_api: FakeWeChatApi
) -> None:
    services = [
        CustomerService(api_base=fake_wechat_api.api_base, appid=APP_ID, secret=APP_SECRET, clock=clock,
                        tokens=new_worker())
        for _ in range(4)
    ]  # fmt: skip
    issued = len(fake_wechat_api.tokens)
    barrier = threading.Barrier(len(services))

    def send(service: CustomerService) -> None:
        barrier.wait()
        service.send_text(OPENID, "您好")

    threads = [threading.Thread(target=send, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(fake_wechat_api.tokens) == issued + 1  # four workers, one renewal
    fake_wechat_api.revoke()  # WeChat dropped it early: the next sender renews it, once, for everyone
    for service in services:
        service.send_text(OPENID, "再次")
    assert len(fake_wechat_api.tokens) == issued + 2


def test_database_state_is_purged_after_an_hour(db_session_factory: sessionmaker[Session]) -> None:
    clock = Clock(1_800_000_000.0)
    state = DatabaseState(db_session_factory, clock=clock)
    state.claim("old", lease_s=5)
    state.allow("u", per_minute=3)
    state.use_signature("expired", "b", until=clock.now + 300)
    state.use_signature("swappable", "b", until=clock.now + 10**6)  # a nonce that reads as a later time
    clock.now += 3601
    state.claim("new", lease_s=5)
    with db_session_factory() as session:
        assert purge_shared_state(session, now=clock.now) == 3
        assert [c.key for c in session.query(TurnClaim)] == ["new"]
        assert session.query(RateWindow).count() == 0
        assert [s.signature for s in session.query(UsedSignature)] == ["swappable"]


class Broken:
    def __getattr__(self, name: str) -> Callable[..., object]:
        def fail(*_args: object, **_kwargs: object) -> object:
            raise ConnectionError("shared state down")

        return fail


def test_resilient_state_falls_back_to_memory_and_logs_the_outage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = Resilient(Broken())  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="bot.shared_state.base"):
        assert state.claim("k", lease_s=30).owned
        state.finish("k", "答复")
        assert state.claim("k", lease_s=30).reply == "答复"
        assert state.allow("u", per_minute=1) and not state.allow("u", per_minute=1)
        assert state.use_signature("s", "b1", until=time.time() + 300)
        assert not state.use_signature("s", "b2", until=time.time() + 300)  # still refused: from memory
    assert len(caplog.records) == 1 and "ConnectionError" in caplog.records[0].getMessage()


def test_memory_state_keeps_the_same_contract_within_one_worker() -> None:
    clock = Clock(1_800_000_000.0)
    state = MemoryState(clock=clock)
    assert state.claim("k", lease_s=1).owned and not state.claim("k", lease_s=1).owned
    clock.now += 2
    assert state.claim("k", lease_s=1).owned  # lease passed
    state.finish("k", "r")
    assert state.claim("k", lease_s=1).reply == "r"
    assert state.lease_token(APP_ID, lease_s=5) and not state.lease_token(APP_ID, lease_s=5)
    state.release_token(APP_ID)
    assert state.lease_token(APP_ID, lease_s=5)
    assert state.use_signature("s", "b1", until=clock.now + 1) and not state.use_signature("s", "b2", until=0)
    clock.now += 2
    assert state.use_signature("s", "b2", until=clock.now + 1)  # expired, and forgotten


def test_memory_state_keeps_a_bounded_number_of_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.shared_state.base.MAX_SIGNATURES", 3)
    clock = Clock(1_800_000_000.0)
    state = MemoryState(clock=clock)
    for n in range(5):
        assert state.use_signature(f"s{n}", "b", until=clock.now + 10**6)
    assert not state.use_signature("s4", "other", until=clock.now + 10**6)  # the newest are kept
    assert state.use_signature("s0", "other", until=clock.now + 10**6)  # the oldest made room


def test_a_single_process_keeps_claims_and_rate_limits_off_the_database(
    tmp_path: Path, db_url: str, db_session_factory: sessionmaker[Session]
) -> None:
    settings = live_settings(tmp_path, db_url)
    single = open_shared_state(settings, db_session_factory, single_process=True)
    assert single.claim("msg-1", lease_s=5).owned and not single.claim("msg-1", lease_s=5).owned
    single.finish("msg-1", "答复")
    assert single.claim("msg-1", lease_s=5).reply == "答复"
    assert single.allow("u", per_minute=1) and not single.allow("u", per_minute=1)
    with db_session_factory() as session:
        assert session.query(TurnClaim).count() == 0 and session.query(RateWindow).count() == 0
    shared = open_shared_state(settings, db_session_factory)  # the default: several workers may share it
    assert shared.claim("msg-2", lease_s=5).owned
    with db_session_factory() as session:
        assert [claim.key for claim in session.query(TurnClaim)] == ["msg-2"]
