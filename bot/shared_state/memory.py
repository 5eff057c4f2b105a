"""What one worker remembers between requests: the per-user rate limit and the replies it recently sent.

Both live in memory, per process: bot/shared_state/base.py's MemoryState builds on them, and it is what a
worker falls back to while the shared state (database or Redis) cannot be reached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

Clock = Callable[[], float]
WINDOW_S = 60.0


class RateLimiter:
    """At most `per_minute` messages per user in any sliding 60-second window."""

    def __init__(self, per_minute: int, *, clock: Clock = time.monotonic, max_users: int = 50_000) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_users = max_users
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, user: str) -> bool:
        """Count one message from `user`; False when it is over the limit (it is then not counted)."""
        now = self._clock()
        with self._lock:
            stamps = self._seen.pop(user, None) or deque()
            while stamps and now - stamps[0] >= WINDOW_S:
                stamps.popleft()
            allowed = len(stamps) < self.per_minute
            if allowed:
                stamps.append(now)
            self._seen[user] = stamps  # most recently active last, so the oldest are evicted first
            while len(self._seen) > self._max_users:
                self._seen.popitem(last=False)
            return allowed


class RecentReplies:
    """The last `size` replies by dedupe key (MsgId, or sender + CreateTime for events)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._replies: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._replies.get(key)

    def put(self, key: str, reply: str) -> None:
        with self._lock:
            self._replies[key] = reply
            self._replies.move_to_end(key)
            while len(self._replies) > self._size:
                self._replies.popitem(last=False)
