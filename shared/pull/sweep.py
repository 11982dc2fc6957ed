"""The hourly pull as a sweep (``shared.sweep``): each usable connection of an enabled vendor gets its live jobs,
one ``pull-jobs`` message each, spread over the hour: a connection's messages become visible at a fixed offset
after the timer fired (from a digest of the connection, so a resumed shard keeps the same spread)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from shared.pull.jobs import LIVE_QUEUE, PullJob
from shared.pull.planner import live_jobs
from shared.pull.pull_state import PullStateStore
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
    jobs: Callable[[Settings, PullStateStore, Connection], list[PullJob]] = field(
        default=lambda settings, state, connection: list(live_jobs(settings, state, connection))
    )

    def messages(self, connection: Connection, shard: Shard) -> list[Outgoing]:
        if connection.status not in USABLE or connection.vendor not in self.enabled:
            return []
        offset = spread_offset(connection, self.settings.pull_spread_seconds)
        late = max(0.0, self.clock() - shard.started_at)  # a shard run later (or resumed) keeps the spread
        delay = max(0, int(offset - late))
        return [
            Outgoing(LIVE_QUEUE, job.message(), job.data_type, delay)
            for job in self.jobs(self.settings, self.state, connection)
        ]
