"""What ``python -m shared status`` shows of moves onto a successor vendor (``shared.moves``): the connections that
moved, and those of a vendor with a successor still to move, each with a connect link for the successor to send
the user (the link ``POST /api/connect/{vendor}`` makes: valid 15 minutes, bound to the browser that opens it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.cli_table import format_table
from shared.connect_flow import FlowError, link_expiry_iso
from shared.moves import to_move
from shared.registry import Connection, Status

if TYPE_CHECKING:
    from shared.app_context import AppContext

MOVED_COLUMNS = ("vendor", "user_id", "moved_to", "moved_at", "data_until")
TO_MOVE_COLUMNS = ("vendor", "user_id", "status", "move_to", "connect_link", "link_valid_until")
MAX_LINKS = 100  # connect links one status call makes (each is an OAuth state row, valid 15 minutes)


def moved_rows(connections: Sequence[Connection]) -> list[dict[str, str]]:
    return [
        {column: str(getattr(c, column) or "") for column in MOVED_COLUMNS}
        for c in connections
        if c.status is Status.MOVED
    ]


def to_move_rows(ctx: AppContext, connections: Sequence[Connection]) -> list[dict[str, str]]:
    """One row per connection still to move, with a fresh connect link for its successor (or why there is none).
    Each link is a state row: past ``MAX_LINKS`` a row says to ask for one user's."""
    rows: list[dict[str, str]] = []
    for connection in connections:
        successor = to_move(connection)
        if successor is None:
            continue
        if len(rows) >= MAX_LINKS:
            url, until = f"none here: python -m shared status --vendor {connection.vendor} --user <user>", ""
        else:
            try:
                link = ctx.connect.start(successor, connection.user_id)
                url, until = link.url, link_expiry_iso(link)
            except FlowError as refused:  # the successor is not enabled here (its client id is not set)
                url, until = f"none: {refused.message} (set {successor.upper()}_CLIENT_ID)", ""
        rows.append(
            {
                "vendor": connection.vendor,
                "user_id": connection.user_id,
                "status": connection.status.value,
                "move_to": successor,
                "connect_link": url,
                "link_valid_until": until,
            }
        )
    return rows


def print_moves(ctx: AppContext, connections: Sequence[Connection]) -> None:
    moved = moved_rows(connections)
    if moved:
        print("\nmoved to the vendor that succeeds theirs (history landed up to data_until stays where it is)")
        print(format_table(moved, MOVED_COLUMNS))
    to_move = to_move_rows(ctx, connections)
    if to_move:
        print("\nstill to move (send the user the link: their connection moves over when they connect)")
        print(format_table(to_move, TO_MOVE_COLUMNS))


def json_moves(ctx: AppContext, connections: Sequence[Connection], rows: list[dict[str, str]]) -> None:
    """Adds the move columns to the status rows of ``--json`` (same order as ``connections``)."""
    links = {(r["vendor"], r["user_id"]): r for r in to_move_rows(ctx, connections)}
    for connection, row in zip(connections, rows, strict=True):
        for column in ("moved_to", "moved_at", "data_until", "moved_from", "history_from", "move_state"):
            if value := getattr(connection, column):
                row[column] = str(value)
        if (link := links.get((connection.vendor, connection.user_id))) is not None:
            row.update(move_to=link["move_to"], connect_link=link["connect_link"])
