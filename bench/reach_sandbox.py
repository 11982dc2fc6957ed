"""The sandbox WHOOP of ``bench.reach``, in a process of its own, on a compressed clock.

``SimClock``: simulated epoch seconds. Until ``start(m0)`` it stands one second before the simulated start (so
whatever runs before, the warm-up, falls in the vendor's previous minute and day windows); from CLOCK_MONOTONIC
``m0`` on (the same clock in every process) it runs ``factor`` times as fast as real time from the start. The
sandbox takes it as its clock: its data clock ("now" at the vendor), its rate-limit windows (WHOOP's 100 a
minute and 10,000 a day, in simulated seconds) and its request log all run on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from typing import Any

from sandbox.vendors.whoop.traffic import Change, changes_between

VENDOR = "whoop"
TYPES = ("cycle", "sleep", "recovery", "workout")
LIMITS = (100, 10_000)
NOT_DATA = frozenset({"token", "authorize", "revoke"})
"""Not API requests. The profile is: WHOOP counts every API request (the twin's limiter only its data routes)."""
LONG_TTL = 10 * 365 * 86_400
"""Access tokens outlive the run: refreshes are not what this benchmark measures (nor are they data requests)."""


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
def _prepare(box: Any, users: list[str], since: date, final_until: date) -> list[tuple[dict[str, object], str]]:
    """History from ``since``; every record up to ``final_until`` scored (revised); a grant per user."""
    box.access_token_ttl[VENDOR] = LONG_TTL
    pairs = []
    for user in users:
        box.set_member_since(VENDOR, user, since)
        day = since
        while day <= final_until:
            for kind in TYPES:
                box.revise(VENDOR, kind, user, day)
            day = date.fromordinal(day.toordinal() + 1)
        pairs.append((box.grant(VENDOR, user), box.vendor_user_id(VENDOR, user)))
    return pairs


def _apply(box: Any, change: Change) -> float:
    """Make the change at the vendor; the vendor's time just before it (epoch seconds)."""
    at: float = box.data_now().timestamp()
    if change.action == "revise":
        box.revise(VENDOR, change.data_type, change.user, change.day)
    elif change.action == "delete":
        for record_id in change.record_ids:
            box.delete_record(VENDOR, change.data_type, change.user, change.day, record_id)
    return at


def _expected(box: Any, users: list[str], first: date, last: date) -> set[tuple[str, str, str]]:
    return {
        (kind, user, str(rid))
        for user in users
        for kind in TYPES
        for rid, _day in box.expected_records(VENDOR, kind, user, first, last)
    }


def _data_requests(box: Any, after: float, until: float) -> dict[str, int]:
    """Data requests sent in (after, until] (simulated epoch seconds), per endpoint."""
    counts: dict[str, int] = {}
    for request in box.requests(VENDOR):
        if request.endpoint not in NOT_DATA and after < request.at <= until:
            counts[request.endpoint] = counts.get(request.endpoint, 0) + 1
    return counts


def _limits_on(box: Any) -> None:
    box.rate_limits[VENDOR] = LIMITS


_OPS: dict[str, Callable[..., Any]] = {
    "prepare": _prepare,
    "apply": _apply,
    "expected": _expected,
    "data_requests": _data_requests,
    "limits_on": _limits_on,
    "changes": lambda box, users, start, end: changes_between(users, start, end),
    "client_secret": lambda box: box.clients[VENDOR][1],
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
