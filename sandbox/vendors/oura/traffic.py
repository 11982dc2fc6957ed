"""A realistic day of Oura changes, and the webhook events Oura sends for them (for ``bench.reach``).

Per user and local day, as the generator (``data``) has it: each document is uploaded when the twin first shows
it (found on the twin: the night's sleep 15 minutes after it ends, and with it the day's daily_sleep,
daily_readiness and daily_spo2; daily_activity, daily_stress and daily_resilience from the day's start; workouts
and sessions; vo2_max one day in seven), each with a ``create`` event. On top of the uploads:
- the all-day documents (activity, stress, resilience) are revised every 3-5 hours as the ring syncs, each with
  an ``update`` event (Oura sends one ~30 s after the app syncs);
- one main sleep in ten is revised 2-10 hours after it appeared (``update``);
- one workout in twelve is deleted 1-6 hours after its upload (``delete``).
Heart rate (no events) and personal_info (a snapshot) are left out: the reconciliation pulls them.

The interface is WHOOP's (``sandbox/vendors/whoop/traffic.py``): ``TYPES``, ``NOTIFIED_ENDPOINTS``, ``Change``,
``changes_between`` and ``notification_request`` (run where the twin is: it signs with the client secret).
A revision of a day's documents changes every document of that type and day (the twin revises by day), so it
notifies each one of that day that exists by then.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox.data import ONE_DAY, Record, Snapshot, rng
from sandbox.notify import NotificationRequest
from sandbox.traffic import Change
from sandbox.traffic import changes_between as every_change
from sandbox.vendors.oura.data import ALL_DAY, OURA_DATA
from sandbox.vendors.oura.notify import WEBHOOK_TYPES, oura_event, signed_oura

if TYPE_CHECKING:
    from sandbox.core import Sandbox

VENDOR = "oura"
TYPES = (
    "daily_activity",
    "daily_sleep",
    "sleep",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "workout",
    "session",
    "vo2_max",
)
NOTIFIED_ENDPOINTS: frozenset[str] = frozenset()
"""The twin's routes only notification work reads: none (an event's document is read where the pull reads)."""
WARM_NOTIFY_HOURS = 14.0
"""The twin's collections serve a local day only once it is a UTC day: documents of a day ahead of UTC shown in the
hours before the start are landed in the warm-up from their ``create`` events, as they would have been."""
REVISE_HISTORY = False  # the twin's values (and some times) follow a day's revisions: the history is left as made
SYNC_REVISION_HOURS = (3.0, 5.0)
SLEEP_EDIT_SHARE, SLEEP_EDIT_HOURS = 0.10, (2.0, 10.0)
WORKOUT_DELETE_SHARE, WORKOUT_DELETE_HOURS = 1 / 12, (1.0, 6.0)
_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _snapshot(user: str, now: datetime) -> Snapshot:
    return Snapshot(VENDOR, user, now, date(2000, 1, 1), {}, frozenset())


def _records(kind: str, user: str, day: date) -> list[Record]:
    """The day's documents of `kind` as they will be (every one that will appear, none deleted)."""
    return OURA_DATA.day_records(kind, _snapshot(user, _FAR), day)


def _shown(kind: str, user: str, day: date, record: Record) -> datetime:
    """When the twin first shows `record` (to the second): searched on the twin itself, so the upload is exactly
    when a read would find the document (the night's documents 15 minutes after it ends, and so on)."""
    low, high = record.start - 2 * ONE_DAY, (record.end or record.start) + 2 * ONE_DAY
    while (high - low) > timedelta(seconds=1):
        middle = low + (high - low) / 2
        present = any(
            r.record_id == record.record_id for r in OURA_DATA.day_records(kind, _snapshot(user, middle), day)
        )
        low, high = (low, middle) if present else (middle, high)
    return high


def day_changes(user: str, day: date, start: datetime, end: datetime) -> list[Change]:
    """The changes of `user`'s local `day` that happen in [start, end), oldest first."""
    r = rng("oura-traffic", user, day)
    changes: list[Change] = []
    for kind in TYPES:
        uploads = [(_shown(kind, user, day, rec), str(rec.record_id)) for rec in _records(kind, user, day)]
        changes += [Change(at, user, "upload", kind, day, (rid,), (("create", rid),)) for at, rid in uploads]
        if not uploads:
            continue
        deleted: dict[str, datetime] = {}
        if kind == "workout":
            for at, rid in uploads:
                if r.random() < WORKOUT_DELETE_SHARE:
                    deleted[rid] = at + timedelta(hours=r.uniform(*WORKOUT_DELETE_HOURS))
            changes += [
                Change(at, user, "delete", kind, day, (rid,), (("delete", rid),)) for rid, at in deleted.items()
            ]
        if kind in ALL_DAY:
            at = uploads[0][0] + timedelta(hours=r.uniform(*SYNC_REVISION_HOURS))
            while at < uploads[0][0] + ONE_DAY:
                changes.append(_revision(user, day, kind, at, uploads, deleted))
                at += timedelta(hours=r.uniform(*SYNC_REVISION_HOURS))
        if kind == "sleep" and r.random() < SLEEP_EDIT_SHARE:
            at = uploads[0][0] + timedelta(hours=r.uniform(*SLEEP_EDIT_HOURS))
            changes.append(_revision(user, day, kind, at, uploads, deleted))
    return sorted((c for c in changes if start <= c.at < end), key=lambda c: c.at)


def _revision(
    user: str, day: date, kind: str, at: datetime, uploads: list[tuple[datetime, str]], deleted: dict[str, datetime]
) -> Change:
    present = tuple(rid for shown, rid in uploads if shown <= at and not (rid in deleted and deleted[rid] <= at))
    return Change(at, user, "revise", kind, day, present, tuple(("update", rid) for rid in present))


def changes_between(users: list[str], start: datetime, end: datetime) -> list[Change]:
    """Every user's changes in [start, end), oldest first."""
    return every_change(users, start, end, day_changes)


def notification_request(
    box: Sandbox, change: Change, note: tuple[str, str], client_secret: str
) -> NotificationRequest:
    event_type, object_id = note
    event = oura_event(box.vendor_user_id(VENDOR, change.user), WEBHOOK_TYPES[change.data_type], object_id, event_type)
    headers, body = signed_oura(client_secret, event)
    return NotificationRequest("POST", headers, {}, body)
