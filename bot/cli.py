"""The `pufa` command: a thin front end; each subcommand delegates to library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from bot.commands import bench, check, console, ops, retrieval
from bot.settings import Settings, SettingsError
from indexing.build import IndexMismatchError, IndexMissingError
from indexing.cross_validation import FoldsError
from indexing.embedder import EmbedderConfigError, ModelNotAvailableError
from indexing.evaluation import QuestionFileError
from knowledge.corpus import CorpusError
from knowledge.sources import SourceError

Handler = Callable[[argparse.Namespace, Settings], int]
USER_ERRORS = (QuestionFileError, FoldsError, IndexMismatchError, IndexMissingError, CorpusError, SourceError,
               EmbedderConfigError, ModelNotAvailableError, SettingsError, ValidationError)


def _add_serve(sub: argparse._SubParsersAction) -> None:
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
    except USER_ERRORS as exc:
        # Errors a user can fix (bad file, missing index, bad setting): the message, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
