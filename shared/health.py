"""Whether the app's dependencies answer: storage and the token vault. Reveals nothing secret.

The route is anonymous, so its answer is cached for ``CACHE_SECONDS`` per process: however often it is
called, it costs at most one storage and one Key Vault request per window (Key Vault throttles per vault,
and the app's own token reads must not lose to a probe loop). Unhealthy answers are cached the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import ResourceNotFoundError

if TYPE_CHECKING:
    from shared.registry import ConnectionRegistry
    from shared.vault import TokenVault

log = logging.getLogger(__name__)
PROBE_NAME = "health-probe"
CACHE_SECONDS = 10.0

Result = tuple[bool, dict[str, Any]]


class Probed(Protocol):
    """What the check asks: the connection registry (storage) and the token vault (the app's context)."""

    @property
    def registry(self) -> ConnectionRegistry: ...

    @property
    def vault(self) -> TokenVault: ...


class HealthCache:
    """The last result of one context's check, kept ``ttl`` seconds (``clock``: monotonic seconds).

    Thread-safe: callers arriving while a check runs wait for it and share its result, rather than each
    probing. Keyed on the context's identity (a new context, e.g. after a settings change, checks afresh)."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._entry: tuple[weakref.ref[Probed], float, Result] | None = None

    def get(self, ctx: Probed, probe: Callable[[Probed], Result]) -> Result:
        with self._lock:
            if self._entry is None or self._entry[0]() is not ctx or self.clock() >= self._entry[1]:
                result = probe(ctx)
                self._entry = (weakref.ref(ctx), self.clock() + self.ttl, result)
            healthy, body = self._entry[2]
            return healthy, dict(body)


CACHE = HealthCache()


def check(ctx: Probed) -> Result:
    """(healthy, body) for ``GET /api/health``, from the cache when it is fresh."""
    return CACHE.get(ctx, probe)


def probe(ctx: Probed) -> Result:
    """Ask storage and the vault now (one request each)."""
    results: dict[str, str] = {}
    try:
        ctx.registry.get("health", "probe")
        results["storage"] = "ok"
    except ResourceNotFoundError:
        results["storage"] = "ok"
    except Exception as error:
        log.warning("health: storage unavailable error=%s", type(error).__name__)
        results["storage"] = "unavailable"
    try:
        ctx.vault.store.get(PROBE_NAME)
        results["vault"] = "ok"
    except Exception as error:
        log.warning("health: vault unavailable error=%s", type(error).__name__)
        results["vault"] = "unavailable"
    healthy = all(v == "ok" for v in results.values())
    return healthy, {"status": "healthy" if healthy else "unhealthy", **results}
