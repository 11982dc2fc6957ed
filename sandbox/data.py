"""Deterministic synthetic vendor data: seeds, ids, time helpers, records and the sandbox's mutable data state.

Every record is a pure function of (vendor, user, local day, kind, revision): a day's records are generated on
the fly from SHA-256 seeds, so any range of years can be served or paged through without storing history.
The little state there is (the data clock, revisions, deletions, first day of each user's history, page
counters) lives in `DataState` behind the sandbox's shared lock; a request takes an immutable `Snapshot` of
it and generates outside the lock.

Vocabulary shared by the twins' generators (`sandbox/vendors/<name>/data.py`):
- a record's *local day* is the user's calendar day it belongs to (for a night's sleep: the day of waking);
- a record *exists* once it was uploaded (`created` <= now) and was not deleted;
- a record is *final* (its score or summary complete) from local midnight after its day plus a few minutes,
  or as soon as a test `revise`s it; revision n > 0 regenerates its values from a seed that includes n.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Any, Protocol

DEFAULT_MEMBER_SINCE = date(2016, 1, 1)
"""First day of every user's history unless a test sets another (`Sandbox.set_member_since`)."""

ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSET_MINUTES = (-480, -420, -360, -300, -240, -180, 0, 60, 120, 330, 480, 540, 600)
_HOURLY_WEIGHTS = (0, 0, 0, 0, 0, 0, 1, 4, 6, 5, 4, 5, 6, 5, 4, 5, 6, 7, 6, 4, 3, 2, 1, 0)

RecordId = str | int


# -- seeds and ids ---------------------------------------------------------------------------------------------


def seed(*parts: object) -> int:
    """A 64-bit seed from `parts` (stable across processes and Python versions)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def rng(*parts: object) -> random.Random:
    return random.Random(seed(*parts))


def id64(*parts: object) -> int:
    """A 64-bit id above 2**33 (never fits an int32; most values exceed 2**53, as some vendors' log ids may)."""
    low = 1 << 33
    return low + seed("id64", *parts) % ((1 << 62) - low)


def day_uuid(day: date, slot: int, *parts: object) -> str:
    """A version-4-looking UUID that encodes `day` and `slot` in its last six bytes, so the record can be found
    again from its id alone; the other bytes hash `parts` (vendor, user, kind)."""
    head = hashlib.sha256("\x1f".join(str(p) for p in (*parts, day, slot)).encode()).digest()
    tail = day.toordinal().to_bytes(3, "big") + bytes([slot]) + head[10:12]
    return str(uuid.UUID(bytes=head[:10] + tail, version=4))


def uuid_day(value: str) -> tuple[date, int] | None:
    """(day, slot) encoded by `day_uuid`, or None when `value` cannot be one of ours."""
    try:
        raw = uuid.UUID(value).bytes
    except ValueError:
        return None
    ordinal = int.from_bytes(raw[10:13], "big")
    if not 1 <= ordinal <= date.max.toordinal():
        return None
    return date.fromordinal(ordinal), raw[13]


def ordinal_day(ordinal: int) -> date | None:
    return date.fromordinal(ordinal) if 1 <= ordinal <= date.max.toordinal() else None


# -- time ------------------------------------------------------------------------------------------------------


def user_offset(user: str) -> timedelta:
    """The user's fixed UTC offset (the same person has the same one at every vendor)."""
    return timedelta(minutes=_OFFSET_MINUTES[seed("utc-offset", user) % len(_OFFSET_MINUTES)])


def offset_text(offset: timedelta) -> str:
    """ "-05:00" style (ISO 8601 time zone designator)."""
    minutes = int(offset.total_seconds()) // 60
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


def at_local(day: date, offset: timedelta, minutes: float) -> datetime:
    """The UTC instant `minutes` after local midnight of `day`, truncated to whole milliseconds."""
    midnight = datetime.combine(day, time(), tzinfo=timezone(offset)).astimezone(UTC)
    return truncate_ms(midnight + timedelta(minutes=minutes))


def truncate_ms(instant: datetime) -> datetime:
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def local_day(instant: datetime, offset: timedelta) -> date:
    return (instant.astimezone(UTC) + offset).date()


def local_naive(instant: datetime, offset: timedelta) -> datetime:
    return (instant.astimezone(UTC) + offset).replace(tzinfo=None)


def iso_z(instant: datetime) -> str:
    """ "2022-04-24T11:25:44.774Z" (UTC, milliseconds)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def days_ascending(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


def days_descending(first: date, last: date) -> Iterator[date]:
    """`first` down to `last` (first >= last), both included."""
    day = first
    while day >= last:
        yield day
        day -= ONE_DAY


def hours_elapsed(day: date, offset: timedelta, now: datetime) -> int:
    """Whole local hours of `day` that have passed by `now` (24 for past days, 0 for future ones)."""
    seconds = (now - at_local(day, offset, 0)).total_seconds()
    return max(0, min(24, int(seconds // 3600)))


def split(total: int, weights: tuple[int, ...] | list[int]) -> list[int]:
    """`total` split in proportion to `weights` into integers that add up to it exactly."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    remainder = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (total * weights[i]) % whole, reverse=True)
    for index in order[:remainder]:
        shares[index] += 1
    return shares


def hourly(total: int, day: date, offset: timedelta, now: datetime) -> list[int]:
    """A day's `total` spread over its 24 hours; hours that have not passed yet are zero (today is partial)."""
    elapsed = hours_elapsed(day, offset, now)
    return [share if hour < elapsed else 0 for hour, share in enumerate(split(total, _HOURLY_WEIGHTS))]


# -- records ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One generated record: its id, local day, time span (UTC; `end` None while ongoing) and vendor body."""

    record_id: RecordId
    local_date: date
    start: datetime
    end: datetime | None
    body: Any  # a JSON object, or a positional array where the vendor sends one

    @property
    def key(self) -> tuple[int, str]:
        """Sort key: start (ms), then id."""
        return epoch_ms(self.start), str(self.record_id)

    def overlaps(self, low: datetime | None, high: datetime, now: datetime) -> bool:
        """True when the record's span meets [low, high): a collection's "after or during start, before end"."""
        return self.start < high and (low is None or (self.end or now) > low)


@dataclass(frozen=True)
class Revision:
    count: int
    at: datetime


@dataclass(frozen=True)
class Stamp:
    """Whether a record's values are final, its `updated_at`, and which revision of the values to generate."""

    final: bool
    updated_at: datetime
    revision: int


def stamp(created: datetime, final_at: datetime, revision: Revision | None, now: datetime) -> Stamp:
    if revision is not None:
        return Stamp(True, max(created, revision.at), revision.count)
    if now >= final_at:
        return Stamp(True, max(created, final_at), 0)
    return Stamp(False, created, 0)


@dataclass(frozen=True)
class Snapshot:
    """The data state one request (or one ground-truth query) sees for one vendor and user."""

    vendor: str
    user: str
    now: datetime
    member_since: date
    revisions: Mapping[tuple[str, date], Revision]
    deleted: frozenset[tuple[str, date, str]]

    def revision(self, kind: str, day: date) -> Revision | None:
        return self.revisions.get((kind, day))

    def is_deleted(self, kind: str, day: date, record_id: RecordId) -> bool:
        return (kind, day, "*") in self.deleted or (kind, day, str(record_id)) in self.deleted


class DayGenerator(Protocol):
    """A vendor's generator: the records of one kind on one local day, ascending by `Record.key`, that exist
    as of `snap.now` and are not deleted. Records of a later day never start before those of an earlier one."""

    @property
    def vendor(self) -> str: ...

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def offset(self, user: str) -> timedelta: ...

    def day_records(self, kind: str, snap: Snapshot, day: date) -> list[Record]: ...


def newest_first(
    generator: DayGenerator,
    kind: str,
    snap: Snapshot,
    low: datetime | None,
    high: datetime,
    before: tuple[int, str] | None = None,
) -> Iterator[Record]:
    """Records overlapping [low, high) with key < `before`, newest first, one day generated at a time."""
    offset = generator.offset(snap.user)
    bound = min(high, snap.now) if before is None else min(high, snap.now, from_epoch_ms(before[0]))
    bottom = snap.member_since if low is None else max(snap.member_since, local_day(low, offset) - 2 * ONE_DAY)
    for day in days_descending(local_day(bound, offset) + ONE_DAY, bottom):
        for record in reversed(generator.day_records(kind, snap, day)):
            if record.overlaps(low, high, snap.now) and (before is None or record.key < before):
                yield record


# -- mutable state ---------------------------------------------------------------------------------------------

UserKey = tuple[str, str]


class DataState:
    """Data clock, revisions, deletions and history starts of all vendors, guarded by the shared lock.

    The data clock is wall time that advances with the sandbox's `clock`: it starts at the real UTC time and
    `set_now` re-anchors it, so a test's fake clock moves the vendors' "now" (rate-limit windows included).
    """

    def __init__(self, lock: threading.RLock, clock: Callable[[], float]) -> None:
        self._lock = lock
        self._clock = clock
        self._anchor = (clock(), _wall_now())
        self._revisions: dict[UserKey, dict[tuple[str, date], Revision]] = {}
        self._deleted: dict[UserKey, set[tuple[str, date, str]]] = {}
        self._member_since: dict[UserKey, date] = {}
        self._pages: Counter[str] = Counter()

    def now(self) -> datetime:
        with self._lock:
            monotonic, wall = self._anchor
            return truncate_ms(wall + timedelta(seconds=self._clock() - monotonic))

    def set_now(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the data clock needs an aware datetime")
        with self._lock:
            self._anchor = (self._clock(), when.astimezone(UTC))

    def revise(self, vendor: str, kind: str, user: str, day: date) -> Revision:
        with self._lock:
            revisions = self._revisions.setdefault((vendor, user), {})
            previous = revisions.get((kind, day))
            revision = Revision(1 if previous is None else previous.count + 1, self.now())
            revisions[(kind, day)] = revision
            return revision

    def delete(self, vendor: str, kind: str, user: str, day: date, record_id: RecordId | None) -> None:
        with self._lock:
            self._deleted.setdefault((vendor, user), set()).add(
                (kind, day, "*" if record_id is None else str(record_id))
            )

    def set_member_since(self, vendor: str, user: str, day: date) -> None:
        with self._lock:
            self._member_since[(vendor, user)] = day

    def next_page(self, vendor: str) -> int:
        """1, 2, 3, ... per vendor: numbers the collection pages served (for the empty-page quirk)."""
        with self._lock:
            self._pages[vendor] += 1
            return self._pages[vendor]

    def snapshot(self, vendor: str, user: str) -> Snapshot:
        with self._lock:
            key = (vendor, user)
            return Snapshot(
                vendor,
                user,
                self.now(),
                self._member_since.get(key, DEFAULT_MEMBER_SINCE),
                MappingProxyType(dict(self._revisions.get(key, {}))),
                frozenset(self._deleted.get(key, set())),
            )

    def reset(self) -> None:
        """Forget revisions, deletions, history starts and page counters; the data clock follows real time again."""
        with self._lock:
            self._anchor = (self._clock(), _wall_now())
            self._revisions.clear()
            self._deleted.clear()
            self._member_since.clear()
            self._pages.clear()


def _wall_now() -> datetime:
    return truncate_ms(datetime.now(UTC))
