"""Access tokens on demand and rotation, under one lock per connection, with the failure rules:

- transient failure (network, timeout, 5xx, 429): keep the pair, back off, degrade after repeated failures;
- grant rejected: re-read the secret; ``reauth_required`` only if the rejected token is still the stored one;
- refresh succeeded but the vault write failed: retry the write while holding the lock, never drop the pair;
- a refresh whose answer never reached the vault (process killed, response lost) leaves a marker in the
  registry; the next refresh retries it (a vendor with a grace for identical requests answers with the same
  pair) and, if the vendor rejects it (no grace), reports the lost connection by name.
"""

from __future__ import annotations

import hmac
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import requests

from shared.locks import ConnectionLocks, HeldLease
from shared.naming import log_id
from shared.oauth_client import TokenEndpoint
from shared.registry import USABLE, Connection, ConnectionRegistry, Status, now_iso, parse_iso
from shared.retirement import retired_reason
from shared.settings import Settings
from shared.telemetry import count_reauth_required, count_refresh_failure, operation
from shared.tokens import TokenPair
from shared.vault import TokenVault, TransientStoreError, VaultedPair
from shared.vendors import FailureKind, VendorError, spec_for

log = logging.getLogger(__name__)

QUICK_RETRIES = 2  # immediate retries of a transient refresh failure within one attempt
MAX_QUICK_RETRY_WAIT = 5.0


class Outcome(StrEnum):
    ROTATED = "rotated"
    SKIPPED = "skipped"
    DEGRADED = "degraded"
    REAUTH_REQUIRED = "reauth_required"
    FAILED = "failed"


@dataclass(frozen=True)
class RefreshResult:
    outcome: Outcome
    pair: TokenPair | None = None
    detail: str = ""


class ConnectionNotFound(LookupError):
    pass


class TokenUnavailable(Exception):
    """No usable access token: the message says why (never a token)."""

    def __init__(self, vendor: str, user_id: str, outcome: Outcome, detail: str) -> None:
        self.vendor, self.user_id, self.outcome, self.detail = vendor, user_id, outcome, detail
        super().__init__(f"no access token for {vendor}/{user_id}: {outcome.value}: {detail}")


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _backoff(failures: int) -> str:
    return now_iso(min(6 * 3600.0, 60.0 * 2 ** max(0, failures - 1)) * random.uniform(0.8, 1.2))


class _PairCache:
    """Per-process cache of pairs, so hot paths do not read the vault for every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], TokenPair] = {}

    def get(self, vendor: str, user_id: str) -> TokenPair | None:
        with self._lock:
            return self._pairs.get((vendor, user_id))

    def put(self, vendor: str, user_id: str, pair: TokenPair | None) -> None:
        with self._lock:
            if pair is None:
                self._pairs.pop((vendor, user_id), None)
            else:
                self._pairs[(vendor, user_id)] = pair


class TokenService:
    def __init__(
        self,
        settings: Settings,
        vault: TokenVault,
        registry: ConnectionRegistry,
        locks: ConnectionLocks,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.vault = vault
        self.registry = registry
        self.locks = locks
        self.session = session or requests.Session()
        self.cache = _PairCache()

    def endpoint(self, vendor: str) -> TokenEndpoint:
        return TokenEndpoint(
            spec_for(vendor), self.settings.vendor(vendor), self.session, self.settings.http_timeout_seconds
        )

    # -- public API ---------------------------------------------------------------------------------
    def access_token_for(self, vendor: str, user_id: str) -> str:
        """A valid access token for the connection, refreshed on demand (with a margin) under its lock."""
        margin = self.settings.refresh_margin_seconds
        cached = self.cache.get(vendor, user_id)
        if cached is not None and not cached.expires_within(margin):
            return cached.access_token
        stored = self.vault.read(vendor, user_id)
        if stored is not None and not stored.pair.expires_within(margin):
            self.cache.put(vendor, user_id, stored.pair)
            return stored.pair.access_token
        with operation("refresh", vendor=vendor, user_id=user_id) as op:
            result = self._refresh(vendor, user_id, lambda pair: pair.expires_within(margin), reason="on_demand")
            op.outcome = result.outcome.value
        if result.pair is not None and not result.pair.expires_within(0):
            return result.pair.access_token
        raise TokenUnavailable(vendor, user_id, result.outcome, result.detail)

    def renew_access_token(self, vendor: str, user_id: str, rejected: str) -> None:
        """The vendor refused access token ``rejected`` before its expiry: forget it and, unless another worker
        already replaced it, refresh the pair under the connection's lock (the next ``access_token_for`` then
        returns the new token)."""
        self.cache.put(vendor, user_id, None)

        def still_rejected(pair: TokenPair) -> bool:
            return _same_secret(pair.access_token, rejected) or pair.expires_within(
                self.settings.refresh_margin_seconds
            )

        stored = self.vault.read(vendor, user_id)
        if stored is not None and not still_rejected(stored.pair):
            return
        result = self._refresh(vendor, user_id, still_rejected, reason="rejected")
        if result.pair is None and result.outcome is not Outcome.SKIPPED:
            raise TokenUnavailable(vendor, user_id, result.outcome, result.detail)

    def rotate(self, vendor: str, user_id: str, force: bool = False) -> RefreshResult:
        """Rotate the pair if it is due (older than the minimum age, or expiring); ``force`` rotates anyway.

        Safe to call twice at once or twice in a row: the second call finds a fresh pair and skips."""
        min_age = self.settings.rotate_min_age_seconds
        margin = self.settings.refresh_margin_seconds
        started = time.time()

        def due(pair: TokenPair) -> bool:
            if force:
                return pair.obtained_at < started
            return pair.obtained_at <= time.time() - min_age or pair.expires_within(margin)

        return self._refresh(vendor, user_id, due, reason="rotation")

    # -- the locked refresh -------------------------------------------------------------------------
    def _refresh(self, vendor: str, user_id: str, due: Callable[[TokenPair], bool], reason: str) -> RefreshResult:
        label = log_id(vendor, user_id)
        if vendor not in self.settings.vendors:  # ENABLED_VENDORS left it out: leave its connections alone
            log.info("refresh skipped, vendor not enabled vendor=%s connection=%s operation=%s", vendor, label, reason)
            return RefreshResult(Outcome.SKIPPED, None, f"vendor {vendor} is not enabled")

        def no_longer_due() -> bool:
            current = self.vault.read(vendor, user_id)
            if current is not None and not due(current.pair):
                self.cache.put(vendor, user_id, current.pair)
                return True
            return False

        started = time.monotonic()
        with self.locks.hold(vendor, user_id, while_waiting=no_longer_due) as held:
            if held is None:  # another worker refreshed while we waited
                pair = self.cache.get(vendor, user_id)
                return RefreshResult(Outcome.SKIPPED, pair, "refreshed by another worker")
            result = self._refresh_locked(vendor, user_id, due, reason, held)
        log.info(
            "refresh done vendor=%s connection=%s operation=%s outcome=%s duration_ms=%d",
            vendor,
            label,
            reason,
            result.outcome.value,
            (time.monotonic() - started) * 1000,
        )
        return result

    def _refresh_locked(
        self, vendor: str, user_id: str, due: Callable[[TokenPair], bool], reason: str, held: HeldLease
    ) -> RefreshResult:
        connection = self.registry.get(vendor, user_id)
        if connection is None:
            raise ConnectionNotFound(f"no connection {vendor}/{user_id}")
        if connection.status not in USABLE:
            return RefreshResult(Outcome.SKIPPED, None, f"connection is {connection.status.value}")
        stored = self.vault.read(vendor, user_id)  # re-read after taking the lock
        if stored is None:
            return self._mark_reauth(connection, "no token pair in the vault")
        if not due(stored.pair):
            self.cache.put(vendor, user_id, stored.pair)
            return RefreshResult(Outcome.SKIPPED, stored.pair, "not due")
        interrupted = connection.refresh_from_version == stored.version and bool(connection.refresh_started_at)
        # every check that can fail comes before the marker: a marker means "a refresh was sent"
        endpoint = self.endpoint(vendor)
        if not self.vault.writable():  # its successor could not be stored: do not spend the refresh token
            return self._on_transient(connection, stored.pair, "vault_refuses_writes", clear_marker=False)
        self.registry.update(vendor, user_id, refresh_started_at=now_iso(), refresh_from_version=stored.version)
        try:
            new_pair = self._call_vendor(endpoint, stored.pair, connection.granted)
        except VendorError as error:
            return self._on_vendor_error(connection, stored, error, interrupted)
        if held.lost.is_set():
            # the new pair is the only valid one unless someone wrote a newer pair meanwhile (checked below); a
            # worker that took the lock meanwhile holds a spent token, is rejected, re-reads and finds this pair
            log.warning("lock lost during a refresh vendor=%s connection=%s", vendor, log_id(vendor, user_id))
        replaced = self._replaced_since(vendor, user_id, stored)
        if replaced is not None:
            return replaced
        new_pair = new_pair.with_user(new_pair.vendor_user_id or connection.vendor_user_id or None)
        self.vault.write(vendor, user_id, new_pair)  # retried until it lands or VaultWriteFailed
        self.cache.put(vendor, user_id, new_pair)
        stamp = now_iso()
        changes: dict[str, object] = dict(
            status=Status.ACTIVE,
            last_refresh_at=stamp,
            consecutive_failures=0,
            next_attempt_at=None,
            refresh_started_at=None,
            refresh_from_version=None,
            last_error=None,  # a success ends whatever failure was reported (client_misconfigured included)
            last_error_at=None,
            scopes=" ".join(new_pair.scope),
        )
        if reason == "rotation":
            changes["last_rotation_at"] = stamp
        narrowed = [scope for scope in connection.granted if new_pair.scope and scope not in new_pair.scope]
        if narrowed:  # health lists the data types this stops; the pull keeps asking for what was granted
            log.warning(
                "refresh narrowed the grant vendor=%s connection=%s missing=%s",
                vendor,
                log_id(vendor, user_id),
                " ".join(narrowed),
            )
        self.registry.update(vendor, user_id, **changes)
        return RefreshResult(Outcome.ROTATED, new_pair, "recovered an interrupted refresh" if interrupted else "")

    def _replaced_since(self, vendor: str, user_id: str, refreshed: VaultedPair) -> RefreshResult | None:
        """A rotation writes only over the version it refreshed. If another writer (a reconnect, a worker that
        took the lock after ours was lost) stored a newer pair meanwhile, that pair is kept: the outcome to
        return, else None (go ahead and write)."""
        try:
            current = self.vault.read(vendor, user_id)
        except TransientStoreError:
            return None  # cannot tell: writing the new pair beats losing it
        if current is not None and current.version == refreshed.version:
            return None
        self.registry.update(vendor, user_id, refresh_started_at=None, refresh_from_version=None)
        self.cache.put(vendor, user_id, None if current is None else current.pair)
        log.warning(
            "pair replaced while refreshing, the newer pair is kept vendor=%s connection=%s",
            vendor,
            log_id(vendor, user_id),
        )
        newer = None if current is None else current.pair
        return RefreshResult(Outcome.SKIPPED, newer, "pair replaced while refreshing")

    def _call_vendor(self, endpoint: TokenEndpoint, pair: TokenPair, granted: tuple[str, ...]) -> TokenPair:
        outcome_unknown = False
        for attempt in range(QUICK_RETRIES + 1):
            try:
                return endpoint.refresh(pair, granted)
            except VendorError as error:
                # once one attempt may have spent the refresh token, every later failure carries that doubt
                outcome_unknown = error.outcome_unknown = outcome_unknown or error.outcome_unknown
                if error.kind is not FailureKind.TRANSIENT or attempt == QUICK_RETRIES:
                    raise
                wait = error.retry_after if error.retry_after is not None else 0.2 * 2**attempt
                if wait > MAX_QUICK_RETRY_WAIT:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")

    # -- failure rules ------------------------------------------------------------------------------
    def _on_vendor_error(
        self, connection: Connection, stored: VaultedPair, error: VendorError, interrupted: bool
    ) -> RefreshResult:
        vendor, user_id = connection.vendor, connection.user_id
        count_refresh_failure(vendor, error.kind.value)
        if error.kind is FailureKind.GRANT_REJECTED:
            return self._on_grant_rejected(connection, stored, error, interrupted)
        keep_marker = error.outcome_unknown  # the refresh may have taken effect at the vendor
        if error.kind is FailureKind.TRANSIENT:
            return self._on_transient(connection, stored.pair, error.code, clear_marker=not keep_marker)
        failures = connection.consecutive_failures + 1
        changes: dict[str, object] = dict(
            consecutive_failures=failures,
            last_error=f"{error.kind.value}: {error.code}",
            last_error_at=now_iso(),
            next_attempt_at=_backoff(failures),
        )
        if not keep_marker:
            changes.update(refresh_started_at=None, refresh_from_version=None)
        if error.kind is FailureKind.VENDOR_RETIRED:
            changes["status"] = Status.VENDOR_RETIRED
            changes["last_error"] = retired_reason(vendor, "token endpoint")  # why, and what the user must do
            log.error("vendor API retired (HTTP 410) vendor=%s connection=%s", vendor, log_id(vendor, user_id))
            self.registry.update(vendor, user_id, **changes)
            return RefreshResult(Outcome.FAILED, stored.pair, "vendor API retired (HTTP 410)")
        if error.kind is FailureKind.CLIENT_MISCONFIGURED:
            log.error(
                "vendor rejected our client vendor=%s code=%s: check %s_CLIENT_ID/%s_CLIENT_SECRET",
                vendor,
                error.code,
                vendor.upper(),
                vendor.upper(),
            )
            changes["status"] = Status.CLIENT_MISCONFIGURED  # visible in health; the backoff retries it
        self.registry.update(vendor, user_id, **changes)
        return RefreshResult(Outcome.FAILED, stored.pair, f"client misconfigured ({error.code})")

    def _on_transient(self, connection: Connection, pair: TokenPair, code: str, clear_marker: bool) -> RefreshResult:
        """Keep the pair, count the failure, back off, degrade after repeated failures."""
        vendor, user_id = connection.vendor, connection.user_id
        failures = connection.consecutive_failures + 1
        changes: dict[str, object] = dict(
            consecutive_failures=failures,
            last_error=f"{FailureKind.TRANSIENT.value}: {code}",
            last_error_at=now_iso(),
            next_attempt_at=_backoff(failures),
        )
        if clear_marker:
            changes.update(refresh_started_at=None, refresh_from_version=None)
        degraded = failures >= self.settings.degrade_after_failures
        if degraded:
            changes["status"] = Status.DEGRADED
        self.registry.update(vendor, user_id, **changes)
        log.warning(
            "transient refresh failure, pair kept vendor=%s connection=%s code=%s failures=%d",
            vendor,
            log_id(vendor, user_id),
            code,
            failures,
        )
        return RefreshResult(Outcome.DEGRADED if degraded else Outcome.FAILED, pair, f"transient: {code}")

    def _on_grant_rejected(
        self, connection: Connection, stored: VaultedPair, error: VendorError, interrupted: bool
    ) -> RefreshResult:
        vendor, user_id = connection.vendor, connection.user_id
        current = self.vault.read(vendor, user_id)
        if current is not None and not _same_secret(current.pair.refresh_token, stored.pair.refresh_token):
            # another writer replaced the pair (a reconnect, say): the rejection is about an old token
            self.registry.update(vendor, user_id, refresh_started_at=None, refresh_from_version=None)
            self.cache.put(vendor, user_id, current.pair)
            return RefreshResult(Outcome.SKIPPED, current.pair, "pair replaced while refreshing")
        if interrupted or error.outcome_unknown:
            detail = (
                f"connection {connection.label} lost its grant: a refresh started at "
                f"{connection.refresh_started_at} never reached the vault (the process stopped or the "
                f"response was lost) and {vendor} no longer accepts the stored refresh token; "
                "the user must reconnect"
            )
        else:
            detail = f"{vendor} rejected the stored grant ({error.code}); the user must reconnect"
            known = spec_for(vendor).grant_rejected_reason(parse_iso(connection.connected_at), datetime.now(UTC))
            if known:
                detail = f"{vendor} rejected the stored grant ({error.code}): {known}"
        return self._mark_reauth(connection, detail)

    def _mark_reauth(self, connection: Connection, detail: str) -> RefreshResult:
        self.registry.update(
            connection.vendor,
            connection.user_id,
            status=Status.REAUTH_REQUIRED,
            last_error=detail,
            last_error_at=now_iso(),
            refresh_started_at=None,
            refresh_from_version=None,
        )
        self.cache.put(connection.vendor, connection.user_id, None)
        count_reauth_required(connection.vendor)
        label = log_id(connection.vendor, connection.user_id)
        log.error(
            "reauth required vendor=%s connection=%s reason=%s",
            connection.vendor,
            label,
            detail.replace(connection.label, f"{connection.vendor}/{label}"),  # the detail names the user: not in logs
        )
        return RefreshResult(Outcome.REAUTH_REQUIRED, None, detail)
