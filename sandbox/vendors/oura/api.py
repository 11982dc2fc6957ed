"""Oura API v2 data routes of the sandbox, under /oura (paths as in the spec, host api.ouraring.com).

Documents ``GET /v2/usercollection/<type>`` take ``start_date`` and ``end_date`` (a date or a date-time: its date
counts; both included; defaults: end today, start the day before end) and ``next_token``, and answer
``{"data": [...], "next_token": str | null}`` oldest day first (a day's by id), ``PAGE_SIZE`` documents a page (quirk
``page_size``). ``next_token`` is an opaque cursor (base64url of the last day's ordinal and id). Single documents:
``/v2/usercollection/<type>/{document_id}`` (404 ``{"detail"}`` when unknown). Heart rate ``/heartrate`` takes
``start_datetime``/``end_datetime`` (ISO date-times; start included, end excluded) and pages its rows the same way
(``ROW_PAGE_SIZE``). ``/personal_info`` answers the user's one document. Scopes per route: ``daily`` for the
daily summaries, sleep periods, stress, resilience and VO2 max, ``spo2Daily``, ``heartrate``, ``workout``,
``session`` and ``personal`` (the spec names the scopes, not which route needs which: this is its best reading).

Rate limits (spec ``info.description``): per access token and per application, numbers unpublished; the twin
counts per user (the token layer) over 300 s with the community's 5000. A refusal is 429 with ``Retry-After`` and
``X-RateLimit-{Limit,Window,Reset,Tier}`` (Reset a Unix epoch); successful answers carry no rate headers. The
per-application layer (``AppLayer``) is off unless a test sets the quirk ``app_limit``.
Webhook subscriptions: ``webhooks``.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

from sandbox.context import DataContext
from sandbox.data import Record, Snapshot, days_ascending, rng
from sandbox.data_guard import DataHandler, Guard, bad_request, not_found
from sandbox.endpoints import error_reply
from sandbox.ratelimit import RateRule, Usage
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import OAuthError
from sandbox.vendors.oura.data import OURA_DATA
from sandbox.vendors.oura.oauth import OURA
from sandbox.vendors.oura.webhooks import webhook_routes

PAGE_SIZE = 25
ROW_PAGE_SIZE = 1000
# app_limit: requests per app_window seconds of all users together (the per-application layer; 0: off)
QUIRKS = {"page_size": PAGE_SIZE, "row_page_size": ROW_PAGE_SIZE, "app_limit": 0, "app_window": 300}
BASE = "/v2/usercollection"
DOCUMENTS: dict[str, tuple[str, str]] = {
    "daily_activity": ("daily_activity", "daily"),
    "daily_sleep": ("daily_sleep", "daily"),
    "sleep": ("sleep", "daily"),
    "daily_readiness": ("daily_readiness", "daily"),
    "daily_spo2": ("daily_spo2", "spo2Daily"),
    "daily_stress": ("daily_stress", "daily"),
    "daily_resilience": ("daily_resilience", "daily"),
    "workout": ("workout", "workout"),
    "session": ("session", "session"),
    "vO2_max": ("vo2_max", "daily"),
}
"""Route segment -> (the twin's kind, the scope it needs)."""


def rate_headers(usage: Sequence[Usage]) -> dict[str, str]:
    over = [u for u in usage if u.count > u.limit]
    if not over:
        return {}
    worst = max(over, key=lambda u: u.reset)
    return {
        "Retry-After": str(max(1, math.ceil(worst.reset))),
        "X-RateLimit-Limit": str(worst.limit),
        "X-RateLimit-Window": str(worst.window),
        "X-RateLimit-Reset": str(int(time.time() + worst.reset)),
        "X-RateLimit-Tier": "token",
    }


RATE = RateRule(windows=(300,), defaults=(5000,), key="user", headers=rate_headers)


def _token(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).rstrip(b"=").decode()


def _cursor(raw: str | None) -> tuple[int, str] | None:
    if not raw:
        return None
    try:
        ordinal, record_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split(":", 1)
        return int(ordinal), record_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request(OURA, "next_token is invalid", "next_token") from None


def _date(params: dict[str, str], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        raise bad_request(OURA, f"{name} must be a date or a date-time", name) from None


def _instant(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(OURA, f"{name} must be a date-time", name) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class AppLayer:
    """The per-application layer (spec ``info.description``: "caps the aggregate traffic across all of an
    application's end-user tokens"): a fixed window over every user's requests, off unless the quirk
    ``app_limit`` sets one; a refusal is 429 with ``Retry-After`` and ``X-RateLimit-Tier: application``."""

    def __init__(self, ctx: DataContext) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()
        self.window: tuple[int, int] = (0, 0)  # (window index, requests in it)
        self.refused = 0

    def wrap(self, handler: DataHandler) -> DataHandler:
        def serve(request: Request, snap: Snapshot) -> Reply:
            refusal = self.admit()
            return refusal if refusal is not None else handler(request, snap)

        return serve

    def admit(self) -> Reply | None:
        quirks = self.ctx.quirks.get("oura", {})
        limit, length = quirks.get("app_limit", 0), max(1, quirks.get("app_window", QUIRKS["app_window"]))
        if limit <= 0:
            return None
        now = time.time()
        with self.lock:
            index = int(now // length)
            count = self.window[1] + 1 if self.window[0] == index else 1
            self.window = (index, count)
            if count <= limit:
                return None
            self.refused += 1
        reset = (index + 1) * length - now
        headers = {
            "Retry-After": str(max(1, math.ceil(reset))),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Window": str(length),
            "X-RateLimit-Reset": str(int(now + reset)),
            "X-RateLimit-Tier": "application",
        }
        return error_reply(OURA, OAuthError("rate_limited", "Too many requests."), headers)


class OuraApi:
    def __init__(self, ctx: DataContext) -> None:
        self.ctx = ctx
        self.app_layer = AppLayer(ctx)
        self.guard = Guard(OURA, ctx, RATE.key)

    def routes(self) -> list[Route]:
        routes = []
        for segment, (kind, scope) in DOCUMENTS.items():
            documents, one = self.app_layer.wrap(self.documents(kind)), self.app_layer.wrap(self.one(kind))
            routes.append(self.guard.route("GET", f"{BASE}/{segment}", kind, scope, documents))
            routes.append(self.guard.route("GET", f"{BASE}/{segment}/{{document_id}}", f"{kind}_by_id", scope, one))
        heartrate, personal = self.app_layer.wrap(self.heartrate), self.app_layer.wrap(self.personal)
        routes.append(self.guard.route("GET", f"{BASE}/heartrate", "heartrate", "heartrate", heartrate))
        routes.append(self.guard.route("GET", f"{BASE}/personal_info", "personal_info", "personal", personal))
        return routes + webhook_routes(self.ctx)

    def _quirk(self, name: str) -> int:
        return max(1, self.ctx.quirks.get("oura", {}).get(name, QUIRKS[name]))

    def documents(self, kind: str) -> DataHandler:
        def handle(request: Request, snap: Snapshot) -> Reply:
            today = snap.now.astimezone(UTC).date()
            end = _date(request.query, "end_date") or today
            start = _date(request.query, "start_date") or date.fromordinal(end.toordinal() - 1)
            if start > end:
                raise bad_request(OURA, "start_date must not be after end_date", "start_date")
            after = _cursor(request.query.get("next_token"))

            def found() -> Iterator[Record]:
                for day in days_ascending(max(start, snap.member_since), min(end, today)):
                    for record in sorted(OURA_DATA.day_records(kind, snap, day), key=lambda r: str(r.record_id)):
                        key = (day.toordinal(), str(record.record_id))
                        if after is None or key > after:
                            yield record

            return self._page(found(), self._quirk("page_size"), lambda r: r.body)

        return handle

    def _page(self, items: Iterator[Record], size: int, body: object) -> Reply:
        page: list[Record] = []
        more = False
        for record in items:
            if len(page) == size:
                more = True
                break
            page.append(record)
        last = page[-1] if page else None
        token = _token((last.local_date.toordinal(), str(last.record_id))) if more and last else None
        return json_reply(200, {"data": [record.body for record in page], "next_token": token})

    def one(self, kind: str) -> DataHandler:
        def handle(request: Request, snap: Snapshot) -> Reply:
            record = OURA_DATA.find(kind, snap, request.params["document_id"])
            if record is None:
                raise not_found(OURA, "Document not found.")
            return json_reply(200, record.body)

        return handle

    def heartrate(self, request: Request, snap: Snapshot) -> Reply:
        start = _instant(request.query, "start_datetime") or snap.now.replace(hour=0, minute=0, second=0)
        end = _instant(request.query, "end_datetime") or snap.now
        if start >= end:
            raise bad_request(OURA, "start_datetime must be before end_datetime", "start_datetime")
        after = _cursor(request.query.get("next_token"))
        rows = []
        for day in days_ascending(max(start.astimezone(UTC).date(), snap.member_since), end.astimezone(UTC).date()):
            for record in OURA_DATA.day_records("heartrate", snap, day):
                for row in record.body["data"]:
                    at = int(row["timestamp_unix"])
                    if start.timestamp() <= at < end.timestamp() and (after is None or (at, "") > after):
                        rows.append((at, row))
        size = self._quirk("row_page_size")
        page, more = rows[:size], len(rows) > size
        token = _token((page[-1][0], "")) if more else None
        return json_reply(200, {"data": [row for _, row in page], "next_token": token})

    def personal(self, request: Request, snap: Snapshot) -> Reply:
        r = rng("oura", snap.user, "personal")
        return json_reply(
            200,
            {
                "id": OURA.user_id(snap.user),
                "age": r.randint(20, 70),
                "weight": round(r.uniform(50, 110), 1),
                "height": round(r.uniform(1.55, 1.98), 2),
                "biological_sex": r.choice(("female", "male")),
                "email": f"{snap.user}@example.com",
            },
        )


def data_routes(ctx: DataContext) -> list[Route]:
    return OuraApi(ctx).routes()
