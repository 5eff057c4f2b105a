"""`pufa serve`: check secrets → migrate the database → build the index if needed → run uvicorn."""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import logging.config
import multiprocessing
import os
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from bot import migrations
from bot.app import create_app
from bot.settings import DEV_DEFAULTS, Settings, SettingsError, with_development_defaults
from bot.wechat import webhook

if TYPE_CHECKING:
    from indexing.retrieval import Retriever

log = logging.getLogger(__name__)

# uvicorn's supervisor kills a worker that does not answer its ping for this long. Loading the model,
# the tokenizer and the index holds the GIL for seconds at a time in native code (parsing the 7.6 MB
# tokenizer alone: 1.1 s on an idle core), so with the default 5 s workers starting side by side on 2
# busy cores were killed and restarted in a loop.
WORKER_HEALTHCHECK_S = 30


class DropQueryString(logging.Filter):
    """Strips the query from uvicorn access-log lines: WeChat puts the sender's openid in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class SkipAnsweredPushes(logging.Filter):
    """Drops the access lines of pushes answered with 200: each has its turn line (bot.conversation.dialogue),
    which says more, and formatting both cost a twentieth of a worker's CPU under load. Refusals and errors
    stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and args[1] == "POST" and args[4] == 200:
            return not str(args[2]).split("?", 1)[0].endswith(webhook.PATH)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, process and message (for journald or a collector).

    The messages are the same as in text form: pufa logs MsgIds and pseudonyms, never an openid or a
    question, and access lines lose their query string (DropQueryString) before they get here.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__  # the type only: messages may quote input
        return json.dumps(entry, ensure_ascii=False)


def logging_config(log_format: str = "text") -> dict[str, Any]:
    """uvicorn's logging, plus pufa's own loggers; access lines lose their query string, and answered pushes
    have none."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"drop_query": {"()": DropQueryString}, "skip_answered": {"()": SkipAnsweredPushes}}
    config["handlers"]["access"]["filters"] = ["drop_query", "skip_answered"]
    config["loggers"]["bot"] = {"handlers": ["default"], "level": "INFO"}
    if log_format == "json":
        config["formatters"] = {"json": {"()": JsonFormatter}}
        for handler in config["handlers"].values():
            handler["formatter"] = "json"
    return config


class _ProgressLog:
    """Logs index-build progress about every tenth of the way."""

    def __init__(self) -> None:
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            log.info("building the index: %d / %d chunks embedded", done, total)


def _open_index(settings: Settings) -> Retriever:
    from bot.search.pipeline import open_retriever  # the model stack loads only when serving

    return open_retriever(settings, build_if_needed=True, progress=_ProgressLog(), answering_only=True)


def _prepare_index_apart(settings: Settings) -> bool:
    """Build the index if needed, and check that it loads, in a child process; whether it did.

    Every worker loads its own retriever: the supervising process would keep the memory of one it loaded
    itself (some 0.8 GB: neither the allocator nor the tokenizer gives it back), so it never loads one."""
    log.info("preparing the model and the index in a child process (the first start: a few minutes)")
    child = multiprocessing.get_context("spawn").Process(target=_prepare_index, args=(settings,), daemon=True)
    child.start()
    child.join()
    return child.exitcode == 0


def _prepare_index(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings.log_format))
    _open_index(settings)


def _export_for_workers(settings: Settings) -> None:
    """Worker processes read Settings from the environment: hand them the development defaults too."""
    for name, value in DEV_DEFAULTS.items():
        if getattr(settings, name) == value:
            os.environ.setdefault(f"PUFA_{name.upper()}", value)


def is_loopback(host: str) -> bool:
    """Whether `host` (as given to --host) listens on this machine's loopback interface only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any interface


def require_loopback_in_development(settings: Settings, host: str) -> None:
    """Development runs with a public token and secret key and non-Secure cookies: loopback only."""
    if settings.is_development and not is_loopback(host):
        raise SettingsError(
            f"PUFA_ENV=development listens on loopback only (127.0.0.1, ::1 or localhost), not --host {host!r}: "
            "its token and secret key are public and its cookies are not Secure. Serve other machines with "
            "production settings (PUFA_ENV=production, real PUFA_WECHAT_TOKEN and PUFA_SECRET_KEY)."
        )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    """Run the webhook server until interrupted; 2 if the configuration is unsafe for this environment, 1 if
    the index cannot be prepared."""
    try:
        settings.require_server_secrets()
        require_loopback_in_development(settings, host)
    except SettingsError as exc:
        log.error("refusing to start: %s", exc)  # before logging is configured: Python prints it to stderr
        return 2
    logging.config.dictConfig(logging_config(settings.log_format))
    settings = with_development_defaults(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # records, spool, keys: owner only
    log.info("migrating the database")
    migrations.upgrade(settings.sqlalchemy_url)
    if workers == 1:
        # The first start also converts the bundled model and exports the question encoder, in silence.
        log.info("loading the model and the index (the first start prepares them: a few minutes)")
        retriever = _open_index(settings)
        log.info("index ready; the webhook will listen on http://%s:%d/wechat", host, port)
        uvicorn.run(create_app(settings, retriever, single_process=True), host=host, port=port,
                    log_config=logging_config(settings.log_format))
    else:
        if not _prepare_index_apart(settings):
            log.error("refusing to start: the index could not be prepared (the reason is logged above)")
            return 1
        log.info("index ready; the webhook will listen on http://%s:%d/wechat", host, port)
        _export_for_workers(settings)
        # N workers each encoding on every CPU would oversubscribe them: give each its share.
        share = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ["PUFA_ENCODER_THREADS"] = str(settings.encoder_threads or share)
        uvicorn.run(
            "bot.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            log_config=logging_config(settings.log_format),
        )
    return 0
