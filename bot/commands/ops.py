"""Operations: `pufa backup FILE`, `pufa restore FILE` and `pufa purge` (the retention rules, once)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.commands.output import say, say_json
from bot.ops import backup, retention
from bot.records.database import one_off_session
from bot.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backup", help="copy the database to FILE while the server runs (SQLite or pg_dump)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="replace the database's content with a backup FILE (stop the server)")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_restore)
    p = sub.add_parser("purge", help="erase expired openids, old question text and stale worker state now")
    p.set_defaults(handler=cmd_purge)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    backup.backup(settings.sqlalchemy_url, args.file)
    say(f"backup written to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    backup.restore(settings.sqlalchemy_url, args.file)
    say(f"database restored from {args.file}")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    with one_off_session(settings.sqlalchemy_url) as session:
        purged = retention.purge(session, question_retention_days=settings.question_retention_days)
    say_json(purged.as_dict())
    return 0
