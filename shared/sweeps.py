"""The app's sweeps over the registry (``shared.sweep``): the rotation and the hourly pull. The timers start
one with ``start``; the ``sweep_shard`` queue trigger runs one shard with ``work_shard``."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

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
    balanced_cuts,
    fan_out,
    make_shards,
    period_of,
    progress_partition,
)
from shared.sweep_once import SweepOnce

KEEP_PERIODS = 4  # progress rows of the last few periods stay (to see how a sweep went)
CUTS_PER_PROPERTY = 64  # user ids of up to 128 characters: 64 of them stay under a property's 32K characters

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
        once: SweepOnce | None = None,
    ) -> None:
        self.settings = settings
        self.once = once  # each item's work once per period, as its consumer sees it (None: no claims)
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
        kind = self.kind(name)
        now = time.time() if now is None else now
        period = period_of(now, kind.period_seconds)
        shards = make_shards(
            kind, {vendor: self.cut(kind.name, period, vendor) for vendor in self.settings.vendors}, now
        )
        if self.once is not None and shards:
            self.once.open(kind.name, shards[0].period)
        count = fan_out(self.send, shards)
        log.info("sweep %s: %d shard messages", name, count)
        self.prune(kind, now)
        return count

    def cut(self, sweep: str, period: str, vendor: str) -> list[str]:
        """The period's shard cuts of ``vendor`` (``balanced_cuts`` of its registry keys): made by the first run of
        the period and kept in ``SWEEP_TABLE`` beside its progress rows, so a second run of the period (one that
        overlaps, or a retry) makes the very same shards even when connections came or went meanwhile."""
        keys = (progress_partition(sweep, period), f"{vendor}-cut")
        with contextlib.suppress(ResourceNotFoundError):
            return _stored_cuts(self.progress.get_entity(*keys))
        listed = [  # in RowKey order, the table's order
            str(entity["RowKey"])
            for entity in self.listing.query_entities(
                "PartitionKey eq @vendor", parameters={"vendor": vendor}, select=["RowKey"], results_per_page=1000
            )
        ]
        cuts = balanced_cuts(listed, self.settings.sweep_shards)
        entity = {"PartitionKey": keys[0], "RowKey": keys[1]}
        for part in range(0, len(cuts), CUTS_PER_PROPERTY):  # a string property holds 32K characters at most
            entity[f"cuts{part // CUTS_PER_PROPERTY}"] = json.dumps(cuts[part : part + CUTS_PER_PROPERTY])
        try:
            self.progress.create_entity(entity)
        except ResourceExistsError:  # another run of the period cut first: its shards are the period's
            return _stored_cuts(self.progress.get_entity(*keys))
        return cuts

    def prune(self, kind: SweepKind, now: float) -> int:
        """Best effort: delete the progress rows of this sweep's periods older than ``KEEP_PERIODS``."""
        oldest = Shard(
            kind.name, period_of(now - KEEP_PERIODS * kind.period_seconds, kind.period_seconds), "", 0, "", ""
        )
        low, high = f"{kind.name}-", oldest.progress_keys[0]
        try:
            rows = list(
                self.progress.query_entities(
                    "PartitionKey gt @low and PartitionKey lt @high",
                    parameters={"low": low, "high": high},
                    select=["PartitionKey", "RowKey"],
                )
            )
            for row in rows:
                self.progress.delete_entity(row["PartitionKey"], row["RowKey"])
            if self.once is not None:
                self.once.prune(kind.name, oldest.period)
        except AzureError as error:
            log.warning("sweep %s: old progress rows not pruned (%s)", kind.name, type(error).__name__)
            return 0
        return len(rows)

    def first_delivery(self, body: str | bytes, message_id: str | None) -> bool:
        """For a work queue's trigger: False when another copy of this sweep message has the item (drop it)."""
        return self.once is None or self.once.first_delivery(body, message_id)

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


def _stored_cuts(entity: Mapping[str, Any]) -> list[str]:
    parts = itertools.takewhile(lambda key: key in entity, (f"cuts{i}" for i in itertools.count()))
    return [str(cut) for key in parts for cut in json.loads(entity[key])]
