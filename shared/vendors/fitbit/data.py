"""Fitbit's data side: sleep logs, the exercise log list and the daily summary series.

Paths are relative to ``FITBIT_API_BASE_URL``. Every date is the user's local date, as Fitbit sends it:

- sleep (v1.2 sleep logs by date range, at most 100 days a request): id ``logId``, local date ``dateOfSleep``
  (the day the sleep ended, so a night that starts before midnight belongs to the morning after).
- activities (the exercise log list, ``afterDate`` + ``sort=asc``, 100 a page, following ``pagination.next``
  and stopping at the first log after the window): id ``logId``, local date the date of ``startTime``
  (``originalStartTime`` when absent), which carries the user's offset.
- steps, calories, distance (activity time series, 1095 days), heart (365), hrv, spo2, br (30): one entry per
  day; id and local date ``dateTime``.

Backfill chunks (``chunk_days``) cost one request each (the activity list about one page per 90 days), so a
chunk takes seconds even at Fitbit's 150 requests an hour per user.

Future dates: ``today`` is the latest local date of any user (UTC today + 1); a user behind UTC is up to two
days behind it, and Fitbit answers the activity time series with a ``"0"`` entry for every date asked, future
ones included. So when a window reaches ``today - 1`` the last request ends at the literal ``today`` (the
user's own today, accepted by every range endpoint here except sleep, whose reference page allows only
``yyyy-MM-dd``; sleep logs never exist for future dates). That last request starts no later than
``today - 2``, which is never after the user's today. Records outside the window are not yielded.

Days before the user's history are *not* filtered: Fitbit answers them with entries like any other day (a
``"0"`` series value), and nothing in such an entry tells a placeholder from a day without data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from shared.pull.model import DataType, Fetched, VendorApi, Window, date_field, record_id

ONE_DAY = timedelta(days=1)
LIST_PATH = "/1/user/-/activities/list.json"
LIST_LIMIT = 100
TODAY = "today"


@dataclass(frozen=True)
class _Range:
    """A date-range endpoint: its path template, the response key holding the entries (None: a bare list),
    the field with the record id and the field with the local date."""

    path: str
    key: str | None
    id_field: str
    date_field: str
    accepts_today: bool = True


def _series(resource: str, key: str | None) -> _Range:
    return _Range(f"/1/user/-/{resource}/date/{{start}}/{{end}}.json", key, "dateTime", "dateTime")


_RANGES: dict[str, _Range] = {
    "sleep": _Range("/1.2/user/-/sleep/date/{start}/{end}.json", "sleep", "logId", "dateOfSleep", False),
    "steps": _series("activities/steps", "activities-steps"),
    "calories": _series("activities/calories", "activities-calories"),
    "distance": _series("activities/distance", "activities-distance"),
    "heart": _series("activities/heart", "activities-heart"),
    "hrv": _series("hrv", "hrv"),
    "spo2": _series("spo2", None),
    "br": _series("br", "br"),
}

DATA_TYPES: dict[str, DataType] = {
    "sleep": DataType("sleep", "sleep", max_days=100, chunk_days=100),
    "activities": DataType("activities", "activity", max_days=0, chunk_days=90),
    "steps": DataType("steps", "activity", max_days=1095, chunk_days=365),
    "calories": DataType("calories", "activity", max_days=1095, chunk_days=365),
    "distance": DataType("distance", "activity", max_days=1095, chunk_days=365),
    "heart": DataType("heart", "heartrate", max_days=365, chunk_days=365),
    "hrv": DataType("hrv", "heartrate", max_days=30, chunk_days=30),
    "spo2": DataType("spo2", "oxygen_saturation", max_days=30, chunk_days=30),
    "br": DataType("br", "respiratory_rate", max_days=30, chunk_days=30),
}


class FitbitFetcher:
    """The Fitbit fetcher (see the module docstring)."""

    vendor = "fitbit"
    data_types: Mapping[str, DataType] = DATA_TYPES

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type not in self.data_types:
            raise ValueError(f"fitbit has no data type {data_type!r}")
        if window.first > today:
            return
        if data_type == "activities":
            yield from _activities(api, window, today)
            return
        spec = _RANGES[data_type]
        for first, last in _requests(window, today, self.data_types[data_type].max_days, spec.accepts_today):
            path = spec.path.format(start=first.isoformat(), end=TODAY if last is None else last.isoformat())
            page = [
                fetched
                for fetched in _range_records(data_type, spec, api.get(path), path)
                if window.first <= fetched.local_date <= window.last
            ]
            page.sort(key=lambda fetched: fetched.local_date)
            yield from page


def _requests(window: Window, today: date, max_days: int, accepts_today: bool) -> Iterator[tuple[date, date | None]]:
    """The (first, last) dates of the requests covering ``window``, oldest first; last None: the literal today."""
    last = min(window.last, today)
    if not accepts_today or last < today - ONE_DAY:
        for part in Window(window.first, last).split(max_days):
            yield part.first, part.last
        return
    if max_days < 3:
        raise ValueError(f"a range of {max_days} days cannot end at today")
    # The user's today is between today - 2 and today: start no later than today - 2 (so the range is never
    # reversed) and no earlier than today - max_days + 1 (so it never exceeds the limit).
    tail = min(max(window.first, today - timedelta(days=max_days - 1)), today - 2 * ONE_DAY)
    if window.first < tail:
        for part in Window(window.first, tail - ONE_DAY).split(max_days):
            yield part.first, part.last
    yield tail, None


def _range_records(data_type: str, spec: _Range, body: Any, source: str) -> Iterator[Fetched]:
    entries = body if spec.key is None else (body.get(spec.key) if isinstance(body, dict) else None)
    if not isinstance(entries, list):
        where = "a JSON array" if spec.key is None else f"an object with a {spec.key!r} array"
        raise ValueError(f"fitbit {data_type}: the response is not {where}")
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"fitbit {data_type}: an entry is not a JSON object")
        identifier = record_id("fitbit", data_type, entry, spec.id_field)
        yield Fetched(identifier, date_field("fitbit", data_type, entry, spec.date_field), entry, source)


# -- the exercise log list -----------------------------------------------------------------------------------


def _activities(api: VendorApi, window: Window, today: date) -> Iterator[Fetched]:
    """Pages of the exercise log list from the window's first day, ascending, until a log passes its last."""
    last = min(window.last, today)
    # Strictly after the previous day's last second: the same under either reading of a bare afterDate.
    params = {
        "afterDate": f"{(window.first - ONE_DAY).isoformat()}T23:59:59",
        "sort": "asc",
        "limit": str(LIST_LIMIT),
        "offset": "0",
    }
    target, source = LIST_PATH, f"{LIST_PATH}?{urlencode(params)}"
    query: dict[str, str] | None = params
    seen_links: set[str] = set()
    seen_ids: set[str] = set()  # a log added while paging shifts the offsets: never yield one twice
    while True:
        body = api.get(target, query)
        logs, link = _list_page(body)
        page: list[Fetched] = []
        passed = False
        for log in logs:
            fetched = Fetched(record_id("fitbit", "activities", log, "logId"), _start_date(log), log, source)
            if fetched.local_date > last:
                passed = True
                break
            if fetched.local_date >= window.first and fetched.record_id not in seen_ids:
                seen_ids.add(fetched.record_id)
                page.append(fetched)
        yield from page
        if passed or not link:
            return
        if link in seen_links:
            raise ValueError("fitbit activities: pagination.next repeats a page already fetched")
        seen_links.add(link)
        target, query, source = link, None, _link_source(link)


def _list_page(body: Any) -> tuple[list[dict[str, Any]], str]:
    if not isinstance(body, dict):
        raise ValueError("fitbit activities: the response is not a JSON object")
    logs, pagination = body.get("activities"), body.get("pagination")
    if not isinstance(logs, list) or not all(isinstance(log, dict) for log in logs):
        raise ValueError("fitbit activities: the response has no 'activities' array of objects")
    if not isinstance(pagination, dict) or not isinstance(pagination.get("next"), str):
        raise ValueError("fitbit activities: the response has no 'pagination.next' string")
    return logs, pagination["next"]


def _link_source(link: str) -> str:
    """A pagination link as a source: its path from the API version on, and its query without any token."""
    parts = urlsplit(link)
    start = parts.path.find("/1/user/")
    if start < 0 or not parts.path.endswith("/activities/list.json"):
        raise ValueError("fitbit activities: pagination.next is not an activity log list link")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if "token" not in k.lower()])
    return parts.path[start:] + (f"?{query}" if query else "")


def _start_date(log: dict[str, Any]) -> date:
    """The local date of an exercise log: the date part of its start time (local time with the user's offset)."""
    raw = log.get("startTime", log.get("originalStartTime"))
    if not isinstance(raw, str):
        raise ValueError("fitbit activities: a log has no 'startTime' string")
    try:
        return datetime.fromisoformat(raw).date()
    except ValueError:
        raise ValueError("fitbit activities: a log's 'startTime' is not an ISO 8601 time") from None


# -- fields ------------------------------------------------------------------------------------------------------


FITBIT = FitbitFetcher()
