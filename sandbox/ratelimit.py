"""Vendor rate limits of the sandbox's data endpoints, on fixed windows of the data clock.

Each twin that has published limits gives a `RateRule` (sandbox/vendors/<name>/): its window lengths, the
default limit per window, whom a window counts (the whole client, or each user) and how its answers
carry the usage (`headers`). A twin without one has no limit.

Limits are off by default (`limits[vendor]` is None): nothing is refused and no headers are sent, but usage
is still counted per window, so tests can read the busiest window (`max_usage`). Windows are aligned to the
data clock (minutes, UTC days, hours). Every request that reaches a data endpoint with a valid token counts,
refused ones included, so usage above the limit proves the client went over it; requests answered by an
injected fault, and the OAuth routes, are not counted.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

LimitSetting = int | tuple[int, ...] | None
RateKey = Literal["client", "user"]


@dataclass(frozen=True)
class Admission:
    allowed: bool
    headers: dict[str, str]


@dataclass(frozen=True)
class Usage:
    """One window of one key: its length and limit, the requests counted in it, seconds until it resets."""

    window: int
    limit: int
    count: int
    reset: float

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


@dataclass(frozen=True)
class RateRule:
    """A vendor's published limits: window lengths in seconds with the default limit of each (in the same
    order), whom they count, and the headers every answer carries while limits are on."""

    windows: tuple[int, ...]
    defaults: tuple[int, ...]
    key: RateKey
    headers: Callable[[Sequence[Usage]], dict[str, str]]


class RateLimiter:
    """Counts requests per (vendor, key, window) and applies `limits` (the live `Sandbox.rate_limits` dict)."""

    def __init__(
        self,
        lock: threading.RLock,
        limits: dict[str, LimitSetting],
        now: Callable[[], float],
        rules: Mapping[str, RateRule],
    ) -> None:
        self._rules = rules
        self._lock = lock
        self._limits = limits
        self._now = now
        self._current: dict[tuple[str, str, int], tuple[int, int]] = {}
        self._busiest: dict[tuple[str, str, int], int] = {}
        self._refused: Counter[str] = Counter()
        self.windows: dict[str, tuple[int, ...]] = self._default_windows()
        """Window lengths in use (tests may shorten them, e.g. a minute to 3 s, to see pacing quickly)."""

    def _default_windows(self) -> dict[str, tuple[int, ...]]:
        return {name: rule.windows for name, rule in self._rules.items()}

    def admit(self, vendor: str, key: str) -> Admission:
        """Count one request of `key` (the client or the user, as the vendor's rule says) and decide whether it
        is served."""
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
                Usage(window, limit, count, _reset(window, now))
                for window, limit, count in zip(windows, limits, counts, strict=True)
            ]
            allowed = all(u.count <= u.limit for u in usage)
            if not allowed:
                self._refused[vendor] += 1
            return Admission(allowed, self._rules[vendor].headers(usage))

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
            self.windows.update(self._default_windows())

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
