"""Withings Public API data (the spec ``reference/specs/withings-openapi.yml``): measures (``measure-getmeas``),
sleep summaries (``sleepv2-getsummary``) and ECG recordings (``heartv2-list``).

Every call is ``GET`` with the parameters in the query (the spec declares them ``in: query``; Withings takes
them in the query or as a form body alike) and the access token as ``Authorization: Bearer``; no call we make
needs a signature (see ``oauth``). Answers come in Withings' envelope ``{"status", "body"}``, unwrapped by
``WithingsSpec.data_answer`` before they reach this module (so ``api.get`` returns ``body``).

- ``measure``: measure groups (``measuregrps``; one group per weighing or blood-pressure reading, id ``grpid``),
  real measures only (``category=1``), of the types ``curated.MEASURE_TYPES`` maps (``meastypes``). Asked for by
  ``startdate``/``enddate`` (epoch seconds) with a day of padding on each side; local date: the group's ``date``
  in the answer's ``timezone`` (the user's, an IANA name). Paging: ``more`` 1 and ``offset``.
- ``sleep``: sleep summaries (``series``, id ``id``), asked for by ``startdateymd``/``enddateymd`` (local dates)
  with ``data_fields``; local date: the summary's ``date``. Paging: ``more`` true and ``offset``.
- ``heart``: ECG recordings (``series``; id ``ecg.signalid``), asked for by ``startdate``/``enddate`` with a day
  of padding; an entry has no time zone, so its local date is its ``timestamp`` in the user's ``timezone`` from
  one small ``getmeas`` answer (``lastupdate``: nothing but the time zone). Paging: ``more`` true and ``offset``.
A time zone this host cannot resolve is read as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.pull.model import DataType, Fetched, VendorApi, Window, record_id

MEASURE_PATH, SLEEP_PATH, HEART_PATH = "/measure", "/v2/sleep", "/v2/heart"
PAD = timedelta(days=1)  # local days lie within a day of the UTC ones (offsets -12:00 .. +14:00)
SLEEP_FIELDS = (
    "total_timeinbed",
    "total_sleep_time",
    "lightsleepduration",
    "deepsleepduration",
    "remsleepduration",
    "wakeupduration",
    "wakeupcount",
    "sleep_latency",
    "sleep_efficiency",
    "hr_average",
    "hr_min",
    "hr_max",
    "rr_average",
    "snoring",
    "sleep_score",
)
MEASURE_TYPES = (1, 4, 5, 6, 8, 9, 10, 11, 12, 54, 71, 73, 76, 77, 88, 91, 123)
"""The ``meastype``s asked for: those ``curated`` maps (the spec's ``measure-getmeas`` table)."""


def zone(name: Any) -> tzinfo:
    """The user's time zone from Withings' ``timezone`` (an IANA name); UTC when absent or unknown here."""
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def epoch(value: Any, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Withings {what}: an entry has no epoch time")
    return datetime.fromtimestamp(value, UTC)


def _span(window: Window) -> tuple[int, int]:
    start = datetime.combine(window.first, time(), UTC) - PAD
    end = datetime.combine(window.last + timedelta(days=1), time(), UTC) + PAD
    return int(start.timestamp()), int(end.timestamp())


def _body(answer: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(answer, dict):
        raise ValueError(f"Withings {path} answered without a body")
    return answer


def _entries(body: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    entries = body.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"Withings {path} answered a {key} that is not a list of objects")
    return entries


def _pages(api: VendorApi, path: str, params: dict[str, str], key: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every page of a paged answer (``more`` and ``offset``), with the request it came from."""
    while True:
        body = _body(api.get(path, params), path)
        yield body, f"{path}?{urlencode(params)}"
        offset = body.get("offset")
        if not body.get("more") or isinstance(offset, bool) or not isinstance(offset, int):
            return
        params = {**params, "offset": str(offset)}


class WithingsFetcher:
    vendor = "withings"
    data_types: Mapping[str, DataType] = {
        "measure": DataType("measure", "user.metrics", chunk_days=180),
        "sleep": DataType("sleep", "user.activity", chunk_days=180),
        "heart": DataType("heart", "user.metrics", chunk_days=180),
    }

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type == "measure":
            yield from self._measures(api, window)
        elif data_type == "sleep":
            yield from self._sleeps(api, window)
        elif data_type == "heart":
            yield from self._hearts(api, window)
        else:
            raise ValueError(f"Withings has no data type {data_type!r}")

    def _measures(self, api: VendorApi, window: Window) -> Iterator[Fetched]:
        start, end = _span(window)
        params = {
            "action": "getmeas",
            "meastypes": ",".join(str(t) for t in MEASURE_TYPES),
            "category": "1",
            "startdate": str(start),
            "enddate": str(end),
        }
        for body, source in _pages(api, MEASURE_PATH, params, "measuregrps"):
            local = zone(body.get("timezone"))
            for group in _entries(body, "measuregrps", MEASURE_PATH):
                day = epoch(group.get("date"), "measure").astimezone(local).date()
                if window.first <= day <= window.last:
                    yield Fetched(record_id("Withings", "measure", group, "grpid"), day, group, source)

    def _sleeps(self, api: VendorApi, window: Window) -> Iterator[Fetched]:
        params = {
            "action": "getsummary",
            "startdateymd": window.first.isoformat(),
            "enddateymd": window.last.isoformat(),
            "data_fields": ",".join(SLEEP_FIELDS),
        }
        for body, source in _pages(api, SLEEP_PATH, params, "series"):
            for entry in _entries(body, "series", SLEEP_PATH):
                raw = entry.get("date")
                try:
                    day = date.fromisoformat(raw) if isinstance(raw, str) else None
                except ValueError:
                    day = None
                if day is None:
                    raise ValueError("Withings sleep: an entry's 'date' is not a YYYY-MM-DD date")
                if window.first <= day <= window.last:
                    yield Fetched(record_id("Withings", "sleep", entry, "id"), day, entry, source)

    def _hearts(self, api: VendorApi, window: Window) -> Iterator[Fetched]:
        local = self._user_zone(api)
        start, end = _span(window)
        params = {"action": "list", "startdate": str(start), "enddate": str(end)}
        for body, source in _pages(api, HEART_PATH, params, "series"):
            for entry in _entries(body, "series", HEART_PATH):
                day = epoch(entry.get("timestamp"), "heart").astimezone(local).date()
                ecg = entry.get("ecg")
                if not isinstance(ecg, dict):
                    raise ValueError("Withings heart: an entry has no ecg object")
                if window.first <= day <= window.last:
                    yield Fetched(record_id("Withings", "heart", ecg, "signalid"), day, entry, source)

    @staticmethod
    def _user_zone(api: VendorApi) -> tzinfo:
        """The user's time zone, from a ``getmeas`` answer that holds nothing else (updated after now)."""
        params = {"action": "getmeas", "lastupdate": str(int(datetime.now(UTC).timestamp()) + 60)}
        return zone(_body(api.get(MEASURE_PATH, params), MEASURE_PATH).get("timezone"))


WITHINGS = WithingsFetcher()
