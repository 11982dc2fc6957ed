"""The sandbox vendors of ``bench.reach``, in a process of their own, on a compressed clock.

``SimClock``: simulated epoch seconds. Until ``start(m0)`` it stands one second before the simulated start (so
whatever runs before, the warm-up, falls in the vendor's previous minute and day windows); from CLOCK_MONOTONIC
``m0`` on (the same clock in every process) it runs ``factor`` times as fast as real time from the start. The
sandbox takes it as its clock: its data clock ("now" at the vendor), its rate-limit windows (each twin's own, in
simulated seconds) and its request log all run on it.

Every operation names its vendor; what a vendor's day brings (changes, notifications, the types checked against
the ground truth) comes from its twin's traffic module, ``sandbox/vendors/<name>/traffic.py``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any

from sandbox.ratelimit import RateRule
from sandbox.vendors import twin_named

NOT_DATA = frozenset({"token", "authorize", "revoke"})
"""Not API requests. The profile is: WHOOP counts every API request (the twin's limiter only its data routes)."""
LONG_TTL = 10 * 365 * 86_400
"""Access tokens outlive the run: refreshes are not what this benchmark measures (nor are they data requests)."""
DAY = 86_400


def traffic_of(vendor: str) -> ModuleType:
    """The twin's traffic module (``TYPES``, ``NOTIFIED_ENDPOINTS``, ``Change``, ``changes_between``,
    ``notification_request``)."""
    return importlib.import_module(f"sandbox.vendors.{vendor}.traffic")


def _rule(vendor: str) -> RateRule:
    rule = twin_named(vendor).rate
    if rule is None:
        raise ValueError(f"the {vendor} twin publishes no rate limit")
    return rule


@dataclass(frozen=True)
class Limits:
    """A twin's published rate limits: (limit, window seconds) per window, for the whole app or per user."""

    windows: tuple[tuple[int, int], ...]
    per_user: bool

    @classmethod
    def of(cls, vendor: str) -> Limits:
        rule = _rule(vendor)
        return cls(tuple(zip(rule.defaults, rule.windows, strict=True)), rule.key == "user")

    @property
    def per_day(self) -> int:
        """Requests a day the tightest window allows (the app's, or one user's for a per-user rule)."""
        return min(limit * DAY // window for limit, window in self.windows)

    def __str__(self) -> str:
        parts = [
            f"{limit:,}/{window // 60} min" if window < DAY else f"{limit:,}/day" for limit, window in self.windows
        ]
        return " and ".join(parts) + (" per user (token)" if self.per_user else " per app")


class SimClock:
    def __init__(self, start: float, factor: float) -> None:
        self.start_at = start
        self.factor = factor
        self._m0: float | None = None

    def start(self, m0: float) -> None:
        self._m0 = m0

    def __call__(self) -> float:
        if self._m0 is None:
            return self.start_at - 1.0
        return self.start_at + max(0.0, time.monotonic() - self._m0) * self.factor

    def real_seconds(self, simulated: float) -> float:
        return simulated / self.factor


# -- operations run in the sandbox's process --------------------------------------------------------------------
def _prepare(
    box: Any, vendor: str, users: list[str], since: date, final_until: date
) -> list[tuple[dict[str, object], str]]:
    """History from ``since``; a grant each. Where the traffic module says ``REVISE_HISTORY`` (WHOOP: a record is
    scored by a revision), every record up to ``final_until`` is revised once."""
    box.access_token_ttl[vendor] = LONG_TTL
    module = traffic_of(vendor)
    pairs = []
    for user in users:
        box.set_member_since(vendor, user, since)
        day = since
        while day <= final_until and getattr(module, "REVISE_HISTORY", False):
            for kind in module.TYPES:
                box.revise(vendor, kind, user, day)
            day = date.fromordinal(day.toordinal() + 1)
        pairs.append((box.grant(vendor, user), box.vendor_user_id(vendor, user)))
    return pairs


def _apply(box: Any, vendor: str, change: Any) -> float:
    """Make the change at the vendor; the vendor's time just before it (epoch seconds)."""
    at: float = box.data_now().timestamp()
    if change.action == "revise":
        box.revise(vendor, change.data_type, change.user, change.day)
    elif change.action == "delete":
        for record_id in change.record_ids:
            box.delete_record(vendor, change.data_type, change.user, change.day, record_id)
    return at


def _expected(box: Any, vendor: str, users: list[str], first: date, last: date) -> set[tuple[str, str, str]]:
    return {
        (kind, user, str(rid))
        for user in users
        for kind in traffic_of(vendor).TYPES
        for rid, _day in box.expected_records(vendor, kind, user, first, last)
    }


def _data_requests(box: Any, vendor: str, after: float, until: float) -> dict[str, int]:
    """Data requests sent in (after, until] (simulated epoch seconds), per endpoint."""
    counts: dict[str, int] = {}
    for request in box.requests(vendor):
        if request.endpoint not in NOT_DATA and after < request.at <= until:
            counts[request.endpoint] = counts.get(request.endpoint, 0) + 1
    return counts


def _limits_on(box: Any, vendor: str) -> None:
    box.rate_limits[vendor] = _rule(vendor).defaults


def _notification(
    box: Any, vendor: str, change: Any, note: tuple[str, str]
) -> tuple[str, dict[str, str], dict[str, str], bytes]:
    request = traffic_of(vendor).notification_request(box, change, note, box.clients[vendor][1])
    return request.method, request.headers, request.params, request.body


_OPS: dict[str, Callable[..., Any]] = {
    "prepare": _prepare,
    "apply": _apply,
    "expected": _expected,
    "data_requests": _data_requests,
    "limits_on": _limits_on,
    "notification": _notification,
    "changes": lambda box, vendor, users, start, end: traffic_of(vendor).changes_between(users, start, end),
}


def serve(channel: Connection, latency: float, start: float, factor: float) -> None:
    from sandbox import Sandbox

    clock = SimClock(start, factor)
    box = Sandbox(latency=latency, clock=clock).start()
    box.set_data_now(datetime.fromtimestamp(clock(), UTC))
    channel.send(box.settings_env())
    try:
        while (command := channel.recv()) is not None:
            name, args = command
            try:
                if name == "start_clock":
                    clock.start(*args)
                    result: Any = None
                else:
                    operation = _OPS.get(name)
                    result = operation(box, *args) if operation else getattr(box, name)(*args)
                channel.send((True, result))
            except Exception as error:  # reported to the caller
                channel.send((False, f"{type(error).__name__}: {error}"))
    finally:
        box.stop()
