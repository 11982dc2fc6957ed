"""The working half of notifications: one ``notify-jobs`` message in, the data it names landed (or removed).

``NotificationWorker.handle(body)`` returns a ``WorkResult`` or raises:

- a body that is not a notification message, or names a vendor without notifications ->
  ``MalformedNotification`` (the queue retries it into poison);
- a transient vendor failure (``DataCallFailed`` with ``transient``), a token refresh that failed for a reason
  other than a refused grant, a storage failure -> the exception propagates: the queue retries the message and,
  after ``maxDequeueCount`` deliveries, parks it in ``notify-jobs-poison`` (``python -m shared replay-poison``).

Everything else is an answer, not an exception, so nothing is retried forever:

- a vendor user nobody connected (or whose connection row is gone) -> ``unknown_user``, and one row per vendor
  user in Table ``notifyunknown`` (PartitionKey vendor, RowKey vendor user id: ``count``, ``last_kind``,
  ``first_at``, ``last_at``), at most ``UNKNOWN_CAP`` per vendor, the rest counted in one overflow row
  (``shared.notify.bounds.UnknownUsers``; ``expire_unknown`` is the cleanup);
- a notification whose action is ``revoked`` -> the connection becomes ``reauth_required`` with last_error
  "revoked at the vendor"; no data is deleted;
- a connection that is not usable (reauth required, disconnected, ...) or a vendor not enabled -> ``ignored``;
- otherwise the vendor package's ``work`` says what the notification asks for (``shared.notify.model``), and
  this engine does it:
  - ``Fetch``: the package's calls with the connection's ``ConnectionApi`` (token, rate budget, live priority),
    each record returned landed with the pull's writer under its data type -> ``landed``; gone at the vendor
    (404) -> ``ignored``;
  - ``Pull``: the pull of those data types for those local days, as jobs that do not move the pull's watermark
    (it promises every earlier date has landed): ``PullJob.moves_watermark`` is off; what a pull leaves when it
    runs out of time or rate budget continues in a ``pull-jobs`` message;
  - ``Delete``: the raw and curated blobs of the record, on whatever date they landed -> ``deleted``;
  - ``Ignore`` -> ``ignored`` (``bounded``: dropped by the package's ``WorkLimits``, see
    ``shared.notify.bounds.UserWork``; claimed work is released when the step fails, so the retried message is
    not a duplicate).

Each notification of a known connection also updates its row in Table ``notifyactivity`` (PartitionKey
vendor, RowKey user id): ``last_at`` (epoch seconds of ``received_at``), ``usual_gap_seconds`` (the
connection's usual *longest* gap: ``next_usual_gap``; gaps under ``MIN_GAP_SECONDS`` are one burst, e.g. a batch
of notifications, and do not count) and ``notifications``. A redelivered or older message leaves the row alone.
``shared.notify.reconcile`` reads it. Logs name a connection by its digest, never a user id or a token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import requests
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from shared.landing import Landed
from shared.layout import user_segment
from shared.naming import log_id
from shared.notify.bounds import UnknownUsers, UserWork
from shared.notify.model import (
    REVOKED,
    Delete,
    Fetch,
    Ignore,
    MalformedNotification,
    Notification,
    Notifications,
    Pull,
    Step,
)
from shared.pull.jobs import PullJob
from shared.pull.model import Fetched
from shared.pull.puller import Puller, PullOutcome, PullStatus
from shared.pull.rate_budget import Priority, RateBudget
from shared.pull.sink import RecordSink
from shared.pull.vendor_api import ConnectionApi, NotFound
from shared.registry import USABLE, Connection, ConnectionRegistry, Status, now_iso
from shared.settings import Settings
from shared.table_keys import table_key
from shared.telemetry import count_notification, count_records_landed, operation
from shared.token_service import Outcome, TokenService, TokenUnavailable
from shared.vendors.registry import vendors

log = logging.getLogger(__name__)

NOTIFY_UNKNOWN_TABLE = "notifyunknown"
NOTIFY_ACTIVITY_TABLE = "notifyactivity"

GAP_MEMORY_SECONDS = 7 * 86_400.0
MIN_GAP_SECONDS = 60.0
TABLE_ATTEMPTS = 8


class WorkOutcome(StrEnum):
    LANDED = "landed"
    DELETED = "deleted"
    REVOKED = "revoked"
    UNKNOWN_USER = "unknown_user"
    IGNORED = "ignored"


@dataclass
class WorkResult:
    """What one notification did. ``landed``: records written (new or revised); ``unchanged``: fetched and
    identical to what had landed; ``deleted``: raw records removed; ``requests``: vendor requests sent."""

    outcome: WorkOutcome
    vendor: str
    kind: str
    user_id: str = ""
    landed: int = 0
    unchanged: int = 0
    deleted: int = 0
    requests: int = 0
    detail: str = ""
    data_types: list[str] = field(default_factory=list)

    def count(self, landed: Landed) -> None:
        if landed is Landed.UNCHANGED:
            self.unchanged += 1
        else:
            self.landed += 1

    def line(self) -> str:
        text = (
            f"{self.vendor} {self.kind}: {self.outcome.value}, {self.landed} landed, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {self.requests} requests"
        )
        return text + (f" ({self.detail})" if self.detail else "")


class PullDeferred(Exception):
    """A notification's pull ran out of time or rate budget and no pull queue was given to continue it: the
    message is retried (the queue's visibility timeout is the wait)."""


def _epoch(received_at: str, fallback: float) -> float:
    if received_at:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp()
    return fallback


class _Landed:
    """The raw records landed for one connection (``shared.notify.model.LandedRecords``)."""

    def __init__(self, sink: RecordSink, vendor: str, user_id: str) -> None:
        self.container = sink.raw.container
        self.vendor, self.user_id = vendor, user_id

    def copies(self, data_type: str, record_id: str) -> Iterator[Any]:
        for name in blobs_of(self.container, self.vendor, data_type, self.user_id, record_id, ".json"):
            content = self._read(name)
            if content is not None:
                yield content

    def newest(self, data_type: str, limit: int) -> Iterator[tuple[str, Any]]:
        prefix = f"{self.vendor}/{data_type}/{user_segment(self.user_id)}/"
        names = sorted((blob.name for blob in self.container.list_blobs(name_starts_with=prefix)), reverse=True)
        for name in names[:limit]:  # "date=YYYY-MM-DD" sorts by date: newest first
            content = self._read(name)
            if content is not None:
                yield name.rsplit("/", 1)[-1].removesuffix(".json"), content

    def _read(self, name: str) -> Any:
        try:
            return json.loads(self.container.download_blob(name).readall())
        except (ResourceNotFoundError, ValueError):
            return None


class _Context:
    """What a package's ``work`` may use (``shared.notify.model.WorkContext``); remembers what it claimed."""

    def __init__(self, worker: NotificationWorker, spec: Notifications, connection: Connection) -> None:
        self.now = worker.clock()
        self.landed = _Landed(worker.sink, connection.vendor, connection.user_id)
        self._work, self._limits = worker.user_work, spec.work_limits
        self._vendor, self._user_key = connection.vendor, table_key(connection.user_id)
        self.claimed: list[str] = []

    def claim(self, keys: Iterable[str]) -> tuple[list[str], str]:
        if self._limits is None:
            raise TypeError(f"{self._vendor} declares no work limits to claim work under")
        claimed, why = self._work.claim(self._vendor, self._user_key, keys, self._limits)
        self.claimed += claimed
        return claimed, why

    def release(self) -> None:
        if self.claimed:
            self._work.release(self._vendor, self._user_key, self.claimed)


def blobs_of(
    container: ContainerClient, vendor: str, data_type: str, user_id: str, record_id: str, suffix: str
) -> Iterator[str]:
    """The names of a record's blobs (any date; the id compared case-insensitively)."""
    prefix = f"{vendor}/{data_type}/{user_segment(user_id)}/"
    wanted = f"{record_id}{suffix}".lower()
    for blob in container.list_blobs(name_starts_with=prefix):
        if blob.name.rsplit("/", 1)[-1].lower() == wanted:
            yield blob.name


class NotificationWorker:
    """Thread-safe; one instance serves every ``notify-jobs`` message of a worker process.

    ``activity_table`` (``notifyactivity``) receives the per-connection notification times the reconciliation
    reads; without it they are not recorded. ``pull_queue`` (``pull-jobs``) takes what a notification's pull
    left when it ran out of time or rate budget; without it the message is retried (``PullDeferred``).
    ``work_table`` (``notifywork``) shares the per-user ``WorkLimits`` between workers; without it they hold
    in this process only."""

    def __init__(
        self,
        settings: Settings,
        registry: ConnectionRegistry,
        tokens: TokenService,
        budget: RateBudget,
        sink: RecordSink,
        puller: Puller,
        session: requests.Session,
        unknown_table: TableClient,
        clock: Callable[[], float] = time.time,
        *,
        activity_table: TableClient | None = None,
        pull_queue: QueueClient | None = None,
        work_table: TableClient | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tokens = tokens
        self.budget = budget
        self.sink = sink
        self.puller = puller
        self.session = session
        self.unknown = unknown_table
        self.activity = activity_table
        self.pull_queue = pull_queue
        self.clock = clock
        self.unknown_users = UnknownUsers(unknown_table, clock)
        self.user_work = UserWork(work_table, clock)
        self._specs: dict[str, Notifications] = {
            name: vendor.notifications for name, vendor in vendors().items() if vendor.notifications is not None
        }

    def ensure(self) -> None:
        """Create the worker's tables (idempotent; the infrastructure creates them in Azure)."""
        for table in (self.unknown, self.activity):
            if table is not None:
                with contextlib.suppress(ResourceExistsError):
                    table.create_table()
        self.user_work.ensure()

    # -- one message -----------------------------------------------------------------------------------

    def handle(self, body: str | bytes) -> WorkResult:
        notification = Notification.from_message(body)
        if notification.vendor not in self._specs:
            raise MalformedNotification("notification message names an unknown vendor")
        with operation("notify_work", vendor=notification.vendor) as op:
            result = self._handle(notification, op.bind)
            op.outcome = result.outcome.value
        count_notification(notification.vendor, f"worker_{result.outcome.value}")
        who = log_id(notification.vendor, result.user_id) if result.user_id else "-"
        log.info("notify work connection=%s %s", who, result.line())
        return result

    def _handle(self, n: Notification, bind: Callable[..., None]) -> WorkResult:
        result = WorkResult(WorkOutcome.IGNORED, n.vendor, n.kind)
        connection = self._connection(n)
        if connection is None:
            self._note_unknown(n)
            result.outcome, result.detail = WorkOutcome.UNKNOWN_USER, "no connection for this vendor user"
            return result
        result.user_id = connection.user_id
        bind(user_id=connection.user_id)
        self._note_activity(connection, _epoch(n.received_at, self.clock()))
        if n.action == REVOKED:
            return self._revoke(connection, result)
        if n.vendor not in self.settings.vendors:
            result.detail = "vendor not enabled"
            return result
        if connection.status not in USABLE:
            result.detail = f"connection is {connection.status.value}"
            return result
        try:
            self._work(self._specs[n.vendor], connection, n, result)
        except TokenUnavailable as error:
            if error.outcome is not Outcome.REAUTH_REQUIRED:
                raise  # the refresh failed for now: retry the message later
            result.outcome, result.detail = WorkOutcome.IGNORED, "no access token: reauthorisation required"
        except NotFound:
            result.outcome, result.detail = WorkOutcome.IGNORED, "gone at the vendor (deleted meanwhile)"
        except MalformedNotification:
            raise
        except ValueError as error:  # the vendor answered in a shape we do not know: retrying cannot help
            log.error("notify work %s %s: unusable vendor answer: %s", n.vendor, n.kind, error)
            result.outcome, result.detail = WorkOutcome.IGNORED, f"unusable vendor answer: {error}"
        return result

    def _connection(self, n: Notification) -> Connection | None:
        user_id = self.registry.user_for_vendor_user(n.vendor, n.vendor_user_id)
        if user_id is None:
            return None
        connection = self.registry.get(n.vendor, user_id)
        if connection is None:
            return None
        stored = connection.vendor_user_id
        if stored and stored.lower() != n.vendor_user_id.lower():
            return None  # a stale lookup row: the user reconnected another vendor account
        return connection

    def _api(self, connection: Connection) -> ConnectionApi:
        return ConnectionApi(
            self.settings,
            self.tokens,
            self.budget,
            self.session,
            connection.vendor,
            connection.user_id,
            priority=Priority.LIVE,
        )

    def _land(self, connection: Connection, data_type: str, fetched: Fetched, result: WorkResult) -> None:
        landed = self.sink.land(connection.vendor, data_type, connection.user_id, fetched)
        result.count(landed)
        result.outcome = WorkOutcome.LANDED
        if data_type not in result.data_types:
            result.data_types.append(data_type)
        count_records_landed(connection.vendor, data_type, landed.value)

    # -- revocation ------------------------------------------------------------------------------------

    def _revoke(self, connection: Connection, result: WorkResult) -> WorkResult:
        if connection.status in USABLE:
            self.registry.update(
                connection.vendor,
                connection.user_id,
                status=Status.REAUTH_REQUIRED,
                last_error="revoked at the vendor",
                last_error_at=now_iso(),
            )
            result.outcome, result.detail = WorkOutcome.REVOKED, "connection now reauth_required"
        elif connection.status is Status.REAUTH_REQUIRED:
            result.outcome, result.detail = WorkOutcome.REVOKED, "connection was reauth_required already"
        else:  # disconnected here first (a vendor may report our own revoke), or the vendor retired
            result.detail = f"connection is {connection.status.value}"
        return result

    # -- what the package asks for --------------------------------------------------------------------

    def _work(self, spec: Notifications, connection: Connection, n: Notification, result: WorkResult) -> None:
        context = _Context(self, spec, connection)
        try:
            step = spec.work(n, context)
            self._do(step, connection, result)
        except Exception:
            context.release()  # a retried message must not be a duplicate of itself
            raise

    def _do(self, step: Step, connection: Connection, result: WorkResult) -> None:
        match step:
            case Fetch():
                self._fetch(step, connection, result)
            case Pull():
                self._pull(connection, step.data_types, step.first, step.last, result)
                if step.note:
                    result.detail = "; ".join(filter(None, (result.detail, step.note)))
            case Delete():
                self._delete(step, connection, result)
            case Ignore():
                result.detail = step.detail
                if step.bounded:
                    count_notification(connection.vendor, "worker_bounded")

    def _fetch(self, step: Fetch, connection: Connection, result: WorkResult) -> None:
        api = self._api(connection)
        try:
            fetched = list(step.run(api))  # every call made before anything lands
        finally:
            result.requests += api.requests_sent
        for data_type, record in fetched:
            self._land(connection, data_type, record, result)

    def _delete(self, step: Delete, connection: Connection, result: WorkResult) -> None:
        result.outcome = WorkOutcome.DELETED
        if step.record_id is None:
            result.detail = step.missing
            return
        removed = self._remove(connection.vendor, step.data_type, connection.user_id, step.record_id)
        result.deleted += removed
        result.data_types.append(step.data_type)
        if not removed:
            result.detail = "nothing had landed"

    # -- pulls of whole days ---------------------------------------------------------------------------

    def _pull(
        self, connection: Connection, types: tuple[str, ...] | list[str], first: date, last: date, result: WorkResult
    ) -> None:
        ran = False
        problems: list[str] = []
        for data_type in types:
            job = PullJob(connection.vendor, connection.user_id, data_type, first, last, moves_watermark=False)
            outcome = self.puller.run(job)  # a transient DataCallFailed propagates: the message is retried
            result.requests += outcome.requests
            if outcome.status is PullStatus.SKIPPED:
                continue
            ran = True
            result.landed += outcome.landed
            result.unchanged += outcome.unchanged
            result.data_types.append(data_type)
            if outcome.status is PullStatus.FAILED:
                problems.append(f"{data_type}: {outcome.detail}")
            elif outcome.status is PullStatus.CONTINUED:
                self._continue(outcome)
        if ran:
            result.outcome = WorkOutcome.LANDED
            result.detail = "; ".join(problems)
        else:
            result.detail = "every data type skipped (scope not granted or connection not usable)"

    def _continue(self, outcome: PullOutcome) -> None:
        rest = outcome.rest
        if rest is None:
            return
        if self.pull_queue is None:
            raise PullDeferred(f"{rest} ran out of time or rate budget")
        delay = int(min(6 * 3600.0, max(0.0, outcome.retry_after)))
        self.pull_queue.send_message(rest.message(), visibility_timeout=delay)
        log.info("notify work: %s continues in a pull message in %ds", rest, delay)

    # -- removing landed records -----------------------------------------------------------------------

    def _containers(self) -> tuple[tuple[ContainerClient, str], ...]:
        return ((self.sink.raw.container, ".json"), (self.sink.curated.container, ".jsonl"))

    def _remove(self, vendor: str, data_type: str, user_id: str, record_id: str) -> int:
        """Remove a record's raw and curated blobs on whatever date they landed; returns the raw ones removed."""
        removed = 0
        for container, suffix in self._containers():
            for name in blobs_of(container, vendor, data_type, user_id, record_id, suffix):
                with contextlib.suppress(ResourceNotFoundError):
                    container.delete_blob(name)
                    removed += suffix == ".json"
        return removed

    # -- bookkeeping tables ----------------------------------------------------------------------------

    def _note_unknown(self, n: Notification) -> None:
        """Count a notification for a vendor user nobody connected, within the bounds of
        ``shared.notify.bounds.UnknownUsers`` (storage failures propagate: retried)."""
        key = table_key(n.vendor_user_id)  # a vendor's id may hold characters Table keys forbid ('/')
        if self.unknown_users.note(n.vendor, key, n.kind, n.received_at or now_iso()) == "row":
            log.warning("notify work: %s notification %s for a vendor user nobody connected", n.vendor, n.kind)

    def _note_activity(self, connection: Connection, at: float) -> None:
        """Record a notification time for the reconciliation; best effort (a failure is logged, not raised)."""
        if self.activity is None:
            return
        try:
            self._update_activity(connection.vendor, connection.user_id, at)
        except Exception as error:  # the notification's data matters more than its bookkeeping
            log.warning("notify work: activity not recorded (%s)", type(error).__name__)

    def _update_activity(self, vendor: str, user_id: str, at: float) -> None:
        assert self.activity is not None
        for _ in range(TABLE_ATTEMPTS):
            try:
                entity = self.activity.get_entity(vendor, user_id)
            except ResourceNotFoundError:
                entity = None
            try:
                if entity is None:
                    row = {"PartitionKey": vendor, "RowKey": user_id, "last_at": at, "notifications": 1}
                    self.activity.create_entity(row)
                    return
                last = float(entity.get("last_at") or 0.0)
                if at <= last:
                    return  # a redelivery, or a message older than one already counted
                row = {
                    "PartitionKey": vendor,
                    "RowKey": user_id,
                    "last_at": at,
                    "notifications": int(entity.get("notifications") or 0) + 1,
                }
                usual = entity.get("usual_gap_seconds")
                longest = next_usual_gap(None if usual is None else float(usual), at - last)
                if longest is not None:
                    row["usual_gap_seconds"] = longest
                self.activity.update_entity(
                    row,
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except (ResourceExistsError, ResourceModifiedError):
                continue
        raise RuntimeError("too many concurrent updates")


def next_usual_gap(usual: float | None, gap: float) -> float | None:
    """The usual longest gap between a connection's notifications after one more gap (seconds; None: none yet).

    A gap longer than the usual one is the new usual at once (a member's night, a device left home for a day);
    shorter gaps pull it down slowly, by their share of ``GAP_MEMORY_SECONDS``: about the longest gap of the last
    week, whatever the number of syncs. A mean of the gaps instead (an earlier rule) is a few hours for a member
    whose notifications come in a morning burst and after workouts, so every night looked quiet: 1.6 needless
    reconciliations per user a day, about 4 vendor requests each. Gaps under ``MIN_GAP_SECONDS`` (a
    burst) leave it as it is."""
    if gap < MIN_GAP_SECONDS:
        return usual
    if usual is None or gap >= usual:
        return gap
    return usual + min(1.0, gap / GAP_MEMORY_SECONDS) * (gap - usual)


def activity_at(entity: Mapping[str, Any]) -> tuple[float, float | None]:
    """(last_at, usual_gap_seconds or None) of a ``notifyactivity`` row."""
    usual = entity.get("usual_gap_seconds")
    return float(entity.get("last_at") or 0.0), None if usual is None else float(usual)
