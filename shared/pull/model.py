"""What a vendor fetcher is: the data types it knows, and how it turns a date window into records.

A window is a range of the user's local dates, both ends included. A fetcher asks the vendor for everything
that may fall in it (asking for a little more is fine: landing is idempotent) and yields each record with its
id and its local date, one page at a time, so that no history is ever held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Protocol


class Priority(StrEnum):
    """Whose turn a request is: live work (notifications, a pull a person asked for) goes first, then the
    reconciliation the pull timer plans, then backfill chunks. ``DEADLINE`` is planned reconciliation of a type
    whose freshness runs out before the timer's next run: it waits for live work like any reconciliation, but
    may spend the share of the budget kept for live work (a freshness broken is a promise broken too)."""

    LIVE = "live"
    DEADLINE = "deadline"
    RECONCILE = "reconcile"
    BACKFILL = "backfill"


PLANNED = frozenset({Priority.DEADLINE, Priority.RECONCILE})
"""What the pull timer plans (as against what a notification or a person asks for, and backfill)."""


@dataclass(frozen=True)
class DataType:
    """One kind of vendor data.

    ``max_days``: the longest window one vendor request may cover (a vendor's ``data.py`` says, per type), or 0
    when the vendor pages instead. ``chunk_days``: how many days one backfill
    chunk covers: small enough that a chunk finishes well inside a 10-minute function run at the vendor's
    rate limit. ``scope``: the OAuth scope it needs (a connection without it skips the type). ``snapshot``:
    the type has no history (a profile, a body measurement): each pull fetches it whole, windows are ignored.
    """

    name: str
    scope: str
    max_days: int = 0
    chunk_days: int = 30
    snapshot: bool = False


@dataclass(frozen=True)
class Window:
    """Local dates ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def split(self, days: int) -> Iterator[Window]:
        """Consecutive windows of at most ``days`` days covering this one, oldest first (``days`` 0: whole)."""
        if days <= 0:
            yield self
            return
        start = self.first
        while start <= self.last:
            end = min(self.last, start + timedelta(days=days - 1))
            yield Window(start, end)
            start = end + timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


@dataclass(frozen=True)
class Fetched:
    """One vendor record as sent: its id (unique within the data type and user), its local date and the
    request it came from (a path without the host, and without any token)."""

    record_id: str
    local_date: date
    content: Any
    source: str


def record_id(vendor: str, data_type: str, entry: Mapping[str, Any], field: str) -> str:
    """The record id in ``entry[field]`` (a non-empty string or an integer), as text; ValueError if there is none."""
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError(f"{vendor} {data_type}: an entry has no {field!r} id")
    return str(value)


def date_field(vendor: str, data_type: str, entry: Mapping[str, Any], field: str) -> date:
    """The ``YYYY-MM-DD`` date in ``entry[field]``; ValueError if it is not one."""
    value = entry.get(field)
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{vendor} {data_type}: an entry's {field!r} is not a YYYY-MM-DD date")


class VendorApi(Protocol):
    """Authenticated, rate-limited calls to one connection's vendor API (``shared.pull.vendor_api``).

    Paths are relative to the vendor's ``API_BASE_URL``; a full URL (a ``pagination.next`` link) is accepted
    when it points below that base. Answers are parsed JSON. Failures raise ``VendorError``.
    """

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any: ...

    def post(self, path: str, body: Mapping[str, Any]) -> Any: ...


class Fetcher(Protocol):
    """One vendor's data side: its types and how to fetch a window of one type."""

    vendor: str
    data_types: Mapping[str, DataType]

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        """Every record of ``data_type`` whose local date may be in ``window``. ``today`` is the latest local
        date any user can have now (UTC today + 1); a window never ends after it."""
        ...
