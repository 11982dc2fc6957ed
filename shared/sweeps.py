"""The app's sweeps over the registry (``shared.sweep``): the rotation and the hourly pull. The timers start
one with ``start``; the ``sweep_shard`` queue trigger runs one shard with ``work_shard``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceExistsError

from shared.pull.sweep import PullSweep
from shared.rotation import RotationSweep
from shared.settings import Settings
from shared.sweep import (
    RUN_SECONDS,
    SWEEP_QUEUE,
    Outgoing,
    Shard,
    ShardResult,
    ShardWorker,
    SweepKind,
    fan_out,
    make_shards,
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient
    from azure.storage.queue import QueueClient

    from shared.pull.pull_state import PullStateStore

log = logging.getLogger(__name__)


class Sweeps:
    def __init__(
        self,
        settings: Settings,
        listing: TableClient,
        progress: TableClient,
        state: PullStateStore,
        queue: Callable[[str], QueueClient],
    ) -> None:
        self.settings = settings
        self.listing = listing
        self.progress = progress
        self.state = state
        self._queues: dict[str, QueueClient] = {}
        self._queue = queue

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.progress.create_table()

    def kind(self, name: str) -> SweepKind:
        enabled = tuple(self.settings.vendors)
        if name == "rotate":
            return RotationSweep(self.settings.rotate_min_age_seconds, enabled)
        if name == "pull":
            return PullSweep(self.settings, self.state, enabled)
        raise ValueError(f"no sweep named {name!r}")

    def send(self, item: Outgoing) -> None:
        queue = self._queues.get(item.queue)
        if queue is None:
            queue = self._queues[item.queue] = self._queue(item.queue)
        queue.send_message(item.body, visibility_timeout=item.delay_seconds or None)

    def start(self, name: str, now: float | None = None) -> int:
        """The timer's work: one shard message per shard of each enabled vendor; returns how many."""
        shards = make_shards(self.kind(name), self.settings.vendors, self.settings.sweep_shards, now)
        count = fan_out(self.send, shards)
        log.info("sweep %s: %d shard messages", name, count)
        return count

    def worker(self, name: str, run_seconds: float = RUN_SECONDS) -> ShardWorker:
        return ShardWorker(self.kind(name), self.listing, self.progress, self.send, run_seconds=run_seconds)

    def work_shard(self, body: str | bytes) -> ShardResult:
        """One ``sweep-shards`` message. A shard that reached its deadline continues in a new message."""
        shard = Shard.parse(body)
        result = self.worker(shard.sweep).run(shard)
        if result.continued:
            self.send(Outgoing(SWEEP_QUEUE, shard.message()))
        log.info(
            "sweep %s %s %s/%d: %d connections, %d messages%s",
            shard.sweep,
            shard.period,
            shard.vendor,
            shard.index,
            result.rows,
            result.sent,
            " (done)" if result.done else " (continues)" if result.continued else " (not ours)",
        )
        return result
