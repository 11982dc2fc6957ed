"""Fitbit Web API data routes of the sandbox, under /fitbit (user "-" or the token user's encoded id).

Date-range endpoints take `yyyy-MM-dd` or `today` (the user's local today) and refuse ranges longer than
`RANGE_LIMITS` (inclusive day counts) with a 400 `validation` error:
- `GET /1.2/user/-/sleep/date/{start}/{end}.json` -> {"sleep": [logs, newest first]}                   100 days
- `GET /1/user/-/activities/{steps|calories|distance}/date/{start}/{end}.json`
  -> {"activities-steps": [{"dateTime", "value": "<string>"}]}, one entry per date ("0" without data)  1095 days
- `GET /1/user/-/activities/heart/date/{start}/{end}.json` -> {"activities-heart": [...]}              1 year (365)
- `GET /1/user/-/hrv/date/{start}/{end}.json` -> {"hrv": [...]}                                         30 days
- `GET /1/user/-/spo2/date/{start}/{end}.json` -> [{"dateTime", "value": {avg, min, max}}]              30 days *
- `GET /1/user/-/br/date/{start}/{end}.json` -> {"br": [...]}                                          30 days
Sources: sleep, heart, hrv: dev.fitbit.com reference pages quoted in vendors.md 1.2; br: "Maximum range: 30
days" on the Get Breathing Rate Summary by Interval page; activity time series: 1095 days (vendors.md,
third-party); * SpO2 summary by interval: no limit found on Fitbit's page (a third-party client says there is
none), 30 days chosen as the conservative value.

Rate limit: per user, 150 requests an hour, reset at the top of the hour, with `Fitbit-Rate-Limit-Limit`,
`-Remaining` and `-Reset` (seconds until the top of the hour); no `Retry-After`.

`GET /1/user/-/activities/list.json`: exactly one of `afterDate` (with `sort=asc`) or `beforeDate` (with
`sort=desc`), as `yyyy-MM-dd` (that whole day counts) or `yyyy-MM-ddTHH:mm:ss` (strictly after/before);
`limit` 1-100 and `offset` are required; `pagination.next` is the URL of the next page (offset advanced;
"" on the last page), `pagination.previous` likewise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from itertools import islice
from urllib.parse import urlencode

from sandbox.context import DataContext
from sandbox.data import Record, Snapshot, days_ascending, days_descending, local_day, local_naive
from sandbox.data_guard import DataHandler, Guard, Refusal, bad_request, bounded_int
from sandbox.ratelimit import RateRule, Usage
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors.fitbit.data import FITBIT_DATA, TIME_SERIES
from sandbox.vendors.fitbit.oauth import FITBIT
from sandbox.vendors.fitbit.retired import remember, retiring

RANGE_LIMITS: dict[str, int] = {
    "sleep": 100,
    "steps": 1095,
    "calories": 1095,
    "distance": 1095,
    "heart": 365,
    "hrv": 30,
    "spo2": 30,
    "br": 30,
}
"""Longest date range per kind, in days counted inclusively (start and end both included)."""
MAX_LIST_LIMIT = 100


def rate_headers(usage: Sequence[Usage]) -> dict[str, str]:
    (hour,) = usage
    return {
        "Fitbit-Rate-Limit-Limit": str(hour.limit),
        "Fitbit-Rate-Limit-Remaining": str(hour.remaining),
        "Fitbit-Rate-Limit-Reset": str(math.ceil(hour.reset)),
    }


RATE = RateRule(windows=(3_600,), defaults=(150,), key="user", headers=rate_headers)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?")


def _day(raw: str, snap: Snapshot, field: str) -> date:
    if raw == "today":
        return local_day(snap.now, FITBIT_DATA.offset(snap.user))
    try:
        if _DATE.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise bad_request(FITBIT, f"Invalid date: {raw}. The date must be in the format yyyy-MM-dd or today.", field)


def _range(request: Request, snap: Snapshot, kind: str) -> list[date]:
    first = _day(request.params["start"], snap, "startDate")
    last = _day(request.params["end"], snap, "endDate")
    if last < first:
        raise bad_request(FITBIT, "The end date must not be before the start date.", "endDate")
    days = (last - first).days + 1
    if days > RANGE_LIMITS[kind]:
        raise bad_request(FITBIT, f"The date range must not exceed {RANGE_LIMITS[kind]} days.", "endDate")
    return list(days_ascending(first, last))


def _check_owner(request: Request, snap: Snapshot) -> None:
    owner = request.params["owner"]
    if owner not in ("-", FITBIT.user_id(snap.user)):
        message = "The caller is not authorized to access the resource of another user."
        error = {"errorType": "insufficient_permissions", "message": message}
        raise Refusal(json_reply(403, {"errors": [error], "success": False}))


class FitbitApi:
    """The Fitbit data endpoints (per-user rate limit)."""

    def __init__(self, ctx: DataContext) -> None:
        self.guard = Guard(FITBIT, ctx, RATE.key)

    def routes(self) -> list[Route]:
        route = self.guard.route
        user = "/1/user/{owner}"
        dates = "date/{start}/{end}.json"
        return [
            route("GET", f"/1.2/user/{{owner}}/sleep/{dates}", "sleep", "sleep", self.sleep),
            route("GET", f"{user}/activities/list.json", "activities_list", "activity", self.activities),
            route(
                "GET",
                f"{user}/activities/heart/{dates}",
                "heart",
                "heartrate",
                self.series("heart", "activities-heart"),
            ),
            route(
                "GET",
                f"{user}/activities/{{resource}}/{dates}",
                "activity_timeseries",
                "activity",
                self.activity_series,
            ),
            route("GET", f"{user}/hrv/{dates}", "hrv", "heartrate", self.series("hrv", "hrv")),
            route("GET", f"{user}/spo2/{dates}", "spo2", "oxygen_saturation", self.series("spo2", None)),
            route("GET", f"{user}/br/{dates}", "br", "respiratory_rate", self.series("br", "br")),
        ]

    # -- date ranges -------------------------------------------------------------------------------------------

    def sleep(self, request: Request, snap: Snapshot) -> Reply:
        _check_owner(request, snap)
        logs = [r for day in _range(request, snap, "sleep") for r in FITBIT_DATA.day_records("sleep", snap, day)]
        return json_reply(200, {"sleep": [record.body for record in reversed(logs)]})

    def series(self, kind: str, key: str | None) -> DataHandler:
        """A daily summary series; `key` None answers a bare JSON array (SpO2)."""

        def handle(request: Request, snap: Snapshot) -> Reply:
            _check_owner(request, snap)
            days = _range(request, snap, kind)
            entries = [r.body for day in days for r in FITBIT_DATA.day_records(kind, snap, day)]
            return json_reply(200, entries if key is None else {key: entries})

        return handle

    def activity_series(self, request: Request, snap: Snapshot) -> Reply:
        _check_owner(request, snap)
        resource = request.params["resource"]
        if resource not in TIME_SERIES:
            raise bad_request(
                FITBIT, f"The sandbox serves resources {', '.join(TIME_SERIES)}, not {resource}.", "resource"
            )
        entries = [_entry(resource, snap, day) for day in _range(request, snap, resource)]
        return json_reply(200, {f"activities-{resource}": entries})

    # -- activity log list -------------------------------------------------------------------------------------

    def activities(self, request: Request, snap: Snapshot) -> Reply:
        _check_owner(request, snap)
        query = request.query
        after, before = query.get("afterDate"), query.get("beforeDate")
        if (after is None) == (before is None):
            raise bad_request(FITBIT, "Either beforeDate or afterDate must be specified, not both.", "afterDate")
        sort = "asc" if after is not None else "desc"
        if query.get("sort") != sort:
            raise bad_request(FITBIT, f"sort must be {sort} with {'afterDate' if after else 'beforeDate'}.", "sort")
        limit = bounded_int(FITBIT, query.get("limit"), "limit", 1, MAX_LIST_LIMIT)
        offset = bounded_int(FITBIT, query.get("offset"), "offset", 0, 1_000_000)
        bound_name, raw = ("afterDate", after) if after is not None else ("beforeDate", before)
        assert raw is not None
        found = list(islice(_exercises(snap, _local_bound(raw, bound_name), sort), offset, offset + limit + 1))
        link = _Links(request, bound_name, raw, sort, limit)
        pagination: dict[str, object] = {
            bound_name: raw,
            "limit": limit,
            "next": link.at(offset + limit) if len(found) > limit else "",
            "offset": offset,
            "previous": link.at(max(0, offset - limit)) if offset > 0 else "",
            "sort": sort,
        }
        return json_reply(200, {"activities": [r.body for r in found[:limit]], "pagination": pagination})


class _Links:
    def __init__(self, request: Request, bound_name: str, raw: str, sort: str, limit: int) -> None:
        host = request.header("Host") or "127.0.0.1"
        self.base = f"http://{host}/fitbit/1/user/{request.params['owner']}/activities/list.json"
        self.params = {"limit": str(limit), "sort": sort, bound_name: raw}

    def at(self, offset: int) -> str:
        return f"{self.base}?{urlencode({'offset': str(offset), **self.params})}"


def _local_bound(raw: str, field: str) -> tuple[datetime, bool]:
    """(local time, inclusive): a bare date means the whole day counts."""
    if not _DATE_TIME.fullmatch(raw):
        raise bad_request(FITBIT, f"Invalid {field}: {raw}. Use yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss.", field)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(FITBIT, f"Invalid {field}: {raw}.", field) from None
    return value, "T" not in raw


def _exercises(snap: Snapshot, bound: tuple[datetime, bool], sort: str) -> Iterator[Record]:
    """Exercise logs after (asc) or before (desc) a local time, generated one day at a time."""
    offset = FITBIT_DATA.offset(snap.user)
    moment, whole_day = bound
    today = local_day(snap.now, offset)
    if sort == "asc":
        for day in days_ascending(max(moment.date(), snap.member_since), today):
            for record in FITBIT_DATA.day_records("activities", snap, day):
                start = local_naive(record.start, offset)
                if start > moment or (whole_day and start == moment):
                    yield record
        return
    for day in days_descending(min(moment.date(), today), snap.member_since):
        for record in reversed(FITBIT_DATA.day_records("activities", snap, day)):
            if local_naive(record.start, offset) < moment:
                yield record


def _entry(resource: str, snap: Snapshot, day: date) -> dict[str, object]:
    records = FITBIT_DATA.day_records(resource, snap, day)
    return records[0].body if records else {"dateTime": day.isoformat(), "value": "0"}


def data_routes(ctx: DataContext) -> list[Route]:
    remember(ctx.store, ctx.quirks)
    return retiring(ctx.store, FitbitApi(ctx).routes())
