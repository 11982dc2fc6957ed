"""The hourly pull: for each usable connection and each data type it granted, one live job for the window from
its watermark (less the lookback) to today; the timer queues them, ``python -m shared pull`` runs them here."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from azure.storage.queue import QueueClient

from shared.pull.jobs import PullJob
from shared.pull.pull_state import PullStateStore
from shared.pull.puller import latest_local_date
from shared.registry import USABLE, Connection, ConnectionRegistry
from shared.settings import Settings
from shared.vendors.registry import vendor_for

log = logging.getLogger(__name__)


def live_jobs(
    settings: Settings, state: PullStateStore, connection: Connection, now: datetime | None = None
) -> Iterator[PullJob]:
    """The live jobs of one connection, one per data type it granted."""
    now = now or datetime.now(UTC)
    last = latest_local_date(now)
    marks = {s.data_type: s.watermark for s in state.list(connection.vendor, connection.user_id)}
    granted = set(connection.granted)  # granted at consent: a narrowed token must not stop the pull silently
    for name, kind in vendor_for(connection.vendor).data.data_types.items():
        if kind.scope and granted and kind.scope not in granted:
            continue
        if kind.snapshot:
            yield PullJob(connection.vendor, connection.user_id, name, now.date(), now.date())
            continue
        mark = marks.get(name)
        if mark is None:
            first = now.date() - timedelta(days=settings.pull_initial_days)
        else:
            first = min(mark, last) - timedelta(days=settings.pull_lookback_days)
        yield PullJob(connection.vendor, connection.user_id, name, first, last)


def due_connections(
    settings: Settings, registry: ConnectionRegistry, vendor: str | None = None, user_id: str | None = None
) -> Iterator[Connection]:
    for connection in registry.list(vendor, user_id):
        if connection.status in USABLE and connection.vendor in settings.vendors:
            yield connection


def enqueue_live(
    settings: Settings, registry: ConnectionRegistry, state: PullStateStore, queue: QueueClient
) -> tuple[int, int]:
    """Queue the live jobs of every usable connection; returns (connections, jobs)."""
    connections = jobs = 0
    for connection in due_connections(settings, registry):
        connections += 1
        for job in live_jobs(settings, state, connection):
            queue.send_message(job.message())
            jobs += 1
    log.info("pull: queued %d jobs for %d connections", jobs, connections)
    return connections, jobs
