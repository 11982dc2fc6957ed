"""Codoon OpenAPI data routes of the sandbox, under /codoon/api: `POST /api/<method>` with a Bearer token and a
JSON object body; errors are {"error_code": ..., "error": ...} (1003 bad parameters, 2001 token, 2003 scope).

The method names and `date_end`/`days_back`/`the_day`/`route_id` come from the Codoon document summary in
vendors.md section 5 (UNCONFIRMED); the rest of the parameters and every response shape are the sandbox's own:
- get_tracker_summary {date_end: "YYYY-MM-DD", days_back: 1-30} -> {"date_end", "days_back",
  "summaries": [day summaries of date_end-days_back+1 .. date_end, oldest first]}            scope sports
- get_tracker_data {the_day} -> the day summary plus "items" (hourly) and "routes" (route ids)  scope sports
- api_tracker_oneday {the_day} -> the day summary                                              scope sports
- get_sleep_data {start_date, end_date} (at most 30 days, inclusive) -> {"sleeps": [...]}       scope sports
- get_body_log {start_date?, end_date?} (at most 30 days; default the 30 days to today) -> {"logs": [...]}
                                                                                               scope user
- get_route_by_id {route_id} -> the route with its GPS "points"; 404 error_code 1003 if unknown  scope sports
Day summary: {"the_day", "steps", "calories", "meters", "active_minutes", "update_time"}; days without data
(before the user's history, or in the future) have zero totals.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from sandbox.data import Snapshot, days_ascending, local_day
from sandbox.data_codoon import CODOON_DATA, OFFSET, route_day
from sandbox.data_guard import DataContext, DataHandler, Guard, bad_request, bounded_int, json_object, not_found
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import CODOON

MAX_DAYS = 30
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(body: dict[str, object], name: str, default: date | None = None) -> date:
    raw = body.get(name)
    if raw is None and default is not None:
        return default
    if isinstance(raw, str) and _DATE.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise bad_request(CODOON, f"invalid params: {name} must be a date YYYY-MM-DD")


def _span(body: dict[str, object], default_end: date | None = None) -> list[date]:
    last = _day(body, "end_date", default_end)
    first = _day(body, "start_date", None if default_end is None else last - timedelta(days=MAX_DAYS - 1))
    if last < first or (last - first).days >= MAX_DAYS:
        raise bad_request(CODOON, f"invalid params: start_date..end_date must span 1 to {MAX_DAYS} days")
    return list(days_ascending(first, last))


def _summary(snap: Snapshot, day: date) -> dict[str, object]:
    records = CODOON_DATA.day_records("tracker", snap, day)
    if records:
        return records[0].body
    zero: dict[str, object] = {"the_day": day.isoformat(), "steps": 0, "calories": 0.0, "meters": 0}
    return {**zero, "active_minutes": 0, "update_time": None}


class CodoonApi:
    """The Codoon data endpoints (no published rate limit)."""

    def __init__(self, ctx: DataContext) -> None:
        self.guard = Guard(CODOON, ctx, "none")

    def routes(self) -> list[Route]:
        methods: list[tuple[str, str, DataHandler]] = [
            ("get_tracker_summary", "sports", self.tracker_summary),
            ("get_tracker_data", "sports", self.tracker_data),
            ("api_tracker_oneday", "sports", self.tracker_oneday),
            ("get_sleep_data", "sports", self.sleep_data),
            ("get_body_log", "user", self.body_log),
            ("get_route_by_id", "sports", self.route_by_id),
        ]
        return [self.guard.route("POST", f"/api/{name}", name, scope, handler) for name, scope, handler in methods]

    def tracker_summary(self, request: Request, snap: Snapshot) -> Reply:
        body = json_object(CODOON, request)
        end = _day(body, "date_end")
        days_back = bounded_int(CODOON, body.get("days_back"), "days_back", 1, MAX_DAYS)
        days = days_ascending(end - timedelta(days=days_back - 1), end)
        summaries = [_summary(snap, day) for day in days]
        return json_reply(200, {"date_end": end.isoformat(), "days_back": days_back, "summaries": summaries})

    def tracker_data(self, request: Request, snap: Snapshot) -> Reply:
        day = _day(json_object(CODOON, request), "the_day")
        has_data = bool(CODOON_DATA.day_records("tracker", snap, day))
        items = CODOON_DATA.tracker_items(snap, day) if has_data else []
        routes = [str(r.record_id) for r in CODOON_DATA.day_records("route", snap, day)]
        return json_reply(200, {**_summary(snap, day), "items": items, "routes": routes})

    def tracker_oneday(self, request: Request, snap: Snapshot) -> Reply:
        return json_reply(200, _summary(snap, _day(json_object(CODOON, request), "the_day")))

    def sleep_data(self, request: Request, snap: Snapshot) -> Reply:
        days = _span(json_object(CODOON, request))
        sleeps = [r.body for day in days for r in CODOON_DATA.day_records("sleep", snap, day)]
        return json_reply(200, {"sleeps": sleeps})

    def body_log(self, request: Request, snap: Snapshot) -> Reply:
        days = _span(json_object(CODOON, request), default_end=local_day(snap.now, OFFSET))
        logs = [r.body for day in days for r in CODOON_DATA.day_records("body", snap, day)]
        return json_reply(200, {"logs": logs})

    def route_by_id(self, request: Request, snap: Snapshot) -> Reply:
        route_id = json_object(CODOON, request).get("route_id")
        if not isinstance(route_id, str) or not route_id:
            raise bad_request(CODOON, "invalid params: route_id is required")
        day = route_day(route_id)
        routes = [] if day is None else CODOON_DATA.day_records("route", snap, day)
        found = next((r for r in routes if r.record_id == route_id.lower()), None)
        if found is None:
            raise not_found(CODOON, "route not found")
        return json_reply(200, found.body)


def codoon_data_routes(ctx: DataContext) -> list[Route]:
    return CodoonApi(ctx).routes()
