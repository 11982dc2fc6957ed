"""The token vault: one secret per connection holding the whole pair as JSON.

A rotation is a new version of the same secret; tags carry no secrets. A write that fails after a
successful refresh is retried with backoff until it lands or the deadline passes: the new pair is
never dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.naming import connection_digest, secret_name
from shared.tokens import TokenPair
from shared.vault.base import SecretStore, TransientStoreError

log = logging.getLogger(__name__)


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
        return self._retrying(
            lambda: self.store.set(name, pair.to_json(), tags),
            "write",
            vendor,
            deadline=time.monotonic() + self.write_retry_seconds,
        )

    def disable(self, vendor: str, user_id: str) -> None:
        self.store.disable(secret_name(vendor, user_id))

    def _retrying[T](self, action: Callable[[], T], what: str, vendor: str, deadline: float) -> T:
        attempt = 0
        while True:
            try:
                return action()
            except TransientStoreError as error:
                attempt += 1
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
