"""Running one pull job: fetch the window page by page, land every record, then move the watermark.

A live job walks its window oldest first in pieces of the type's ``chunk_days`` and moves the watermark after
each piece has landed, so an interrupted job loses nothing and repeats little. When the rate budget has no
slot before the run's deadline, the job stops and hands back what is left (``PullOutcome.rest``), to be queued
again with a delay: one queue message never runs past a function's time limit.

No request is repeated within a run: a planned (reconciliation) job's reads go through ``SharedReads``, which
answers a read already made for the same connection in the last ``SHARED_READ_SECONDS`` from memory (a vendor
whose one type's fetch reads another type's collection over the same window, as a recovery reads its cycles,
costs that read once when both types are pulled together). Live work (notifications, a person's pull) always
asks the vendor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any

import requests

from shared.landing import Landed
from shared.naming import log_id
from shared.pull.jobs import BadPullMessage, PullJob
from shared.pull.model import PLANNED, DataType, Fetched, VendorApi, Window
from shared.pull.pull_state import PullStateStore
from shared.pull.rate_budget import OutOfTime, RateBudget
from shared.pull.sink import RecordSink
from shared.pull.vendor_api import ConnectionApi, DataCallFailed
from shared.registry import USABLE, Connection, ConnectionRegistry, MoveState, Status, now_iso
from shared.retirement import retired_reason
from shared.settings import Settings
from shared.telemetry import count_rate_limit_wait, count_records_landed, operation
from shared.token_service import TokenService, TokenUnavailable
from shared.vendors.registry import vendor_for

log = logging.getLogger(__name__)
LAND_BATCH = 50
LAND_THREADS = 8
SHARED_READ_SECONDS = 600.0
"""How long one read's answer serves the planned jobs of the same connection (a run of the pull timer)."""
SHARED_READ_ENTRIES = 256


class SharedReads:
    """Answers to recent reads, per connection, path and parameters (a process's own memory, bounded)."""

    def __init__(self, clock: Callable[[], float], ttl: float = SHARED_READ_SECONDS) -> None:
        self.clock, self.ttl = clock, ttl
        self.entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self.guard = threading.Lock()
        self.hits = 0

    def api(self, api: VendorApi, vendor: str, user_id: str) -> VendorApi:
        return _SharedApi(self, api, (vendor, user_id))

    def get(self, key: tuple[str, ...]) -> tuple[bool, Any]:
        with self.guard:
            entry = self.entries.get(key)
            if entry is None or entry[0] <= self.clock():
                return False, None
            self.hits += 1
            return True, entry[1]

    def put(self, key: tuple[str, ...], answer: Any) -> None:
        with self.guard:
            now = self.clock()
            if len(self.entries) >= SHARED_READ_ENTRIES:
                self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
                while len(self.entries) >= SHARED_READ_ENTRIES:
                    self.entries.pop(next(iter(self.entries)))
            self.entries[key] = (now + self.ttl, answer)


class _SharedApi:
    def __init__(self, reads: SharedReads, api: VendorApi, who: tuple[str, str]) -> None:
        self.reads, self.inner, self.who = reads, api, who

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        key = (*self.who, path, *sorted(f"{k}={v}" for k, v in (params or {}).items()))
        found, answer = self.reads.get(key)
        if found:
            return answer
        answer = self.inner.get(path, params)
        self.reads.put(key, answer)
        return answer

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.inner.post(path, body)


class PullStatus(StrEnum):
    DONE = "done"
    CONTINUED = "continued"  # out of time or rate budget: ``rest`` is to be queued again
    SKIPPED = "skipped"  # nothing to do for this connection now (not usable, scope not granted)
    FAILED = "failed"  # a permanent failure (refused, retired, malformed answer): retrying will not help


@dataclass
class PullOutcome:
    job: PullJob
    status: PullStatus = PullStatus.DONE
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    requests: int = 0
    waited_seconds: float = 0.0
    first_date: date | None = None
    last_date: date | None = None
    rest: PullJob | None = None
    retry_after: float = 0.0
    detail: str = ""
    record_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def landed(self) -> int:
        """Records written (new or revised)."""
        return self.created + self.updated

    @property
    def records(self) -> int:
        return self.created + self.updated + self.unchanged

    def count(self, landed: Landed, day: date) -> None:
        if landed is Landed.CREATED:
            self.created += 1
        elif landed is Landed.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1
        self.first_date = day if self.first_date is None else min(self.first_date, day)
        self.last_date = day if self.last_date is None else max(self.last_date, day)

    def line(self) -> str:
        text = (
            f"{self.job}: {self.status.value}, {self.created} new, {self.updated} revised, {self.unchanged} unchanged, "
            f"{self.requests} requests, {self.waited_seconds:.1f}s waiting for the rate limit"
        )
        return text + (f" ({self.detail})" if self.detail else "")


def types_not_granted(connection: Connection) -> list[str]:
    """Data types granted at consent that the connection cannot pull now: their scope is missing from the current
    token's (a refresh narrowed the grant), or the vendor refused their data calls (401/403)."""
    current, granted = set(connection.scopes.split()), set(connection.granted)
    lost = []
    for name, kind in vendor_for(connection.vendor).data.data_types.items():
        if kind.scope and granted and kind.scope not in granted:
            continue  # never granted, so not "no longer granted"
        if name in connection.refused_types or (kind.scope and current and kind.scope not in current):
            lost.append(name)
    return sorted(lost)


def latest_local_date(now: datetime | None = None) -> date:
    """The latest local date anyone can have now: UTC today + 1 (time zones run to +14:00)."""
    return (now or datetime.now(UTC)).date() + timedelta(days=1)


class Puller:
    def __init__(
        self,
        settings: Settings,
        registry: ConnectionRegistry,
        tokens: TokenService,
        budget: RateBudget,
        state: PullStateStore,
        sink: RecordSink,
        session: requests.Session,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tokens = tokens
        self.budget = budget
        self.state = state
        self.sink = sink
        self.session = session
        self.clock = clock
        self.writers = ThreadPoolExecutor(max_workers=LAND_THREADS, thread_name_prefix="land")
        self.shared_reads = SharedReads(clock)

    def data_type(self, job: PullJob) -> DataType:
        try:
            return vendor_for(job.vendor).data.data_types[job.data_type]
        except KeyError:
            raise BadPullMessage(f"{job.vendor} has no data type {job.data_type!r}") from None

    def run(self, job: PullJob, deadline: float | None = None) -> PullOutcome:
        """Pull ``job`` until done or until ``deadline`` (epoch seconds; default: PULL_RUN_SECONDS from now)."""
        with operation("backfill_chunk" if job.job_id else "pull", vendor=job.vendor, user_id=job.user_id) as op:
            outcome = self._run(job, deadline)
            op.outcome = outcome.status.value
        for result, count in (
            ("created", outcome.created),
            ("updated", outcome.updated),
            ("unchanged", outcome.unchanged),
        ):
            if count:
                count_records_landed(job.vendor, job.data_type, result, count)
        if outcome.waited_seconds > 0:
            count_rate_limit_wait(job.vendor, outcome.waited_seconds)
        return outcome

    def _run(self, job: PullJob, deadline: float | None) -> PullOutcome:
        kind = self.data_type(job)
        outcome = PullOutcome(job)
        connection = self.registry.get(job.vendor, job.user_id)
        if connection is None or connection.status not in USABLE or job.vendor not in self.settings.vendors:
            outcome.status = PullStatus.SKIPPED
            outcome.detail = "no such connection" if connection is None else f"connection is {connection.status.value}"
            return outcome
        if connection.move_state == MoveState.PENDING:  # where its history starts is not known yet (shared.moves)
            outcome.status = PullStatus.SKIPPED
            outcome.detail = "waiting for its move from the vendor it succeeds"
            return outcome
        if connection.history_from:  # the days before came from the vendor it succeeds: never land them twice
            floor = date.fromisoformat(connection.history_from)
            if job.last < floor:
                outcome.detail = f"before {floor}: those days came from {connection.moved_from}"
                return outcome
            if job.first < floor:
                job = outcome.job = replace(job, first=floor)
        granted = connection.granted  # what the user consented to, not what the last refresh returned
        if kind.scope and granted and kind.scope not in granted:
            outcome.status = PullStatus.SKIPPED
            outcome.detail = f"scope {kind.scope} not granted"
            return outcome
        deadline = self.clock() + self.settings.pull_run_seconds if deadline is None else deadline
        api = ConnectionApi(
            self.settings,
            self.tokens,
            self.budget,
            self.session,
            job.vendor,
            job.user_id,
            priority=job.priority,
            deadline=deadline,
        )
        fetcher = vendor_for(job.vendor).data
        reads: VendorApi = self.shared_reads.api(api, job.vendor, job.user_id) if job.priority in PLANNED else api
        today = latest_local_date(datetime.fromtimestamp(self.clock(), UTC))
        pieces = [job.window] if kind.snapshot else list(job.window.split(kind.chunk_days))
        refused: bool | None = None  # whether the vendor refused this type's data calls (401/403), if known
        try:
            for piece in pieces:
                if self.clock() >= deadline:
                    outcome.status, outcome.rest = PullStatus.CONTINUED, job.rest(piece.first)
                    break
                try:
                    self._pull_piece(fetcher.fetch(reads, job.data_type, piece, today), job, piece, outcome)
                except OutOfTime as stop:
                    outcome.status, outcome.rest = PullStatus.CONTINUED, job.rest(piece.first)
                    outcome.retry_after = stop.retry_after
                    break
            refused = False
        except TokenUnavailable as error:
            outcome.status, outcome.detail = PullStatus.SKIPPED, f"no access token: {error.outcome.value}"
        except DataCallFailed as error:
            self.state.record_error(job.vendor, job.user_id, job.data_type, str(error))
            refused = error.status in (401, 403)
            if error.status == 410:  # the vendor turned its API off: nothing will ever answer again
                self.registry.update(
                    job.vendor,
                    job.user_id,
                    status=Status.VENDOR_RETIRED,
                    last_error=retired_reason(job.vendor, "data API"),
                    last_error_at=now_iso(),
                )
                log.error("pull %s: the vendor API is retired (HTTP 410)", log_id(job.vendor, job.user_id))
            if refused:  # this type is no longer granted (a narrowed token, a scope the user withdrew)
                self.registry.mark_refused(job.vendor, job.user_id, job.data_type, True)
                log.warning("pull %s %s: refused by the vendor", log_id(job.vendor, job.user_id), job.data_type)
            if error.transient:
                raise  # the queue tries again later (and parks the message in the poison queue in the end)
            outcome.status, outcome.detail = PullStatus.FAILED, str(error)
        except ValueError as error:  # the vendor answered in a shape we do not know
            self.state.record_error(job.vendor, job.user_id, job.data_type, str(error))
            outcome.status, outcome.detail = PullStatus.FAILED, str(error)
        finally:
            outcome.requests, outcome.waited_seconds = api.requests_sent, api.waited_seconds
        if refused is False and outcome.requests and job.data_type in connection.refused_types:  # granted again
            self.registry.mark_refused(job.vendor, job.user_id, job.data_type, False)
        log.info("pull %s %s: %s", log_id(job.vendor, job.user_id), job.data_type, outcome.line())
        return outcome

    def _pull_piece(self, records: Iterator[Fetched], job: PullJob, piece: Window, out: PullOutcome) -> None:
        landed_before = out.landed
        # a batch at a time, written in parallel: memory stays bounded by the batch, not the window
        while batch := list(islice(records, LAND_BATCH)):
            results = self.sink.land_batch(job.vendor, job.data_type, job.user_id, batch, self.writers)
            for fetched, landed in zip(batch, results, strict=True):
                out.count(landed, fetched.local_date)
        if job.moves_watermark and not job.job_id:  # live: the window has landed, the watermark may move past it
            at = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            self.state.advance(job.vendor, job.user_id, job.data_type, piece.last, out.landed - landed_before, at)
        self.registry.update(job.vendor, job.user_id, last_pull_at=now_iso())
