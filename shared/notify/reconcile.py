"""Reconciliation: a connection whose notifications have gone quiet gets a live pull, so a missed notification
costs latency, not data (vendors do lose webhooks: some retry for an hour, some never).

The rule: a usable connection of a vendor with notifications that has had at least one notification (a row in
``notifyactivity``, kept by ``shared.notify.worker``) is *quiet* when its last notification is older than
``max(QUIET_FACTOR x usual gap, QUIET_FLOOR_SECONDS)`` (1.5 x the usual longest gap, at least 6 hours). Without a
usual gap yet (a single notification so far) the floor applies. The floor keeps a user whose notifications come
in quick bursts from being pulled on every run; the usual gap is the *longest* of about the last week (see
``shared.notify.worker.next_usual_gap``), so a member's nightly silence is usual, not quiet, and the factor leaves
room for a late morning. Gaps under a minute (one batch) do not enter the usual gap (see the worker). A
connection silent for longer than ``PULL_FRESHNESS_HOURS`` is the pull planner's anyway (its notified types fall
back to daily freshness), so this matters for streams that sync several times a day.

Once reconciled, a connection is not reconciled again until as long a quiet period has passed since
(``reconciled_at`` on its row), so a user who stopped wearing the device costs one pull per quiet period, not
one per run. ``reconcile`` is called by a timer (``RECONCILE_SCHEDULE``).

What a quiet connection gets is the pull planner's (``shared.pull.planner.plan``) with its notified types' freshness
cut to the quiet period: the types not pulled since then. When the vendor's budget left after notifications is
short, the plan is deferred: the connection is not marked reconciled, so the next run tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from shared.naming import log_id
from shared.notify.worker import activity_at
from shared.pull.planner import plan
from shared.pull.pull_state import PullStateStore
from shared.pull.rate_budget import RateBudget
from shared.registry import USABLE, Connection, ConnectionRegistry
from shared.settings import Settings
from shared.vendors.registry import vendors

log = logging.getLogger(__name__)

QUIET_FACTOR = 1.5
QUIET_FLOOR_SECONDS = 6 * 3600.0


def quiet_after(usual_gap_seconds: float | None) -> float:
    """Seconds without a notification after which a connection counts as quiet."""
    if usual_gap_seconds is None or usual_gap_seconds <= 0:
        return QUIET_FLOOR_SECONDS
    return max(QUIET_FACTOR * usual_gap_seconds, QUIET_FLOOR_SECONDS)


def quiet_connections(
    registry: ConnectionRegistry, activity_table: TableClient, now: float | None = None
) -> Iterator[Connection]:
    """Usable connections with notifications before, quiet for longer than usual (see the module docstring).
    ``now``: epoch seconds (default: the current time)."""
    moment = time.time() if now is None else now
    notified = {name for name, vendor in vendors().items() if vendor.notifications is not None}
    for row in activity_table.list_entities():
        if str(row["PartitionKey"]) not in notified:
            continue
        connection = _quiet(registry, row, moment)
        if connection is not None:
            yield connection[0]


def _quiet(registry: ConnectionRegistry, row: Any, moment: float) -> tuple[Connection, float] | None:
    """(the connection, its quiet period in seconds) when the row's connection is quiet and usable."""
    last_at, usual = activity_at(row)
    if last_at <= 0:
        return None
    since = max(last_at, float(row.get("reconciled_at") or 0.0))
    if moment - since <= quiet_after(usual):
        return None
    connection = registry.get(str(row["PartitionKey"]), str(row["RowKey"]))
    if connection is None or connection.status not in USABLE:
        return None
    return connection, quiet_after(usual)


def reconcile(
    settings: Settings,
    registry: ConnectionRegistry,
    state: PullStateStore,
    activity_table: TableClient,
    queue: QueueClient,
    now: float | None = None,
    *,
    budget: RateBudget | None = None,
) -> int:
    """Queue the planned pull jobs (``planner.plan``) of every quiet connection on ``queue`` (``pull-jobs``)
    and mark it reconciled (unless the budget deferred them). Returns how many connections were queued.
    ``budget``: the rate budget the plans read (default: the app's tables, real time)."""
    moment = time.time() if now is None else now
    connections = jobs = 0
    notified = {name for name, vendor in vendors().items() if vendor.notifications is not None}
    for row in activity_table.list_entities():
        if str(row["PartitionKey"]) not in notified:
            continue
        quiet = _quiet(registry, row, moment)
        if quiet is None or quiet[0].vendor not in settings.vendors:
            continue
        connection, period = quiet
        now_at = datetime.fromtimestamp(moment, UTC)
        planned = plan(settings, state, connection, now_at, quiet_hours=period / 3600, budget=budget)
        if planned.deferred:
            log.info(
                "reconcile: %s connection=%s deferred for the budget", connection.vendor, log_id(*_key(connection))
            )
            continue
        for job in planned.jobs:
            queue.send_message(job.message())
            jobs += 1
        activity_table.update_entity(
            {"PartitionKey": connection.vendor, "RowKey": connection.user_id, "reconciled_at": moment},
            mode=UpdateMode.MERGE,
        )
        connections += 1
        log.info(
            "reconcile: %s connection=%s quiet, live pull queued",
            connection.vendor,
            log_id(connection.vendor, connection.user_id),
        )
    log.info("reconcile: queued %d jobs for %d quiet connections", jobs, connections)
    return connections


def _key(connection: Connection) -> tuple[str, str]:
    return connection.vendor, connection.user_id
