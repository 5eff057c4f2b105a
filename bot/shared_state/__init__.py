"""What the workers of one deployment share: retry claims, rate limits, the WeChat access token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.shared_state.base import MemoryState, Resilient

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.settings import Settings


def open_shared_state(
    settings: Settings, sessions: sessionmaker[Session], *, single_process: bool = False
) -> Resilient:
    """Redis when PUFA_REDIS_URL is set, else the database; memory behind either.

    `single_process`: this process alone answers the account (`pufa serve` with one worker), so claims,
    rate limits and the access token need no sharing and stay in memory: four fewer database round trips
    per message (`pufa bench webhook`, 20 clients: 88 → 102 requests/s). A retry after a restart still
    gets one record and the first reply, from the consultations' unique MsgId.
    """
    if settings.redis_url:
        from bot.shared_state.redis import RedisState

        return Resilient(RedisState.from_url(settings.redis_url, namespace=settings.township))
    if single_process:
        return Resilient(MemoryState())
    from bot.shared_state.database import DatabaseState

    return Resilient(DatabaseState(sessions))
