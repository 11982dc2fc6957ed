"""The hourly clean-up (timer ``cleanup``): rows that only ever grow are deleted once they can no longer matter.

- ``oauthstate``: a connect link's state row lives 15 minutes; one that was never used stays behind. It is
  deleted ``STATE_GRACE`` after it expired (until then a late callback still hears "expired", not "unknown").
- ``notifydedup``: one row per notification of a vendor that gives a dedup key (a delivery id) collapses that
  vendor's retries, which come within about an hour. A row is deleted ``DEDUP_KEEP`` after it was written, keyed
  on the row's age (the service's ``Timestamp``), not on its columns, so the row's schema may change freely.
- ``notifyunknown``: vendor users nobody connected (capped per vendor); one quiet for ``UNKNOWN_KEEP`` is dropped.
- ``pendingconnections``: a connection the product did not confirm in time is discarded and its grant revoked.
- ``moves``: a move onto a successor vendor that a crash or a failed write left half-done is finished
  (``shared.moves.Moves.sweep``).

Each step is independent: one that fails is logged and the others still run; the run then raises
``CleanupFailed`` so the invocation shows as failed, and the next hour tries again. A run stops starting new
deletions after ``budget_seconds``; what is left goes next hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from shared.notify import NOTIFY_DEDUP_TABLE
from shared.notify.bounds import expire_unknown
from shared.notify.worker import NOTIFY_UNKNOWN_TABLE
from shared.oauth_state import PARTITION as STATE_PARTITION

if TYPE_CHECKING:
    from shared.connect_flow import ConnectFlow
    from shared.oauth_state import OAuthStateStore
    from shared.storage import Storage

log = logging.getLogger(__name__)

STATE_GRACE = timedelta(hours=1)
DEDUP_KEEP = timedelta(hours=24)  # retries come within about an hour; a day leaves a wide margin
UNKNOWN_KEEP = timedelta(days=30)  # an unknown vendor user quiet this long is forgotten (it is counted again)
BUDGET_SECONDS = 240.0  # well inside the function timeout


class CleanupServices(Protocol):
    """What the clean-up reads from the app's context."""

    @property
    def states(self) -> OAuthStateStore: ...

    @property
    def storage(self) -> Storage: ...

    @property
    def connect(self) -> ConnectFlow: ...


class CleanupFailed(RuntimeError):
    """At least one step failed; the others ran. The message names the failed steps, never a row's content."""


@dataclass(frozen=True)
class CleanupStep:
    """One kind of stale row: ``run(now, deadline)`` deletes what is stale at ``now`` and returns how many."""

    name: str
    run: Callable[[datetime, float], int]


@dataclass
class CleanupReport:
    deleted: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in self.deleted.items())
        return f"deleted: {counts or 'nothing'}" + (f"; failed: {', '.join(self.failed)}" if self.failed else "")


def delete_rows(table: TableClient, query: str, parameters: dict[str, Any], deadline: float = float("inf")) -> int:
    """Delete every row the query matches (keys only are read); a row already gone is not an error."""
    deleted = 0
    rows = table.query_entities(query, parameters=parameters, select=["PartitionKey", "RowKey"])
    for row in rows:
        if time.monotonic() > deadline:
            break
        try:
            table.delete_entity(row["PartitionKey"], row["RowKey"])
        except ResourceNotFoundError:
            continue
        deleted += 1
    return deleted


def expired_states(table: TableClient, now: datetime, deadline: float = float("inf")) -> int:
    """OAuth state rows whose link expired more than ``STATE_GRACE`` ago."""
    cutoff = (now - STATE_GRACE).timestamp()
    return delete_rows(
        table, "PartitionKey eq @p and expires_at lt @cutoff", {"p": STATE_PARTITION, "cutoff": cutoff}, deadline
    )


def old_dedup_rows(table: TableClient, now: datetime, deadline: float = float("inf")) -> int:
    """Notification dedup rows written more than ``DEDUP_KEEP`` ago."""
    return delete_rows(table, "Timestamp lt @cutoff", {"cutoff": now - DEDUP_KEEP}, deadline)


def steps_for(ctx: CleanupServices) -> list[CleanupStep]:
    """The clean-up steps, in order. Add a step here for any other table that grows without bound."""
    states = ctx.states.table
    dedup = ctx.storage.tables.get_table_client(NOTIFY_DEDUP_TABLE)
    unknown = ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE)
    return [
        CleanupStep("oauthstate", lambda now, deadline: expired_states(states, now, deadline)),
        CleanupStep("notifydedup", lambda now, deadline: old_dedup_rows(dedup, now, deadline)),
        CleanupStep("notifyunknown", lambda now, deadline: expire_unknown(unknown, UNKNOWN_KEEP, now)),
        CleanupStep("pendingconnections", lambda now, deadline: ctx.connect.expire_pending()),
        # not a deletion: moves onto a successor vendor left half-done by a crash are finished (shared.moves)
        CleanupStep("moves", lambda now, deadline: ctx.connect.moves.sweep()),
    ]


def run_steps(
    steps: Iterable[CleanupStep], now: datetime | None = None, budget_seconds: float = BUDGET_SECONDS
) -> CleanupReport:
    """Run every step (a failing one does not stop the others); raise ``CleanupFailed`` at the end if any
    failed."""
    moment = now or datetime.now(UTC)
    deadline = time.monotonic() + budget_seconds
    report = CleanupReport()
    for step in steps:
        try:
            report.deleted[step.name] = step.run(moment, deadline)
        except Exception as error:  # any storage failure: the other steps still run, the next hour retries
            log.error("cleanup step %s failed (%s)", step.name, type(error).__name__)
            report.failed.append(step.name)
    log.info("cleanup %s", report.line())
    if report.failed:
        raise CleanupFailed(f"cleanup steps failed: {', '.join(report.failed)} ({report.line()})")
    return report


def run_cleanup(ctx: CleanupServices, now: datetime | None = None) -> CleanupReport:
    """The timer's entry point: every step of ``steps_for(ctx)``."""
    return run_steps(steps_for(ctx), now)
