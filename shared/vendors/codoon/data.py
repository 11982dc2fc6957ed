"""Codoon's data side, as Codoon's own document gives it (``reference/specs/codoon-openapi.md``): daily tracker
summaries, nights and the body log. Routes are not pulled: no documented method lists them; each one is learned
from a ``gps_sports`` notification (its ``resource_id``) and fetched with ``get_route_by_id`` (``notify``).

Every method is ``POST <CODOON_API_BASE_URL>/<method>`` with a JSON object body, so paths here are
``/<method>``; every answer is the envelope ``{"status", "data", "description"}``, and ``status`` must say OK
(``"OK"``, or ``true`` for ``get_tracker_data``) even on HTTP 200, as the document asks. A record's source is the
method path with its body as a query string (``/get_sleep_data?the_day=2025-01-01``). All Codoon users are at
+08:00 and every date is theirs. Records land as sent (the element of ``data``), one per local date:

- tracker: ``get_tracker_summary {date_end, days_back <= 30}``. Its summaries carry no date. **Day-order rule**:
  the answer holds exactly ``days_back`` summaries, oldest first, and the last one is ``date_end``: summary
  ``i`` (from 0) is the day ``date_end - (days_back - 1 - i)``. Any other count is refused (it could not be dated
  safely). Id and local date: that day. A summary with zero steps, meters, calories and minutes (a day without
  data) is not yielded.
- sleep: ``get_sleep_data {the_day}``, one request per day, answers the night ending on that day; id and local
  date ``the_day``. A night of zero ``total_minutes`` (none recorded) is not yielded.
- body: ``get_body_log {}`` answers the whole history as positional arrays ``[date, weight kg, height cm,
  body fat %, goal weight]``, dates written ``2012-3-07`` (no zero padding), null where absent. One request per
  fetch; id and local date: the entry's date (``YYYY-MM-DD``); when a date appears twice, the later entry wins.

Codoon publishes no rate limit. Chunks: tracker 90 days (three requests), sleep 30 days (30 requests), body
the whole range (one request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from shared.pull.model import DataType, Fetched, VendorApi, Window

MAX_DAYS = 30
ONE_DAY = timedelta(days=1)
TRACKER_TOTALS = ("steps", "meters", "calories", "minutes")

DATA_TYPES: dict[str, DataType] = {
    "tracker": DataType("tracker", "sports", max_days=MAX_DAYS, chunk_days=90),
    "sleep": DataType("sleep", "sports", max_days=1, chunk_days=30),
    "body": DataType("body", "user", max_days=0, chunk_days=3660),
}

_BODY_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


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
        elif data_type == "sleep":
            yield from _sleep(api, window)
        else:
            yield from _body(api, window)


def _tracker(api: VendorApi, window: Window) -> Iterator[Fetched]:
    for part in window.split(MAX_DAYS):
        body: dict[str, Any] = {"date_end": part.last.isoformat(), "days_back": part.days}
        summaries = data_of("get_tracker_summary", api.post("/get_tracker_summary", body), list)
        if len(summaries) != part.days:
            raise ValueError(
                f"codoon get_tracker_summary: {len(summaries)} summaries for days_back={part.days}: cannot date them"
            )
        source = _source("/get_tracker_summary", body)
        for index, summary in enumerate(summaries):
            if not isinstance(summary, dict):
                raise ValueError("codoon get_tracker_summary: a summary is not a JSON object")
            if not any(_number(summary.get(name)) for name in TRACKER_TOTALS):
                continue  # a day without data
            day = tracker_day(part.last, part.days, index)
            yield Fetched(day.isoformat(), day, summary, source)


def tracker_day(date_end: date, days_back: int, index: int) -> date:
    """The day of summary ``index`` of a ``get_tracker_summary`` answer (the day-order rule above)."""
    return date_end - timedelta(days=days_back - 1 - index)


def _sleep(api: VendorApi, window: Window) -> Iterator[Fetched]:
    day = window.first
    while day <= window.last:
        body = {"the_day": day.isoformat()}
        night = data_of("get_sleep_data", api.post("/get_sleep_data", body), dict)
        if _number(night.get("total_minutes")):
            yield Fetched(day.isoformat(), day, night, _source("/get_sleep_data", body))
        day += ONE_DAY


def _body(api: VendorApi, window: Window) -> Iterator[Fetched]:
    entries = data_of("get_body_log", api.post("/get_body_log", {}), list)
    by_day: dict[date, list[Any]] = {}
    for entry in entries:
        if not isinstance(entry, list) or not entry:
            raise ValueError("codoon get_body_log: an entry is not a positional array")
        day = body_log_day(entry[0])
        if window.first <= day <= window.last:
            by_day[day] = entry
    for day in sorted(by_day):
        yield Fetched(day.isoformat(), day, by_day[day], "/get_body_log")


# -- shapes and fields -------------------------------------------------------------------------------------------


def data_of[T](method: str, answer: Any, kind: type[T]) -> T:
    """``data`` of a Codoon answer whose ``status`` says OK; ValueError for any other shape."""
    if not isinstance(answer, dict):
        raise ValueError(f"codoon {method}: the answer is not a JSON object")
    status = answer.get("status")
    if not (status is True or (isinstance(status, str) and status.upper() == "OK")):
        shown = status if isinstance(status, str | bool | int | None) else type(status).__name__
        raise ValueError(f"codoon {method}: status {str(shown)[:20]!r}, not OK")
    data = answer.get("data")
    if not isinstance(data, kind):
        raise ValueError(f"codoon {method}: 'data' is not a JSON {'array' if kind is list else 'object'}")
    return data


def body_log_day(raw: Any) -> date:
    """A body log date, written ``2012-3-07`` or ``2012-03-07``."""
    found = _BODY_DATE.fullmatch(raw) if isinstance(raw, str) else None
    if found is not None:
        try:
            return date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            pass
    raise ValueError("codoon get_body_log: an entry's date is not like 2012-3-07")


def route_day(route: Mapping[str, Any]) -> date:
    """The local date of a ``get_route_by_id`` route: the date of its ``start_time``."""
    value = route.get("start_time")
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").date()
        except ValueError:
            pass
    raise ValueError("codoon route: the route's 'start_time' is not a local 'YYYY-MM-DD HH:MM:SS' time")


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return 0.0
    try:
        return float(raw)
    except ValueError:
        return 0.0


def _source(path: str, body: Mapping[str, Any]) -> str:
    return f"{path}?{urlencode({name: str(value) for name, value in body.items()})}"


CODOON = CodoonFetcher()
