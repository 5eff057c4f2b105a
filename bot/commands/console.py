"""`pufa user add`, `pufa stats`, `pufa export` and `pufa report`: console accounts and staff figures from the shell."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, datetime
from pathlib import Path

from bot.commands.output import say, say_json
from bot.records.database import one_off_session
from bot.settings import Settings
from bot.staff.counts import consultation_stats
from bot.staff.exports import FORMATS, KINDS, annual_paragraph, export_bytes
from bot.staff.statistics import Period
from bot.staff.users import ROLES, UserError, create_user


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("user", help="console accounts").add_subparsers(dest="user", required=True)
    p = users.add_parser("add", help="add a volunteer or staff account to the review console")
    p.add_argument("name")
    p.add_argument("--role", choices=tuple(ROLES), default="volunteer")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=cmd_user_add)

    p = sub.add_parser("export", help="write the records or the month × topic counts to a file")
    p.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD (China time)")
    p.add_argument("--to", dest="last", required=True, help="last day, included")
    p.add_argument("--format", choices=FORMATS, default="xlsx")
    p.add_argument("--kind", choices=KINDS, default="records")
    p.add_argument("--output", type=Path, required=True)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("stats", help="consultation counts (all time, or --from/--to in China time)")
    p.add_argument("--from", dest="first", help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="last", help="last day, included")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("report", help="print the paragraph for the annual 法治政府建设 report")
    p.add_argument("--year", type=int, default=date.today().year)
    p.set_defaults(handler=cmd_report)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码 (password): ")
    if getpass.getpass("再输一次 (again): ") != first:
        raise UserError("the two passwords differ; nothing was saved.")
    return first


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrations import upgrade  # the first account is often made before the first `pufa serve`

    upgrade(settings.sqlalchemy_url)
    password = _read_password(args.password_stdin)
    with one_off_session(settings.sqlalchemy_url) as session:
        user = create_user(session, username=args.name, password=password, role=args.role)
    say(f"added {user.username} ({user.role})")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    period = Period.parse(args.first, args.last, default=Period.year(date.today().year))
    with one_off_session(settings.sqlalchemy_url) as session:
        content = export_bytes(session, period, kind=args.kind, fmt=args.format)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(content)
    say(f"wrote {args.output} ({len(content)} bytes, {args.kind}, {period.first} to {period.last})")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    with one_off_session(settings.sqlalchemy_url) as session:
        say(annual_paragraph(session, Period.year(args.year), settings))
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrations import upgrade  # a fresh install has no tables yet: count zero, don't crash

    start: datetime | None = None
    end: datetime | None = None
    if args.first or args.last:
        period = Period.parse(args.first, args.last, default=Period(date(2000, 1, 1), date.today()))
        start, end = period.start, period.end
    upgrade(settings.sqlalchemy_url)
    with one_off_session(settings.sqlalchemy_url) as session:
        stats = consultation_stats(session, start=start, end=end)
    if args.json:
        say_json(stats)
    else:
        for key, value in stats.items():
            say(f"{key}: {value}")
    return 0
