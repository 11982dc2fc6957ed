"""Oura API v2 data (``reference/specs/oura-openapi-v2.yml``): the ``/v2/usercollection/*`` documents and the heart
rate time series, paged with ``next_token``, plus ``personal_info`` (a snapshot).

Documents (``MultiDocumentResponse``: ``{"data": [...], "next_token": str | null}``) are asked for by local date
with ``start_date`` and ``end_date``. The spec does not say whether ``end_date`` is included, so a window asks for
one day more and keeps the documents whose ``day`` is inside it: every document lands in exactly one window.
A document's local date is its ``day`` (Oura's own: a sleep period's ``day`` is the morning it ends, a workout's
the day it starts). Ids are ``id`` (strings).

Heart rate (``TimeSeriesResponse``: ``{"data": [{"bpm", "source", "timestamp", "timestamp_unix"}], "next_token"}``)
is asked for by instant (``start_datetime``/``end_datetime``, at most ``HEARTRATE_MAX_DAYS`` days a request). Its
rows carry a UTC timestamp and no time zone, so they are landed per UTC date: one record per date, id the date,
content ``{"day": "YYYY-MM-DD", "data": [rows as sent]}`` (a row per blob would be thousands a day).

Paging stops when ``next_token`` is null or absent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.pull.model import DataType, Fetched, VendorApi, Window, date_field, record_id

BASE = "/v2/usercollection"
HEARTRATE_MAX_DAYS = 30
DOCUMENTS: Mapping[str, str] = {
    "daily_activity": f"{BASE}/daily_activity",
    "daily_sleep": f"{BASE}/daily_sleep",
    "sleep": f"{BASE}/sleep",
    "daily_readiness": f"{BASE}/daily_readiness",
    "daily_spo2": f"{BASE}/daily_spo2",
    "daily_stress": f"{BASE}/daily_stress",
    "daily_resilience": f"{BASE}/daily_resilience",
    "workout": f"{BASE}/workout",
    "session": f"{BASE}/session",
    "vo2_max": f"{BASE}/vO2_max",
}
HEARTRATE = f"{BASE}/heartrate"
PERSONAL_INFO = f"{BASE}/personal_info"


def _page(api: VendorApi, path: str, params: dict[str, str]) -> Iterator[tuple[list[Any], str]]:
    source = path + "?" + "&".join(f"{key}={value}" for key, value in params.items())
    while True:
        page = api.get(path, params)
        rows = page.get("data") if isinstance(page, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"Oura {path} answered without a data list")
        yield rows, source
        token = page.get("next_token")
        if not token:
            return
        params = {**params, "next_token": str(token)}


def _utc(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("Oura heart rate row has no timestamp")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


class OuraFetcher:
    vendor = "oura"
    data_types: Mapping[str, DataType] = {
        "daily_activity": DataType("daily_activity", "daily", chunk_days=365),
        "daily_sleep": DataType("daily_sleep", "daily", chunk_days=365),
        "sleep": DataType("sleep", "daily", chunk_days=365),
        "daily_readiness": DataType("daily_readiness", "daily", chunk_days=365),
        "daily_spo2": DataType("daily_spo2", "spo2Daily", chunk_days=365),
        "daily_stress": DataType("daily_stress", "daily", chunk_days=365),
        "daily_resilience": DataType("daily_resilience", "daily", chunk_days=365),
        "workout": DataType("workout", "workout", chunk_days=365),
        "session": DataType("session", "session", chunk_days=365),
        "vo2_max": DataType("vo2_max", "daily", chunk_days=365),
        "heartrate": DataType("heartrate", "heartrate", max_days=HEARTRATE_MAX_DAYS, chunk_days=HEARTRATE_MAX_DAYS),
        "personal_info": DataType("personal_info", "personal", snapshot=True),
    }

    def fetch(self, api: VendorApi, data_type: str, window: Window, today: date) -> Iterator[Fetched]:
        if data_type == "personal_info":
            yield Fetched("personal_info", datetime.now(UTC).date(), api.get(PERSONAL_INFO), PERSONAL_INFO)
            return
        if data_type == "heartrate":
            for part in window.split(HEARTRATE_MAX_DAYS):
                yield from self._heartrate(api, part)
            return
        path = DOCUMENTS.get(data_type)
        if path is None:
            raise ValueError(f"Oura has no data type {data_type!r}")
        params = {"start_date": window.first.isoformat(), "end_date": (window.last + timedelta(days=1)).isoformat()}
        for rows, source in _page(api, path, params):
            for row in rows:
                if not isinstance(row, dict):
                    raise ValueError(f"Oura {path} returned a document that is not an object")
                day = date_field("Oura", data_type, row, "day")
                if window.first <= day <= window.last:
                    yield Fetched(record_id("Oura", data_type, row, "id"), day, row, source)

    def _heartrate(self, api: VendorApi, window: Window) -> Iterator[Fetched]:
        start = datetime.combine(window.first, time(), UTC)
        end = datetime.combine(window.last + timedelta(days=1), time(), UTC)
        params = {"start_datetime": start.isoformat(), "end_datetime": end.isoformat()}
        days: dict[date, list[Any]] = {}
        source = HEARTRATE
        for rows, page_source in _page(api, HEARTRATE, params):
            source = page_source
            for row in rows:
                if not isinstance(row, dict):
                    raise ValueError("Oura heart rate row is not an object")
                day = _utc(row.get("timestamp")).date()
                if window.first <= day <= window.last:
                    days.setdefault(day, []).append(row)
        for day in sorted(days):
            rows = sorted(days[day], key=lambda row: str(row.get("timestamp")))
            yield Fetched(day.isoformat(), day, {"day": day.isoformat(), "data": rows}, source)


def document_path(data_type: str, document_id: str) -> str:
    """The single-document route of a data type (``/v2/usercollection/<type>/{document_id}``)."""
    return f"{DOCUMENTS[data_type]}/{document_id}"


OURA = OuraFetcher()
