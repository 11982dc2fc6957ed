"""Codoon's data side: daily tracker summaries, GPS routes, sleeps and body logs.

Codoon methods are ``POST <CODOON_API_BASE_URL>/<method>`` with a JSON object body, so paths here are
``/<method>``. A record's source is the method path with its body as a query string
(``/get_sleep_data?start_date=2025-01-01&end_date=2025-01-30``). All Codoon users are at +08:00 and every
date is theirs:

- tracker (``get_tracker_summary`` with ``date_end`` and ``days_back`` <= 30): one summary a day; id and local
  date ``the_day``. A day without any data (before the user's history, or not begun yet at +08:00) comes back
  as a zero summary with ``update_time`` null: such placeholders are not yielded.
- route (``get_tracker_data {the_day}`` for each day lists the day's route ids under ``routes``; each is
  fetched with ``get_route_by_id``): id ``route_id``, local date the date of ``start_time``.
- sleep (``get_sleep_data``, at most 30 days): id ``sleep_id``, local date ``the_day`` (the day of waking).
- body (``get_body_log``, at most 30 days): id ``log_id``, local date ``the_day``.

Codoon publishes no rate limit; chunks are 90 days (three requests) for the range types and 30 days (30 day
requests plus one per route, about 40) for routes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from shared.pull.model import DataType, Fetched, VendorApi, Window, date_field, record_id

MAX_DAYS = 30
ONE_DAY = timedelta(days=1)

DATA_TYPES: dict[str, DataType] = {
    "tracker": DataType("tracker", "sports", max_days=MAX_DAYS, chunk_days=90),
    "route": DataType("route", "sports", max_days=1, chunk_days=30),
    "sleep": DataType("sleep", "sports", max_days=MAX_DAYS, chunk_days=90),
    "body": DataType("body", "user", max_days=MAX_DAYS, chunk_days=90),
}

# data type -> (method path, response key, id field) of the start_date/end_date methods
_SPANS: dict[str, tuple[str, str, str]] = {
    "sleep": ("/get_sleep_data", "sleeps", "sleep_id"),
    "body": ("/get_body_log", "logs", "log_id"),
}


class CodoonFetcher:
    """The Codoon fetcher (see the module docstring)."""

    vendor = "codoon"
    data_types: Mapping[str, DataType] = DATA_TYPES

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type not in self.data_types:
            raise ValueError(f"codoon has no data type {data_type!r}")
        if window.first > today:
            return
        window = Window(window.first, min(window.last, today))
        if data_type == "tracker":
            yield from _tracker(api, window)
        elif data_type == "route":
            yield from _routes(api, window)
        else:
            yield from _spans(api, data_type, window)


def _tracker(api: VendorApi, window: Window) -> Iterator[Fetched]:
    for part in window.split(MAX_DAYS):
        body: dict[str, Any] = {"date_end": part.last.isoformat(), "days_back": part.days}
        path = "/get_tracker_summary"
        source = _source(path, body)
        page: list[Fetched] = []
        for summary in _entries("tracker", api.post(path, body), "summaries"):
            if "update_time" not in summary:
                raise ValueError("codoon tracker: a summary has no 'update_time'")
            if summary["update_time"] is None:  # a day without data: a zero placeholder
                continue
            day = date_field("codoon", "tracker", summary, "the_day")
            if window.first <= day <= window.last:
                page.append(Fetched(day.isoformat(), day, summary, source))
        page.sort(key=lambda fetched: fetched.local_date)
        yield from page


def _routes(api: VendorApi, window: Window) -> Iterator[Fetched]:
    seen: set[str] = set()
    day = window.first
    while day <= window.last:
        listing = api.post("/get_tracker_data", {"the_day": day.isoformat()})
        route_ids = listing.get("routes") if isinstance(listing, dict) else None
        if not isinstance(route_ids, list) or not all(isinstance(r, str) and r for r in route_ids):
            raise ValueError("codoon route: get_tracker_data has no 'routes' array of ids")
        for route_id in route_ids:
            if route_id in seen:
                continue
            seen.add(route_id)
            body = {"route_id": route_id}
            route = api.post("/get_route_by_id", body)
            if not isinstance(route, dict):
                raise ValueError("codoon route: get_route_by_id did not answer a JSON object")
            if not isinstance(route.get("route_id"), str) or route["route_id"].lower() != route_id.lower():
                raise ValueError("codoon route: get_route_by_id answered another route")
            yield Fetched(route_id, _start_day(route), route, _source("/get_route_by_id", body))
        day += ONE_DAY


def _spans(api: VendorApi, data_type: str, window: Window) -> Iterator[Fetched]:
    path, key, id_field = _SPANS[data_type]
    for part in window.split(MAX_DAYS):
        body = {"start_date": part.first.isoformat(), "end_date": part.last.isoformat()}
        source = _source(path, body)
        page: list[Fetched] = []
        for entry in _entries(data_type, api.post(path, body), key):
            day = date_field("codoon", data_type, entry, "the_day")
            if window.first <= day <= window.last:
                page.append(Fetched(record_id("codoon", data_type, entry, id_field), day, entry, source))
        page.sort(key=lambda fetched: fetched.local_date)
        yield from page


# -- shapes and fields -------------------------------------------------------------------------------------------


def _source(path: str, body: Mapping[str, Any]) -> str:
    return f"{path}?{urlencode({name: str(value) for name, value in body.items()})}"


def _entries(data_type: str, answer: Any, key: str) -> list[dict[str, Any]]:
    entries = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"codoon {data_type}: the response has no {key!r} array of objects")
    return entries


def _start_day(route: dict[str, Any]) -> date:
    value = route.get("start_time")
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").date()
        except ValueError:
            pass
    raise ValueError("codoon route: the route's 'start_time' is not a local 'YYYY-MM-DD HH:MM:SS' time")


CODOON = CodoonFetcher()
