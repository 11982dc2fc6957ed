"""WHOOP v2 data routes of the sandbox, under /whoop/developer (as in WHOOP's OpenAPI 2.0.0).

Collections `GET /v2/cycle`, `/v2/recovery`, `/v2/activity/sleep`, `/v2/activity/workout` take `start`
(ISO date-time with offset, inclusive), `end` (exclusive, default now), `limit` (1-25, default 10) and
`nextToken`, and answer `{"records": [...], "next_token": "..."}`, newest start first, `next_token` absent
on the last page. A record is returned when its span meets [start, end): it started before `end` and ended
(or, for the ongoing cycle, is still running) after `start`, so neighbouring windows can share a boundary
record. Tokens are base64url("<start ms>:<id>[:n]"), a keyset cursor that stays valid while records change.
Single records: `/v2/cycle/{cycleId}`, `/v2/cycle/{cycleId}/recovery`, `/v2/cycle/{cycleId}/sleep`,
`/v2/activity/sleep/{sleepId}`, `/v2/activity/workout/{workoutId}` (404 when unknown); and
`/v2/user/measurement/body`. Bad parameters -> 400 `invalid_request`.

Rate limits (https://developer.whoop.com/docs/developing/rate-limiting): per client (all users together), 100
requests a minute and 10,000 a day. Every answer carries `X-RateLimit-Limit` ("100, 100;window=60,
10000;window=86400": first the limit of the window closest to being hit), `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (seconds until that window resets). No `Retry-After`: WHOOP does not document one.

Quirk for tests: with `data_quirks["whoop"]["empty_page_every"] = N`, every Nth collection page that would
hold records comes back empty but with a `next_token` (that resumes where the empty page should have).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sandbox.context import DataContext
from sandbox.data import Record, RecordId, Snapshot, epoch_ms, newest_first, rng
from sandbox.data_guard import DataHandler, Guard, bad_request, bounded_int, not_found
from sandbox.ratelimit import RateRule, Usage
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors.whoop.data import WHOOP_DATA
from sandbox.vendors.whoop.oauth import WHOOP

MAX_LIMIT = 25
DEFAULT_LIMIT = 10
QUIRKS = {"empty_page_every": 0}


def rate_headers(usage: Sequence[Usage]) -> dict[str, str]:
    closest = min(usage, key=lambda u: u.remaining)
    windows = ", ".join(f"{u.limit};window={u.window}" for u in usage)
    return {
        "X-RateLimit-Limit": f"{closest.limit}, {windows}",
        "X-RateLimit-Remaining": str(closest.remaining),
        "X-RateLimit-Reset": str(math.ceil(closest.reset)),
    }


RATE = RateRule(windows=(60, 86_400), defaults=(100, 10_000), key="client", headers=rate_headers)


@dataclass(frozen=True)
class _Query:
    low: datetime | None
    high: datetime
    limit: int
    before: tuple[int, str] | None


def encode_token(key: tuple[int, str], nonce: int | None = None) -> str:
    text = f"{key[0]}:{key[1]}" + ("" if nonce is None else f":{nonce}")
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_token(token: str) -> tuple[int, str] | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        millis, record_id = text.split(":")[:2]
        return int(millis), record_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _instant(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(WHOOP, f"{name} must be an ISO 8601 date-time") from None
    if value.tzinfo is None or "T" not in raw:
        raise bad_request(WHOOP, f"{name} must be a date-time with a time zone offset")
    return value


def _query(params: dict[str, str], snap: Snapshot) -> _Query:
    limit = bounded_int(WHOOP, params.get("limit"), "limit", 1, MAX_LIMIT, DEFAULT_LIMIT)
    low = _instant(params, "start")
    high = _instant(params, "end") or snap.now
    if low is not None and low >= high:
        raise bad_request(WHOOP, "start must be before end")
    before = None
    if params.get("nextToken"):
        before = decode_token(params["nextToken"])
        if before is None:
            raise bad_request(WHOOP, "nextToken is invalid")
    return _Query(low, high, limit, before)


class WhoopApi:
    """The WHOOP data endpoints (client-wide rate limit)."""

    def __init__(self, ctx: DataContext) -> None:
        self.ctx = ctx
        self.guard = Guard(WHOOP, ctx, RATE.key)

    def routes(self) -> list[Route]:
        v2 = "/developer/v2"
        table: list[tuple[str, str, str, DataHandler]] = [
            (f"{v2}/cycle", "cycle", "read:cycles", self.collection("cycle")),
            (f"{v2}/cycle/{{cycleId}}", "cycle_by_id", "read:cycles", self.by_cycle("cycle")),
            (f"{v2}/cycle/{{cycleId}}/recovery", "cycle_recovery", "read:recovery", self.by_cycle("recovery")),
            (f"{v2}/cycle/{{cycleId}}/sleep", "cycle_sleep", "read:sleep", self.cycle_sleep),
            (f"{v2}/recovery", "recovery", "read:recovery", self.collection("recovery")),
            (f"{v2}/activity/sleep", "sleep", "read:sleep", self.collection("sleep")),
            (f"{v2}/activity/sleep/{{sleepId}}", "sleep_by_id", "read:sleep", self.by_uuid("sleep", "sleepId")),
            (f"{v2}/activity/workout", "workout", "read:workout", self.collection("workout")),
            (
                f"{v2}/activity/workout/{{workoutId}}",
                "workout_by_id",
                "read:workout",
                self.by_uuid("workout", "workoutId"),
            ),
            (f"{v2}/user/measurement/body", "body", "read:body_measurement", self.body),
        ]
        return [self.guard.route("GET", path, endpoint, scope, handler) for path, endpoint, scope, handler in table]

    # -- collections -------------------------------------------------------------------------------------------

    def collection(self, kind: str) -> DataHandler:
        def handle(request: Request, snap: Snapshot) -> Reply:
            return json_reply(200, self._page(kind, snap, _query(request.query, snap)))

        return handle

    def _page(self, kind: str, snap: Snapshot, query: _Query) -> dict[str, object]:
        newest = newest_first(WHOOP_DATA, kind, snap, query.low, query.high, query.before)
        found = list(islice(newest, query.limit + 1))
        page = found[: query.limit]
        if page and self._empty_page_due():
            resume = query.before or (epoch_ms(query.high) + 1, "")
            return {"records": [], "next_token": encode_token(resume, self.ctx.state.next_page("whoop-empty"))}
        body: dict[str, object] = {"records": [record.body for record in page]}
        if len(found) > query.limit:
            body["next_token"] = encode_token(page[-1].key)
        return body

    def _empty_page_due(self) -> bool:
        every = self.ctx.quirks.get("whoop", {}).get("empty_page_every", 0)
        return every > 0 and self.ctx.state.next_page("whoop") % every == 0

    # -- single records ----------------------------------------------------------------------------------------

    def by_cycle(self, kind: str) -> DataHandler:
        def handle(request: Request, snap: Snapshot) -> Reply:
            return json_reply(200, self._find(kind, snap, _cycle_id(request)).body)

        return handle

    def cycle_sleep(self, request: Request, snap: Snapshot) -> Reply:
        cycle = self._find("cycle", snap, _cycle_id(request))
        sleeps = WHOOP_DATA.day_records("sleep", snap, cycle.local_date)
        main = next((record for record in sleeps if record.body.get("nap") is False), None)
        if main is None:
            raise not_found(WHOOP, "No sleep found for this cycle.")
        return json_reply(200, main.body)

    def by_uuid(self, kind: str, param: str) -> DataHandler:
        def handle(request: Request, snap: Snapshot) -> Reply:
            return json_reply(200, self._find(kind, snap, request.params[param].lower()).body)

        return handle

    def _find(self, kind: str, snap: Snapshot, record_id: RecordId) -> Record:
        record = WHOOP_DATA.find(kind, snap, record_id)
        if record is None:
            raise not_found(WHOOP, f"No {kind} found with this id.")
        return record

    def body(self, request: Request, snap: Snapshot) -> Reply:
        r = rng("whoop", snap.user, "body")
        return json_reply(
            200,
            {
                "height_meter": round(r.uniform(1.55, 1.98), 4),
                "weight_kilogram": round(r.uniform(50, 110), 4),
                "max_heart_rate": r.randint(178, 205),
            },
        )


def _cycle_id(request: Request) -> int:
    raw = request.params["cycleId"]
    if not raw.isdigit() or len(raw) > 18:
        raise bad_request(WHOOP, "cycleId must be an int64")
    return int(raw)


def data_routes(ctx: DataContext) -> list[Route]:
    return WhoopApi(ctx).routes()
