"""A realistic day of Withings changes, and the notifications Withings sends for them (for ``bench.reach``).

Per user and local day, as the generator (``data``) has it: a weighing (three days in five, around 07:00), a
blood pressure reading (one day in three, around 20:00), the night's sleep summary (17 days in 20, on waking) and
an ECG (one day in five, around noon), each uploaded when the twin shows it (5 minutes after it ends: synced),
each with a notification for its ``appli`` naming the local day (startdate/enddate; unsigned form POST). On top:
- one sleep summary in four is revised 1-4 hours after it appeared (the night's analysis completes), notified;
- one measure day in ten is revised 2-8 hours later (a corrected or re-attributed reading), notified.
Withings sends no notification for a deletion here (none is generated).

The interface is WHOOP's (``sandbox/vendors/whoop/traffic.py``): ``TYPES``, ``NOTIFIED_ENDPOINTS``, ``Change``,
``changes_between`` and ``notification_request`` (run where the twin is). A revision changes every record of
that type and day (the twin revises by day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox.data import Record, Snapshot, rng
from sandbox.notify import NotificationRequest
from sandbox.traffic import Change
from sandbox.traffic import changes_between as every_change
from sandbox.vendors.withings.data import SYNC, WITHINGS_DATA
from sandbox.vendors.withings.notify import notification

if TYPE_CHECKING:
    from sandbox.core import Sandbox

VENDOR = "withings"
TYPES = ("measure", "sleep", "heart")
NOTIFIED_ENDPOINTS: frozenset[str] = frozenset()
"""The twin's routes only notification work reads: none (a notification asks for a pull of its days)."""
REVISE_HISTORY = False  # the twin's values (and some times) follow a day's revisions: the history is left as made
REVISIONS = {"sleep": (0.25, (1.0, 4.0)), "measure": (0.10, (2.0, 8.0))}
NOTIFY_RETRY_MINUTES = (10.0, 20.0, 40.0, 80.0, 150.0)
"""A notification the app does not answer 200 is sent again, after each of these minutes: Withings retries 5 times
over about 5 hours (vendors.md); the spacing is ours. Oura publishes no retry policy: its twin sends each once."""
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _records(kind: str, user: str, day: date) -> list[Record]:
    snap = Snapshot(VENDOR, user, _FAR, date(2000, 1, 1), {}, frozenset())
    return WITHINGS_DATA.day_records(kind, snap, day)


def day_changes(user: str, day: date, start: datetime, end: datetime) -> list[Change]:
    """The changes of `user`'s local `day` that happen in [start, end), oldest first."""
    r = rng("withings-traffic", user, day)
    changes: list[Change] = []
    for kind in TYPES:
        uploads = [((record.end or record.start) + SYNC, str(record.record_id)) for record in _records(kind, user, day)]
        changes += [Change(at, user, "upload", kind, day, (rid,), ((kind, rid),)) for at, rid in uploads]
        share, hours = REVISIONS.get(kind, (0.0, (0.0, 0.0)))
        if uploads and r.random() < share:
            at = max(shown for shown, _ in uploads) + timedelta(hours=r.uniform(*hours))
            present = tuple(rid for _, rid in uploads)
            changes.append(Change(at, user, "revise", kind, day, present, ((kind, ""),)))
    return sorted((c for c in changes if start <= c.at < end), key=lambda c: c.at)


def changes_between(users: list[str], start: datetime, end: datetime) -> list[Change]:
    """Every user's changes in [start, end), oldest first."""
    return every_change(users, start, end, day_changes)


def notification_request(
    box: Sandbox, change: Change, note: tuple[str, str], client_secret: str
) -> NotificationRequest:
    return notification(box, change.user, note[0], note[1] or None, change.day, client_secret=client_secret)
