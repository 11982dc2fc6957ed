"""A realistic day of WHOOP changes, and the notifications WHOOP sends for them (for ``bench.reach``).

Per user and local day, as the generator (`data`) has it: the night's main sleep and its recovery are uploaded in
the morning, a nap one day in five, 0-2 workouts (about one a day), and the day's cycle from the evening before.
On top of the uploads, changes a member's day brings:
- every sleep, workout and recovery is scored 10-40 minutes after its upload (a revision: final values, a new
  ``updated_at``), with a notification, as WHOOP sends ``*.updated`` once a score is ready;
- the cycle's strain grows through the day: a revision every 3-5 hours, without a notification (WHOOP sends no
  cycle events);
- one main sleep in ten is edited by its member 2-10 hours later (a revision, notified);
- one workout in twelve is deleted 1-6 hours after its upload (``workout.deleted``).

The interface every twin's traffic module has (``bench.reach`` reads it): ``TYPES`` (the types checked against
the ground truth), ``NOTIFIED_ENDPOINTS`` (the twin's routes only notification work reads), ``Change``,
``changes_between`` and ``notification_request`` (the signed request for one of a change's notifications, made
where the twin is).

Every change is a `Change`: when it happens, what the twin must do then (nothing for an upload: the record
appears at its upload time by itself; a revision or a deletion otherwise) and which notifications it sends.
A revision of a day's sleeps or workouts changes every record of that type and day (the twin revises by day), so
it notifies each record of that day that exists by then.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sandbox.data import ONE_DAY, day_uuid, rng
from sandbox.notify import NotificationRequest
from sandbox.traffic import Change
from sandbox.traffic import changes_between as every_change
from sandbox.vendors.whoop.data import (
    _FIRST_WORKOUT,
    _NAP,
    _created,
    _minutes,
    _nap,
    _night,
    _workouts,
    cycle_id,
    main_sleep_id,
)
from sandbox.vendors.whoop.notify import signed_whoop, whoop_event

if TYPE_CHECKING:
    from sandbox.core import Sandbox

VENDOR = "whoop"
TYPES = ("cycle", "sleep", "recovery", "workout")
NOTIFIED_ENDPOINTS = frozenset({"sleep_by_id", "workout_by_id", "cycle_recovery", "cycle_by_id"})
REVISE_HISTORY = True  # the history before the day is scored (revised once), as members' past days are

SCORE_MINUTES = (10.0, 40.0)
CYCLE_REVISION_HOURS = (3.0, 5.0)
SLEEP_EDIT_SHARE, SLEEP_EDIT_HOURS = 0.10, (2.0, 10.0)
WORKOUT_DELETE_SHARE, WORKOUT_DELETE_HOURS = 1 / 12, (1.0, 6.0)
NOTIFY_RETRY_MINUTES = (2.0, 5.0, 10.0, 15.0, 30.0)
"""A notification the app does not answer 2XX is sent again, after each of these minutes: WHOOP retries "5 times
over about one hour" (vendors.md); the spacing is ours, WHOOP does not publish it."""


@dataclass(frozen=True)
class _Upload:
    data_type: str
    record_id: str
    at: datetime
    notify: tuple[str, str] | None


def day_changes(user: str, day: date, start: datetime, end: datetime) -> list[Change]:
    """The changes of `user`'s local `day` that happen in [start, end), oldest first."""
    r = rng("whoop-traffic", user, day)
    uploads = _uploads(user, day)
    changes = [
        Change(u.at, user, "upload", u.data_type, day, (u.record_id,), (u.notify,) if u.notify else ()) for u in uploads
    ]
    deleted: dict[str, datetime] = {}
    for u in uploads:
        if u.data_type == "workout" and r.random() < WORKOUT_DELETE_SHARE:
            deleted[u.record_id] = u.at + timedelta(hours=r.uniform(*WORKOUT_DELETE_HOURS))
    for u in uploads:
        if u.data_type == "cycle":
            changes += _cycle_revisions(r, user, day, u.at)
        else:
            scored = u.at + _minutes(r, *SCORE_MINUTES)
            changes.append(_revision(user, day, u.data_type, scored, uploads, deleted))
        if u.data_type == "sleep" and u.record_id == main_sleep_id(user, day) and r.random() < SLEEP_EDIT_SHARE:
            edited = u.at + timedelta(hours=r.uniform(*SLEEP_EDIT_HOURS))
            changes.append(_revision(user, day, "sleep", edited, uploads, deleted))
    for record_id, at in deleted.items():
        changes.append(Change(at, user, "delete", "workout", day, (record_id,), (("workout.deleted", record_id),)))
    return sorted((c for c in changes if start <= c.at < end), key=lambda c: c.at)


def changes_between(users: list[str], start: datetime, end: datetime) -> list[Change]:
    """Every user's changes in [start, end), oldest first."""
    return every_change(users, start, end, day_changes)


def _uploads(user: str, day: date) -> list[_Upload]:
    night = _night(user, day)
    slept = _created(user, night)
    sleep_id = main_sleep_id(user, day)
    recovered = slept + _minutes(rng("whoop", user, day, "recovery"), 1, 5)
    cycle_created = night.start + _minutes(rng("whoop", user, day, "cycle-created"), 2, 10)
    uploads = [
        _Upload("cycle", str(cycle_id(user, day)), cycle_created, None),
        _Upload("sleep", sleep_id, slept, ("sleep.updated", sleep_id)),
        _Upload("recovery", str(cycle_id(user, day)), recovered, ("recovery.updated", sleep_id)),
    ]
    nap = _nap(user, day)
    if nap is not None:
        nap_id = day_uuid(day, _NAP, "whoop", user, "sleep")
        uploads.append(_Upload("sleep", nap_id, _created(user, nap), ("sleep.updated", nap_id)))
    for index, (span, _sport) in enumerate(_workouts(user, day)):
        workout_id = day_uuid(day, _FIRST_WORKOUT + index, "whoop", user, "workout")
        uploads.append(_Upload("workout", workout_id, _created(user, span), ("workout.updated", workout_id)))
    return uploads


def _revision(
    user: str, day: date, data_type: str, at: datetime, uploads: list[_Upload], deleted: dict[str, datetime]
) -> Change:
    """A revision of `day`'s `data_type`: every such record uploaded by `at` and not deleted by then changes."""
    present = [
        u
        for u in uploads
        if u.data_type == data_type and u.at <= at and not (u.record_id in deleted and deleted[u.record_id] <= at)
    ]
    if data_type == "recovery":
        notes = tuple(("recovery.updated", main_sleep_id(user, day)) for _ in present)
    else:
        notes = tuple((f"{data_type}.updated", u.record_id) for u in present)
    return Change(at, user, "revise", data_type, day, tuple(u.record_id for u in present), notes)


def _cycle_revisions(r: random.Random, user: str, day: date, created: datetime) -> list[Change]:
    """The cycle's strain, revised every few hours until the next night's sleep starts (its end)."""
    ends = _night(user, day + ONE_DAY).start
    changes = []
    at = created + timedelta(hours=r.uniform(*CYCLE_REVISION_HOURS))
    while at < ends:
        changes.append(Change(at, user, "revise", "cycle", day, (str(cycle_id(user, day)),), ()))
        at += timedelta(hours=r.uniform(*CYCLE_REVISION_HOURS))
    return changes


def notification_request(
    box: Sandbox, change: Change, note: tuple[str, str], client_secret: str
) -> NotificationRequest:
    """WHOOP's signed event for one of `change`'s notifications ((event type, event id))."""
    event_type, event_id = note
    headers, body = signed_whoop(
        client_secret, whoop_event(int(box.vendor_user_id(VENDOR, change.user)), event_type, event_id)
    )
    return NotificationRequest("POST", headers, {}, body)
