"""Faults injected on demand into a vendor endpoint of the sandbox, consumed one per request in order.

Kinds:
- error_500 / error_503: the vendor's own error body with that status; the request has no effect.
- timeout: wait `seconds` (default 30) before answering; other requests are served meanwhile. The request
  has no effect and the late answer is the vendor's 503 body; with `takes_effect=1` it is instead handled
  normally after the delay (the vendor got it, the client had given up: a refresh is spent).
- lost_response: handle the request normally (a refresh takes effect) and close the connection without
  sending any HTTP response.
- rate_limited: 429 with the vendor's rate-limit headers and `Retry-After: retry_after` (default 1).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

FaultKind = Literal["error_500", "error_503", "timeout", "lost_response", "rate_limited"]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    options: dict[str, float] = field(default_factory=dict)

    def option(self, name: str, default: float) -> float:
        return float(self.options.get(name, default))


def fault_kind(kind: str) -> FaultKind:
    """`kind` checked against the known fault kinds."""
    if kind in FAULT_KINDS:
        return cast(FaultKind, kind)
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")


@dataclass(frozen=True)
class Chaos:
    """Faults at random: each request fails with probability `rate`, with one of `faults` (chosen evenly)."""

    rate: float
    faults: tuple[Fault, ...]
    rng: random.Random


class FaultBook:
    """Pending faults per (vendor, endpoint), guarded by the shared lock; queued faults come first, then
    random ones where chaos is set."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._pending: dict[tuple[str, str], deque[Fault]] = {}
        self._chaos: dict[tuple[str, str], Chaos] = {}

    def set_chaos(self, vendor: str, endpoint: str, chaos: Chaos | None) -> None:
        with self._lock:
            if chaos is None:
                self._chaos.pop((vendor, endpoint), None)
            else:
                self._chaos[(vendor, endpoint)] = chaos

    def add(self, vendor: str, endpoint: str, fault: Fault, times: int) -> None:
        with self._lock:
            self._pending.setdefault((vendor, endpoint), deque()).extend([fault] * times)

    def take(self, vendor: str, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._pending.get((vendor, endpoint))
            if queue:
                return queue.popleft()
            chaos = self._chaos.get((vendor, endpoint))
            if chaos is not None and chaos.rng.random() < chaos.rate:
                return chaos.rng.choice(chaos.faults)
            return None

    def pending(self, vendor: str | None = None, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(
                len(queue) for (v, e), queue in self._pending.items() if vendor in (None, v) and endpoint in (None, e)
            )

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._chaos.clear()
