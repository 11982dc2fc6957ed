"""Codoon OpenAPI data methods of the sandbox, under /codoon/api, as Codoon's own document gives them
(`/work/shared/reference/specs/codoon-openapi.md`, "API详细说明"): `POST /api/<method>` with a Bearer token and a
JSON object body; answers in the document's envelope, method by method:

- get_tracker_summary {date_end, days_back (1..30)} -> {"status": "OK", "data": [summary...], "description": ""}:
  one summary {status, calories, meters, activity, steps, minutes} per day, with no date of its own. The rule
  (ours: the document is silent): exactly `days_back` entries, oldest first, the last one is `date_end`; days
  without data (before the user's history, or not begun yet at +08:00) are zeros with status "null".
- get_tracker_data {the_day} -> {"status": true, "data": {meters, sports_duration, steps, calories,
  sports_complete}}: 72 20-minute slots per array.
- api_tracker_oneday {the_day} -> the same with 144 10-minute slots.
- get_sleep_data {the_day} -> {"status": "OK", "data": {deep_minutes, sleep_complete, total_minutes,
  light_minutes, detail}, "description": ""}: the night ending on the day (zeros and -1s when there is none).
- get_body_log {} -> {"status": "OK", "data": [[date "2012-3-07", weight, height, body fat %, goal weight]...]}:
  the whole history, oldest first, null where absent.
- get_route_by_id {route_id} -> {"status": "OK", "data": {route}, "description": ""}.
Scopes: get_body_log `user`, the others `sports`. Dates are accepted zero-padded or not ("2012-3-07", as the
document writes them). Refusals (the document gives codes, not bodies): bad parameters -> 400
{"status": "Error", "error_code": 2001, "error": "invalid_request", "description"}; an unknown route -> 404 with
the same body (the document names no code for it). Token and scope refusals are `sandbox.data_guard`'s.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from sandbox.context import DataContext
from sandbox.data import Snapshot, days_ascending, local_day
from sandbox.data_guard import DataHandler, Guard, Refusal, json_object
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors.codoon.data import CODOON_DATA, OFFSET, route_day
from sandbox.vendors.codoon.oauth import CODOON

MAX_DAYS = 30
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def refusal(status: int, description: str) -> Refusal:
    """Codoon's 2001 invalid_request ("参数缺失,参数错误")."""
    body = {"status": "Error", "error_code": 2001, "error": "invalid_request", "description": description}
    return Refusal(json_reply(status, body))


def _body(request: Request) -> dict[str, object]:
    try:
        return json_object(CODOON, request)
    except Refusal:
        raise refusal(400, "invalid params: the body must be a JSON object") from None


def _day(body: dict[str, object], name: str) -> date:
    raw = body.get(name)
    found = _DATE.fullmatch(raw) if isinstance(raw, str) else None
    if found is not None:
        try:
            return date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            pass
    raise refusal(400, f"invalid params: {name} must be a date like 2012-03-07")


def envelope(data: object, status: object = "OK", description: bool = True) -> Reply:
    body: dict[str, object] = {"status": status, "data": data}
    if description:
        body["description"] = ""
    return json_reply(200, body)


def ten_minutes(detail: dict[str, object]) -> dict[str, object]:
    """The 20-minute arrays split into 10-minute ones (api_tracker_oneday)."""
    halves: dict[str, object] = dict(detail)
    for key in ("meters", "steps", "calories"):
        values = detail[key]
        assert isinstance(values, list)
        halved: list[object] = []
        for value in values:
            first = value // 2 if isinstance(value, int) else round(value / 2, 1)
            halved += [first, round(value - first, 1) if isinstance(value, float) else value - first]
        halves[key] = halved
    return halves


class CodoonApi:
    """The Codoon data methods (no published rate limit)."""

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
        body = _body(request)
        end = _day(body, "date_end")
        raw = body.get("days_back")
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise refusal(400, "invalid params: days_back must be an integer")
        days_back = int(raw)
        if not 1 <= days_back <= MAX_DAYS:
            raise refusal(400, f"invalid params: days_back must be between 1 and {MAX_DAYS}")
        days = days_ascending(end - timedelta(days=days_back - 1), end)
        return envelope([CODOON_DATA.tracker_summary(snap, day) for day in days])

    def tracker_data(self, request: Request, snap: Snapshot) -> Reply:
        day = _day(_body(request), "the_day")
        return envelope(CODOON_DATA.tracker_detail(snap, day), status=True, description=False)

    def tracker_oneday(self, request: Request, snap: Snapshot) -> Reply:
        day = _day(_body(request), "the_day")
        return envelope(ten_minutes(CODOON_DATA.tracker_detail(snap, day)), status=True, description=False)

    def sleep_data(self, request: Request, snap: Snapshot) -> Reply:
        return envelope(CODOON_DATA.sleep_night(snap, _day(_body(request), "the_day")))

    def body_log(self, request: Request, snap: Snapshot) -> Reply:
        _body(request)
        today = local_day(snap.now, OFFSET)
        days = days_ascending(snap.member_since, today)
        return envelope([r.body for day in days for r in CODOON_DATA.day_records("body", snap, day)], description=False)

    def route_by_id(self, request: Request, snap: Snapshot) -> Reply:
        route_id = _body(request).get("route_id")
        if not isinstance(route_id, str) or not route_id:
            raise refusal(400, "invalid params: route_id is required")
        day = route_day(route_id)
        routes = [] if day is None else CODOON_DATA.day_records("route", snap, day)
        found = next((r for r in routes if r.record_id == route_id.lower()), None)
        if found is None:
            raise refusal(404, "route not found")
        return envelope(found.body)


def data_routes(ctx: DataContext) -> list[Route]:
    return CodoonApi(ctx).routes()
