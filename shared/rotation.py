"""Rotation: the timer's sweep (``shared.sweep``: one message per shard, each shard's worker enqueuing its due
connections in parallel) sends one message per due connection; a queue worker rotates one connection under its
lock. The command line runs the same rotation in-process.

A timer that fires twice, or a manual run during a scheduled one, does no harm: a sweep's period is the
six-hour slot, and each shard of a period is swept once; and every rotation re-reads the pair under the
connection's lock and skips a pair that is no longer due.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.locks import LockTimeout
from shared.naming import log_id
from shared.registry import USABLE, Connection, ConnectionRegistry, parse_iso
from shared.storage import ROTATE_QUEUE
from shared.sweep import Outgoing, Shard
from shared.telemetry import count_rotation, operation
from shared.token_service import ConnectionNotFound, Outcome, RefreshResult, TokenService
from shared.vault import VaultWriteFailed
from shared.vendors import VendorError

log = logging.getLogger(__name__)


class BadRotationMessage(ValueError):
    pass


@dataclass
class RotationSummary:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, connection: str, result: RefreshResult) -> None:
        self.counts[result.outcome.value] += 1
        if result.outcome in (Outcome.DEGRADED, Outcome.REAUTH_REQUIRED, Outcome.FAILED):
            self.problems.append(f"{connection}: {result.outcome.value}: {result.detail}")

    def line(self) -> str:
        return ", ".join(f"{outcome.value} {self.counts.get(outcome.value, 0)}" for outcome in Outcome)


def is_due(connection: Connection, min_age_seconds: int, now: datetime | None = None) -> bool:
    """Whether the sweep should rotate this connection now (the worker re-checks under the lock)."""
    now = now or datetime.now(UTC)
    if connection.status not in USABLE:
        return False
    next_attempt = parse_iso(connection.next_attempt_at)
    if next_attempt is not None and next_attempt > now:
        return False
    last = parse_iso(connection.last_refresh_at) or parse_iso(connection.connected_at)
    return last is None or last <= now - timedelta(seconds=min_age_seconds)


def due_connections(
    registry: ConnectionRegistry,
    min_age_seconds: int,
    vendor: str | None = None,
    user_id: str | None = None,
    *,
    enabled: Collection[str] | None = None,
) -> Iterator[Connection]:
    """Due connections; with ``enabled``, only those of enabled vendors (ENABLED_VENDORS may leave some out)."""
    for connection in registry.list(vendor, user_id):
        if enabled is not None and connection.vendor not in enabled:
            continue
        if is_due(connection, min_age_seconds):
            yield connection


def rotation_message(connection: Connection, reason: str = "schedule") -> str:
    return json.dumps(
        {"vendor": connection.vendor, "user_id": connection.user_id, "reason": reason, "enqueued_at": time.time()}
    )


def parse_rotation_message(body: str | bytes) -> tuple[str, str, bool]:
    try:
        data: Any = json.loads(body)
        vendor, user_id = data["vendor"], data["user_id"]
    except (ValueError, KeyError, TypeError):
        raise BadRotationMessage("rotation message must be JSON with vendor and user_id") from None
    if not isinstance(vendor, str) or not isinstance(user_id, str):
        raise BadRotationMessage("rotation message vendor and user_id must be strings")
    return vendor, user_id, bool(data.get("force", False))


ROTATION_PERIOD_SECONDS = 6 * 3600  # the schedule's slot: each connection is enqueued once per slot


@dataclass(frozen=True)
class RotationSweep:
    """The rotation as a sweep (``shared.sweep.SweepKind``): a due connection of an enabled vendor gets one
    ``rotate-jobs`` message."""

    min_age_seconds: int
    enabled: Collection[str]
    name: str = "rotate"
    period_seconds: int = ROTATION_PERIOD_SECONDS
    columns: tuple[str, ...] = ("status", "next_attempt_at", "last_refresh_at", "connected_at")

    def prepare(self, connections: list[Connection]) -> RotationSweep:
        return self  # the registry row is all it reads

    def messages(self, connection: Connection, shard: Shard) -> list[Outgoing]:
        if connection.vendor not in self.enabled or not is_due(connection, self.min_age_seconds):
            return []
        return [Outgoing(ROTATE_QUEUE, rotation_message(connection))]


def rotate_one(tokens: TokenService, vendor: str, user_id: str, force: bool = False) -> RefreshResult:
    """Rotate one connection; every failure is classified and recorded, none escapes except a vault write
    that could not land (the queue then retries the message, and the registry marker tells the story)."""
    with operation("rotate", vendor=vendor, user_id=user_id) as op:
        try:
            result = _rotate_one(tokens, vendor, user_id, force)
        except BaseException:
            count_rotation(vendor, "error")
            raise
        op.outcome = result.outcome.value
        count_rotation(vendor, op.outcome)
        return result


def _rotate_one(tokens: TokenService, vendor: str, user_id: str, force: bool) -> RefreshResult:
    try:
        return tokens.rotate(vendor, user_id, force=force)
    except ConnectionNotFound as error:
        return RefreshResult(Outcome.SKIPPED, None, str(error))
    except LockTimeout as error:
        return RefreshResult(Outcome.FAILED, None, str(error))
    except VendorError as error:
        return RefreshResult(Outcome.FAILED, None, str(error))
    except VaultWriteFailed:
        log.critical(
            "new token pair could not be written to the vault vendor=%s connection=%s", vendor, log_id(vendor, user_id)
        )
        raise


def rotate_all(
    tokens: TokenService, connections: Iterable[Connection], concurrency: int = 8, force: bool = False
) -> RotationSummary:
    """Rotate connections in-process with a worker pool (the command line and the benchmark)."""
    summary = RotationSummary()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(rotate_one, tokens, c.vendor, c.user_id, force): c for c in connections}
        for future, connection in futures.items():
            try:
                summary.add(connection.label, future.result())
            except VaultWriteFailed as error:
                summary.add(connection.label, RefreshResult(Outcome.FAILED, None, str(error)))
    return summary
