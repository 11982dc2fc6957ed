"""Withings data routes of the sandbox, under /withings (the spec ``reference/specs/withings-openapi.yml``).

Every route takes its parameters in the query or as a form body (``GET`` or ``POST``), dispatches on ``action``
and answers HTTP 200 with Withings' envelope ``{"status": 0, "body": {...}}``; a refusal is HTTP 200 too, with its
status (401 an access token that is missing, invalid or expired; 214 a scope not granted; 601 over the rate
limit; 503 invalid params; 2554 an action that does not exist).
- ``/measure`` ``getmeas`` (``meastype``/``meastypes``, ``category``, ``startdate``/``enddate`` epoch seconds
  inclusive, or ``lastupdate``; ``offset``): ``{updatetime, timezone, measuregrps, more (0/1), offset}``, oldest
  first, ``PAGE`` groups a page; a group keeps only the requested types, and a group left without any is dropped.
- ``/v2/sleep`` ``getsummary`` (``startdateymd``/``enddateymd`` on the summary's ``date``, or ``lastupdate``;
  ``data_fields``; ``offset``): ``{series, more (bool), offset}``.
- ``/v2/heart`` ``list`` (``startdate``/``enddate``; ``offset``): ``{series, more (bool), offset}``.
- ``/notify`` ``subscribe`` / ``list`` / ``get`` / ``revoke`` with the user's token (``callbackurl``, ``appli``):
  the twin keeps each user's subscriptions (``subscriptions``; the grant's revocation ends them). Withings checks
  a callback URL with a ``HEAD`` before subscribing it; the twin checks only its shape (HTTP(S), at most 255
  characters).

Rate limit: 120 requests a minute for the whole application (vendors.md §3.2, Public API plan); no rate-limit
headers documented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from sandbox.context import DataContext
from sandbox.data import Record, Snapshot, days_ascending, local_day
from sandbox.data_guard import Guard, Refusal, bad_request, bounded_int
from sandbox.ratelimit import RateRule
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors.withings.data import WITHINGS_DATA
from sandbox.vendors.withings.oauth import WITHINGS, as_http_200, envelope
from sandbox.vendors.withings.subscriptions import change, reset_subscriptions, subscriptions

PAGE = 50
APPLIS = frozenset({1, 2, 4, 16, 44, 46, 50, 51, 52, 54, 55, 58})
QUIRKS: dict[str, int] = {}
RATE = RateRule(windows=(60,), defaults=(120,), key="client", headers=lambda usage: {})
MAX_EPOCH = 10**11


def _params(request: Request) -> dict[str, str]:
    return {**request.query, **request.form}


def _epoch_param(params: dict[str, str], name: str, default: int | None = None) -> int:
    value = bounded_int(WITHINGS, params.get(name), name, 0, MAX_EPOCH, default)
    return value


def _ok(body: dict[str, object]) -> Reply:
    return json_reply(200, envelope(0, body))


def _days(start: int, end: int, snap: Snapshot) -> Iterator[date]:
    offset = WITHINGS_DATA.offset(snap.user)
    first = max(local_day(datetime.fromtimestamp(start, UTC), offset), snap.member_since)
    last = min(local_day(datetime.fromtimestamp(end, UTC), offset), local_day(snap.now, offset))
    return days_ascending(first, last)


def _page(entries: list[dict[str, object]], params: dict[str, str]) -> tuple[list[dict[str, object]], bool, int]:
    offset = bounded_int(WITHINGS, params.get("offset"), "offset", 0, 10**9, 0)
    page = entries[offset : offset + PAGE]
    more = offset + PAGE < len(entries)
    return page, more, offset + len(page)


def _updated_after(record: Record, lastupdate: int) -> bool:
    modified = record.body.get("modified")
    return isinstance(modified, int) and modified > lastupdate


class WithingsApi:
    """The Withings data and notify endpoints (application-wide rate limit)."""

    def __init__(self, ctx: DataContext) -> None:
        self.ctx = ctx
        self.guard = Guard(WITHINGS, ctx, RATE.key)

    def routes(self) -> list[Route]:
        table: list[tuple[str, str, str, Callable[[Request, Snapshot], Reply]]] = [
            ("/measure", "measure", "user.metrics", self.measure),
            ("/v2/sleep", "sleep", "user.activity", self.sleep),
            ("/v2/heart", "heart", "user.metrics", self.heart),
            ("/notify", "notify", "user.info", self.notify),
        ]
        routes = []
        for path, endpoint, scope, handler in table:
            for method in ("GET", "POST"):
                route = self.guard.route(method, path, endpoint, scope, handler)
                routes.append(Route(method, path, endpoint, _enveloped(route.handler)))
        return routes

    # -- measure ---------------------------------------------------------------------------------------------------

    def measure(self, request: Request, snap: Snapshot) -> Reply:
        params = _params(request)
        if params.get("action") != "getmeas":
            return json_reply(200, envelope(2554, error="Not implemented"))
        types = self._meastypes(params)
        if params.get("category", "1") not in ("1", "2"):
            raise bad_request(WITHINGS, "category must be 1 or 2", "category")
        records = self._records("measure", snap, params)
        groups: list[dict[str, object]] = []
        if params.get("category", "1") == "1":
            for record in records:
                measures = [m for m in record.body["measures"] if types is None or m["type"] in types]
                if measures:
                    groups.append({**record.body, "measures": measures})
        page, more, offset = _page(groups, params)
        body: dict[str, object] = {
            "updatetime": str(int(snap.now.timestamp())),
            "timezone": WITHINGS_DATA.timezone(snap.user),
            "measuregrps": page,
            "more": 1 if more else 0,
            "offset": offset if more else 0,
        }
        return _ok(body)

    @staticmethod
    def _meastypes(params: dict[str, str]) -> set[int] | None:
        raw = params.get("meastypes") or params.get("meastype")
        if not raw:
            return None
        try:
            return {int(part) for part in raw.split(",")}
        except ValueError:
            raise bad_request(WITHINGS, "meastypes must be integers separated by commas", "meastypes") from None

    def _records(self, kind: str, snap: Snapshot, params: dict[str, str]) -> list[Record]:
        """The kind's records between ``startdate`` and ``enddate`` (inclusive), or updated after ``lastupdate``."""
        if params.get("lastupdate"):
            lastupdate = _epoch_param(params, "lastupdate")
            start, end = int(datetime.combine(snap.member_since, datetime.min.time(), UTC).timestamp()), lastupdate
            found = [
                r
                for day in _days(start, int(snap.now.timestamp()), snap)
                for r in WITHINGS_DATA.day_records(kind, snap, day)
            ]
            return [r for r in found if _updated_after(r, lastupdate)]
        start = _epoch_param(params, "startdate", 0)
        end = _epoch_param(params, "enddate", int(snap.now.timestamp()))
        if end < start:
            raise bad_request(WITHINGS, "enddate must not be before startdate", "enddate")
        return [
            r
            for day in _days(start, end, snap)
            for r in WITHINGS_DATA.day_records(kind, snap, day)
            if start <= int(r.start.timestamp()) <= end
        ]

    # -- sleep -----------------------------------------------------------------------------------------------------

    def sleep(self, request: Request, snap: Snapshot) -> Reply:
        params = _params(request)
        if params.get("action") != "getsummary":
            return json_reply(200, envelope(2554, error="Not implemented"))
        if params.get("lastupdate"):
            records = self._records("sleep", snap, params)
        else:
            first, last = self._ymd(params, "startdateymd"), self._ymd(params, "enddateymd")
            if last < first:
                raise bad_request(WITHINGS, "enddateymd must not be before startdateymd", "enddateymd")
            first = max(first, snap.member_since)
            records = [r for day in days_ascending(first, last) for r in WITHINGS_DATA.day_records("sleep", snap, day)]
        fields = {f for f in params.get("data_fields", "").split(",") if f}
        series = []
        for record in records:
            data = record.body["data"]
            kept = {key: value for key, value in data.items() if key in fields} if fields else {}
            series.append({**record.body, "data": kept})
        page, more, offset = _page(series, params)
        return _ok({"series": page, "more": more, "offset": offset if more else 0})

    @staticmethod
    def _ymd(params: dict[str, str], name: str) -> date:
        raw = params.get(name)
        if not raw:
            raise bad_request(WITHINGS, f"{name} is required", name)
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise bad_request(WITHINGS, f"{name} must be a Y-m-d date", name) from None

    # -- heart -----------------------------------------------------------------------------------------------------

    def heart(self, request: Request, snap: Snapshot) -> Reply:
        params = _params(request)
        if params.get("action") != "list":
            return json_reply(200, envelope(2554, error="Not implemented"))
        series = [record.body for record in self._records("heart", snap, params)]
        page, more, offset = _page(series, params)
        return _ok({"series": page, "more": more, "offset": offset if more else 0})

    # -- notify ----------------------------------------------------------------------------------------------------

    def notify(self, request: Request, snap: Snapshot) -> Reply:
        params = _params(request)
        action = params.get("action")
        if action == "list":
            profiles = [
                {"appli": appli, "callbackurl": url, "comment": ""} for url, appli in sorted(subscriptions(snap.user))
            ]
            return _ok({"profiles": profiles})
        if action not in ("subscribe", "get", "revoke"):
            return json_reply(200, envelope(2554, error="Not implemented"))
        url = params.get("callbackurl", "")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 255:
            raise bad_request(WITHINGS, "invalid callbackurl", "callbackurl")
        appli = bounded_int(WITHINGS, params.get("appli"), "appli", 0, 1000, 1)
        if appli not in APPLIS:
            raise bad_request(WITHINGS, "invalid appli", "appli")
        if not change(snap.user, action, url, appli):
            raise Refusal(json_reply(200, envelope(2554, error="Not implemented")))
        if action == "get":
            return _ok({"appli": appli, "callbackurl": url, "comment": ""})
        return _ok({})


def _enveloped(handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
    def serve(request: Request) -> Reply:
        return as_http_200(handler(request))

    return serve


def data_routes(ctx: DataContext) -> list[Route]:
    return WithingsApi(ctx).routes()


__all__ = ["QUIRKS", "RATE", "data_routes", "reset_subscriptions", "subscriptions"]
