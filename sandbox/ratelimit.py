"""Vendor rate limits of the sandbox's data endpoints, on fixed windows of the data clock.

- WHOOP: per client (all users together), 100 requests a minute and 10,000 a day by default
  (https://developer.whoop.com/docs/developing/rate-limiting). Every answer carries `X-RateLimit-Limit`
  ("100, 100;window=60, 10000;window=86400": first the limit of the window closest to being hit),
  `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until that window resets). No `Retry-After`:
  WHOOP does not document one.
- Fitbit: per user, 150 requests an hour, reset at the top of the hour, with `Fitbit-Rate-Limit-Limit`,
  `-Remaining` and `-Reset` (seconds until the top of the hour); no `Retry-After` either.
- Codoon: no limit (none was published).

Limits are off by default (`limits[vendor]` is None): nothing is refused and no headers are sent, but usage
is still counted per window, so tests can read the busiest window (`max_usage`). Windows are aligned to the
data clock (minutes, UTC days, hours). Every request that reaches a data endpoint with a valid token counts,
refused ones included, so usage above the limit proves the client went over it; requests answered by an
injected fault, and the OAuth routes (token, WHOOP profile and revoke), are not counted.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

WINDOWS: dict[str, tuple[int, ...]] = {"whoop": (60, 86_400), "fitbit": (3_600,)}
"""Window lengths in seconds per vendor, in the order limits are given."""
DEFAULT_LIMITS: dict[str, tuple[int, ...]] = {"whoop": (100, 10_000), "fitbit": (150,)}

LimitSetting = int | tuple[int, ...] | None


@dataclass(frozen=True)
class Admission:
    allowed: bool
    headers: dict[str, str]


@dataclass(frozen=True)
class _Usage:
    window: int
    limit: int
    count: int
    reset: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


class RateLimiter:
    """Counts requests per (vendor, key, window) and applies `limits` (the live `Sandbox.rate_limits` dict)."""

    def __init__(self, lock: threading.RLock, limits: dict[str, LimitSetting], now: Callable[[], float]) -> None:
        self._lock = lock
        self._limits = limits
        self._now = now
        self._current: dict[tuple[str, str, int], tuple[int, int]] = {}
        self._busiest: dict[tuple[str, str, int], int] = {}
        self._refused: Counter[str] = Counter()
        self.windows: dict[str, tuple[int, ...]] = dict(WINDOWS)
        """Window lengths in use (tests may shorten them, e.g. WHOOP's minute to 3 s, to see pacing quickly)."""

    def admit(self, vendor: str, key: str) -> Admission:
        """Count one request of `key` (WHOOP: the client, Fitbit: the user) and decide whether it is served."""
        windows = self.windows.get(vendor)
        if windows is None:
            return Admission(True, {})
        with self._lock:
            now = self._now()
            counts = [self._count(vendor, key, window, now) for window in windows]
            limits = self.limits_of(vendor)
            if limits is None:
                return Admission(True, {})
            usage = [
                _Usage(window, limit, count, _reset(window, now))
                for window, limit, count in zip(windows, limits, counts, strict=True)
            ]
            allowed = all(u.count <= u.limit for u in usage)
            if not allowed:
                self._refused[vendor] += 1
            return Admission(allowed, _headers(vendor, usage))

    def limits_of(self, vendor: str) -> tuple[int, ...] | None:
        setting = self._limits.get(vendor)
        if setting is None:
            return None
        limits = (setting,) if isinstance(setting, int) else tuple(setting)
        expected = len(self.windows.get(vendor, ()))
        if len(limits) != expected:
            raise ValueError(f"{vendor} takes {expected} limit(s) for windows {self.windows.get(vendor)}, got {limits}")
        return limits

    def max_usage(self, vendor: str, window: int | None = None, key: str | None = None) -> int:
        """Most requests seen in one window (default: the vendor's shortest) of `key`, or of any key."""
        length = window if window is not None else self.windows.get(vendor, (0,))[0]
        with self._lock:
            return max(
                (n for (v, k, w), n in self._busiest.items() if v == vendor and w == length and key in (None, k)),
                default=0,
            )

    def refused(self, vendor: str) -> int:
        with self._lock:
            return self._refused[vendor]

    def reset(self) -> None:
        with self._lock:
            self._current.clear()
            self._busiest.clear()
            self._refused.clear()
            self.windows.clear()
            self.windows.update(WINDOWS)

    def _count(self, vendor: str, key: str, window: int, now: float) -> int:
        index = int(now // window)
        slot = (vendor, key, window)
        current, count = self._current.get(slot, (index, 0))
        count = count + 1 if current == index else 1
        self._current[slot] = (index, count)
        self._busiest[slot] = max(self._busiest.get(slot, 0), count)
        return count


def _reset(window: int, now: float) -> float:
    return (math.floor(now / window) + 1) * window - now


def _headers(vendor: str, usage: list[_Usage]) -> dict[str, str]:
    if vendor == "fitbit":
        (hour,) = usage
        return {
            "Fitbit-Rate-Limit-Limit": str(hour.limit),
            "Fitbit-Rate-Limit-Remaining": str(hour.remaining),
            "Fitbit-Rate-Limit-Reset": str(math.ceil(hour.reset)),
        }
    closest = min(usage, key=lambda u: u.remaining)
    windows = ", ".join(f"{u.limit};window={u.window}" for u in usage)
    return {
        "X-RateLimit-Limit": f"{closest.limit}, {windows}",
        "X-RateLimit-Remaining": str(closest.remaining),
        "X-RateLimit-Reset": str(math.ceil(closest.reset)),
    }
