"""Google Health API v4 data (discovery ``google-health-v4-discovery.json``; ``reference/vendors-next.md`` §1.2).

Paths are relative to ``GOOGLE_HEALTH_API_BASE_URL`` (``https://health.googleapis.com``); ``users/me`` is the
token's user. Data type names are Google's (the kebab-case path segment). Every window is asked for in *civil*
(the user's local) time, so a record's local date is the one Google gives and no offset is guessed:

- ``sleep``: ``dataPoints:reconcile`` (the stream the Fitbit app shows: overlapping sources merged), filter
  ``sleep.interval.civil_end_time`` (a night lands on the morning it ends), 25 a page (the documented maximum);
  id: the last segment of ``dataPointName``; local date: ``sleep.interval.civilEndTime.date``.
- ``exercise``: ``dataPoints`` (list), filter ``exercise.interval.civil_start_time``, 25 a page; id: the last
  segment of ``name``; local date: ``exercise.interval.civilStartTime.date``.
- ``steps``, ``distance``, ``active-energy-burned``, ``heart-rate``: daily totals from ``dataPoints:dailyRollUp``
  (``range`` closed-open in civil time, one-day windows), at most 90 days a request, 14 for ``heart-rate``
  (``DailyRollUpDataPointsRequest.range``); id and local date: ``civilStartTime.date``.
- ``daily-resting-heart-rate``, ``daily-heart-rate-variability``, ``daily-oxygen-saturation``,
  ``daily-respiratory-rate``, ``daily-vo2-max``: list, filter ``{type}.date`` (snake case); id and local date: the
  point's ``date``.
- ``weight``, ``body-fat``: list, filter ``{type}.sample_time.civil_time``; local date: ``sampleTime.civilTime.date``;
  these points have no ``name`` (only identifiable types do), so the id is the sample's UTC time,
  ``sampleTime.physicalTime`` without separators ("2026-11-20T07:01:02Z" -> "20261120T070102Z").

Each point is landed as sent: its UTC time (``startTime``/``physicalTime``), civil time and UTC offset stay in
the raw record. Lists page with ``pageToken`` until ``nextPageToken`` is empty (a repeated token is an error).
Scopes (UNCONFIRMED per type: the discovery document lists scopes per method, not per type; these follow Google's
data type groups): activity and fitness for exercise, steps, distance, active energy and VO2 max; health metrics
and measurements for the heart, oxygen, respiration and body types; sleep for sleep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from shared.pull.model import DataType, Fetched, VendorApi, Window
from shared.vendors.google_health.oauth import ACTIVITY, METRICS, SLEEP

ONE_DAY = timedelta(days=1)
BASE = "/v4/users/me/dataTypes"
Method = Literal["reconcile", "list", "rollup"]


@dataclass(frozen=True)
class Kind:
    """How one data type is read: ``method``, the union field of its points (``field``), the filter field
    (list and reconcile), the page size, and where a point's local date is (``when``: ``interval_end``,
    ``interval_start``, ``date``, ``sample``; rollups: their ``civilStartTime``)."""

    method: Method
    field: str
    filter_field: str = ""
    page_size: int = 10_000
    when: str = "date"


KINDS: Mapping[str, Kind] = {
    "sleep": Kind("reconcile", "sleep", "sleep.interval.civil_end_time", 25, "interval_end"),
    "exercise": Kind("list", "exercise", "exercise.interval.civil_start_time", 25, "interval_start"),
    "steps": Kind("rollup", "steps", page_size=90),
    "distance": Kind("rollup", "distance", page_size=90),
    "active-energy-burned": Kind("rollup", "activeEnergyBurned", page_size=90),
    "heart-rate": Kind("rollup", "heartRate", page_size=14),
    "daily-resting-heart-rate": Kind("list", "dailyRestingHeartRate", "daily_resting_heart_rate.date"),
    "daily-heart-rate-variability": Kind("list", "dailyHeartRateVariability", "daily_heart_rate_variability.date"),
    "daily-oxygen-saturation": Kind("list", "dailyOxygenSaturation", "daily_oxygen_saturation.date"),
    "daily-respiratory-rate": Kind("list", "dailyRespiratoryRate", "daily_respiratory_rate.date"),
    "daily-vo2-max": Kind("list", "dailyVo2Max", "daily_vo2_max.date"),
    "weight": Kind("list", "weight", "weight.sample_time.civil_time", when="sample"),
    "body-fat": Kind("list", "bodyFat", "body_fat.sample_time.civil_time", when="sample"),
}

DATA_TYPES: Mapping[str, DataType] = {
    "sleep": DataType("sleep", SLEEP, max_days=0, chunk_days=90),
    "exercise": DataType("exercise", ACTIVITY, max_days=0, chunk_days=90),
    "steps": DataType("steps", ACTIVITY, max_days=90, chunk_days=180),
    "distance": DataType("distance", ACTIVITY, max_days=90, chunk_days=180),
    "active-energy-burned": DataType("active-energy-burned", ACTIVITY, max_days=90, chunk_days=180),
    "heart-rate": DataType("heart-rate", METRICS, max_days=14, chunk_days=84),
    "daily-resting-heart-rate": DataType("daily-resting-heart-rate", METRICS, max_days=0, chunk_days=365),
    "daily-heart-rate-variability": DataType("daily-heart-rate-variability", METRICS, max_days=0, chunk_days=365),
    "daily-oxygen-saturation": DataType("daily-oxygen-saturation", METRICS, max_days=0, chunk_days=365),
    "daily-respiratory-rate": DataType("daily-respiratory-rate", METRICS, max_days=0, chunk_days=365),
    "daily-vo2-max": DataType("daily-vo2-max", ACTIVITY, max_days=0, chunk_days=365),
    "weight": DataType("weight", METRICS, max_days=0, chunk_days=365),
    "body-fat": DataType("body-fat", METRICS, max_days=0, chunk_days=365),
}


class GoogleHealthFetcher:
    """The Google Health fetcher (see the module docstring)."""

    vendor = "google_health"
    data_types: Mapping[str, DataType] = DATA_TYPES

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type not in self.data_types:
            raise ValueError(f"google_health has no data type {data_type!r}")
        if window.first > today:
            return
        window = Window(window.first, min(window.last, today))
        kind = KINDS[data_type]
        if kind.method == "rollup":
            for part in window.split(self.data_types[data_type].max_days):
                yield from _rollup(api, data_type, kind, part)
            return
        for fetched in _points(api, data_type, kind, window):
            if window.first <= fetched.local_date <= window.last:
                yield fetched


def _points(api: VendorApi, data_type: str, kind: Kind, window: Window) -> Iterator[Fetched]:
    """Every page of a list (or reconcile) over the window's civil days."""
    path = f"{BASE}/{data_type}/dataPoints" + (":reconcile" if kind.method == "reconcile" else "")
    end = window.last + ONE_DAY
    params = {
        "filter": f'{kind.filter_field} >= "{window.first.isoformat()}" AND {kind.filter_field} < "{end.isoformat()}"',
        "pageSize": str(kind.page_size),
    }
    seen: set[str] = set()
    while True:
        body = api.get(path, params)
        points, token = _page(data_type, body, "dataPoints")
        source = f"{path}?{urlencode(params)}"
        for point in points:
            yield Fetched(point_id(data_type, kind, point), local_date(data_type, kind, point), point, source)
        if not token:
            return
        if token in seen:
            raise ValueError(f"google_health {data_type}: nextPageToken repeats a page already fetched")
        seen.add(token)
        params = {**params, "pageToken": token}


def _rollup(api: VendorApi, data_type: str, kind: Kind, window: Window) -> Iterator[Fetched]:
    """Daily totals of the window: one ``dailyRollUp`` (plus its pages)."""
    path = f"{BASE}/{data_type}/dataPoints:dailyRollUp"
    request: dict[str, Any] = {
        "range": {"start": civil(window.first), "end": civil(window.last + ONE_DAY)},
        "windowSizeDays": 1,
        "pageSize": kind.page_size,
    }
    source = f"{path}?range={window.first.isoformat()}..{(window.last + ONE_DAY).isoformat()}"
    seen: set[str] = set()
    while True:
        points, token = _page(data_type, api.post(path, request), "rollupDataPoints")
        for point in points:
            day = civil_date(data_type, point.get("civilStartTime"))
            if window.first <= day <= window.last and isinstance(point.get(kind.field), dict):
                yield Fetched(day.isoformat(), day, point, source)
        if not token:
            return
        if token in seen:
            raise ValueError(f"google_health {data_type}: nextPageToken repeats a page already fetched")
        seen.add(token)
        request = {**request, "pageToken": token}


def _page(data_type: str, body: Any, key: str) -> tuple[list[dict[str, Any]], str]:
    if not isinstance(body, dict):
        raise ValueError(f"google_health {data_type}: the response is not a JSON object")
    points = body.get(key, [])
    if not isinstance(points, list) or not all(isinstance(point, dict) for point in points):
        raise ValueError(f"google_health {data_type}: {key!r} is not an array of objects")
    token = body.get("nextPageToken") or ""
    if not isinstance(token, str):
        raise ValueError(f"google_health {data_type}: nextPageToken is not a string")
    return points, token


# -- ids and dates ------------------------------------------------------------------------------------------------


def civil(day: date) -> dict[str, Any]:
    """A ``CivilDateTime`` at the start of ``day``."""
    return {"date": {"year": day.year, "month": day.month, "day": day.day}}


def civil_date(data_type: str, value: Any) -> date:
    """The date of a ``CivilDateTime`` (``{"date": {"year", "month", "day"}, ...}``) or of a ``Date``."""
    node = value.get("date", value) if isinstance(value, dict) else None
    if isinstance(node, dict):
        try:
            return date(int(node["year"]), int(node["month"]), int(node["day"]))
        except (KeyError, TypeError, ValueError):
            pass
    raise ValueError(f"google_health {data_type}: a point has no civil date")


def _member(data_type: str, kind: Kind, point: Mapping[str, Any]) -> Mapping[str, Any]:
    value = point.get(kind.field)
    if not isinstance(value, dict):
        raise ValueError(f"google_health {data_type}: a point has no {kind.field!r} object")
    return value


def local_date(data_type: str, kind: Kind, point: Mapping[str, Any]) -> date:
    """The point's civil (local) date: see the module docstring."""
    member = _member(data_type, kind, point)
    found = member.get("interval")
    interval: Mapping[str, Any] = found if isinstance(found, dict) else {}
    if kind.when == "interval_end":
        return civil_date(data_type, interval.get("civilEndTime"))
    if kind.when == "interval_start":
        return civil_date(data_type, interval.get("civilStartTime"))
    if kind.when == "sample":
        sample = member.get("sampleTime")
        return civil_date(data_type, sample.get("civilTime") if isinstance(sample, dict) else None)
    return civil_date(data_type, member.get("date"))


def point_id(data_type: str, kind: Kind, point: Mapping[str, Any]) -> str:
    """The point's id: its name's last segment, the date of a daily point, or a sample's UTC time."""
    name = point.get("dataPointName") if kind.method == "reconcile" else point.get("name")
    if isinstance(name, str) and "/dataPoints/" in name:
        identifier = name.rsplit("/", 1)[1]
        if identifier:
            return identifier
    if kind.when == "date":
        return local_date(data_type, kind, point).isoformat()
    if kind.when == "sample":
        sample = _member(data_type, kind, point).get("sampleTime")
        physical = sample.get("physicalTime") if isinstance(sample, dict) else None
        if isinstance(physical, str) and physical:
            return sample_id(physical)
    raise ValueError(f"google_health {data_type}: a point has no id")


def sample_id(physical_time: str) -> str:
    """ "2026-11-20T07:01:02.500Z" -> "20261120T070102.500Z" (the id of a point without a name)."""
    return physical_time.replace("-", "").replace(":", "")


GOOGLE_HEALTH = GoogleHealthFetcher()
