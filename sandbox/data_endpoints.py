"""The sandbox's data side: the twins' data routes and the controls tests use on them.

`DataService` owns the data state (clock, revisions, deletions), the rate limiter and the test quirks, builds
the data routes of every twin (`Twin.data_routes`), and answers the `Sandbox` methods `revise`,
`delete_record`, `expected_records`, `max_window_usage` and `limit_exceeded`. A twin's data types are its
generator's kinds (`Twin.data`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime

from sandbox.context import DataContext, EndpointContext
from sandbox.data import (
    ONE_DAY,
    DataState,
    DayGenerator,
    Record,
    RecordId,
    Snapshot,
    days_ascending,
    local_day,
    newest_first,
    offset_text,
)
from sandbox.oauth import OAuthStore
from sandbox.ratelimit import LimitSetting, RateLimiter
from sandbox.server import Route
from sandbox.vendors import twin_named, twins

ExpectedRecord = tuple[RecordId, date]


def default_quirks() -> dict[str, dict[str, int]]:
    return {name: dict(twin.quirks) for name, twin in twins().items()}


def generator_of(vendor: str) -> DayGenerator:
    return twin_named(vendor).data


class DataService:
    """Data routes and data controls of one sandbox (all state behind the sandbox's lock)."""

    def __init__(
        self, lock: threading.RLock, clock: Callable[[], float], endpoints: EndpointContext, store: OAuthStore
    ) -> None:
        self.state = DataState(lock, clock)
        self.rate_limits: dict[str, LimitSetting] = dict.fromkeys(twins())
        self.quirks = default_quirks()
        rules = {name: twin.rate for name, twin in twins().items() if twin.rate is not None}
        self.limiter = RateLimiter(lock, self.rate_limits, lambda: self.state.now().timestamp(), rules)
        self.context = DataContext(endpoints, store, self.state, self.limiter, self.quirks)

    def routes(self) -> dict[str, list[Route]]:
        return {name: twin.data_routes(self.context) for name, twin in twins().items()}

    def reset(self) -> None:
        """Fresh data state: no revisions or deletions, real time, limits off, no quirks, no usage."""
        self.state.reset()
        self.limiter.reset()
        self.rate_limits.update(dict.fromkeys(twins()))
        for name, quirks in default_quirks().items():
            self.quirks.setdefault(name, {}).clear()
            self.quirks[name].update(quirks)

    # -- controls ----------------------------------------------------------------------------------------------

    def revise(self, vendor: str, data_type: str, user: str, day: date) -> int:
        name = _checked(vendor, data_type)
        return self.state.revise(name, data_type, user, day).count

    def delete_record(
        self, vendor: str, data_type: str, user: str, day: date, record_id: RecordId | None = None
    ) -> list[RecordId]:
        """Delete the record `record_id` (or every record of the type) of that day; returns the ids deleted."""
        name = _checked(vendor, data_type)
        snap = self.state.snapshot(name, user)
        present = [r.record_id for r in generator_of(name).day_records(data_type, snap, day)]
        gone = [rid for rid in present if record_id is None or str(rid) == str(record_id)]
        self.state.delete(name, data_type, user, day, record_id)
        return gone

    def expected_records(
        self, vendor: str, data_type: str, user: str, start: date | datetime, end: date | datetime
    ) -> list[ExpectedRecord]:
        """Ground truth: (record id, local day) of the records a complete pull would land, oldest first.

        With dates: records whose local day is in [start, end] (both included). With aware datetimes: records
        whose span meets [start, end), as a collection filtered by instants selects them."""
        name = _checked(vendor, data_type)
        snap = self.state.snapshot(name, user)
        generator = generator_of(name)
        if isinstance(start, datetime) and isinstance(end, datetime):
            found = reversed(list(newest_first(generator, data_type, snap, start, end)))
            return [(r.record_id, r.local_date) for r in found]
        if isinstance(start, datetime) or isinstance(end, datetime):
            raise TypeError("start and end must both be dates or both be datetimes")
        return [(r.record_id, r.local_date) for r in _by_day(generator, data_type, snap, start, end)]

    def timezone_offset(self, vendor: str, user: str) -> str:
        return offset_text(generator_of(vendor).offset(user))

    def max_window_usage(self, vendor: str, window: int | None = None, user: str | None = None) -> int:
        twin = twin_named(vendor)
        client_wide = twin.rate is not None and twin.rate.key == "client"
        return self.limiter.max_usage(twin.name, window, None if user is None or client_wide else user)

    def limit_exceeded(self, vendor: str) -> int:
        return self.limiter.refused(twin_named(vendor).name)


def _by_day(generator: DayGenerator, kind: str, snap: Snapshot, first: date, last: date) -> Iterator[Record]:
    tomorrow = local_day(snap.now, generator.offset(snap.user)) + ONE_DAY  # a record may start the evening before
    for day in days_ascending(max(first, snap.member_since), min(last, tomorrow)):
        yield from generator.day_records(kind, snap, day)


def _checked(vendor: str, data_type: str) -> str:
    twin = twin_named(vendor)
    if data_type not in twin.data.kinds:
        raise ValueError(f"{twin.name} has no data type {data_type!r}; known: {list(twin.data.kinds)}")
    return twin.name
