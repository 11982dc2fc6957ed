"""One rate-limit budget per vendor limit, shared by every worker of the app through Table storage.

A vendor's limit is a number of requests per window, for the whole app or per user (``Vendor.rate_limits`` and
``VendorSpec.rate_limit_scope`` in each vendor's package). Each budget is one table entity: the send times of
the recent requests (minute buckets for the large limits), a pause set from the vendor's own headers (a 429, or
"0 remaining"), and a marker that live pulls are waiting. A worker takes a slot with an ETag-conditional update
before every request, so parallel workers and processes together never send more than the limit in any window of
``seconds + margin`` seconds: a sliding window, which keeps every fixed window the vendor counts in under the
limit too, whatever its alignment. Live work goes first, then reconciliation, then backfill: while
a live request waits for a slot, no reconciliation or backfill request takes one, and while a reconciliation
request waits, no backfill request does. A share of each budget's largest window (``PULL_BUDGET_RESERVE_PERCENT``)
is kept for live work: reconciliation and backfill wait rather than spend it (``OutOfTime`` past their deadline,
so their job is queued again with a delay: deferred, never dropped), except reconciliation at its freshness
deadline (``Priority.DEADLINE``), which may spend it after live work.

Two things keep many workers cheap and honest:
- A worker that loses the conditional update to another backs off for a random, growing time (full jitter)
  before looking again, instead of re-reading at once: with 48 workers on one key, immediate retries cost
  several Table calls per granted slot, nearly all of them lost races (``python -m bench.rate_budget``).
- Every time in the entity (send times, pauses, marks) is the storage service's time, not the worker's: each
  answer of the service bounds the offset between the worker's clock and the service's (the ``Date`` header, to
  the second; the ETag of a write, which holds the service's timestamp of that write, to the round trip). A
  window is read at the earliest the service's time can be, and sends are written at the latest, so a worker
  whose clock is 10 s off cannot push a window over its limit as the service sees it (``ServiceClock``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.pull.model import PLANNED
from shared.pull.model import Priority as Priority  # a budget's callers name it here too
from shared.settings import RateLimit

log = logging.getLogger(__name__)

BUDGET_TABLE = "ratebudget"
EXACT_UP_TO = 1_000
"""Limits up to this many requests keep each send time; larger ones count per minute."""
BUCKET_SECONDS = 60
LIVE_MARK_SECONDS = 2.0
MARK_MAX_WAIT = 600.0
"""A reconciliation request that must wait longer than this (the day's reserve) leaves no mark for backfill."""
MAX_NAP = 10.0
BACKOFF_FIRST = 0.02
BACKOFF_MAX = 1.0
"""After the n-th lost update in a row a worker waits a random time up to min(BACKOFF_MAX, BACKOFF_FIRST * 2^n)."""
WAKE_SPREAD = 0.05
"""Workers waiting for a window wake up to this much (doubled per update lost meanwhile) after the slot frees."""
KEEP_RESERVE = frozenset({Priority.RECONCILE, Priority.BACKFILL})
"""Priorities that leave the live reserve alone."""
ETAG_TIME = re.compile(r"datetime'([^']+)'")


class OutOfTime(Exception):
    """No slot before the caller's deadline: retry in ``retry_after`` seconds (in a new message)."""

    def __init__(self, budget: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate budget {budget}: no request slot before the deadline; next in {retry_after:.0f}s")


@dataclass
class _State:
    sent: list[float] = field(default_factory=list)  # epoch seconds, oldest first
    buckets: dict[int, int] = field(default_factory=dict)  # minute index -> requests
    paused_until: float = 0.0
    live_until: float = 0.0
    reconcile_until: float = 0.0
    etag: str | None = None

    @classmethod
    def of(cls, entity: Any) -> _State:
        return cls(
            sent=[float(t) for t in json.loads(entity.get("sent") or "[]")],
            buckets={int(k): int(v) for k, v in json.loads(entity.get("buckets") or "{}").items()},
            paused_until=float(entity.get("paused_until") or 0.0),
            live_until=float(entity.get("live_until") or 0.0),
            reconcile_until=float(entity.get("reconcile_until") or 0.0),
            etag=entity.metadata.get("etag"),
        )

    def entity(self, vendor: str, key: str) -> dict[str, Any]:
        return {
            "PartitionKey": vendor,
            "RowKey": key,
            "sent": json.dumps([round(t, 3) for t in self.sent]),
            "buckets": json.dumps({str(k): v for k, v in sorted(self.buckets.items())}),
            "paused_until": self.paused_until,
            "live_until": self.live_until,
            "reconcile_until": self.reconcile_until,
        }


class ServiceClock:
    """The storage service's time as this process sees it: the local clock plus an offset known to lie in an
    interval, which the service's answers set. Each answer says the service's time lay in some range while the
    request was in flight: the ``Date`` header (whole seconds) until a write's ETag (the service's timestamp of
    that write) gives the offset to the round trip; answers narrow the interval, and one that does not meet it
    (the local clock stepped; every slot begins with a read, whose ``Date`` shows a step) starts it again.

    ``earliest()`` and ``latest()`` are the bounds of the service's time now. A budget reads its window at the
    earliest (it counts every send that may still be inside) and writes times at the latest (a send never looks
    older than it is to another worker), so what is not known of the service's time errs on the safe side."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.low: float | None = None
        self.high: float | None = None
        self.precise = False  # the interval comes from ETags (else from Date headers)
        self._guard = threading.Lock()

    def earliest(self) -> float:
        return self.clock() + (self.low or 0.0)

    def latest(self) -> float:
        return self.clock() + (self.high or 0.0)

    def learn(self, low: float, high: float, *, precise: bool) -> None:
        """The offset (service - local) lay in [low, high] during one request."""
        with self._guard:
            known, upper = self.low, self.high
            if known is not None and upper is not None and low <= upper and high >= known:  # consistent
                if self.precise and not precise:
                    return  # a write's ETag said more than a Date header can
                if self.precise == precise:
                    self.low, self.high = max(known, low), min(upper, high)
                    return
            # the first answer, the first ETag, or one that contradicts what we knew: the local clock stepped
            self.low, self.high, self.precise = low, high, precise

    def learn_date(self, response: PipelineResponse, sent: float, received: float) -> None:  # type: ignore[type-arg]
        """From the ``Date`` header (whole seconds) of an answer to a request in flight from sent to received."""
        header = response.http_response.headers.get("Date")
        with contextlib.suppress(TypeError, ValueError):
            if header:
                date = parsedate_to_datetime(header).timestamp()
                self.learn(date - received, date + 1.0 - sent, precise=False)

    def learn_etag(self, etag: str | None, sent: float, received: float) -> None:
        """From the ETag of a write: the service's timestamp of the write, to a tenth of a microsecond."""
        found = ETAG_TIME.search(etag or "")
        with contextlib.suppress(ValueError):
            if found:
                written = datetime.fromisoformat(unquote(found.group(1))).timestamp()
                self.learn(written - received, written - sent, precise=True)


class RateBudget:
    """Slots of the vendors' rate limits, shared through the ``ratebudget`` table.

    ``backoff`` and ``service_time`` are on in the app; off, they give the earlier behaviour (immediate retries
    after a lost update; the worker's own clock) for comparison (``bench.rate_budget``) and for tests that move a
    fake clock, which the service's time would not follow."""

    def __init__(
        self,
        tables: TableServiceClient,
        margin_seconds: float = 2.0,
        *,
        table_name: str = BUDGET_TABLE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        backoff: bool = True,
        service_time: bool = True,
        reserve_percent: float = 0.0,
    ) -> None:
        self.table: TableClient = tables.get_table_client(table_name)
        self.margin = margin_seconds
        self.clock = clock
        self.sleep = sleep
        self.exact_up_to = EXACT_UP_TO
        self.backoff = backoff
        self.service = ServiceClock(clock) if service_time else None
        self.reserve_percent = reserve_percent

    def now(self) -> float:
        """The time a window is read at: the earliest the storage service's time can be now (with service_time
        off, our clock)."""
        return self.service.earliest() if self.service else self.clock()

    def stamp(self) -> float:
        """The time written for a send, a pause or a mark: the latest the service's time can be now."""
        return self.service.latest() if self.service else self.clock()

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    # -- taking a slot -------------------------------------------------------------------------------------------
    def acquire(
        self,
        vendor: str,
        key: str,
        limits: Sequence[RateLimit],
        priority: Priority = Priority.LIVE,
        deadline: float = math.inf,
    ) -> float:
        """Take one request slot, waiting as long as the limits require; returns the seconds waited.
        Raises ``OutOfTime`` instead of waiting past ``deadline`` (epoch seconds)."""
        if not limits:
            return 0.0
        return self._acquire(vendor, key, limits, priority, deadline)

    def wait_out_pause(self, vendor: str, key: str, deadline: float = math.inf) -> float:
        """For a limit layer with no published number: take no slot, but wait while the vendor's answers paused
        ``key`` (``observe``); returns the seconds waited, or raises ``OutOfTime`` past ``deadline``."""
        started = self.clock()
        while (wait := self._read(vendor, key).paused_until - self.now()) > 0:
            if self.clock() + wait > deadline:
                raise OutOfTime(f"{vendor}/{key}", wait)
            self.sleep(min(wait, MAX_NAP) + random.uniform(0.0, WAKE_SPREAD))
        return self.clock() - started

    def _acquire(
        self, vendor: str, key: str, limits: Sequence[RateLimit], priority: Priority, deadline: float
    ) -> float:
        started = self.clock()
        lost = 0  # updates lost in a row to other workers
        while True:
            state = self._read(vendor, key)
            now = self.now()
            self._prune(state, limits, now)
            wait = max(state.paused_until - now, self._wait_for_slot(state, limits, now))
            if wait <= 0 and priority in KEEP_RESERVE:
                wait = self._wait_for_slot(state, self.reserved(limits), now)  # the reserve is live work's
            if wait <= 0 and priority is not Priority.LIVE and state.live_until > now:
                wait = min(state.live_until - now, 0.5)  # live work is waiting: let it go first
            elif wait <= 0 and priority is Priority.BACKFILL and state.reconcile_until > now:
                wait = min(state.reconcile_until - now, 0.5)  # reconciliation is waiting: it goes first
            elif wait <= 0:
                stamp = self.stamp()
                state.sent.append(stamp)
                if any(limit.requests > self.exact_up_to for limit in limits):
                    minute = int(stamp // BUCKET_SECONDS)
                    state.buckets[minute] = state.buckets.get(minute, 0) + 1
                if self._write(vendor, key, state):
                    return self.clock() - started
                lost += 1  # another worker took a slot meanwhile: look again, after a random pause
                if self.backoff:
                    self.sleep(random.uniform(0.0, min(BACKOFF_MAX, BACKOFF_FIRST * 2**lost)))
                continue
            if priority is Priority.LIVE and state.live_until < now + wait:
                state.live_until = self.stamp() + wait + LIVE_MARK_SECONDS
                self._write(vendor, key, state)  # best effort: a lost race only delays the mark
            elif priority in PLANNED and state.reconcile_until < now + wait and wait <= MARK_MAX_WAIT:
                # waiting for a short window holds backfill back; waiting out the day's reserve does not
                state.reconcile_until = self.stamp() + wait + LIVE_MARK_SECONDS
                self._write(vendor, key, state)
            if self.clock() + wait > deadline:  # the caller's deadline is on its own clock
                raise OutOfTime(f"{vendor}/{key}", wait)
            # workers that wait for the same freed slot wake apart; those that keep losing, further apart
            spread = min(BACKOFF_MAX, WAKE_SPREAD * 2**lost) if self.backoff else WAKE_SPREAD
            self.sleep(min(wait, MAX_NAP) + random.uniform(0.0, spread))

    def observe(
        self,
        vendor: str,
        key: str,
        *,
        status: int,
        remaining: int | None,
        reset_seconds: float | None,
        retry_after: float | None = None,
    ) -> float:
        """Learn from a vendor's answer: a 429, or a window with nothing remaining, pauses the budget for
        every worker until the vendor's reset. Returns the pause (0 when none)."""
        pause = 0.0
        if status == 429:
            pause = retry_after if retry_after is not None else reset_seconds if reset_seconds is not None else 60.0
        elif remaining is not None and remaining <= 0 and reset_seconds is not None:
            pause = reset_seconds
        if pause <= 0:
            return 0.0
        until = self.stamp() + pause + self.margin
        for _ in range(10):
            state = self._read(vendor, key)
            if state.paused_until >= until:
                break
            state.paused_until = until
            if self._write(vendor, key, state):
                break
        log.warning("rate budget %s/%s paused for %.0fs by the vendor's answer (HTTP %s)", vendor, key, pause, status)
        return pause

    def reserved(self, limits: Sequence[RateLimit]) -> list[RateLimit]:
        """The limit reconciliation and backfill work within: the widest window less the live reserve."""
        if self.reserve_percent <= 0 or not limits:
            return []
        widest = max(limits, key=lambda limit: limit.seconds)
        kept = math.ceil(widest.requests * self.reserve_percent / 100)
        return [RateLimit(max(1, widest.requests - kept), widest.seconds)]

    def usage_by_key(self, vendor: str, limit: RateLimit) -> dict[str, int]:
        """Requests taken in the last window of ``limit`` by each budget of ``vendor`` (the app's one, or one per
        user): for health pages."""
        now = self.now()
        counts: dict[str, int] = {}
        for entity in self.table.query_entities("PartitionKey eq @v", parameters={"v": vendor}):
            counts[str(entity["RowKey"])] = self._count(_State.of(entity), limit, now)
        return counts

    def usage(self, vendor: str, key: str, limit: RateLimit) -> int:
        """Requests taken in the last window of ``limit`` (for status pages and tests)."""
        state = self._read(vendor, key)
        return self._count(state, limit, self.now())

    # -- the arithmetic -------------------------------------------------------------------------------------------
    def _span(self, limit: RateLimit) -> float:
        return limit.seconds + self.margin

    def _prune(self, state: _State, limits: Sequence[RateLimit], now: float) -> None:
        exact = [self._span(limit) for limit in limits if limit.requests <= self.exact_up_to]
        keep = max(exact, default=0.0)
        state.sent = sorted(t for t in state.sent if t > now - keep) if exact else []
        large = [self._span(limit) for limit in limits if limit.requests > self.exact_up_to]
        oldest = int((now - max(large, default=0.0)) // BUCKET_SECONDS)
        state.buckets = {minute: n for minute, n in state.buckets.items() if minute >= oldest} if large else {}

    def _count(self, state: _State, limit: RateLimit, now: float) -> int:
        since = now - self._span(limit)
        if limit.requests <= self.exact_up_to:
            return sum(1 for t in state.sent if t > since)
        # a bucket counts while any part of its minute is inside the window: never under-counts
        return sum(n for minute, n in state.buckets.items() if (minute + 1) * BUCKET_SECONDS > since)

    def _wait_for_slot(self, state: _State, limits: Sequence[RateLimit], now: float) -> float:
        wait = 0.0
        for limit in limits:
            if self._count(state, limit, now) < limit.requests:
                continue
            if limit.requests <= self.exact_up_to:
                inside = [t for t in state.sent if t > now - self._span(limit)]
                # the slot frees when enough of the oldest sends leave the window
                frees_at = inside[len(inside) - limit.requests] + self._span(limit)
            else:
                counted = sorted(m for m in state.buckets if (m + 1) * BUCKET_SECONDS > now - self._span(limit))
                frees_at = (counted[0] + 1) * BUCKET_SECONDS + self._span(limit)
            wait = max(wait, frees_at - now)
        return wait

    # -- storage ----------------------------------------------------------------------------------------------
    def _read(self, vendor: str, key: str) -> _State:
        sent = self.clock()
        answers: list[PipelineResponse] = []  # type: ignore[type-arg]
        try:
            entity = self.table.get_entity(vendor, key, raw_response_hook=answers.append)
            state = _State.of(entity)
        except ResourceNotFoundError:
            state = _State()
        finally:
            if self.service and answers:
                self.service.learn_date(answers[-1], sent, self.clock())
        return state

    def _write(self, vendor: str, key: str, state: _State) -> bool:
        entity = state.entity(vendor, key)
        sent = self.clock()
        answers: list[PipelineResponse] = []  # type: ignore[type-arg]
        try:
            if state.etag is None:
                written = self.table.create_entity(entity, raw_response_hook=answers.append)
            else:
                written = self.table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=state.etag,
                    match_condition=MatchConditions.IfNotModified,
                    raw_response_hook=answers.append,
                )
            if self.service:
                self.service.learn_etag(written.get("etag"), sent, self.clock())
            return True
        except (ResourceExistsError, ResourceModifiedError):
            if self.service and answers:
                self.service.learn_date(answers[-1], sent, self.clock())
            return False
