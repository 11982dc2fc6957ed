"""Codoon notifications (its document, "通知接口", ``reference/specs/codoon-openapi.md``): parsed, bounded, and
what each one asks for.

Codoon documents no proof: anyone may post a notification naming any user, so every one is bounded before
any vendor call: at the intake per source (vendor user id) and per process (``SOURCE_LIMITS``), in the worker
per connected user (``WORK_LIMITS``: a route or (catalog, day) handled in the last hour is a duplicate, and a
user gets at most 12 notification fetches an hour). The worker only ever pulls with the user's own token. Codoon
reads only the status and never retries: a notification is answered ``200 {"queued": n}``, 0 when bounded.

Body: a form POST with ``user_id``, ``catalog`` (``activities`` from a tracker, ``gps_sports`` from the GPS
app), ``resource_id`` (the device id, or the route id for ``gps_sports``), ``start_time``, ``end_time`` (tracker
times; empty for ``gps_sports``: kept as None).

What each asks for: ``gps_sports`` (``ROUTE_CATALOGS``) names a route by its ``resource_id`` ->
``get_route_by_id``, landed as ``route`` with that id on the day of its ``start_time`` (the route itself carries
no id); any other catalog -> the ``tracker`` pull (plus ``sleep`` / ``body`` when the catalog names them) for the
+08:00 days from ``start_time`` to ``end_time`` (local "YYYY-MM-DD HH:MM:SS" or epoch seconds/milliseconds; at
most ``MAX_DAYS`` days, ending at ``end_time``, none after today or older than ``MAX_AGE_DAYS``; unreadable
times: the Codoon "today") that were not handled in the last hour.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from functools import partial
from urllib.parse import parse_qs, urlencode

from shared.notify.model import (
    UPDATED,
    Fetch,
    Ignore,
    MalformedNotification,
    Notification,
    Notifications,
    Pull,
    SourceLimits,
    Step,
    WorkContext,
    WorkLimits,
)
from shared.notify.parse import ID, WORD, text
from shared.pull.model import Fetched, VendorApi
from shared.vendors.codoon.data import data_of, route_day

FIELDS = ("user_id", "catalog", "resource_id", "start_time", "end_time")
ROUTE_CATALOGS = frozenset({"gps_sports", "route", "routes"})
NOTIFIED_TYPES = frozenset({"tracker"})
"""Every catalog pulls ``tracker``; ``sleep`` and ``body`` only when a catalog names them: not covered."""
OFFSET = timezone(timedelta(hours=8))
MAX_DAYS = 7
MAX_AGE_DAYS = 30
SOURCE_LIMITS = SourceLimits(per_source=30, per_process=3000, seconds=600.0, sources=10_000)
WORK_LIMITS = WorkLimits(fetches=12, seconds=3600.0)
_TIME = re.compile(r"[0-9A-Za-z:+. -]{0,40}")  # empty for gps_sports (the document: tracker times only)


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    try:
        form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise MalformedNotification("body is not an ASCII form") from None
    values: dict[str, str] = {}
    for name in FIELDS:
        found = form.get(name, [])
        if len(found) != 1:
            raise MalformedNotification(f"{name} must appear exactly once")
        values[name] = found[0]
    catalog = text(values["catalog"], "catalog", WORD)
    return [
        Notification(
            vendor="codoon",
            vendor_user_id=text(values["user_id"], "user_id", ID),
            kind=catalog,
            collection=catalog,
            action=UPDATED,
            record_id=text(values["resource_id"], "resource_id", ID),
            start_time=text(values["start_time"], "start_time", _TIME) or None,
            end_time=text(values["end_time"], "end_time", _TIME) or None,
            received_at=received_at,
        )
    ]


def work(n: Notification, context: WorkContext) -> Step:
    catalog = n.collection.lower()
    route = catalog in ROUTE_CATALOGS and bool(n.record_id)
    days = [] if route else notified_days(n, context.now)
    if not route and not days:
        return Ignore(f"no day in the last {MAX_AGE_DAYS} days (left to the pull)")
    keys = [f"route:{(n.record_id or '').lower()}"] if route else [f"{catalog}:{day}" for day in days]
    claimed, why = context.claim(keys)
    if not claimed:
        return Ignore(why, bounded=True)
    if route:
        return Fetch(partial(_route, n.record_id or ""))
    types = ["tracker"]
    if "sleep" in catalog:
        types.append("sleep")
    if "body" in catalog or "weight" in catalog:
        types.append("body")
    fresh = sorted(date.fromisoformat(key.split(":", 1)[1]) for key in claimed)
    note = "" if len(claimed) == len(keys) else "some days were handled in the last hour"
    return Pull(tuple(types), fresh[0], fresh[-1], note=note)


def notified_days(n: Notification, now: float) -> list[date]:
    """The +08:00 days from ``start_time`` to ``end_time`` (at most ``MAX_DAYS``, ending at ``end_time``, none
    after today or more than ``MAX_AGE_DAYS`` ago; unreadable times: today). ``now``: epoch seconds."""
    today = datetime.fromtimestamp(now, OFFSET).date()
    first, last = _day(n.start_time), _day(n.end_time)
    first, last = first or last or today, last or first or today
    first, last = min(first, last, today), min(max(first, last), today)
    first = max(first, last - timedelta(days=MAX_DAYS - 1), today - timedelta(days=MAX_AGE_DAYS))
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _day(raw: str | None) -> date | None:
    """A notification time as a +08:00 date: local "YYYY-MM-DD[ HH:MM:SS]" or epoch (milli)seconds."""
    if not raw:
        return None
    stripped = raw.strip()
    if stripped.isdigit():
        seconds = int(stripped) / (1000 if len(stripped) >= 12 else 1)
        try:
            return datetime.fromtimestamp(seconds, OFFSET).date()
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return date.fromisoformat(stripped[:10])
    except ValueError:
        return None


def _route(route_id: str, api: VendorApi) -> list[tuple[str, Fetched]]:
    """The route a ``gps_sports`` notification names: ``get_route_by_id``'s ``data``, landed with the notified
    id on the date of its ``start_time``."""
    body = {"route_id": route_id}
    route = data_of("get_route_by_id", api.post("/get_route_by_id", body), dict)
    source = f"/get_route_by_id?{urlencode(body)}"
    return [("route", Fetched(route_id, route_day(route), route, source))]


NOTIFICATIONS = Notifications(
    parse=parse,
    work=work,
    unsigned=SOURCE_LIMITS,
    work_limits=WORK_LIMITS,
    answers_count=True,
)
