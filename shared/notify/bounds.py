"""Bounds on what unsigned or unknown notifications can cost (issue 10 item 14). A vendor that signs nothing
(a package without ``verify``) lets anyone post a notification naming any user: none of this may grow a table
without bound or spend vendor calls without limit. The numbers are the package's (``SourceLimits``,
``WorkLimits`` in ``shared.notify.model``).

- ``UnknownUsers``: the ``notifyunknown`` rows (one per vendor user nobody connected). At most ``UNKNOWN_CAP``
  rows per vendor: a row is created only after a slot is claimed in the vendor's count row; beyond the cap a
  notification is counted in the vendor's one overflow row. Per process at most ``UNKNOWN_WRITES_PER_MINUTE``
  notifications a minute reach the table at all; the rest (and everything while the vendor is known to be
  full) are counted in memory and added to the overflow row at most every ``OVERFLOW_FLUSH_SECONDS`` (the next
  unknown notification flushes, as does ``flush``; a crash loses at most those seconds of counting, nothing
  else). The count and overflow rows live in PartitionKey ``<vendor>~`` (RowKeys ``rows``, ``overflow``), which
  no vendor user's row can use.
- ``expire_unknown(table, older_than)``: for a cleanup timer; deletes unknown-user rows (and an overflow row)
  not updated for ``older_than``, then sets each vendor's count row to the rows left.
- ``UserWork``: per connected user of a vendor with ``WorkLimits``, at most ``fetches`` notification-triggered
  fetches per ``seconds``, and a notification whose work key (the package's: a day, a record) was handled in the
  last ``seconds`` is dropped as a duplicate, both before any vendor call. One row per user in Table
  ``notifywork`` (PartitionKey vendor, RowKey user id) holding the recent keys and fetch times, pruned on every
  write, so it stays small; claimed with ETag-conditional writes, so every worker shares the bound.
- ``SourceGate``: the intake's in-memory bound per source (vendor user id) and per process, before anything
  is queued (``SourceLimits``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.notify.model import SourceLimits, WorkLimits

log = logging.getLogger(__name__)

NOTIFY_WORK_TABLE = "notifywork"
UNKNOWN_CAP = 1000
UNKNOWN_WRITES_PER_MINUTE = 600
OVERFLOW_FLUSH_SECONDS = 5.0
FULL_RECHECK_SECONDS = 60.0
COUNT_ROW, OVERFLOW_ROW = "rows", "overflow"
GATE_SECONDS = 600.0  # a SourceGate's window, unless its limits say otherwise
GATE_SOURCES = 10_000  # sources remembered per process (least recently seen forgotten first)
ATTEMPTS = 8


def meta_partition(vendor: str) -> str:
    return f"{vendor}~"


class UnknownUsers:
    """Thread-safe; one per worker process (see the module docstring)."""

    def __init__(
        self,
        table: TableClient,
        clock: Callable[[], float] = time.time,
        cap: int = UNKNOWN_CAP,
        writes_per_minute: int = UNKNOWN_WRITES_PER_MINUTE,
    ) -> None:
        self.table = table
        self.clock = clock
        self.cap = cap
        self.writes_per_minute = writes_per_minute
        self._lock = threading.Lock()
        self._hot = threading.Lock()
        self._full_until: dict[str, float] = {}
        self._pending: dict[str, int] = {}
        self._flushed_at: dict[str, float] = {}
        self._writes: deque[float] = deque()

    def note(self, vendor: str, row_key: str, kind: str, stamp: str) -> str:
        """Count one notification for an unknown vendor user; returns "row" or "overflow"."""
        now = self.clock()
        with self._lock:
            while self._writes and self._writes[0] <= now - 60.0:
                self._writes.popleft()
            throttled = len(self._writes) >= self.writes_per_minute or self._full_until.get(vendor, 0.0) > now
            if throttled:
                self._pending[vendor] = self._pending.get(vendor, 0) + 1
            else:
                self._writes.append(now)
        if throttled:
            self._flush_if_due(vendor, now, stamp)
            return "overflow"
        if self._update_row(vendor, row_key, kind, stamp) or self._create_row(vendor, row_key, kind, stamp, now):
            return "row"
        self._add_overflow(vendor, 1, stamp)
        return "overflow"

    def flush(self, stamp: str = "") -> None:
        """Write the overflow counted in memory (every vendor)."""
        with self._lock:
            vendors = [vendor for vendor, count in self._pending.items() if count]
        for vendor in vendors:
            self._flush(vendor, self.clock(), stamp)

    # -- rows --------------------------------------------------------------------------------------------------

    def _update_row(self, vendor: str, row_key: str, kind: str, stamp: str) -> bool:
        """+1 on the user's row if it exists."""
        for _ in range(ATTEMPTS):
            try:
                entity = self.table.get_entity(vendor, row_key)
            except ResourceNotFoundError:
                return False
            row = {"PartitionKey": vendor, "RowKey": row_key, "count": int(entity.get("count") or 0) + 1}
            try:
                self._merge({**row, "last_at": stamp, "last_kind": kind}, entity.metadata["etag"])
                return True
            except ResourceModifiedError:
                continue
            except ResourceNotFoundError:
                return False
        raise RuntimeError("could not record an unknown vendor user: too many concurrent updates")

    def _create_row(self, vendor: str, row_key: str, kind: str, stamp: str, now: float) -> bool:
        """A new row, if a slot under the cap is claimed; False when the vendor is full."""
        if not self._claim_slot(vendor, now):
            return False
        row = {"PartitionKey": vendor, "RowKey": row_key, "count": 1, "first_at": stamp, "last_at": stamp}
        try:
            self.table.create_entity({**row, "last_kind": kind})
        except ResourceExistsError:  # created meanwhile by another worker: count on it (the slot is recounted later)
            return self._update_row(vendor, row_key, kind, stamp)
        return True

    def _claim_slot(self, vendor: str, now: float) -> bool:
        with self._hot:  # one count row per vendor: threads of a process take turns, processes retry
            return self._claim_slot_locked(vendor, now)

    def _claim_slot_locked(self, vendor: str, now: float) -> bool:
        for attempt in range(ATTEMPTS):
            try:
                entity = self.table.get_entity(meta_partition(vendor), COUNT_ROW)
            except ResourceNotFoundError:
                entity = None
            rows = 0 if entity is None else int(entity.get("rows") or 0)
            if rows >= self.cap:
                with self._lock:
                    self._full_until[vendor] = now + FULL_RECHECK_SECONDS
                return False
            row = {"PartitionKey": meta_partition(vendor), "RowKey": COUNT_ROW, "rows": rows + 1}
            try:
                if entity is None:
                    self.table.create_entity(row)
                else:
                    self._merge(row, entity.metadata["etag"])
                return True
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                _back_off(attempt)
        raise RuntimeError("could not claim an unknown-user row: too many concurrent updates")

    def _flush_if_due(self, vendor: str, now: float, stamp: str) -> None:
        with self._lock:
            due = now - self._flushed_at.get(vendor, 0.0) >= OVERFLOW_FLUSH_SECONDS
        if due:
            self._flush(vendor, now, stamp)

    def _flush(self, vendor: str, now: float, stamp: str) -> None:
        with self._lock:
            count = self._pending.pop(vendor, 0)
            self._flushed_at[vendor] = now
        if not count:
            return
        try:
            self._add_overflow(vendor, count, stamp)
        except Exception:
            with self._lock:  # keep the count for the next flush
                self._pending[vendor] = self._pending.get(vendor, 0) + count
            raise

    def _add_overflow(self, vendor: str, count: int, stamp: str) -> None:
        with self._hot:
            self._add_overflow_locked(vendor, count, stamp or _now_iso())

    def _add_overflow_locked(self, vendor: str, count: int, stamp: str) -> None:
        for attempt in range(ATTEMPTS):
            try:
                entity = self.table.get_entity(meta_partition(vendor), OVERFLOW_ROW)
            except ResourceNotFoundError:
                entity = None
            row: dict[str, Any] = {"PartitionKey": meta_partition(vendor), "RowKey": OVERFLOW_ROW, "last_at": stamp}
            try:
                if entity is None:
                    self.table.create_entity({**row, "count": count, "first_at": stamp})
                else:
                    self._merge({**row, "count": int(entity.get("count") or 0) + count}, entity.metadata["etag"])
                log.warning("notify work: %d %s notifications for unknown users counted as overflow", count, vendor)
                return
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                _back_off(attempt)
        raise RuntimeError("could not count unknown-user overflow: too many concurrent updates")

    def _merge(self, row: dict[str, Any], etag: str | None) -> None:
        self.table.update_entity(row, mode=UpdateMode.MERGE, etag=etag, match_condition=MatchConditions.IfNotModified)


def expire_unknown(table: TableClient, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete the ``notifyunknown`` rows (users and overflow) not updated for ``older_than``, then set every
    vendor's count row to the user rows left. For a cleanup timer; returns how many rows were deleted."""
    cutoff = (now or datetime.now(UTC)) - older_than
    deleted = 0
    left: dict[str, int] = {}
    for row in table.list_entities():  # at most the cap per vendor; Timestamp is the last update
        partition, key = row["PartitionKey"], row["RowKey"]
        stamp = row.metadata.get("timestamp")
        meta = partition.endswith("~")
        if meta and key == COUNT_ROW:
            left.setdefault(partition[:-1], 0)
            continue
        if isinstance(stamp, datetime) and stamp < cutoff:
            with contextlib.suppress(ResourceNotFoundError):
                table.delete_entity(partition, key)
                deleted += 1
            continue
        if not meta:
            left[partition] = left.get(partition, 0) + 1
    for vendor, rows in left.items():  # a worker may add a row meanwhile: it is counted at the next expiry
        table.upsert_entity({"PartitionKey": meta_partition(vendor), "RowKey": COUNT_ROW, "rows": rows})
    return deleted


class UserWork:
    """Per-user bound and coalescing of notification work, under a package's ``WorkLimits`` (see the module
    docstring). Without a table the state is kept in this process only (the command line, tests)."""

    def __init__(self, table: TableClient | None, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock
        self._lock = threading.Lock()
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}

    def ensure(self) -> None:
        if self.table is not None:
            with contextlib.suppress(ResourceExistsError):
                self.table.create_table()

    def claim(self, vendor: str, user_key: str, keys: Iterable[str], limits: WorkLimits) -> tuple[list[str], str]:
        """Claim work on ``keys`` for one user: returns (the keys to fetch now, why nothing was claimed). Keys
        handled within the window are duplicates; when the user's fetches in the window reached the limit,
        nothing is claimed. A claim of some of the keys returns them with no reason (the caller compares)."""
        wanted = list(dict.fromkeys(keys))
        window = limits.seconds
        for _ in range(ATTEMPTS):
            now = self.clock()
            state, etag = self._read(vendor, user_key)
            recent = {k: t for k, t in state.get("recent", {}).items() if t > now - window}
            fetches = [t for t in state.get("fetches", []) if t > now - window]
            fresh = [k for k in wanted if k not in recent]
            if not fresh:
                return [], f"a duplicate of a notification handled in the last {_span(window)}"
            if len(fetches) >= limits.fetches:
                return [], f"over {limits.fetches} notification fetches in the last {_span(window)} for this user"
            recent.update(dict.fromkeys(fresh, now))
            if self._write(vendor, user_key, {"recent": recent, "fetches": [*fetches, now]}, etag):
                return fresh, ""
        raise RuntimeError(f"could not claim {vendor} notification work: too many concurrent updates")

    def release(self, vendor: str, user_key: str, keys: Iterable[str]) -> None:
        """Forget claimed keys after a failure, so the retried message is not dropped as a duplicate (best
        effort: when this fails, the reconciliation pull catches what the retry would have)."""
        gone = set(keys)
        try:
            for _ in range(ATTEMPTS):
                state, etag = self._read(vendor, user_key)
                state["recent"] = {k: t for k, t in state.get("recent", {}).items() if k not in gone}
                if self._write(vendor, user_key, state, etag):
                    return
        except Exception as error:
            log.warning("notify work: claimed %s work not released (%s)", vendor, type(error).__name__)

    def _read(self, vendor: str, user_key: str) -> tuple[dict[str, Any], str | None]:
        if self.table is None:
            with self._lock:
                return json.loads(json.dumps(self._memory.get((vendor, user_key), {}))), None
        try:
            entity = self.table.get_entity(vendor, user_key)
        except ResourceNotFoundError:
            return {}, None
        return json.loads(entity.get("state") or "{}"), entity.metadata["etag"]

    def _write(self, vendor: str, user_key: str, state: dict[str, Any], etag: str | None) -> bool:
        if self.table is None:
            with self._lock:
                self._memory[(vendor, user_key)] = state
            return True
        row = {"PartitionKey": vendor, "RowKey": user_key, "state": json.dumps(state, separators=(",", ":"))}
        try:
            if etag is None:
                self.table.create_entity(row)
            else:
                self.table.update_entity(
                    row, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True


class SourceGate:
    """In-memory sliding counts per source and per process: ``allow(source)`` is False once the source queued
    ``per_source`` (or the process ``per_process``) within ``seconds``. Thread-safe; at most ``sources``
    sources are remembered (the least recently seen are forgotten first)."""

    def __init__(
        self,
        per_source: int,
        per_process: int,
        seconds: float = GATE_SECONDS,
        sources: int = GATE_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_source, self.per_process, self.seconds, self.sources = per_source, per_process, seconds, sources
        self.clock = clock
        self._lock = threading.Lock()
        self._by_source: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def allow(self, source: str) -> bool:
        now = self.clock()
        with self._lock:
            _prune(self._all, now - self.seconds)
            times = self._by_source.pop(source, None) or deque()
            _prune(times, now - self.seconds)
            self._by_source[source] = times
            while len(self._by_source) > self.sources:
                self._by_source.popitem(last=False)
            if len(times) >= self.per_source or len(self._all) >= self.per_process:
                return False
            times.append(now)
            self._all.append(now)
            return True

    @classmethod
    def of(cls, limits: SourceLimits) -> SourceGate:
        """The gate of a package's ``SourceLimits``."""
        return cls(limits.per_source, limits.per_process, limits.seconds, limits.sources)


def _span(seconds: float) -> str:
    """A window's length in words: "hour", "10 minutes", "90 seconds"."""
    if seconds == 3600:
        return "hour"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _back_off(attempt: int) -> None:
    """A short random pause after losing an ETag race on a hot row, growing with the attempts."""
    time.sleep(random.uniform(0, 0.02 * (attempt + 1)))


def _prune(times: deque[float], cutoff: float) -> None:
    while times and times[0] <= cutoff:
        times.popleft()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
