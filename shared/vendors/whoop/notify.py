"""WHOOP v2 webhooks (``reference/vendors.md`` §2.4): how they are verified, parsed, and what each one asks for.

Proof: ``X-WHOOP-Signature`` = base64(HMAC-SHA256(key = client_secret, timestamp header + raw body)), plain
concatenation; ``X-WHOOP-Signature-Timestamp`` is epoch milliseconds (documented, confirmed). WHOOP documents no
replay window: timestamps more than ``MAX_SKEW_SECONDS`` from our clock, either way, are refused. A timestamp in
seconds is not tolerated: the documentation is unambiguous, and read as milliseconds it is in 1970, so it is
refused as stale. The MAC is checked before the timestamp's age, so a stale but genuine request and a forged
one are told apart in the logs. A refusal is answered 401.

Body: one JSON object ``{"user_id": 10129, "id": "<uuid>", "type": "sleep.updated", "trace_id": "<uuid>"}``;
``recovery.*`` ids are the *sleep* UUID. WHOOP retries an unacknowledged delivery 5 times over about an hour
with the same ``trace_id``: it is the dedup key, so a retry is queued once.

What each asks for:

- ``sleep.updated`` / ``workout.updated``: the record by id, landed on the local date of
  ``data.local_date``; ``recovery.updated``: the sleep gives the ``cycle_id`` (the landed sleep's, when it has
  landed: a sleep never changes cycle, and WHOOP's budget is the app's), then
  ``/v2/cycle/{id}/recovery`` lands as ``recovery`` with record id ``cycle_id`` on the cycle's local date,
  exactly as the pull lands it. That date is the landed cycle's when the cycle has landed (a cycle's start and
  time zone never change: a recovery scored after its upload, WHOOP's second ``recovery.updated`` of a morning,
  then costs one read); else the cycle is read for it and landed as ``cycle`` too. Cycles have no events: the
  pull timer keeps them fresh, not this. A 404 -> ignored (deleted meanwhile).
- ``*.deleted``: the record's landed blobs are removed (ids are UUIDs, compared case-insensitively).
  ``recovery.deleted`` names the sleep: the recovery is found through the landed sleep's ``cycle_id`` and, when
  that sleep is gone already (a ``sleep.deleted`` processed first), among the user's ``RECOVERY_SCAN`` most
  recent landed recoveries by ``sleep_id``: an older recovery is left for a backfill to sort out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import date
from functools import partial
from typing import Any
from urllib.parse import quote

from shared.notify.model import (
    DELETED,
    UPDATED,
    Delete,
    Fetch,
    Ignore,
    LandedRecords,
    MalformedNotification,
    Notification,
    Notifications,
    SignatureRejected,
    SignedRequest,
    Step,
    WorkContext,
    id_of,
)
from shared.notify.parse import json_body, text, vendor_id
from shared.notify.verify import header, hmac_base64, same
from shared.pull.model import Fetched, VendorApi
from shared.vendors.whoop.data import local_date

MAX_SKEW_SECONDS = 300.0
MAX_TIMESTAMP_DIGITS = 16
SIGNATURE, TIMESTAMP = "X-WHOOP-Signature", "X-WHOOP-Signature-Timestamp"
SINGLE: Mapping[str, str] = {"sleep": "/v2/activity/sleep", "workout": "/v2/activity/workout"}
COLLECTIONS = frozenset({"sleep", "workout", "recovery"})
RECOVERY_SCAN = 60
_TYPE = re.compile(r"([a-z][a-z_]{0,31})\.([a-z][a-z_]{0,31})")

NOTIFIED_TYPES = frozenset({"sleep", "recovery", "workout"})
"""What WHOOP's webhooks bring in (cycles have no events: their strain changes all day; snapshots neither)."""


# -- proof -------------------------------------------------------------------------------------------------------


def signature(client_secret: str, timestamp: str, body: bytes) -> str:
    return hmac_base64(client_secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)


def timestamp_seconds(raw: str) -> float:
    """The timestamp header (epoch milliseconds) in epoch seconds; SignatureRejected when malformed."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_TIMESTAMP_DIGITS:
        raise SignatureRejected(f"{TIMESTAMP} is not epoch milliseconds")
    return int(raw) / 1000.0


def check(
    client_secret: str,
    body: bytes,
    presented: str | None,
    timestamp: str | None,
    now: float,
    max_skew: float = MAX_SKEW_SECONDS,
) -> None:
    """``now`` is epoch seconds (see the module docstring)."""
    mac = header(presented, SIGNATURE)
    raw_ts = header(timestamp, TIMESTAMP)
    sent_at = timestamp_seconds(raw_ts)
    if not same(signature(client_secret, raw_ts, body), mac):
        raise SignatureRejected(f"{SIGNATURE} does not match")
    if abs(now - sent_at) > max_skew:
        raise SignatureRejected(f"stale {TIMESTAMP} ({now - sent_at:.0f} s off)")


def verify(request: SignedRequest) -> None:
    headers = request.headers
    check(request.secret, request.body, headers.get(SIGNATURE.lower()), headers.get(TIMESTAMP.lower()), request.now)


# -- body --------------------------------------------------------------------------------------------------------


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    data = json_body(body)
    if not isinstance(data, dict):
        raise MalformedNotification("WHOOP notification must be a JSON object")
    user = data.get("user_id")
    if isinstance(user, bool) or not isinstance(user, int | str):
        raise MalformedNotification("user_id is missing or malformed")
    user_id = vendor_id(str(user), "user_id")
    kind = text(data.get("type"), "type", _TYPE)
    collection, action = kind.split(".", 1)
    record = data.get("id")
    if isinstance(record, int) and not isinstance(record, bool):  # v1 used integer ids; v2 sends UUIDs
        record = str(record)
    return [
        Notification(
            vendor="whoop",
            vendor_user_id=user_id,
            kind=kind,
            collection=collection,
            action=action,
            record_id=vendor_id(record, "id"),
            trace_id=vendor_id(data.get("trace_id"), "trace_id"),
            received_at=received_at,
        )
    ]


def dedup_key(notification: Notification) -> str | None:
    return notification.trace_id


# -- work --------------------------------------------------------------------------------------------------------


def work(n: Notification, context: WorkContext) -> Step:
    if n.collection not in COLLECTIONS or n.action not in (UPDATED, DELETED):
        return Ignore("not a WHOOP event this app handles")
    if not n.record_id:
        raise MalformedNotification("WHOOP notification message has no record id")
    if n.action == DELETED:
        if n.collection == "recovery":
            found = recovery_of_sleep(context.landed, n.record_id)
            return Delete("recovery", found, missing="no landed recovery of that sleep found")
        return Delete(n.collection, n.record_id)
    if n.collection == "recovery":
        # a sleep never changes cycle: once the sleep has landed, its cycle_id saves reading the sleep again
        cycle_id = landed_cycle_of_sleep(context.landed, n.record_id)
        if cycle_id is not None:
            day = landed_cycle_date(context.landed, cycle_id)
            if day is not None:
                return Fetch(partial(_recovery_on, cycle_id, day))
            return Fetch(partial(_recovery_of_cycle, cycle_id))
        return Fetch(partial(_recovery, n.record_id))
    return Fetch(partial(_record, n.collection, n.record_id))


def _record(collection: str, record_id: str, api: VendorApi) -> list[tuple[str, Fetched]]:
    path = f"{SINGLE[collection]}/{quote(record_id, safe='')}"
    record = api.get(path)
    if not isinstance(record, dict):
        raise ValueError(f"WHOOP {collection} is not a JSON object")
    return [(collection, Fetched(id_of(record, "id"), local_date(collection, record), record, path))]


def _recovery(sleep_id: str, api: VendorApi) -> list[tuple[str, Fetched]]:
    sleep = api.get(f"{SINGLE['sleep']}/{quote(sleep_id, safe='')}")
    return _recovery_of_cycle(id_of(sleep, "cycle_id"), api)


def _read_recovery(cycle_id: str, api: VendorApi) -> tuple[dict[str, Any], str]:
    path = f"/v2/cycle/{quote(cycle_id, safe='')}/recovery"
    recovery = api.get(path)
    if not isinstance(recovery, dict):
        raise ValueError("WHOOP recovery is not a JSON object")
    return recovery, path


def _recovery_on(cycle_id: str, day: date, api: VendorApi) -> list[tuple[str, Fetched]]:
    """The recovery of a cycle whose local date is known (its cycle has landed)."""
    recovery, path = _read_recovery(cycle_id, api)
    return [("recovery", Fetched(id_of(recovery, "cycle_id"), day, recovery, path))]


def _recovery_of_cycle(cycle_id: str, api: VendorApi) -> list[tuple[str, Fetched]]:
    """The recovery, and its cycle read for its local date (and landed)."""
    recovery, recovery_path = _read_recovery(cycle_id, api)
    cycle_path = f"/v2/cycle/{quote(cycle_id, safe='')}"
    cycle = api.get(cycle_path)
    if not isinstance(cycle, dict):
        raise ValueError("WHOOP cycle is not a JSON object")
    day = local_date("cycle", cycle)
    return [
        ("recovery", Fetched(id_of(recovery, "cycle_id"), day, recovery, recovery_path)),
        ("cycle", Fetched(id_of(cycle, "id"), day, cycle, cycle_path)),
    ]


def landed_cycle_of_sleep(landed: LandedRecords, sleep_id: str) -> str | None:
    """The ``cycle_id`` of a landed copy of the sleep, if one has landed."""
    for sleep in landed.copies("sleep", sleep_id):
        if isinstance(sleep, dict) and sleep.get("cycle_id") not in (None, ""):
            return str(sleep["cycle_id"])
    return None


def landed_cycle_date(landed: LandedRecords, cycle_id: str) -> date | None:
    """The local date of a landed copy of the cycle (as the pull lands it), if one has landed whole."""
    for cycle in landed.copies("cycle", cycle_id):
        if isinstance(cycle, dict):
            with suppress(TypeError, ValueError):
                return local_date("cycle", cycle)
    return None


def recovery_of_sleep(landed: LandedRecords, sleep_id: str) -> str | None:
    """The record id (cycle id) of the landed recovery of a sleep: through the landed sleep, else by reading the
    user's ``RECOVERY_SCAN`` most recent landed recoveries."""
    cycle_id = landed_cycle_of_sleep(landed, sleep_id)
    if cycle_id is not None:
        return cycle_id
    for record_id, recovery in landed.newest("recovery", RECOVERY_SCAN):
        if isinstance(recovery, dict) and str(recovery.get("sleep_id", "")).lower() == sleep_id.lower():
            return record_id
    return None


NOTIFICATIONS = Notifications(parse=parse, work=work, verify=verify, refused=401, dedup_key=dedup_key)
