"""Google Health API v4 data routes of the twin, under /google_health (discovery `users.dataTypes.dataPoints`).

- `GET /v4/users/{user}/dataTypes/{type}/dataPoints` (list) and `...:reconcile`: `filter` (AIP-160: clauses joined by
  `AND`, operators `>=` and `<`, quoted literals) on the field the document names for the type: sessions
  `exercise.interval.civil_start_time`, `sleep.interval.end_time` / `civil_end_time`; daily types `{type}.date`;
  samples `{type}.sample_time.physical_time` / `civil_time` (snake case); any other field -> 400 INVALID_ARGUMENT.
  Newest first; `pageSize` defaults to 1440 (25 for sleep and exercise), values above 10000 (25) are truncated;
  `pageToken` is the previous answer's `nextPageToken` (opaque; another filter -> 400). List answers
  `DataPoint`s, reconcile `ReconciledDataPoint`s (`dataPointName`, no `dataSource`).
- `POST .../dataPoints:dailyRollUp`: `range` (closed-open civil interval starting at midnight), `windowSizeDays`
  (the twin serves 1), `pageSize` (default and maximum 90; 14 for heart-rate), `pageToken`; a range over 90 days (14
  for heart-rate) -> 400. Answers the days that have data, oldest first.
- The twin serves steps, distance, active-energy-burned and heart-rate only as daily roll-ups, and the other types
  only as lists (Google also rolls those up and lists intraday points: not imitated).
- `{user}` is `me` or the token user's `healthUserId`, else 403. Rate limit: 300 requests a minute per user
  (reference/vendors-next.md §1.2: "300/min per user"), 429 RESOURCE_EXHAUSTED; Google documents no rate headers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from sandbox.context import DataContext
from sandbox.data import Record, Snapshot, days_ascending, local_day, local_naive
from sandbox.data_guard import Guard, Refusal, bad_request, json_object
from sandbox.ratelimit import RateRule, Usage
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors.google_health.data import DAILY, GOOGLE_HEALTH_DATA, ROLLUPS, SAMPLES
from sandbox.vendors.google_health.oauth import ACTIVITY, GOOGLE_HEALTH, METRICS, SLEEP, api_error

SCOPES = {
    "sleep": SLEEP,
    "exercise": ACTIVITY,
    "steps": ACTIVITY,
    "distance": ACTIVITY,
    "active-energy-burned": ACTIVITY,
    "daily-vo2-max": ACTIVITY,
    "heart-rate": METRICS,
    "daily-resting-heart-rate": METRICS,
    "daily-heart-rate-variability": METRICS,
    "daily-oxygen-saturation": METRICS,
    "daily-respiratory-rate": METRICS,
    "weight": METRICS,
    "body-fat": METRICS,
}
"""Data type -> the read scope its data needs (Google's data type groups; UNCONFIRMED per type)."""
SHORT_ROLLUPS = frozenset({"heart-rate"})  # 14 days a roll-up; 90 for the others
MAX_PAGE, MAX_SESSION_PAGE, DEFAULT_PAGE, SESSION_PAGE = 10_000, 25, 1440, 25
_CLAUSE = re.compile(r'\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\s*(>=|<)\s*"([^"]*)"\s*')
_CIVIL = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?")


def _no_headers(usage: Sequence[Usage]) -> dict[str, str]:
    return {}


RATE = RateRule(windows=(60,), defaults=(300,), key="user", headers=_no_headers)
Bound = tuple[str, datetime]  # ("civil" | "physical", the bound: naive local for civil, aware UTC for physical)


def _filter_fields(kind: str) -> dict[str, str]:
    """Filter field -> "civil", "physical" or "date", for one data type (discovery `list.filter`)."""
    snake = kind.replace("-", "_")
    if kind == "sleep":
        return {"sleep.interval.end_time": "physical", "sleep.interval.civil_end_time": "civil"}
    if kind == "exercise":
        return {"exercise.interval.civil_start_time": "civil"}
    if kind in DAILY:
        return {f"{snake}.date": "date"}
    if kind in SAMPLES:
        return {f"{snake}.sample_time.physical_time": "physical", f"{snake}.sample_time.civil_time": "civil"}
    return {f"{snake}.interval.start_time": "physical", f"{snake}.interval.civil_start_time": "civil"}


def _literal(raw: str, how: str) -> datetime:
    try:
        if how == "physical":
            value = datetime.fromisoformat(raw)
            if value.tzinfo is None:
                raise ValueError
            return value.astimezone(UTC)
        if _CIVIL.fullmatch(raw) and (how == "civil" or len(raw) == 10):
            return datetime.fromisoformat(raw)
    except ValueError:
        pass
    raise bad_request(GOOGLE_HEALTH, f"Invalid literal in filter: {raw}")


def parse_filter(kind: str, text: str) -> tuple[str, datetime | None, datetime | None]:
    """(how, lower bound, upper bound) of a filter on `kind`; 400 for any field, operator or literal not allowed."""
    fields = _filter_fields(kind)
    how: str | None = None
    low: datetime | None = None
    high: datetime | None = None
    for clause in text.split(" AND ") if text.strip() else []:
        found = _CLAUSE.fullmatch(clause)
        if found is None or found.group(1) not in fields:
            raise bad_request(GOOGLE_HEALTH, f"Invalid filter for data type {kind}: {clause.strip()[:80]}")
        field_how = fields[found.group(1)]
        if how is not None and field_how != how:
            raise bad_request(GOOGLE_HEALTH, "A filter must use one kind of time.")
        how = field_how
        value = _literal(found.group(3), field_how)
        if found.group(2) == ">=":
            low = value
        else:
            high = value
    return how or "none", low, high


def _when(kind: str, record: Record, how: str, offset: timedelta) -> datetime:
    """The record's time a filter compares: civil (naive local), or physical (UTC)."""
    if kind in DAILY:
        return datetime.combine(record.local_date, datetime.min.time())
    instant = record.end if kind == "sleep" and record.end is not None else record.start
    return instant.astimezone(UTC) if how == "physical" else local_naive(instant, offset)


class GoogleHealthApi:
    """The Google Health data endpoints (per-user rate limit)."""

    def __init__(self, ctx: DataContext) -> None:
        self.guard = Guard(GOOGLE_HEALTH, ctx, RATE.key)

    def routes(self) -> list[Route]:
        found = []
        for kind, scope in SCOPES.items():
            base = f"/v4/users/{{user}}/dataTypes/{kind}/dataPoints"
            if kind in ROLLUPS:
                found.append(self.guard.route("POST", base + ":dailyRollUp", "dailyRollUp", scope, self.rollup(kind)))
                continue
            found.append(self.guard.route("GET", base, "list", scope, self.points(kind, reconciled=False)))
            found.append(self.guard.route("GET", base + ":reconcile", "reconcile", scope, self.points(kind, True)))
        return found

    # -- list and reconcile -----------------------------------------------------------------------------------------

    def points(self, kind: str, reconciled: bool) -> Callable[[Request, Snapshot], Reply]:
        def handle(request: Request, snap: Snapshot) -> Reply:
            _check_user(request, snap)
            text = request.query.get("filter", "")
            how, low, high = parse_filter(kind, text)
            session = kind in ("sleep", "exercise")
            size = _page_size(request.query.get("pageSize"), SESSION_PAGE if session else DEFAULT_PAGE)
            size = min(size, MAX_SESSION_PAGE if session else MAX_PAGE)
            start = _token_offset(request.query.get("pageToken"), kind, text)
            chosen = _select(kind, snap, how, low, high)
            page = chosen[start : start + size]
            body: dict[str, object] = {"dataPoints": [_render(record.body, reconciled) for record in page]}
            if start + size < len(chosen):
                body["nextPageToken"] = _token(start + size, kind, text)
            return json_reply(200, body)

        return handle

    # -- daily roll-ups ---------------------------------------------------------------------------------------------

    def rollup(self, kind: str) -> Callable[[Request, Snapshot], Reply]:
        limit = 14 if kind in SHORT_ROLLUPS else 90

        def handle(request: Request, snap: Snapshot) -> Reply:
            _check_user(request, snap)
            body = json_object(GOOGLE_HEALTH, request)
            first, end = _range(body.get("range"))
            if (end - first).days > limit:
                raise bad_request(GOOGLE_HEALTH, f"The maximum range for {kind} is {limit} days.")
            if body.get("windowSizeDays", 1) != 1:
                raise bad_request(GOOGLE_HEALTH, "The sandbox rolls up one-day windows only.")
            size = _page_size(body.get("pageSize"), limit)
            size = min(size, limit)
            key = json.dumps(body.get("range"), sort_keys=True)
            start = _token_offset(body.get("pageToken"), kind, key)
            last = end - timedelta(days=1)
            days = list(days_ascending(first, last))
            records = [r for day in days for r in GOOGLE_HEALTH_DATA.day_records(kind, snap, day)]
            answer: dict[str, object] = {"rollupDataPoints": [r.body for r in records[start : start + size]]}
            if start + size < len(records):
                answer["nextPageToken"] = _token(start + size, kind, key)
            return json_reply(200, answer)

        return handle


def _select(kind: str, snap: Snapshot, how: str, low: datetime | None, high: datetime | None) -> list[Record]:
    """The records matching the filter, newest first."""
    offset = GOOGLE_HEALTH_DATA.offset(snap.user)
    today = local_day(snap.now, offset)
    first = snap.member_since if low is None else max(snap.member_since, low.date() - timedelta(days=2))
    last = today if high is None else min(today, high.date() + timedelta(days=2))
    found = []
    for day in days_ascending(first, last):
        for record in GOOGLE_HEALTH_DATA.day_records(kind, snap, day):
            at = _when(kind, record, how, offset)
            if (low is None or at >= low) and (high is None or at < high):
                found.append(record)
    found.sort(key=lambda record: record.key, reverse=True)
    return found


def _render(body: dict[str, object], reconciled: bool) -> dict[str, object]:
    if not reconciled:
        return body
    rendered = {key: value for key, value in body.items() if key not in ("name", "dataSource")}
    if "name" in body:
        rendered["dataPointName"] = body["name"]
    return rendered


def _range(raw: object) -> tuple[date, date]:
    """(first day, end day exclusive) of a `CivilTimeInterval` that starts and ends at midnight."""
    if not isinstance(raw, dict):
        raise bad_request(GOOGLE_HEALTH, "range is required.")
    days = []
    for key in ("start", "end"):
        point = raw.get(key)
        node = point.get("date") if isinstance(point, dict) else None
        time = point.get("time", {}) if isinstance(point, dict) else None
        if not isinstance(node, dict) or not isinstance(time, dict) or any(time.get(k) for k in time):
            raise bad_request(GOOGLE_HEALTH, f"range.{key} must be a civil date at midnight (window aligned).")
        try:
            days.append(date(int(node["year"]), int(node["month"]), int(node["day"])))
        except (KeyError, TypeError, ValueError):
            raise bad_request(GOOGLE_HEALTH, f"range.{key} is not a valid date.") from None
    if days[1] <= days[0]:
        raise bad_request(GOOGLE_HEALTH, "range.end must be after range.start.")
    return days[0], days[1]


def _page_size(raw: object, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise bad_request(GOOGLE_HEALTH, "pageSize must be an integer.") from None
    if value < 0:
        raise bad_request(GOOGLE_HEALTH, "pageSize must not be negative.")
    return value or default


def _token(offset: int, kind: str, key: str) -> str:
    digest = hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _token_offset(raw: object, kind: str, key: str) -> int:
    if raw in (None, ""):
        return 0
    try:
        text = base64.urlsafe_b64decode(str(raw) + "=" * (-len(str(raw)) % 4)).decode()
        offset, digest = text.split(":")
        if digest == hashlib.sha256(f"{kind}\0{key}".encode()).hexdigest()[:16]:
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise bad_request(
        GOOGLE_HEALTH, "Invalid page token: other request fields must be the same as in the first request."
    )


def _check_user(request: Request, snap: Snapshot) -> None:
    if request.params["user"] not in ("me", GOOGLE_HEALTH.user_id(snap.user)):
        raise Refusal(json_reply(403, api_error(403, "The caller does not have permission.")))


def data_routes(ctx: DataContext) -> list[Route]:
    return GoogleHealthApi(ctx).routes()
