"""memory: the per-user sliding-window rate limit and the recent-replies cache."""

from __future__ import annotations

from bot.shared_state.memory import RateLimiter, RecentReplies


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_per_user() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # other users have their own window
    clock.now += 59.9
    assert not limiter.allow("a")
    clock.now += 0.1  # the first three messages leave the window together
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_refused_messages_do_not_extend_the_block() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.allow("a")
    for _ in range(5):
        clock.now += 10
        assert not limiter.allow("a")
    clock.now += 10.0
    assert limiter.allow("a")  # 60 s after the one counted message


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1, max_users=2)
    for user in ("a", "b", "c"):
        assert limiter.allow(user)
    assert limiter.allow("a")  # the least recently active user was forgotten
    replies = RecentReplies(size=2)
    for key in ("1", "2", "3"):
        replies.put(key, f"reply {key}")
    assert (replies.get("1"), replies.get("2"), replies.get("3")) == (None, "reply 2", "reply 3")
