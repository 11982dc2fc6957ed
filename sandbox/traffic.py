"""A day of a vendor's changes as a twin's traffic module describes them (``sandbox/vendors/<name>/traffic.py``,
read by ``bench/reach.py``): the generic part. Each module gives ``day_changes(user, day, start, end)``, the changes
of one user's local day that fall in ``[start, end)``; ``changes_between`` walks every user's days around the span.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sandbox.data import ONE_DAY

Action = Literal["upload", "revise", "delete"]


@dataclass(frozen=True)
class Change:
    """One change at the vendor: at `at` (UTC), `action` on `data_type` of local `day`, changing the records
    `record_ids` (as the app lands them: text), and the notifications the vendor sends for it as pairs whose
    meaning is the twin's (WHOOP: event type and id; Oura: event type and object id; Withings: appli and day)."""

    at: datetime
    user: str
    action: Action
    data_type: str
    day: date
    record_ids: tuple[str, ...]
    notifications: tuple[tuple[str, str], ...]


DayChanges = Callable[[str, date, datetime, datetime], list[Change]]


def changes_between(users: list[str], start: datetime, end: datetime, day_changes: DayChanges) -> list[Change]:
    """Every user's changes in [start, end), oldest first (local days from two days before `start` to two after
    `end`: a local day spans UTC days either side)."""
    found: list[Change] = []
    for user in users:
        day = start.date() - 2 * ONE_DAY
        while day <= end.date() + 2 * ONE_DAY:
            found += day_changes(user, day, start, end)
            day += ONE_DAY
    return sorted(found, key=lambda c: c.at)
