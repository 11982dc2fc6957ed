"""The `Sandbox`: one loopback HTTP server imitating every vendor that has a twin (`sandbox/vendors/<name>/`):
its OAuth 2.0 side and its data endpoints (deterministic synthetic data over years, see
`sandbox.data_endpoints`).

Tests, benchmarks and the demo start it in-process (`with Sandbox() as sb:`), point the app at it with
`sb.settings_env()`, and steer or observe it through the methods below: seed grants, inject faults,
expire or revoke tokens, count refreshes, and scan logs for `sb.issued_secrets()`; on the data side revise
or delete records, compare with `expected_records`, set rate limits and read their usage. All state sits
behind one lock, so the API may be used from any thread while the server answers requests.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from types import TracebackType
from typing import Self

from sandbox.context import AuthorizeMode, EndpointContext
from sandbox.data import RecordId
from sandbox.data_endpoints import DataService, ExpectedRecord
from sandbox.endpoints import error_reply, rate_limited_reply
from sandbox.faults import Chaos, Fault, FaultBook, fault_kind
from sandbox.oauth import GrantStatus, OAuthStore
from sandbox.ratelimit import LimitSetting
from sandbox.server import LoopbackServer, Reply, Request, Route, RouteMatch, Router
from sandbox.vendors import OAuthError, Vendor, parse_scope, twins, vendor_named

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RecordedRequest:
    """A request to a vendor endpoint. `status` is None while unanswered or when no response was sent."""

    vendor: str
    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes
    status: int | None
    at: float


class _RequestLog:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._entries: list[RecordedRequest] = []

    def open(self, vendor: str, endpoint: str, request: Request, at: float) -> int:
        entry = RecordedRequest(
            vendor,
            endpoint,
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            dict(request.form),
            request.body,
            None,
            at,
        )
        with self._lock:
            self._entries.append(entry)
            return len(self._entries) - 1

    def close(self, index: int, reply: Reply | None) -> None:
        with self._lock:
            status = None if reply is None else reply.status
            self._entries[index] = replace(self._entries[index], status=status)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def select(self, vendor: str | None, endpoint: str | None) -> list[RecordedRequest]:
        with self._lock:
            return [e for e in self._entries if vendor in (None, e.vendor) and endpoint in (None, e.endpoint)]


class Sandbox:
    """The vendors' OAuth and data servers, imitated on http://127.0.0.1:<port>/<name>/... (one per twin).

    `clock` (monotonic seconds) drives code expiry, access-token expiry and replay windows; tests
    may pass a fake one. It also moves the data clock (`data_now`, which starts at the real time), and with
    it the vendors' "today" and the rate-limit windows. `port` 0 picks an ephemeral port.

    `rate_limits[vendor]` (None: off, the default) takes one limit per window of the twin's `RateRule` (for
    the whole client or per user, as the rule says); `rate_windows[vendor]` their window lengths in seconds
    (tests may shorten them); `data_quirks[vendor]` the twin's test switches (see its `api` module).
    """

    def __init__(self, latency: float = 0.0, *, port: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._port = port
        self._default_latency = latency
        self._latency: dict[str | None, float] = {None: latency}
        vendors = {name: twin.vendor for name, twin in twins().items()}
        self._vendors = vendors
        self.clients: dict[str, tuple[str, str]] = {
            name: (vendor.default_client_id, f"{name}-secret-{secrets.token_urlsafe(32)}")
            for name, vendor in vendors.items()
        }
        self._client_secrets = {secret for _, secret in self.clients.values()}
        self.access_token_ttl: dict[str, int] = {name: vendor.access_ttl for name, vendor in vendors.items()}
        self.authorize_mode: dict[str, AuthorizeMode] = dict.fromkeys(vendors, "consent")
        self._store = OAuthStore(vendors, self.access_token_ttl, self._lock, clock)
        self._faults = FaultBook(self._lock)
        self._log = _RequestLog(self._lock)
        self.context = EndpointContext(self._store, self.clients, self.authorize_mode)
        self._router = Router()
        for name, twin in twins().items():
            for route in twin.oauth_routes(self.context):
                self._router.add(name, route)
        self._data = DataService(self._lock, clock, self.context, self._store)
        self.rate_limits: dict[str, LimitSetting] = self._data.rate_limits
        self.rate_windows: dict[str, tuple[int, ...]] = self._data.limiter.windows
        self.data_quirks: dict[str, dict[str, int]] = self._data.quirks
        for name, routes in self._data.routes().items():
            for route in routes:
                self._router.add(name, route)
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._stopping.clear()
        self._server = LoopbackServer((HOST, self._port), self._dispatch)
        self._thread = threading.Thread(target=self._server.serve, name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still waiting on latency or a timeout fault are dropped unanswered."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.stop_serving()
        if thread is not None:
            thread.join()
        server.server_close()
        server.cut_connections()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"http://{HOST}:{self._server.server_port}"

    @staticmethod
    def twin_names() -> tuple[str, ...]:
        """The vendors this sandbox imitates (one twin package each), in name order."""
        return tuple(twins())

    def settings_env(self) -> dict[str, str]:
        """App settings ({NAME}_CLIENT_ID, _TOKEN_URL, ... per twin) that point our function app here."""
        env: dict[str, str] = {}
        for name, vendor in self._vendors.items():
            client_id, secret = self.clients[name]
            env.update(vendor.settings(self.base_url, client_id, secret))
        return env

    def reset(self) -> None:
        """Back to a fresh sandbox between tests: no grants, codes, faults, counters or recorded requests;
        default latency, TTLs and authorize modes; no revisions, deletions, rate limits, quirks or usage, and
        the data clock at real time. Client credentials and the URL stay; every secret issued so far stays
        in `issued_secrets()`."""
        with self._lock:
            self._store.reset()
            self._faults.clear()
            self._log.clear()
            self._latency.clear()
            self._latency[None] = self._default_latency
            self.access_token_ttl.update({name: vendor.access_ttl for name, vendor in self._vendors.items()})
            self.authorize_mode.update(dict.fromkeys(self._vendors, "consent"))
            self._data.reset()

    def add_route(self, vendor: str, route: Route) -> None:
        """Extra route for `vendor` (path relative to /{vendor}); the server picks it up at once."""
        with self._lock:
            self._router.add(vendor_named(vendor).name, route)

    # -- steering ------------------------------------------------------------------------------------------

    def set_latency(self, vendor: str | None, seconds: float) -> None:
        """Delay added to every response of `vendor`, or of all vendors (their default) when None."""
        with self._lock:
            self._latency[None if vendor is None else vendor_named(vendor).name] = seconds

    def inject(self, vendor: str, kind: str, times: int = 1, endpoint: str = "token", **opts: float) -> None:
        """Queue `times` faults of `kind` for the next requests to the vendor's `endpoint`.

        Kinds and their options are described in sandbox.faults; endpoints are the route names: "token",
        "authorize", and whatever else the twin serves (a ValueError lists them), e.g. "revoke", "profile"
        and the data routes of its `api` module.
        """
        name = vendor_named(vendor).name
        with self._lock:
            known = self._router.endpoints(name)
        if endpoint not in known:
            raise ValueError(f"{name} has no endpoint {endpoint!r}; known: {sorted(known)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._faults.add(name, endpoint, Fault(fault_kind(kind), dict(opts)), times)

    def chaos(
        self,
        vendor: str,
        rate: float,
        kinds: Iterable[str],
        endpoint: str = "token",
        seed: int | None = None,
        **opts: float,
    ) -> None:
        """From now on, each request to the vendor's `endpoint` fails with probability `rate` (0 turns it off),
        with one of `kinds` chosen at random; `inject`ed faults still come first."""
        faults = tuple(Fault(fault_kind(kind), dict(opts)) for kind in kinds)
        chaos = Chaos(rate, faults, random.Random(seed)) if rate > 0 and faults else None
        self._faults.set_chaos(vendor_named(vendor).name, endpoint, chaos)

    def clear_faults(self) -> None:
        self._faults.clear()

    def issue_code(
        self,
        vendor: str,
        user: str,
        scope: str | Iterable[str] | None = None,
        redirect_uri: str | None = None,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> str:
        """An authorization code as the consent page would issue it (single use, valid 10 minutes).

        `redirect_uri` defaults to our app's callback, http://localhost:7071/api/callback/{vendor}.
        """
        profile = vendor_named(vendor)
        if code_challenge is not None:
            if not profile.supports_pkce:
                raise ValueError(f"{profile.name} does not support PKCE")
            if code_challenge_method not in (None, "S256"):
                raise ValueError("only code_challenge_method S256 is supported")
        uri = redirect_uri or f"http://localhost:7071/api/callback/{profile.name}"
        return self._store.issue_code(profile.name, user, _scope(profile, scope), uri, code_challenge)

    def grant(self, vendor: str, user: str, scope: str | Iterable[str] | None = None) -> dict[str, object]:
        """Seed a fresh grant (replacing the user's previous one); return the token response body."""
        profile = vendor_named(vendor)
        return profile.token_body(self._store.seed_grant(profile.name, user, _scope(profile, scope)))

    def expire_access_tokens(self, vendor: str, user: str | None = None) -> None:
        self._store.expire_access_tokens(vendor_named(vendor).name, user)

    def revoke_grant(self, vendor: str, user: str) -> bool:
        """The user revoked access at the vendor: every token dies, refresh gets invalid_grant."""
        return self._store.revoke_user(vendor_named(vendor).name, user)

    # -- data ----------------------------------------------------------------------------------------------

    def data_now(self) -> datetime:
        """The vendors' current time (UTC): real time when the sandbox started, advanced by `clock`."""
        return self._data.state.now()

    def set_data_now(self, when: datetime) -> None:
        """Move the vendors' current time (aware datetime); it keeps advancing with `clock` from there."""
        self._data.state.set_now(when)

    def set_member_since(self, vendor: str, user: str, day: date) -> None:
        """First day of the user's history at the vendor (default 2016-01-01)."""
        self._data.state.set_member_since(vendor_named(vendor).name, user, day)

    def timezone_offset(self, vendor: str, user: str) -> str:
        """The user's fixed UTC offset at the vendor, like "-05:00" (some twins give every user one zone)."""
        return self._data.timezone_offset(vendor, user)

    def revise(self, vendor: str, data_type: str, user: str, day: date) -> int:
        """The vendor changed the user's `data_type` record(s) of local `day`: their values come back changed
        (a pending score becomes final, a sleep gets longer, ...) with a new modification time where the
        vendor has one. Returns how often that day was revised."""
        return self._data.revise(vendor, data_type, user, day)

    def delete_record(
        self, vendor: str, data_type: str, user: str, day: date, record_id: RecordId | None = None
    ) -> list[RecordId]:
        """Delete one record (or all of `data_type` on `day`): gone from collections, 404 by id."""
        return self._data.delete_record(vendor, data_type, user, day, record_id)

    def expected_records(
        self, vendor: str, data_type: str, user: str, start: date | datetime, end: date | datetime
    ) -> list[ExpectedRecord]:
        """(record id, local day) of every record that exists now: local days in [start, end] for dates, or
        spans meeting [start, end) for datetimes (a filter by instants). Ids as the vendor sends them."""
        return self._data.expected_records(vendor, data_type, user, start, end)

    def max_window_usage(self, vendor: str, window: int | None = None, user: str | None = None) -> int:
        """Most data requests seen in one rate-limit window (default: the twin's shortest; for the whole client
        or, for a per-user rule, any user's or `user`'s), whether or not limits are on."""
        return self._data.max_window_usage(vendor, window, user)

    def limit_exceeded(self, vendor: str) -> int:
        """How many 429s the vendor's rate limit has served (injected `rate_limited` faults not counted)."""
        return self._data.limit_exceeded(vendor)

    # -- observation ---------------------------------------------------------------------------------------

    def check_bearer(self, vendor: str, authorization_header: str | None) -> str | None:
        """The user of a valid, unexpired Bearer token (marking it used), else None."""
        return self._store.check_bearer(vendor_named(vendor).name, authorization_header).user

    def vendor_user_id(self, vendor: str, user: str) -> str:
        return vendor_named(vendor).user_id(user)

    def revoked(self, vendor: str, user: str) -> bool:
        return self.grant_status(vendor, user) == "revoked"

    def grant_status(self, vendor: str, user: str) -> GrantStatus | None:
        """active | revoked | killed (refresh token reuse) | superseded | None (never granted)."""
        return self._store.grant_status(vendor_named(vendor).name, user)

    def refresh_count(self, vendor: str | None = None, user: str | None = None) -> int:
        """Successful refresh_token grants (identical-request replays excluded)."""
        return self._store.refresh_count(_optional_name(vendor), user)

    def replay_count(self, vendor: str | None = None, user: str | None = None) -> int:
        """Identical-request replays answered with the same pair (vendors with a replay window)."""
        return self._store.replay_count(_optional_name(vendor), user)

    def requests(self, vendor: str | None = None, endpoint: str | None = None) -> list[RecordedRequest]:
        return self._log.select(_optional_name(vendor), endpoint)

    def token_requests(self, vendor: str | None = None) -> list[RecordedRequest]:
        return self.requests(vendor, "token")

    def issued_secrets(self) -> set[str]:
        """Every access/refresh token, authorization code and client secret: none may appear in our logs."""
        with self._lock:
            current = {secret for _, secret in self.clients.values()}
            return self._store.issued_secrets() | self._client_secrets | current

    # -- request handling ----------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Reply | None:
        with self._lock:
            found = self._router.match(request.method, request.path)
        if isinstance(found, Reply):
            vendor = self._router.vendor_of(request.path)
            return None if self._pause(self._latency_of(vendor)) else found
        return self._dispatch_route(found, replace(request, params=found.params))

    def _dispatch_route(self, found: RouteMatch, request: Request) -> Reply | None:
        index = self._log.open(found.vendor, found.route.endpoint, request, self._clock())
        fault = self._faults.take(found.vendor, found.route.endpoint)
        reply = None
        if not self._pause(self._latency_of(found.vendor)):
            reply = self._answer(found, request, fault)
        self._log.close(index, reply)
        return reply

    def _answer(self, found: RouteMatch, request: Request, fault: Fault | None) -> Reply | None:
        if fault is None:
            return found.route.handler(request)
        vendor = vendor_named(found.vendor)
        if fault.kind == "timeout":
            if self._pause(fault.option("seconds", 30.0)):
                return None
            if fault.option("takes_effect", 0):
                return found.route.handler(request)
            return error_reply(vendor, OAuthError("unavailable", "Upstream request timed out."))
        if fault.kind == "lost_response":
            found.route.handler(request)
            return None
        if fault.kind == "rate_limited":
            return rate_limited_reply(vendor, fault.option("retry_after", 1.0))
        return _server_error(vendor, fault)

    def _latency_of(self, vendor: str | None) -> float:
        with self._lock:
            return self._latency.get(vendor, self._latency[None])

    def _pause(self, seconds: float) -> bool:
        """Sleep without blocking other requests; True when the sandbox is stopping meanwhile."""
        return seconds > 0 and self._stopping.wait(seconds)


def _server_error(vendor: Vendor, fault: Fault) -> Reply:
    if fault.kind == "error_503":
        return error_reply(vendor, OAuthError("unavailable", "Service temporarily unavailable."))
    return error_reply(vendor, OAuthError("server_error", "Internal server error."))


def _scope(vendor: Vendor, scope: str | Iterable[str] | None) -> tuple[str, ...]:
    if scope is None:
        return vendor.default_scope
    granted = parse_scope(scope) if isinstance(scope, str) else tuple(dict.fromkeys(scope))
    return granted or vendor.default_scope


def _optional_name(vendor: str | None) -> str | None:
    return None if vendor is None else vendor_named(vendor).name
