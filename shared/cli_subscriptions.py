"""``python -m shared subscriptions [list|ensure] [--vendor V]``: the webhook subscriptions the app keeps itself
(``shared.subscriptions``), listed or ensured in-process, as the ``maintain_subscriptions`` timer does."""

from __future__ import annotations

import argparse

from shared.app_context import AppContext
from shared.cli_args import vendor_name
from shared.cli_table import format_table
from shared.notify.subscriptions_model import SubscriptionError
from shared.subscriptions import problems

LIST_COLUMNS = ("vendor", "id", "data_type", "event_type", "expires_at", "ours", "due", "callback_url")


def cmd_subscriptions(ctx: AppContext, args: argparse.Namespace) -> int:
    keeper = ctx.subscriptions
    if not keeper.vendors(args.vendor):
        print("no enabled vendor keeps webhook subscriptions" + (f" ({args.vendor})" if args.vendor else ""))
        return 0
    if args.action == "list":
        try:
            listed = keeper.listing(args.vendor)
        except SubscriptionError as error:
            print(f"error: {error}")
            return 1
        rows = [
            {
                "vendor": item.vendor,
                "id": item.subscription.id,
                "data_type": item.subscription.data_type,
                "event_type": item.subscription.event_type,
                "expires_at": item.subscription.expires_at.isoformat() if item.subscription.expires_at else "",
                "ours": "yes" if item.ours else "no",
                "due": "yes" if item.due else "no",
                "callback_url": item.subscription.callback_url,
            }
            for item in listed
        ]
        print(format_table(rows, LIST_COLUMNS) if rows else "no subscriptions")
        return 0
    outcomes = keeper.ensure(args.vendor)
    for outcome in outcomes:
        print(outcome.line())
    failed = problems(outcomes)
    for problem in failed:
        print(f"  {problem}")
    return 1 if failed else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = sub.add_parser("subscriptions", help="list or ensure the vendors' webhook subscriptions (renew, create)")
    command.add_argument("action", nargs="?", choices=("list", "ensure"), default="list")
    command.add_argument("--vendor", type=vendor_name)
    command.set_defaults(handler=cmd_subscriptions)
