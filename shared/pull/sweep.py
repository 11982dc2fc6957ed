"""The hourly pull as a sweep (``shared.sweep``): each usable connection of an enabled vendor gets its live jobs,
one ``pull-jobs`` message each, spread over the hour: a connection's messages become visible at a fixed offset
after the timer fired (from a digest of the connection, so a resumed shard keeps the same spread).

What the planner reads per connection (its pull state, its last notification) is read for a whole chunk of the
shard at once (``prepare``: two range queries per chunk instead of two reads per connection): a chunk's
connections are consecutive keys of one vendor, and so are their rows in both tables."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError

from shared.pull.jobs import LIVE_QUEUE
from shared.pull.planner import live_jobs
from shared.pull.pull_state import ACTIVITY_TABLE, PullStateStore, TypeState
from shared.pull.rate_budget import RateBudget
from shared.registry import USABLE, Connection
from shared.settings import Settings
from shared.sweep import Outgoing, Shard

PULL_PERIOD_SECONDS = 3600  # the schedule's slot: each connection's jobs are enqueued once per hour


def spread_offset(connection: Connection, spread_seconds: int) -> int:
    """Where in the spread this connection's pull goes (the same every hour, evenly over connections)."""
    if spread_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"{connection.vendor}\x00{connection.user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % spread_seconds


@dataclass(frozen=True)
class PullSweep:
    """``shared.sweep.SweepKind`` of the pull. ``jobs`` is "the jobs of one connection now" (the planner's)."""

    settings: Settings
    state: PullStateStore
    enabled: Collection[str]
    clock: Callable[[], float] = time.time
    name: str = "pull"
    period_seconds: int = PULL_PERIOD_SECONDS
    columns: tuple[str, ...] = ("status", "scopes", "granted_scopes")
    budget: RateBudget | None = None  # the rate budget the planner reads (None: the app's, made per chunk)

    def prepare(self, connections: list[Connection]) -> PullSweep:
        """This kind with the chunk's pull state and notification times read in one go, and one rate budget
        client for the chunk's plans (not one per connection)."""
        if not connections:
            return self
        budget = self.budget or RateBudget(
            self.state.tables,
            self.settings.rate_limit_margin_seconds,
            reserve_percent=self.settings.pull_budget_reserve_percent,
        )
        return replace(self, state=ChunkState(self.state, connections), budget=budget)

    def messages(self, connection: Connection, shard: Shard) -> list[Outgoing]:
        if connection.status not in USABLE or connection.vendor not in self.enabled:
            return []
        offset = spread_offset(connection, self.settings.pull_spread_seconds)
        late = max(0.0, self.clock() - shard.started_at)  # a shard run later (or resumed) keeps the spread
        delay = max(0, int(offset - late))
        return [
            Outgoing(LIVE_QUEUE, job.message(), job.data_type, delay)
            for job in live_jobs(self.settings, self.state, connection, budget=self.budget)
        ]


class ChunkState(PullStateStore):
    """The pull state of consecutive connections of one vendor, read with one range query per table; reads of
    anything else go to the store as usual."""

    def __init__(self, store: PullStateStore, connections: list[Connection]) -> None:
        self.__dict__.update(store.__dict__)  # the same table clients
        vendor, first, last = connections[0].vendor, connections[0].user_id, connections[-1].user_id
        self._marks: dict[str, list[TypeState]] = {}
        rows = self.table.query_entities(
            "PartitionKey ge @lo and PartitionKey le @hi",
            parameters={"lo": f"{vendor}|{first}", "hi": f"{vendor}|{last}"},
        )
        for entity in rows:
            mark = TypeState.of(entity)
            self._marks.setdefault(mark.user_id, []).append(mark)
        self._notified: dict[str, float] = {}
        try:
            for entity in self.tables.get_table_client(ACTIVITY_TABLE).query_entities(
                "PartitionKey eq @vendor and RowKey ge @lo and RowKey le @hi",
                parameters={"vendor": vendor, "lo": first, "hi": last},
                select=["RowKey", "last_at"],
            ):
                self._notified[str(entity["RowKey"])] = float(entity.get("last_at") or 0.0)
        except ResourceNotFoundError:  # no notifications table yet
            pass
        self._vendor = vendor

    def list(self, vendor: str, user_id: str) -> Iterator[TypeState]:
        if vendor != self._vendor:
            return super().list(vendor, user_id)
        return iter(self._marks.get(user_id, []))

    def last_notified_at(self, vendor: str, user_id: str) -> datetime | None:
        if vendor != self._vendor:
            return super().last_notified_at(vendor, user_id)
        last = self._notified.get(user_id, 0.0)
        return datetime.fromtimestamp(last, UTC) if last > 0 else None
