"""WHOOP API v2 data: cycles, sleeps, recoveries and workouts (collections paged with ``limit`` 25 and
``nextToken``), plus the profile and the body measurement (snapshots).

Collections filter on time, not on dates: a record is returned when its span meets ``[start, end)``. A window
of local dates is asked for with two days of padding on each side (offsets run from -12:00 to +14:00) and
only the records whose local date is inside the window are yielded, so every record belongs to exactly one
window. Local dates, from each record's own ``timezone_offset``:
- sleep: the day it ends (the day the user wakes up), so a night that crosses midnight lands on the morning;
- workout: the day it starts;
- cycle: the day of its start plus 12 hours: a cycle starts when the user falls asleep, in the evening before
  the day it is named after (a start after midnight stays on its own day);
- recovery: the day of its cycle (a recovery has no time zone of its own); the window's cycles are read first.
Pages can be empty and still carry a ``next_token``: paging stops only when the token is absent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from shared.pull.model import DataType, Fetched, VendorApi, Window, record_id

PAGE_LIMIT = 25
PAD = timedelta(days=2)
COLLECTIONS: Mapping[str, str] = {
    "cycle": "/v2/cycle",
    "sleep": "/v2/activity/sleep",
    "recovery": "/v2/recovery",
    "workout": "/v2/activity/workout",
}
SNAPSHOTS: Mapping[str, str] = {"profile": "/v2/user/profile/basic", "body": "/v2/user/measurement/body"}


def _instant(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("WHOOP record has no valid time")
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _offset(raw: Any) -> timezone:
    if not isinstance(raw, str) or len(raw) != 6 or raw[0] not in "+-" or raw[3] != ":":
        raise ValueError("WHOOP record has no valid timezone_offset")
    sign = -1 if raw[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(raw[1:3]), minutes=int(raw[4:6])))


def local_date(data_type: str, record: Mapping[str, Any]) -> date:
    """The user's local date of a cycle, sleep or workout record (see the module docstring)."""
    zone = _offset(record.get("timezone_offset"))
    if data_type == "sleep":
        return _instant(record.get("end")).astimezone(zone).date()
    if data_type == "cycle":
        return (_instant(record.get("start")).astimezone(zone) + timedelta(hours=12)).date()
    return _instant(record.get("start")).astimezone(zone).date()


def _record_id(data_type: str, record: Mapping[str, Any]) -> str:
    return record_id("WHOOP", data_type, record, "cycle_id" if data_type == "recovery" else "id")


class WhoopFetcher:
    vendor = "whoop"
    data_types: Mapping[str, DataType] = {
        "cycle": DataType("cycle", "read:cycles", chunk_days=90),
        "sleep": DataType("sleep", "read:sleep", chunk_days=90),
        "recovery": DataType("recovery", "read:recovery", chunk_days=90),
        "workout": DataType("workout", "read:workout", chunk_days=90),
        "profile": DataType("profile", "read:profile", snapshot=True),
        "body": DataType("body", "read:body_measurement", snapshot=True),
    }

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type in SNAPSHOTS:
            path = SNAPSHOTS[data_type]
            yield Fetched(data_type, datetime.now(UTC).date(), api.get(path), path)  # one a day: a history
            return
        if data_type not in COLLECTIONS:
            raise ValueError(f"WHOOP has no data type {data_type!r}")
        if data_type == "recovery":
            yield from self._recoveries(api, window, today)
            return
        for record, source in self._collection(api, data_type, window, today):
            day = local_date(data_type, record)
            if window.first <= day <= window.last:
                yield Fetched(_record_id(data_type, record), day, record, source)

    def _recoveries(self, api: VendorApi, window: Window, today: date) -> Iterator[Fetched]:
        cycle_days = {
            _record_id("cycle", cycle): local_date("cycle", cycle)
            for cycle, _ in self._collection(api, "cycle", window, today)
        }
        for record, source in self._collection(api, "recovery", window, today):
            cycle = _record_id("recovery", record)
            day = cycle_days.get(cycle)
            if day is None:  # its cycle lies just outside the padded window: ask for it
                day = local_date("cycle", api.get(f"/v2/cycle/{cycle}"))
            if window.first <= day <= window.last:
                yield Fetched(cycle, day, record, source)

    def _collection(
        self, api: VendorApi, data_type: str, window: Window, today: date
    ) -> Iterator[tuple[Mapping[str, Any], str]]:
        start = datetime.combine(window.first, time(), UTC) - PAD
        end = datetime.combine(window.last + timedelta(days=1), time(), UTC) + PAD
        params = {"start": start.isoformat().replace("+00:00", "Z"), "limit": str(PAGE_LIMIT)}
        if end <= datetime.now(UTC):  # else the vendor's default: now
            params["end"] = end.isoformat().replace("+00:00", "Z")
        path = COLLECTIONS[data_type]
        while True:
            page = api.get(path, params)
            records = page.get("records") if isinstance(page, dict) else None
            if not isinstance(records, list):
                raise ValueError(f"WHOOP {path} answered without a records list")
            source = f"{path}?start={params['start']}" + (f"&end={params['end']}" if "end" in params else "")
            for record in records:
                if not isinstance(record, dict):
                    raise ValueError(f"WHOOP {path} returned a record that is not an object")
                yield record, source
            token = page.get("next_token")
            if not token:  # absent or empty: the last page (an empty page with a token is not the end)
                return
            params = {**params, "nextToken": str(token)}


WHOOP = WhoopFetcher()
