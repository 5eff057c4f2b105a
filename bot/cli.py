"""The `pufa` command: a thin front end; each subcommand delegates to library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from bot.commands import bench, check, console, ops, retrieval
from bot.commands.output import complain
from bot.ops.backup import BackupError
from bot.settings import Settings, SettingsError
from bot.staff.statistics import PeriodError
from bot.staff.users import UserError
from indexing.build import IndexMismatchError, IndexMissingError
from indexing.cross_validation import FoldsError
from indexing.embedder import EmbedderConfigError, ModelNotAvailableError
from indexing.evaluation import QuestionFileError
from knowledge.corpus import CorpusError
from knowledge.sources import SourceError

Handler = Callable[[argparse.Namespace, Settings], int]
# The one error path of every command: errors a user can fix (a bad file, setting or date, a missing index)
# print their message, never a traceback, and exit with their code. Commands raise; none catches and prints.
USER_ERRORS: dict[type[Exception], int] = {
    QuestionFileError: 2,
    FoldsError: 2,
    IndexMismatchError: 2,
    IndexMissingError: 2,
    CorpusError: 2,
    SourceError: 2,
    EmbedderConfigError: 2,
    ModelNotAvailableError: 2,
    SettingsError: 2,
    ValidationError: 2,
    UserError: 2,
    PeriodError: 2,
    BackupError: 1,  # the input was fine; the copy or restore itself failed
}


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the WeChat webhook server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.server import serve

    return serve(settings, host=args.host, port=args.port, workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pufa", description="普法助手: legal consultation bot for a township")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    for module in (retrieval, bench, console, ops, check):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, Settings())
    except tuple(USER_ERRORS) as exc:
        complain(f"pufa {args.command}: error: {exc}")
        return next(code for kind, code in USER_ERRORS.items() if isinstance(exc, kind))


if __name__ == "__main__":
    sys.exit(main())
