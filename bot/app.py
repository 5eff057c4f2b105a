"""The web application: `create_app(settings)` wires the retriever, the database and the routes once."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from bot import console
from bot.answers.contacts import default_contacts
from bot.answers.township import Township
from bot.conversation.card_match import CardMatcher
from bot.conversation.consultation import Consultant
from bot.conversation.curated_match import REFRESH_S, CuratedMatcher
from bot.conversation.dialogue import Dialogue
from bot.errors import describe_error
from bot.ops import health, retention
from bot.records.database import make_engine, make_session_factory
from bot.records.recorder import Recorder
from bot.records.spool import Spool
from bot.search.child_process import RetrievalProcess
from bot.search.retrieval import RetrievalThreads, retrieval_threads
from bot.settings import Settings, SettingsError, with_development_defaults
from bot.shared_state import open_shared_state
from bot.wechat import simulator, webhook
from bot.wechat.crypto import Envelope
from indexing.retrieval import Retriever
from indexing.vector_index import one_thread_per_search

log = logging.getLogger(__name__)
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
RETENTION_INTERVAL_S = 3600.0


def township_from_settings(settings: Settings) -> Township:
    return Township(
        name=settings.township,
        bot_name=settings.bot_name,
        mediation_contact=settings.mediation_contact,
        legal_adviser_contact=settings.legal_adviser_contact,
        hotline=settings.hotline,
        contacts=default_contacts().replaced(settings.contact_overrides),
    )


def _load_retriever(settings: Settings) -> Retriever:
    from bot.search.pipeline import open_retriever  # imports the index stack: only when the app must load it

    retriever = open_retriever(settings, answering_only=True)
    # The first search loads jieba's dictionary and warms the encoder (~0.7 s): pay it now,
    # not in the first villager's 5-second window.
    retriever.search("借钱不还怎么办", k=1)
    return retriever


async def _wait_for_child(started: Future[None]) -> None:
    """Until the retrieval process has answered once; if it failed, the worker searches in its threads."""
    with suppress(Exception):  # RetrievalProcess logged why
        await asyncio.wrap_future(started)


def _load_curated(matcher: CuratedMatcher | CardMatcher) -> None:
    """Embed the curated questions (or the approved card edits) before a villager waits for them; a
    database error only postpones it."""
    try:
        matcher.refresh()
    except SQLAlchemyError as exc:  # the background refresh tries again
        log.error("curated answers not loaded at start-up: %s", describe_error(exc))


def _every(name: str, interval_s: float, work: Callable[[], object]) -> asyncio.Task[None]:
    """Run `work` in a thread every `interval_s` seconds until cancelled; failures are logged, not raised."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await run_in_threadpool(work)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.error("%s failed: %s", name, describe_error(exc))

    return asyncio.create_task(loop(), name=name)


def _retention(settings: Settings, sessions: sessionmaker[Session]) -> Callable[[], object]:
    def run() -> object:
        with sessions() as session:
            return retention.purge(session, question_retention_days=settings.question_retention_days)

    return run


def _exempt_from_full_collections() -> None:
    """Keep what start-up loaded (jieba's dictionary, the model's modules: ~560,000 objects) out of the
    collector's full passes. They live as long as the process, and walking them took ~280 ms, a pause
    that every reply in flight waited out."""
    gc.collect()
    gc.freeze()


def _lifespan(settings: Settings, retriever: Retriever | None, single_process: bool) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        one_thread_per_search()
        # Started first, so that the child loads the index while this process does.
        child = RetrievalProcess(settings, shared=not single_process) if settings.retrieval_process else None
        child_started = child.start() if child is not None else None
        loaded = retriever if retriever is not None else await run_in_threadpool(_load_retriever, settings)
        engine = make_engine(settings.sqlalchemy_url)
        sessions = make_session_factory(engine)
        matcher = CuratedMatcher(sessions, loaded.embed_question)
        await run_in_threadpool(_load_curated, matcher)
        threads = RetrievalThreads(loaded, retrieval_threads(loaded))
        if child is not None and child_started is not None:
            child.fallback = threads
            await _wait_for_child(child_started)
        township = township_from_settings(settings)
        cards = await run_in_threadpool(
            lambda: CardMatcher(loaded.embed_question, corpus=loaded.corpus, sessions=sessions)
        )
        await run_in_threadpool(_load_curated, cards)  # staff-approved card edits
        consultant = Consultant(loaded, township, matcher=matcher, pool=child or threads, cards=cards)
        envelope = Envelope(
            token=settings.wechat_token,
            app_id=settings.wechat_appid,
            aes_keys=(settings.wechat_aes_key, settings.wechat_previous_aes_key),
        )
        recorder = Recorder(sessions, Spool(settings.spool_dir))
        state = open_shared_state(settings, sessions, single_process=single_process)
        app.state.session_factory = sessions  # bot.console.deps.DbSession reads it
        app.state.console.tokens = state  # the console's customer-service client shares the access token
        app.state.webhook = webhook.WebhookContext(
            settings=settings,
            envelope=envelope,
            dialogue=Dialogue(
                settings=settings, consultant=consultant, sessions=sessions, state=state, recorder=recorder
            ),
        )
        await run_in_threadpool(recorder.replay)  # what an earlier run spooled, if the database is back
        _exempt_from_full_collections()
        app.state.recorder = recorder  # from here on /readyz says ready
        tasks = [
            _every("spool replay", settings.spool_replay_s, recorder.replay),
            _every("retention", RETENTION_INTERVAL_S, _retention(settings, sessions)),
            _every("curated answers refresh", REFRESH_S, matcher.refresh),
            _every("situation card edits refresh", REFRESH_S, cards.refresh),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            app.state.webhook.turns.shutdown(wait=False)  # uvicorn has already finished the pushes in flight
            recorder.spool.seal()
            consultant.close()
            engine.dispose()

    return lifespan


class PufaApp(FastAPI):
    """FastAPI, with WeChat's pushes (POST /wechat) taken straight to the webhook.

    Every other request goes through FastAPI's middleware and routing; a push skips them: they took about
    a sixth of a worker's CPU under load (1 worker, 20 clients: 2.49 → 2.12 ms a push), for a route that
    needs none of them. The route stays declared in `webhook.router` as well: under a root path
    (`uvicorn --root-path`) the path carries the prefix, and FastAPI's routing takes the push there.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == webhook.PATH:
            scope["app"] = self
            await webhook.serve_push(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, retriever: Retriever | None = None, *, single_process: bool = False
) -> FastAPI:
    """The app; without `retriever`, its lifespan loads corpus, model and index as settings say. With
    `settings.retrieval_process`, a child process loads them as settings say too, and searches.

    `single_process`: no other process answers this account (see `open_shared_state`).
    """
    if not settings.wechat_token:
        # An empty token makes every signature forgeable; `pufa serve` fills in development defaults.
        raise SettingsError("PUFA_WECHAT_TOKEN is empty: set it to the Token of the WeChat server settings.")
    app = PufaApp(
        title=settings.bot_name,
        lifespan=_lifespan(settings, retriever, single_process),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(webhook.router)
    app.include_router(health.router)
    console.mount(app, settings)  # /console: review queue, statistics, exports (routes + static files)
    if settings.simulator:  # Settings refuses simulator=True outside development
        app.include_router(simulator.router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` workers: settings from the environment that `pufa serve` checked."""
    return create_app(with_development_defaults(Settings()))
