"""The token vault: one secret per connection holding the whole pair as JSON.

A rotation is a new version of the same secret; tags carry no secrets. A write that fails after a
successful refresh is retried with backoff until it lands or the deadline passes: the new pair is
never dropped silently.

Better still is not to spend a single-use refresh token while its successor cannot be stored: the vault keeps
a "writes work" mark per process. After a failed write (throttling aside), or when no write has landed for
``WRITE_HEALTH_SECONDS``, ``writable()`` first writes a probe secret (never a token); a refresh is sent only if
that lands. While writes keep landing no probe is written, so the rotation's throughput is untouched.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.naming import connection_digest, secret_name
from shared.tokens import TokenPair
from shared.vault.base import SecretStore, TransientStoreError

log = logging.getLogger(__name__)

WRITE_HEALTH_SECONDS = 60.0  # a write older than this no longer vouches that the vault takes writes
PROBE_SECRET_NAME = "wearsync-write-probe"  # noqa: S105 - a secret's name; it holds a timestamp, never a token


class VaultWriteFailed(Exception):
    """The new pair could not be written before the deadline."""


@dataclass(frozen=True)
class VaultedPair:
    pair: TokenPair
    version: str


class TokenVault:
    def __init__(
        self, store: SecretStore, write_retry_seconds: float = 300.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.store = store
        self.write_retry_seconds = write_retry_seconds
        self.sleep = sleep
        self._last_write_ok: float | None = None  # monotonic times, this process
        self._last_write_failed: float | None = None
        self._probe_lock = threading.Lock()  # one probe at a time; the others wait for its verdict

    def read(self, vendor: str, user_id: str) -> VaultedPair | None:
        stored = self._retrying(
            lambda: self.store.get(secret_name(vendor, user_id)), "read", vendor, deadline=time.monotonic() + 30.0
        )
        if stored is None:
            return None
        return VaultedPair(TokenPair.from_json(stored.value), stored.version)

    def write(self, vendor: str, user_id: str, pair: TokenPair) -> str:
        """Store the pair as a new version; retry throttling and outages until the deadline."""
        tags = {"vendor": vendor, "connection": connection_digest(vendor, user_id), "kind": "oauth-token-pair"}
        name = secret_name(vendor, user_id)
        version = self._retrying(
            lambda: self.store.set(name, pair.to_json(), tags),
            "write",
            vendor,
            deadline=time.monotonic() + self.write_retry_seconds,
        )
        self._note_write(ok=True)
        return version

    def disable(self, vendor: str, user_id: str) -> None:
        self.store.disable(secret_name(vendor, user_id))

    # -- do writes work? -----------------------------------------------------------------------------
    def _writes_healthy(self) -> bool:
        ok, failed = self._last_write_ok, self._last_write_failed
        if ok is None or time.monotonic() - ok > WRITE_HEALTH_SECONDS:
            return False
        return failed is None or failed < ok

    def _note_write(self, ok: bool) -> None:
        if ok:
            self._last_write_ok = time.monotonic()
        else:
            self._last_write_failed = time.monotonic()

    def writable(self) -> bool:
        """Whether the vault takes writes now: known from a recent write, else found out with a probe write.
        False means a refresh must not be sent (its new pair could not be stored)."""
        if self._writes_healthy():
            return True
        with self._probe_lock:
            if self._writes_healthy():  # another thread's probe (or write) answered while we waited
                return True
            value = json.dumps({"probe_at": time.time()})
            try:
                self.store.set(PROBE_SECRET_NAME, value, {"kind": "write-probe"})
            except Exception as error:  # whatever the cause, a refresh now could lose its new pair
                self._note_write(ok=False)
                detail = str(error) if isinstance(error, TransientStoreError) else type(error).__name__
                log.warning("vault write probe failed, refreshes wait error=%s", detail)
                return False
            self._note_write(ok=True)
            return True

    def _retrying[T](self, action: Callable[[], T], what: str, vendor: str, deadline: float) -> T:
        attempt = 0
        while True:
            try:
                return action()
            except TransientStoreError as error:
                attempt += 1
                if what == "write" and not error.throttled:  # a throttled vault still takes writes
                    self._note_write(ok=False)
                if time.monotonic() >= deadline:
                    if what == "write":
                        raise VaultWriteFailed(f"vault write still failing after {attempt} attempts: {error}") from None
                    raise
                delay = min(30.0, 0.5 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.0)
                log.warning(
                    "vault %s failed, retrying vendor=%s attempt=%d delay_s=%.1f error=%s",
                    what,
                    vendor,
                    attempt,
                    delay,
                    error,
                )
                self.sleep(min(delay, max(0.0, deadline - time.monotonic())))
