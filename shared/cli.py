"""The command line: ``python -m shared <command>``. Same services as the functions, run in-process."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from shared.app_context import AppContext
from shared.cli_args import vendor_name
from shared.cli_moves import json_moves, print_moves
from shared.cli_pull import add_commands as add_pull_commands
from shared.cli_subscriptions import add_commands as add_subscription_commands
from shared.cli_table import format_table
from shared.connect_flow import FlowError, link_expiry_iso
from shared.notify.poison import add_commands as add_poison_commands
from shared.pull.planner import budget_report
from shared.registry import Connection
from shared.rotation import rotate_all
from shared.settings import Settings, SettingsError, load_settings
from shared.storage import QuickFailure, Storage
from shared.vault import TransientStoreError
from shared.vendors.registry import vendors

# Exit status: 1 the command ran and something in it failed; 2 fix the command or the configuration (a usage
# error, a bad setting, credentials storage rejects); 3 a dependency did not answer (try again later).
EXIT_CONFIGURATION = 2
EXIT_UNAVAILABLE = 3

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


BUDGET_COLUMNS = ("vendor", "limit", "per", "used", "left", "reconcile_left")


def cmd_status(ctx: AppContext, args: argparse.Namespace) -> int:
    connections = _connections(ctx, args)
    rows = status_rows(connections)
    if args.json:
        json_moves(ctx, connections, rows)
        print(json.dumps(rows, indent=2))
        return 0
    print(format_table(rows, STATUS_COLUMNS) if rows else "no connections")
    print_moves(ctx, connections)  # moved connections, and those still to move with a connect link each
    budget = [
        {column: str(row.get(column, "")) for column in BUDGET_COLUMNS}
        for row in budget_report(ctx.settings, ctx.budget)
    ]
    if budget:  # requests used and left in each vendor limit's current window (the day's, for a daily limit)
        print("\nrate budgets (used and left in the current window; reconcile_left: beyond the notifications' reserve)")
        print(format_table(budget, BUDGET_COLUMNS))
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
        command.add_argument("--vendor", type=vendor_name)
        command.add_argument("--user")
    connect = sub.add_parser("connect", help="print a link that connects a user's vendor account")
    connect.set_defaults(handler=cmd_connect)
    disconnect = sub.add_parser("disconnect", help="revoke and disconnect a user's vendor account")
    disconnect.add_argument("--purge", action="store_true", help="also delete the user's landed data")
    disconnect.set_defaults(handler=cmd_disconnect)
    for command in (connect, disconnect):
        command.add_argument("--vendor", required=True, type=vendor_name)
        command.add_argument("--user", required=True)
    add_pull_commands(sub)
    add_poison_commands(sub)
    for vendor in vendors().values():  # a package's own subcommands (Vendor.commands)
        if vendor.commands is not None:
            vendor.commands(sub)
    add_subscription_commands(sub)
    return parser


def build_context(settings: Settings) -> AppContext:
    """The services, with storage clients that give up within seconds (see ``QuickFailure``). Nothing is
    called yet: the caller runs ``ensure_resources``, where an unreachable account first shows."""
    ctx = AppContext(settings)
    ctx.storage = Storage(settings.storage, QuickFailure())
    return ctx


def _address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return (parsed.hostname or "").lower(), parsed.port or (443 if parsed.scheme == "https" else 80)


def _failed_address(error: BaseException) -> tuple[str, int] | None:
    """Host and port of the request that failed: from the HTTP response, else from the transport's message
    (urllib3 names ``host='…', port=…`` when it cannot connect or read)."""
    url = getattr(getattr(getattr(error, "response", None), "request", None), "url", None)
    if url:
        return _address(str(url))
    match = re.search(r"host='([^']+)', port=(\d+)", str(error))
    return (match.group(1).lower(), int(match.group(2))) if match else None


def _cause(error: BaseException) -> str:
    """A short, secret-free reason: the HTTP status and service error code, or what the connection did."""
    if isinstance(error, HttpResponseError) and error.status_code:
        code = getattr(error, "error_code", None)  # storage and tables set it; azure-core's base class does not
        code = getattr(code, "value", code) or error.reason or ""
        return f"HTTP {error.status_code} {code}".strip()
    text = str(error).lower()
    for needles, cause in (
        (("refused",), "connection refused"),
        (("timed out", "timeout"), "no answer in time"),
        (("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution"), "host not found"),
    ):
        if any(needle in text for needle in needles):
            return cause
    return type(error).__name__


def describe_failure(ctx: AppContext, error: AzureError | TransientStoreError) -> tuple[int, str]:
    """One line for an unreachable or refusing storage account or vault, naming its endpoint and setting."""
    settings = ctx.settings
    failed = _failed_address(error)
    vault_url = settings.key_vault_url or ""
    if isinstance(error, TransientStoreError) or (vault_url and failed == _address(vault_url)):
        where = vault_url or str(settings.local_secrets_dir or "")
        setting = "KEY_VAULT_URL" if vault_url else "LOCAL_SECRETS_DIR"
        cause = str(error) if isinstance(error, TransientStoreError) else _cause(error)  # ours: secret-free
        return EXIT_UNAVAILABLE, f"token vault unavailable at {where} (setting {setting}): {cause}"
    storage = ctx.storage
    services = [client.url.rstrip("/") for client in (storage.tables, storage.blobs, storage.queues)]
    where = next((s for s in services if _address(s) == failed), "") or ", ".join(services)
    setting = "AzureWebJobsStorage" if settings.storage.connection_string else "AzureWebJobsStorage__*"
    rejected = isinstance(error, ClientAuthenticationError) or (
        isinstance(error, HttpResponseError) and error.status_code in (401, 403)
    )
    if rejected:
        fix = "check the account key" if settings.storage.connection_string else "check the identity and its roles"
        return (
            EXIT_CONFIGURATION,
            f"storage rejected the credentials at {where} (setting {setting}): {_cause(error)}; {fix}",
        )
    return EXIT_UNAVAILABLE, f"storage unavailable at {where} (setting {setting}): {_cause(error)}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    ctx = build_context(settings)
    try:
        if getattr(args, "needs_storage", True):
            ctx.ensure_resources()
        code: int = args.handler(ctx, args)
    except FlowError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except (AzureError, TransientStoreError) as error:
        code, line = describe_failure(ctx, error)
        print(line, file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    return code
