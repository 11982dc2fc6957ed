"""The working half of notifications: one ``notify-jobs`` message in, the data it names landed (or removed).

``NotificationWorker.handle(body)`` returns a ``WorkResult`` or raises:

- a body that is not a notification message -> ``MalformedNotification`` (the queue retries it into poison);
- a transient vendor failure (``DataCallFailed`` with ``transient``), a token refresh that failed for a reason
  other than a refused grant, a storage failure -> the exception propagates: the queue retries the message and,
  after ``maxDequeueCount`` deliveries, parks it in ``notify-jobs-poison`` (``python -m shared replay-poison``).

Everything else is an answer, not an exception, so nothing is retried forever:

- a vendor user nobody connected (or whose connection row is gone) -> ``unknown_user``, and one row per vendor
  user in Table ``notifyunknown`` (PartitionKey vendor, RowKey vendor user id: ``count``, ``last_kind``,
  ``first_at``, ``last_at``), at most ``UNKNOWN_CAP`` per vendor, the rest counted in one overflow row
  (``shared.notify.bounds.UnknownUsers``; ``expire_unknown`` is the cleanup);
- a connection that is not usable (reauth required, disconnected, ...) or a vendor not enabled -> ``ignored``;
- WHOOP ``sleep.updated`` / ``workout.updated``: the record by id, landed with the pull's writer on the local
  date of ``shared.vendors.whoop.data.local_date``; ``recovery.updated`` (whose id is the *sleep's* UUID): the sleep
  gives the ``cycle_id``, then ``/v2/cycle/{id}/recovery`` lands as ``recovery`` with record id ``cycle_id``
  on the cycle's local date, exactly as the pull lands it; the cycle read for that date is landed as ``cycle``
  too (WHOOP sends no cycle events). A 404 -> ``ignored`` (deleted meanwhile);
- WHOOP ``*.deleted``: the raw and curated blobs of the record are removed, on whatever date they landed
  (ids compared case-insensitively: they are UUIDs). ``recovery.deleted`` names the sleep: the recovery is
  found through the landed sleep's ``cycle_id`` and, when that sleep is gone already (a ``sleep.deleted``
  processed first), by reading the user's ``RECOVERY_SCAN`` most recent raw recoveries for a matching
  ``sleep_id``: an older recovery is left for a backfill to sort out;
- Fitbit ``sleep`` / ``activities`` for a date: the pull of that collection's data types for that single date
  (``FITBIT_TYPES``; ``body`` and ``foods`` have none here -> ``ignored``). These one-day jobs do not move the
  pull's watermark (it promises every earlier date has landed): ``PullJob.moves_watermark`` is off;
- Fitbit ``userRevokedAccess`` / ``deleteUser`` -> the connection becomes ``reauth_required`` with last_error
  "revoked at the vendor"; no data is deleted;
- Codoon (unsigned: bounded first, ``shared.notify.bounds.CodoonWork``: a route or (catalog, day) handled in the
  last hour is dropped as a duplicate, and a user gets at most ``CODOON_FETCHES_PER_WINDOW`` notification
  fetches an hour; both -> ``ignored`` before any vendor call): ``gps_sports`` (``ROUTE_CATALOGS``) names a
  route by its ``resource_id`` (its times are empty, as Codoon's document says) -> ``get_route_by_id``, landed
  as ``route`` with that id on the day of its ``start_time``; any other catalog -> the ``tracker`` pull (plus
  ``sleep`` / ``body`` when the catalog names them) for the +08:00 days from ``start_time`` to ``end_time``
  (local "YYYY-MM-DD HH:MM:SS" or epoch seconds/milliseconds; at most ``CODOON_MAX_DAYS`` days, ending at
  ``end_time``, none after today or older than ``CODOON_MAX_AGE_DAYS``; unreadable times: the Codoon "today")
  that were not handled in the last hour.

Each notification of a known connection also updates its row in Table ``notifyactivity`` (PartitionKey
vendor, RowKey user id): ``last_at`` (epoch seconds of ``received_at``), ``usual_gap_seconds`` (an exponentially
weighted mean of the gaps, weight ``GAP_WEIGHT``; gaps under ``MIN_GAP_SECONDS`` are one burst, e.g. a Fitbit
batch, and do not count) and ``notifications``. A redelivered or older message leaves the row alone.
``shared.notify.reconcile`` reads it. Logs name a connection by its digest, never a user id or a token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

import requests
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from shared.landing import Landed
from shared.layout import user_segment
from shared.naming import log_id
from shared.notify.bounds import CodoonWork, UnknownUsers
from shared.notify.parse import MalformedNotification, Notification
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
from shared.vendors.codoon import data as codoon
from shared.vendors.whoop import data as whoop

log = logging.getLogger(__name__)

NOTIFY_UNKNOWN_TABLE = "notifyunknown"
NOTIFY_ACTIVITY_TABLE = "notifyactivity"

WHOOP_SINGLE: Mapping[str, str] = {"sleep": "/v2/activity/sleep", "workout": "/v2/activity/workout"}
WHOOP_COLLECTIONS = frozenset({"sleep", "workout", "recovery"})
FITBIT_TYPES: Mapping[str, tuple[str, ...]] = {
    "sleep": ("sleep", "hrv", "br", "spo2"),
    "activities": ("activities", "steps", "calories", "distance", "heart"),
}
ROUTE_CATALOGS = frozenset({"gps_sports", "route", "routes"})
CODOON_OFFSET = timezone(timedelta(hours=8))
CODOON_MAX_DAYS = 7
CODOON_MAX_AGE_DAYS = 30
RECOVERY_SCAN = 60
GAP_WEIGHT = 0.2
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


def _id_of(record: Any, key: str) -> str:
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError(f"the vendor's record has no {key!r}")
    return str(value)


def _codoon_day(raw: str | None) -> date | None:
    """A Codoon notification time as a +08:00 date: local "YYYY-MM-DD[ HH:MM:SS]" or epoch (milli)seconds."""
    if not raw:
        return None
    text = raw.strip()
    if text.isdigit():
        seconds = int(text) / (1000 if len(text) >= 12 else 1)
        try:
            return datetime.fromtimestamp(seconds, CODOON_OFFSET).date()
        except (OverflowError, OSError, ValueError):
            return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


class NotificationWorker:
    """Thread-safe; one instance serves every ``notify-jobs`` message of a worker process.

    ``activity_table`` (``notifyactivity``) receives the per-connection notification times the reconciliation
    reads; without it they are not recorded. ``pull_queue`` (``pull-jobs``) takes what a Fitbit/Codoon pull
    left when it ran out of time or rate budget; without it the message is retried (``PullDeferred``)."""

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
        self.codoon_work = CodoonWork(work_table, clock)

    def ensure(self) -> None:
        """Create the worker's tables (idempotent; the infrastructure creates them in Azure)."""
        for table in (self.unknown, self.activity):
            if table is not None:
                with contextlib.suppress(ResourceExistsError):
                    table.create_table()
        self.codoon_work.ensure()

    # -- one message -----------------------------------------------------------------------------------

    def handle(self, body: str | bytes) -> WorkResult:
        notification = Notification.from_message(body)
        if notification.vendor not in ("whoop", "fitbit", "codoon"):
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
        if n.action == "revoked":
            return self._revoke(connection, result)
        if n.vendor not in self.settings.vendors:
            result.detail = "vendor not enabled"
            return result
        if connection.status not in USABLE:
            result.detail = f"connection is {connection.status.value}"
            return result
        try:
            if n.vendor == "whoop":
                self._whoop(connection, n, result)
            elif n.vendor == "fitbit":
                self._fitbit(connection, n, result)
            else:
                self._codoon(connection, n, result)
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
        else:  # disconnected here first (our own revoke is what Fitbit reports), or the vendor retired
            result.detail = f"connection is {connection.status.value}"
        return result

    # -- WHOOP -----------------------------------------------------------------------------------------

    def _whoop(self, connection: Connection, n: Notification, result: WorkResult) -> None:
        if n.collection not in WHOOP_COLLECTIONS or n.action not in ("updated", "deleted"):
            result.detail = "not a WHOOP event this app handles"
            return
        if not n.record_id:
            raise MalformedNotification("WHOOP notification message has no record id")
        if n.action == "deleted":
            self._whoop_delete(connection, n.collection, n.record_id, result)
            return
        api = self._api(connection)
        try:
            if n.collection == "recovery":
                self._whoop_recovery(api, connection, n.record_id, result)
            else:
                path = f"{WHOOP_SINGLE[n.collection]}/{quote(n.record_id, safe='')}"
                record = api.get(path)
                if not isinstance(record, dict):
                    raise ValueError(f"WHOOP {n.collection} is not a JSON object")
                day = whoop.local_date(n.collection, record)
                self._land(connection, n.collection, Fetched(_id_of(record, "id"), day, record, path), result)
        finally:
            result.requests += api.requests_sent

    def _whoop_recovery(self, api: ConnectionApi, connection: Connection, sleep_id: str, result: WorkResult) -> None:
        sleep = api.get(f"{WHOOP_SINGLE['sleep']}/{quote(sleep_id, safe='')}")
        cycle_id = _id_of(sleep, "cycle_id")
        recovery_path = f"/v2/cycle/{quote(cycle_id, safe='')}/recovery"
        recovery = api.get(recovery_path)
        cycle_path = f"/v2/cycle/{quote(cycle_id, safe='')}"
        cycle = api.get(cycle_path)
        if not isinstance(recovery, dict) or not isinstance(cycle, dict):
            raise ValueError("WHOOP recovery or cycle is not a JSON object")
        day = whoop.local_date("cycle", cycle)
        self._land(connection, "recovery", Fetched(_id_of(recovery, "cycle_id"), day, recovery, recovery_path), result)
        self._land(connection, "cycle", Fetched(_id_of(cycle, "id"), day, cycle, cycle_path), result)

    def _whoop_delete(self, connection: Connection, collection: str, record_id: str, result: WorkResult) -> None:
        result.outcome = WorkOutcome.DELETED
        target = record_id
        if collection == "recovery":
            found = self._recovery_of_sleep(connection.user_id, record_id)
            if found is None:
                result.detail = "no landed recovery of that sleep found"
                return
            target = found
        removed = self._remove(connection.vendor, collection, connection.user_id, target)
        result.deleted += removed
        result.data_types.append(collection)
        if not removed:
            result.detail = "nothing had landed"

    # -- Fitbit ----------------------------------------------------------------------------------------

    def _fitbit(self, connection: Connection, n: Notification, result: WorkResult) -> None:
        types = FITBIT_TYPES.get(n.collection, ())
        if not types:
            result.detail = f"no data types pulled for the {n.collection} collection"
            return
        if not n.date:
            raise MalformedNotification("Fitbit notification message has no date")
        day = date.fromisoformat(n.date)
        self._pull(connection, types, day, day, result)

    # -- Codoon ----------------------------------------------------------------------------------------

    def _codoon(self, connection: Connection, n: Notification, result: WorkResult) -> None:
        """Unsigned, so bounded before any vendor call (``shared.notify.bounds.CodoonWork``): a route or day
        handled in the last hour is a duplicate, and a user gets at most so many notification fetches an hour."""
        catalog = n.collection.lower()
        route = catalog in ROUTE_CATALOGS and bool(n.record_id)
        days = [] if route else self._codoon_days(n)
        if not route and not days:
            result.detail = f"no day in the last {CODOON_MAX_AGE_DAYS} days (left to the pull)"
            return
        keys = [f"route:{(n.record_id or '').lower()}"] if route else [f"{catalog}:{day}" for day in days]
        user_key = table_key(connection.user_id)
        claimed, why = self.codoon_work.claim("codoon", user_key, keys)
        if not claimed:
            result.detail = why
            count_notification("codoon", "worker_bounded")
            return
        try:
            if route:
                self._codoon_route(connection, n.record_id or "", result)
                return
            types = ["tracker"]
            if "sleep" in catalog:
                types.append("sleep")
            if "body" in catalog or "weight" in catalog:
                types.append("body")
            fresh = sorted(date.fromisoformat(key.split(":", 1)[1]) for key in claimed)
            self._pull(connection, types, fresh[0], fresh[-1], result)
            if why:
                result.detail = "; ".join(filter(None, (result.detail, why)))
        except Exception:
            self.codoon_work.release("codoon", user_key, claimed)  # a retried message must not be a duplicate
            raise

    def _codoon_days(self, n: Notification) -> list[date]:
        """The +08:00 days from ``start_time`` to ``end_time`` (at most ``CODOON_MAX_DAYS``, ending at
        ``end_time``, none after today or more than ``CODOON_MAX_AGE_DAYS`` ago; unreadable times: today)."""
        today = datetime.fromtimestamp(self.clock(), CODOON_OFFSET).date()
        first, last = _codoon_day(n.start_time), _codoon_day(n.end_time)
        first, last = first or last or today, last or first or today
        first, last = min(first, last, today), min(max(first, last), today)
        first = max(first, last - timedelta(days=CODOON_MAX_DAYS - 1), today - timedelta(days=CODOON_MAX_AGE_DAYS))
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def _codoon_route(self, connection: Connection, route_id: str, result: WorkResult) -> None:
        """The route a ``gps_sports`` notification names: ``get_route_by_id``'s ``data``, landed with the
        notified id on the date of its ``start_time`` (the route itself carries no id)."""
        api = self._api(connection)
        body = {"route_id": route_id}
        try:
            route = codoon.data_of("get_route_by_id", api.post("/get_route_by_id", body), dict)
        finally:
            result.requests += api.requests_sent
        source = f"/get_route_by_id?{urlencode(body)}"
        self._land(connection, "route", Fetched(route_id, codoon.route_day(route), route, source), result)

    # -- pulls of whole days (Fitbit, Codoon) ----------------------------------------------------------

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
            for name in self._blobs_of(container, vendor, data_type, user_id, record_id, suffix):
                with contextlib.suppress(ResourceNotFoundError):
                    container.delete_blob(name)
                    removed += suffix == ".json"
        return removed

    @staticmethod
    def _blobs_of(
        container: ContainerClient, vendor: str, data_type: str, user_id: str, record_id: str, suffix: str
    ) -> Iterator[str]:
        prefix = f"{vendor}/{data_type}/{user_segment(user_id)}/"
        wanted = f"{record_id}{suffix}".lower()
        for blob in container.list_blobs(name_starts_with=prefix):
            if blob.name.rsplit("/", 1)[-1].lower() == wanted:
                yield blob.name

    def _read(self, name: str) -> Any:
        try:
            return json.loads(self.sink.raw.container.download_blob(name).readall())
        except (ResourceNotFoundError, ValueError):
            return None

    def _recovery_of_sleep(self, user_id: str, sleep_id: str) -> str | None:
        """The record id (cycle id) of the landed recovery of a sleep: through the landed sleep, else by reading
        the user's ``RECOVERY_SCAN`` most recent landed recoveries."""
        raw = self.sink.raw.container
        for name in self._blobs_of(raw, "whoop", "sleep", user_id, sleep_id, ".json"):
            sleep = self._read(name)
            if isinstance(sleep, dict) and sleep.get("cycle_id") not in (None, ""):
                return str(sleep["cycle_id"])
        prefix = f"whoop/recovery/{user_segment(user_id)}/"
        names = sorted((blob.name for blob in raw.list_blobs(name_starts_with=prefix)), reverse=True)
        for name in names[:RECOVERY_SCAN]:  # "date=YYYY-MM-DD" sorts by date: newest first
            recovery = self._read(name)
            if isinstance(recovery, dict) and str(recovery.get("sleep_id", "")).lower() == sleep_id.lower():
                return name.rsplit("/", 1)[-1].removesuffix(".json")
        return None

    # -- bookkeeping tables ----------------------------------------------------------------------------

    def _note_unknown(self, n: Notification) -> None:
        """Count a notification for a vendor user nobody connected, within the bounds of
        ``shared.notify.bounds.UnknownUsers`` (storage failures propagate: retried)."""
        key = table_key(n.vendor_user_id)  # a vendor's id may hold characters Table keys forbid (Fitbit: '/')
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
                gap = at - last
                usual = entity.get("usual_gap_seconds")
                if gap >= MIN_GAP_SECONDS:
                    row["usual_gap_seconds"] = (
                        gap if usual is None else float(usual) + GAP_WEIGHT * (gap - float(usual))
                    )
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


def activity_at(entity: Mapping[str, Any]) -> tuple[float, float | None]:
    """(last_at, usual_gap_seconds or None) of a ``notifyactivity`` row."""
    usual = entity.get("usual_gap_seconds")
    return float(entity.get("last_at") or 0.0), None if usual is None else float(usual)
