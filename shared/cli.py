"""The command line: ``python -m shared <command>``. Same services as the functions, run in-process."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from shared.app_context import AppContext, get_context
from shared.connect_flow import FlowError, link_expiry_iso
from shared.notify.poison import add_commands as add_poison_commands
from shared.pull.commands import add_commands as add_pull_commands
from shared.registry import Connection
from shared.rotation import rotate_all
from shared.settings import SettingsError

STATUS_COLUMNS = (
    "vendor",
    "user_id",
    "status",
    "vendor_user_id",
    "last_refresh_at",
    "last_rotation_at",
    "last_pull_at",
    "last_error",
)


def _connections(ctx: AppContext, args: argparse.Namespace) -> list[Connection]:
    return list(ctx.registry.list(args.vendor, args.user))


def cmd_rotate(ctx: AppContext, args: argparse.Namespace) -> int:
    connections = _connections(ctx, args)
    summary = rotate_all(ctx.tokens, connections, concurrency=args.concurrency, force=args.force)
    print(f"rotation: {summary.line()}")
    for problem in summary.problems:
        print(f"  {problem}")
    return 1 if summary.counts.get("failed") else 0


def status_rows(connections: Sequence[Connection]) -> list[dict[str, str]]:
    return [{column: str(getattr(c, column) or "") for column in STATUS_COLUMNS} for c in connections]


def format_table(rows: Sequence[dict[str, str]], columns: Sequence[str]) -> str:
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_status(ctx: AppContext, args: argparse.Namespace) -> int:
    rows = status_rows(_connections(ctx, args))
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(format_table(rows, STATUS_COLUMNS))
    else:
        print("no connections")
    return 0


def cmd_connect(ctx: AppContext, args: argparse.Namespace) -> int:
    link = ctx.connect.start(args.vendor, args.user)
    print(f"Open this link to connect {args.vendor} for {args.user} (valid until {link_expiry_iso(link)}):")
    print(link.url)
    return 0


def cmd_disconnect(ctx: AppContext, args: argparse.Namespace) -> int:
    result = ctx.connect.disconnect(args.vendor, args.user, purge=args.purge)
    print(
        f"{args.vendor}/{args.user}: disconnected; revoked at vendor: {result['revoked_at_vendor']}; "
        f"blobs purged: {result['purged_blobs']}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared", description="wearsync operations")
    sub = parser.add_subparsers(dest="command", required=True)
    rotate = sub.add_parser("rotate", help="rotate the token pairs that are due, in-process")
    rotate.add_argument("--force", action="store_true", help="rotate even pairs that are not due")
    rotate.add_argument("--concurrency", type=int, default=8)
    rotate.set_defaults(handler=cmd_rotate)
    status = sub.add_parser("status", help="list connections and their health (never a token)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)
    for command in (rotate, status):
        command.add_argument("--vendor")
        command.add_argument("--user")
    connect = sub.add_parser("connect", help="print a link that connects a user's vendor account")
    connect.set_defaults(handler=cmd_connect)
    disconnect = sub.add_parser("disconnect", help="revoke and disconnect a user's vendor account")
    disconnect.add_argument("--purge", action="store_true", help="also delete the user's landed data")
    disconnect.set_defaults(handler=cmd_disconnect)
    for command in (connect, disconnect):
        command.add_argument("--vendor", required=True)
        command.add_argument("--user", required=True)
    add_pull_commands(sub)
    add_poison_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        ctx = get_context()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    try:
        code: int = args.handler(ctx, args)
    except FlowError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
