"""Each connection's sweep work done once per period, as the consumer sees it (``shared.sweep``).

A shard worker killed while a chunk's messages are going out leaves no record of which of them went: the retry
sends the chunk again (a queue cannot take a message back, nor be asked whether it holds one). So every message a
sweep sends names its item (``swept``: sweep, period, vendor, user id, key), and the queue trigger that consumes
it claims that item first, by inserting a row in the period's table (``sweeponce<sweep><period digits>``, made by
the timer, deleted with the sweep's old progress rows): the first copy inserts the row with its queue message id
and goes on; another copy finds the row holding another message id and is dropped before any vendor call. The
same message delivered again (the queue's retry after a failure) finds its own id and goes on.

Cost: one insert per message the sweep sent (the row is keyed by the connection, so inserts spread over
partitions), one read more for a redelivered or duplicate message; a period's rows go in one table delete.
A message that names no sweep item (a notification's work, a manual rotation) is not claimed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.table_keys import table_key

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

log = logging.getLogger(__name__)

ONCE_TABLE_PREFIX = "sweeponce"
SWEPT = "swept"  # the message field naming the sweep item


def once_table(sweep: str, period: str) -> str:
    """The period's claims table: ``sweeponce`` + the sweep's name + the period's digits (a valid table name)."""
    return ONCE_TABLE_PREFIX + re.sub(r"[^A-Za-z0-9]", "", sweep) + re.sub(r"\D", "", period)


def swept_item(body: str | bytes) -> tuple[str, str, str, str, str] | None:
    """The sweep item a message names (sweep, period, vendor, user id, key), or None."""
    try:
        data: Any = json.loads(body)
        item = data.get(SWEPT) if isinstance(data, dict) else None
    except ValueError:
        return None
    if not (isinstance(item, list) and len(item) == 5 and all(isinstance(part, str) for part in item)):
        return None
    sweep, period, vendor, user_id, key = item
    return sweep, period, vendor, user_id, key


class SweepOnce:
    def __init__(self, tables: TableServiceClient) -> None:
        self.tables = tables

    def open(self, sweep: str, period: str) -> None:
        """Make the period's claims table (the timer, before its shard messages go out)."""
        with contextlib.suppress(ResourceExistsError):
            self.tables.create_table(once_table(sweep, period))

    def first_delivery(self, body: str | bytes, message_id: str | None) -> bool:
        """Whether this message should be worked: it names no sweep item, or it is the copy that claimed the item
        (first, or delivered again after its own failure). False: another copy has it: drop this one."""
        item = swept_item(body)
        if item is None:
            return True
        sweep, period, vendor, user_id, key = item
        table = self.tables.get_table_client(once_table(sweep, period))
        row = {"PartitionKey": table_key(f"{vendor}|{user_id}"), "RowKey": table_key(key) or "-"}
        mine = message_id or ""
        try:
            try:
                table.create_entity({**row, "message": mine})
            except ResourceNotFoundError:  # no table yet (a sweep run without its timer) or pruned long ago
                with contextlib.suppress(ResourceExistsError):
                    self.tables.create_table(table.table_name)
                table.create_entity({**row, "message": mine})
            return True
        except ResourceExistsError:
            holder = str(table.get_entity(row["PartitionKey"], row["RowKey"]).get("message") or "")
        if holder == mine:
            return True
        log.warning("sweep %s %s: a second copy of %s's %r work dropped", sweep, period, vendor, key or "rotation")
        return False

    def prune(self, sweep: str, oldest_period: str) -> int:
        """Delete the claims tables of this sweep's periods before ``oldest_period``."""
        low, high = once_table(sweep, ""), once_table(sweep, oldest_period)
        names = [
            t.name
            for t in self.tables.query_tables(
                "TableName gt @low and TableName lt @high", parameters={"low": low, "high": high}
            )
        ]
        for name in names:
            with contextlib.suppress(ResourceNotFoundError):
                self.tables.delete_table(name)
        return len(names)
