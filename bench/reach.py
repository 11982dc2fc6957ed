"""Reach: how many users one default budget serves per vendor, notifications first against hourly polling.

    python -m bench.reach [--vendors whoop oura withings] [--users 20] [--day-seconds 150] [--hours 24]
                          [--drain-hours 1] [--policies planned hourly]

For each vendor and policy, afresh (its own Azurite, secrets directory and sandbox in a process of its own): N
users connected and pulled up to the start (the warm-up, limits off; then each type's last pull is set to a random
point of its reconciliation period, and each connection's notification activity to what the worker would have
kept over the twin's previous week, as in an app that has run for weeks: ``steady_state``), then a simulated day
of the vendor's
traffic (its twin's ``sandbox/vendors/<name>/traffic.py``; WHOOP: uploads, scores, cycles revised through the
day, edits and deletes; Oura: documents as the ring syncs, all-day documents revised every few hours, sleep edits,
workout deletes; Withings: weighings, blood pressure, sleep summaries and ECGs, some revised; and the
notifications each vendor sends for them) while the sandbox enforces the vendor's published limits (WHOOP 100 a
minute and 10,000 a day per app; Oura 5,000 per 5 minutes per token, its per-app layer unpublished; Withings 120
a minute per app). The app runs in this process: the real notification intake (``NotificationIntake.handle``,
called as the HTTP function calls it), worker threads reading the Azurite queues and calling what the queue
triggers call (``NotificationWorker.handle``, ``PullService.work_live``), the real ``RateBudget`` with the app's default
``<VENDOR>_RATE_LIMITS``, the real puller and landing; the timer thread runs the policy:

- hourly: today's landed pull timer: every hour, one live job per connection and data type, from its
  watermark less the lookback (as ``planner.live_jobs`` was before issue 12);
- planned: issue 12's planner (``shared.pull.planner.plan``) every hour; notifications drive the rest.

Under both, the reconciliation of quiet notification streams (``shared.notify.reconcile``) runs every two hours
at half past, as ``RECONCILE_SCHEDULE`` has it by default.

Both policies get the same traffic and the same notifications, worked by the same notification worker; they
differ only in what the pull timer queues.

Time is compressed: a simulated day takes ``--day-seconds`` real seconds. The sandbox runs on that clock (its
data, its rate-limit windows, its request log; ``bench/reach_sandbox.py``), and so do the app's parts that keep
time for a policy: the rate budget (``RateBudget(clock=..., sleep=..., service_time=False)``: its windows are
simulated minutes and days; the storage service's clock cannot be compressed), the puller (``Puller.clock``:
its deadline and the time a pull is recorded), the notification worker (``clock``) and the timers. Visibility
delays of queue messages (a pull continued later) stay real seconds, i.e. far longer in simulated time. The
emulator runs without its mark and sweep (``Azurite(collect_garbage=False)``): every ten minutes it stopped
answering for up to six minutes at 1,000 users, refusing notifications for two simulated hours.

Printed per policy: API requests (the sandbox's count: the profile included, OAuth calls not) per user per day
and per endpoint, the share of the 10,000 used, users one default budget serves at that rate (10,000 / requests
per user per day; for a vendor whose only published limit is per user, no app-wide number), p50/p95 of
notification -> landed and of vendor change -> landed (simulated minutes; a change
not landed by the end counts as never, ">run", and the oldest such change's age is shown), 429s, notifications
the intake refused (503 when storage did not answer in time; the vendor sends them again after each of its
twin's ``NOTIFY_RETRY_MINUTES``, and the report says how many it gave up on), and records
missing against the sandbox's ground truth (``expected_records``, deletes applied; records uploaded after the
traffic ends left out) at the end, apart from those uploaded without a notification less than a day before the
end, and records landed that the vendor deleted. Users served is computed from the requests per user measured
at N (``--users``; this 2-core machine keeps up with a day of 1,000 WHOOP users at ``--day-seconds 1800
--workers 8``, the warm-up taking about 6 minutes more). The planned policy reports the timer jobs it queued,
those of them at a type's freshness deadline (``Priority.DEADLINE``, allowed to spend the notifications'
reserve), and the due types it deferred for the budget; the types its last run still deferred count in the
demand at the pulls' measured cost, as a backlog left queued does. Final line: users served per vendor, planned
policy.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError

from bench.reach_sandbox import Limits, SimClock, serve, traffic_of
from bench.remote import RemoteSandbox
from bench.remote import app_env as remote_app_env
from sandbox.azurite import Azurite
from shared.app_context import AppContext
from shared.connections import store_connection
from shared.landing import Landed
from shared.layout import RAW_CONTAINER
from shared.notify import NOTIFY_QUEUE
from shared.notify.reconcile import reconcile
from shared.notify.worker import NOTIFY_ACTIVITY_TABLE, next_usual_gap
from shared.pull import planner
from shared.pull.jobs import LIVE_QUEUE, PullJob
from shared.pull.model import Fetched, Priority
from shared.pull.puller import latest_local_date
from shared.pull.rate_budget import RateBudget
from shared.pull.sink import RecordSink
from shared.registry import USABLE, Connection
from shared.settings import load_settings
from shared.vendors import spec_for
from shared.vendors.registry import vendor_for

DAY = 86_400.0
STEADY_HISTORY_DAYS = 7  # the days of notifications before the start the activity rows are made from
QUIET_OFFSET, QUIET_PERIOD = 1800.0, 7200.0  # RECONCILE_SCHEDULE's default: 0 30 */2 * * *
HISTORY_DAYS = 3
TARGET_USERS, TARGET_NOTIFIED_MINUTES, TARGET_ALL_HOURS = 1_000, 5.0, 24.0
Key = tuple[str, str, str]  # data type, user, record id
Change = Any  # a twin traffic module's Change (at, user, action, data_type, day, record_ids, notifications)


# -- what landed, when (simulated epoch seconds) -----------------------------------------------------------------
class Landings:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.guard = threading.Lock()
        self.versions: dict[Key, list[tuple[float, float]]] = {}  # (landed at, the record's updated_at)
        self.removed: dict[Key, float] = {}

    def land(self, data_type: str, user: str, fetched: Fetched) -> None:
        content = fetched.content if isinstance(fetched.content, dict) else {}
        stamp, modified = str(content.get("updated_at") or ""), content.get("modified")
        if stamp:  # WHOOP: the record's own version time
            updated = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        elif isinstance(modified, int | float):  # Withings: epoch seconds (the version's time, to the second)
            updated = float(modified) + 0.999
        else:  # no version time (Oura): a copy read after the change holds it
            updated = self.clock()
        with self.guard:
            self.versions.setdefault((data_type, user, fetched.record_id), []).append((self.clock(), updated))

    def remove(self, data_type: str, user: str, record_id: str) -> None:
        with self.guard:
            self.removed.setdefault((data_type, user, record_id), self.clock())

    def landed_at(self, key: Key, change: Change, changed_at: float) -> float | None:
        """When the change reached storage: its version (or a later one) landed, or the record was removed."""
        if change.action == "delete":
            return self.removed.get(key)
        for at, updated in self.versions.get(key, []):
            if updated >= changed_at - 0.001:
                return at
        return None


class TimedSink(RecordSink):
    def __init__(self, blobs: Any, landings: Landings) -> None:
        super().__init__(blobs)
        self.landings = landings

    def land(self, vendor: str, data_type: str, user_id: str, fetched: Fetched) -> Landed:
        landed = super().land(vendor, data_type, user_id, fetched)
        self.landings.land(data_type, user_id, fetched)
        return landed

    def land_batch(
        self, vendor: str, data_type: str, user_id: str, batch: Sequence[Fetched], pool: Executor
    ) -> list[Landed]:
        landed = super().land_batch(vendor, data_type, user_id, batch, pool)
        for fetched in batch:
            self.landings.land(data_type, user_id, fetched)
        return landed


# -- the app -----------------------------------------------------------------------------------------------------
def app_env(vendor: str, storage: str, secrets_dir: str, sandbox: RemoteSandbox, limits: bool) -> dict[str, str]:
    off = {} if limits else {f"{vendor.upper()}_RATE_LIMITS": "none"}
    return remote_app_env(
        storage,
        secrets_dir,
        sandbox,
        True,
        ENABLED_VENDORS=vendor,
        PULL_INITIAL_DAYS=str(HISTORY_DAYS + 1),
        PULL_RUN_SECONDS="3600",  # simulated seconds (the puller's clock): a job is not cut short
        **off,
    )


def app_context(env: dict[str, str], clock: SimClock, landings: Landings, stop: threading.Event) -> AppContext:
    """The app's services with the simulated clock where a policy keeps time (see the module docstring)."""
    os.environ.update(env)
    context = AppContext(load_settings(env))

    def scaled_sleep(seconds: float) -> None:
        stop.wait(clock.real_seconds(seconds))

    reserve = getattr(context.settings, "pull_budget_reserve_percent", None)  # issue 12's budget
    context.__dict__["budget"] = RateBudget(
        context.storage.tables,
        context.settings.rate_limit_margin_seconds,
        clock=clock,
        sleep=scaled_sleep,
        service_time=False,
        **({} if reserve is None else {"reserve_percent": reserve}),
    )
    context.__dict__["sink"] = TimedSink(context.storage.blobs, landings)
    context.ensure_resources()
    puller = context.puller
    puller.clock = clock
    reads = getattr(puller, "shared_reads", None)  # issue 12's puller: reads shared within a run
    if reads is not None:
        reads.clock = clock
    worker = context.notify_worker
    worker.clock = clock
    for part in ("unknown_users", "user_work"):
        with suppress(AttributeError):
            getattr(worker, part).clock = clock
    original = worker._remove

    def remove(vendor: str, data_type: str, user_id: str, record_id: str) -> int:
        removed = original(vendor, data_type, user_id, record_id)
        landings.remove(data_type, user_id, record_id)
        return removed

    setattr(worker, "_remove", remove)  # noqa: B010  (instrumentation: when a deletion reached storage)
    return context


def connections(context: AppContext) -> list[Connection]:
    return [c for vendor in context.settings.vendors for c in context.registry.list(vendor) if c.status in USABLE]


def hourly_jobs(context: AppContext, connection: Connection, now: datetime) -> Iterator[PullJob]:
    """Today's hourly pull (``planner.live_jobs`` as landed before issue 12): every granted type, from its
    watermark less the lookback to the latest local date."""
    settings, last = context.settings, latest_local_date(now)
    marks = {s.data_type: s.watermark for s in context.pull_state.list(connection.vendor, connection.user_id)}
    granted = set(connection.granted)
    for name, kind in vendor_for(connection.vendor).data.data_types.items():
        if kind.scope and granted and kind.scope not in granted:
            continue
        if kind.snapshot:
            yield PullJob(connection.vendor, connection.user_id, name, now.date(), now.date())
            continue
        mark = marks.get(name)
        first = (
            now.date() - timedelta(days=settings.pull_initial_days)
            if mark is None
            else min(mark, last) - timedelta(days=settings.pull_lookback_days)
        )
        yield PullJob(connection.vendor, connection.user_id, name, first, last)


def hourly_plan(context: AppContext, connection: Connection, now: datetime) -> planner.Plan:
    return planner.Plan(connection, jobs=list(hourly_jobs(context, connection, now)))


def planned_plan(context: AppContext, connection: Connection, now: datetime) -> planner.Plan:
    return planner.plan(context.settings, context.pull_state, connection, now, budget=context.budget)


POLICIES: dict[str, Callable[[AppContext, Connection, datetime], planner.Plan]] = {
    "planned": planned_plan,
    "hourly": hourly_plan,
}


def steady_state(context: AppContext, start: datetime, seed: str, history: Sequence[Change]) -> None:
    """Make the warm-up's marks look like a running app's: each type of each connection last pulled at a random
    point of its reconciliation period (its freshness less the planner's lead, as the hourly timer pulls it), and
    each connection's notification activity (its last notification, its usual longest gap) as the worker would
    have kept it from ``history``, the twin's changes of the days before the start. Else every connection would
    have been pulled at the same moment: the day would see one burst of reconciliation 22 hours in and none of
    what falls due every few days (the notified types, the snapshots), and the planner and the quiet-stream
    reconciliation would take the connections for silent at the start."""
    rng = random.Random(seed)
    heard_at: dict[str, list[float]] = {}
    for change in history:
        heard_at.setdefault(change.user, []).extend(change.at.timestamp() for _ in change.notifications)
    lead = (planner.DUE_SLACK + planner.DEADLINE_SLACK).total_seconds() / 7200  # hours: due .. pressing, halfway
    seeds: list[tuple[Connection, int]] = []
    notified: list[tuple[Connection, float, float | None]] = []
    for connection in connections(context):
        vendor = vendor_for(connection.vendor)
        seeds.append((connection, rng.getrandbits(64)))
        times = sorted(heard_at.get(connection.user_id, ()))
        if vendor.notifications is not None and vendor.notified_types and times:
            usual: float | None = None
            for before, after in itertools.pairwise(times):
                usual = next_usual_gap(usual, after - before)
            notified.append((connection, times[-1], usual))
    activity = context.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)

    def pulled(row: tuple[Connection, int]) -> None:
        connection, seeded = row
        mine = random.Random(seeded)
        for mark in list(context.pull_state.list(connection.vendor, connection.user_id)):  # the types pulled
            period = planner.freshness_hours(context.settings, connection, mark.data_type, flowing=True) - lead
            at = start - timedelta(hours=mine.uniform(0.0, period))
            at_text = at.isoformat(timespec="seconds").replace("+00:00", "Z")
            context.pull_state.advance(connection.vendor, connection.user_id, mark.data_type, None, 0, at=at_text)

    def heard(row: tuple[Connection, float, float | None]) -> None:
        connection, at, usual = row
        entity: dict[str, Any] = {"PartitionKey": connection.vendor, "RowKey": connection.user_id, "last_at": at}
        if usual is not None:
            entity["usual_gap_seconds"] = usual
        activity.upsert_entity(entity)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(pulled, seeds))
        list(pool.map(heard, notified))


# -- threads: queue workers, the timer, the vendor's traffic -----------------------------------------------------
@dataclass
class Counters:
    handled: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, error: BaseException) -> None:
        with self.guard:
            self.failed += 1
            name = type(error).__name__
            self.errors[name] = self.errors.get(name, 0) + 1


def work_queue(
    context: AppContext, queue_name: str, handle: Callable[[bytes | str], Any], stop: threading.Event, counts: Counters
) -> None:
    """A queue trigger: take messages, call ``handle``, delete on success (a failure is retried when the
    message shows again)."""
    queue = context.storage.queue(queue_name)
    while not stop.is_set():
        try:
            messages = list(queue.receive_messages(max_messages=4, visibility_timeout=30))
        except AzureError as error:
            counts.fail(error)
            stop.wait(0.2)
            continue
        if not messages:
            stop.wait(0.02)
        for message in messages:
            if stop.is_set():
                return
            try:
                handle(message.content)
                queue.delete_message(message)
                with counts.guard:
                    counts.handled += 1
            except Exception as error:  # the trigger's retry: the message shows again after its visibility
                counts.fail(error)


def run_until_empty(context: AppContext, queue_name: str, handle: Callable[[bytes | str], Any], threads: int) -> None:
    stop, counts = threading.Event(), Counters()
    workers = [
        threading.Thread(target=work_queue, args=(context, queue_name, handle, stop, counts), daemon=True)
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    queue = context.storage.queue(queue_name)
    while (queue.get_queue_properties().approximate_message_count or 0) > 0:
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join()


def timer(
    context: AppContext,
    policy: Callable[[AppContext, Connection, datetime], planner.Plan],
    clock: SimClock,
    end: float,
    stop: threading.Event,
    runs: list[Run],
    quiet_runs: list[int],
) -> None:
    """The pull timer, every simulated hour from the start (its first run at the start), and the reconciliation
    of quiet notification streams (``reconcile_notifications``) every two hours at half past, as their default
    schedules have them."""
    queue = context.storage.queue(LIVE_QUEUE)
    activity = context.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    due, quiet_due = clock.start_at, clock.start_at + QUIET_OFFSET
    while not stop.is_set() and min(due, quiet_due) < end:
        if clock() >= quiet_due:
            with suppress(ResourceNotFoundError):  # no notification yet: no table
                quiet = reconcile(
                    context.settings,
                    context.registry,
                    context.pull_state,
                    activity,
                    queue,
                    clock(),
                    budget=context.budget,
                )
                quiet_runs.append(quiet)
            quiet_due += QUIET_PERIOD
            continue
        if clock() < due:
            stop.wait(0.01)
            continue
        now = datetime.fromtimestamp(clock(), UTC)
        run = Run(clock())
        for connection in connections(context):
            planned = policy(context, connection, now)
            for job in planned.jobs:
                queue.send_message(job.message())
                run.sent += 1
                run.deadline += job.priority is Priority.DEADLINE
            run.deferred += len(planned.deferred)
        runs.append(run)
        due += 3600.0


@dataclass
class Run:
    """One run of the pull timer: jobs queued (``deadline``: of them, at a type's freshness deadline, allowed to
    spend the reserve) and due types deferred for the budget."""

    at: float
    sent: int = 0
    deadline: int = 0
    deferred: int = 0


@dataclass
class Sent:
    change: Change
    changed_at: float  # the vendor's time of the change
    notified_at: float | None  # when the notification reached the intake (None: no notification)


@dataclass
class Deliveries:
    """Notifications the intake did not answer 2xx (``refused``; each try counted), and how the vendor's retries
    ended: ``given_up`` after the twin's last retry, ``pending`` still waiting for a retry when the run ended."""

    refused: int = 0
    given_up: int = 0
    pending: int = 0


def traffic(
    vendor: str,
    context: AppContext,
    sandbox: RemoteSandbox,
    changes: list[Change],
    clock: SimClock,
    stop: threading.Event,
    sent: list[Sent],
    deliveries: Deliveries,
) -> None:
    """The vendor's day: each change at its time, then the vendor's notifications for it to the app's intake. A
    notification the intake refuses (it answers 503 when storage does not answer in time, so that the vendor sends
    it again) is sent again as the vendor does: after each of the twin's ``NOTIFY_RETRY_MINUTES`` (none: once)."""
    retry_after = [minutes * 60.0 for minutes in getattr(traffic_of(vendor), "NOTIFY_RETRY_MINUTES", ())]
    retries: list[tuple[float, int, Change, Any, int]] = []  # (due, order, change, note, retries made)
    order = itertools.count()

    def deliver(change: Change, note: Any, retried: int) -> None:
        status, _ = context.notify.handle(vendor, *sandbox.call("notification", vendor, change, note))
        if status < 300:
            return
        deliveries.refused += 1
        logging.getLogger(__name__).error("notification refused: %s (retries made %d)", status, retried)
        if retried < len(retry_after):
            heapq.heappush(retries, (clock() + retry_after[retried], next(order), change, note, retried + 1))
        else:
            deliveries.given_up += 1

    index = 0
    while index < len(changes) or retries:
        change_at = changes[index].at.timestamp() if index < len(changes) else math.inf
        target = min(change_at, retries[0][0] if retries else math.inf)
        while clock() < target and not stop.is_set():
            stop.wait(min(0.02, clock.real_seconds(target - clock())))
        if stop.is_set():
            break
        if retries and retries[0][0] <= change_at:
            _, _, change, note, retried = heapq.heappop(retries)
            deliver(change, note, retried)
            continue
        change, index = changes[index], index + 1
        changed_at = float(sandbox.call("apply", vendor, change)) if change.action != "upload" else change_at
        notified_at = None
        for note in change.notifications:
            notified_at = clock() if notified_at is None else notified_at
            deliver(change, note, 0)
        sent.append(Sent(change, changed_at, notified_at))
    deliveries.pending = len(retries)


# -- one policy's run ----------------------------------------------------------------------------------------------
@dataclass
class Result:
    vendor: str
    limits: Limits
    notified_endpoints: frozenset[str]
    policy: str
    users: int
    hours: float
    requests: int  # data requests the sandbox saw in the simulated day
    endpoints: dict[str, int]
    refused: int  # the sandbox's 429s
    deliveries: Deliveries  # notifications the intake refused, and how the vendor's retries ended
    notified: list[float]  # simulated seconds; math.inf: never landed
    changes: list[float]
    pending: list[float]  # ages at the end of the changes not landed by then
    missing: int  # uploaded more than a day before the end, not landed
    missing_types: dict[str, int]
    young: int  # uploaded less than a day before the end without a notification, not landed yet
    expected: int
    stale_deleted: int
    timer_jobs: int
    deadline_jobs: int  # of the timer jobs, those at a type's freshness deadline (they may spend the reserve)
    deferred: int  # due types the timer deferred for the budget, summed over its runs
    deferred_at_end: int  # due types its last run deferred: reconciliation still owed
    quiet: int  # connections the quiet-stream reconciliation gave a pull
    jobs_worked: int  # pull jobs the live workers finished
    backlog: int  # pull jobs still queued at the end: this machine fell behind the policy
    failures: dict[str, int]
    seconds: float

    @property
    def demand(self) -> float:
        """Requests the policy asks for in the day: those sent, and at the pulls' measured cost the backlog's and
        those of the types the last timer run deferred (reconciliation owed, not done)."""
        pulls = sum(n for endpoint, n in self.endpoints.items() if endpoint not in self.notified_endpoints)
        return self.requests + (self.backlog + self.deferred_at_end) * pulls / max(1, self.jobs_worked)

    @property
    def per_user_day(self) -> float:
        return self.demand / self.users * 24.0 / self.hours

    @property
    def served(self) -> int | None:
        """Users one app-wide budget serves at the measured rate (None: the vendor publishes only per-user limits,
        which bound each user's own requests, not the number of users)."""
        if self.limits.per_user:
            return None
        return int(self.limits.per_day // self.per_user_day) if self.per_user_day else 0


def simulated_start(drain_hours: float, hours: float) -> datetime:
    """A UTC midnight such that the whole run, drain included, lies before the real now (the app's "today")."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while start + timedelta(hours=hours + drain_hours + 1) > datetime.now(UTC):
        start -= timedelta(days=1)
    return start


@contextmanager
def fresh_world(latency: float, start: datetime, factor: float) -> Iterator[tuple[Azurite, str, RemoteSandbox]]:
    with (
        Azurite(memory_limit_mb=2048, collect_garbage=False) as azurite,
        tempfile.TemporaryDirectory(prefix="bench-reach-") as secrets_dir,
        RemoteSandbox(serve, latency, start.timestamp(), factor) as sandbox,
    ):
        yield azurite, secrets_dir, sandbox


def run_policy(vendor: str, name: str, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    hours, drain = float(args.hours), float(args.drain_hours)
    factor = DAY / args.day_seconds
    start = simulated_start(drain, hours)
    end_traffic = start + timedelta(hours=hours)
    end = end_traffic + timedelta(hours=drain)
    users = [f"reach-{i:05d}" for i in range(args.users)]
    since = start.date() - timedelta(days=HISTORY_DAYS)
    module = traffic_of(vendor)
    with fresh_world(args.vendor_latency, start, factor) as (azurite, secrets_dir, sandbox):
        clock = SimClock(start.timestamp(), factor)
        landings, stop = Landings(clock), threading.Event()
        pairs = sandbox.call("prepare", vendor, users, since, start.date())
        env = app_env(vendor, azurite.connection_string, secrets_dir, sandbox, False)
        warm = app_context(env, clock, landings, stop)
        for user, (body, vendor_user) in zip(users, pairs, strict=True):
            pair = spec_for(vendor).parse_token_response(body).with_user(vendor_user)
            store_connection(warm.vault, warm.registry, vendor, user, pair)
        queue = warm.storage.queue(LIVE_QUEUE)
        for connection in connections(warm):
            for job in hourly_jobs(warm, connection, datetime.fromtimestamp(clock(), UTC)):
                queue.send_message(job.message())
        run_until_empty(warm, LIVE_QUEUE, warm.pull.work_live, args.workers)
        hours_before = float(getattr(module, "WARM_NOTIFY_HOURS", 0.0))
        if hours_before:  # what only a notification before the start could have landed
            before = sandbox.call("changes", vendor, users, start - timedelta(hours=hours_before), start)
            for change in before:
                for note in change.notifications if change.action == "upload" else ():
                    warm.notify.handle(vendor, *sandbox.call("notification", vendor, change, note))
            run_until_empty(warm, NOTIFY_QUEUE, warm.notify_worker.handle, args.workers)
        changes: list[Change] = sandbox.call("changes", vendor, users, start, end_traffic)

        env = app_env(vendor, azurite.connection_string, secrets_dir, sandbox, True)
        context = app_context(env, clock, landings, stop)
        for entity in list(context.budget.table.list_entities()):  # the warm-up's sends are not the day's
            context.budget.table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        history = sandbox.call("changes", vendor, users, start - timedelta(days=STEADY_HISTORY_DAYS), start)
        steady_state(context, start, f"{vendor}-{args.users}", history)
        print(f"  {vendor} {name}: warm-up {time.perf_counter() - started:.0f} s", flush=True)
        sandbox.call("limits_on", vendor)
        m0 = time.monotonic()
        sandbox.call("start_clock", m0)
        clock.start(m0)
        sent: list[Sent] = []
        deliveries = Deliveries()
        runs: list[Run] = []
        quiet_runs: list[int] = []  # connections each run of the quiet-stream reconciliation gave a pull
        counts = {NOTIFY_QUEUE: Counters(), LIVE_QUEUE: Counters()}
        threads = [
            threading.Thread(
                target=timer, args=(context, POLICIES[name], clock, end.timestamp(), stop, runs, quiet_runs)
            ),
            threading.Thread(target=traffic, args=(vendor, context, sandbox, changes, clock, stop, sent, deliveries)),
        ]
        for queue_name, handle in ((NOTIFY_QUEUE, context.notify_worker.handle), (LIVE_QUEUE, context.pull.work_live)):
            threads += [
                threading.Thread(target=work_queue, args=(context, queue_name, handle, stop, counts[queue_name]))
                for _ in range(args.workers)
            ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        while clock() < end.timestamp():
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(30)
        backlog = context.storage.queue(LIVE_QUEUE).get_queue_properties().approximate_message_count or 0
        endpoints: dict[str, int] = sandbox.call("data_requests", vendor, start.timestamp(), start.timestamp() + DAY)
        truth: set[Key] = sandbox.call("expected", vendor, users, since, end.date() + timedelta(days=1))
        later: list[Change] = sandbox.call("changes", vendor, users, end_traffic, end + timedelta(days=1))
        expected = truth - {(c.data_type, c.user, c.record_ids[0]) for c in later if c.action == "upload"}
        uploaded = {(c.data_type, c.user, c.record_ids[0]): c.at.timestamp() for c in changes if c.action == "upload"}
        landed = raw_keys(context, vendor, module.TYPES)
        missing = expected - landed
        young = {key for key in missing if uploaded.get(key, 0.0) > end.timestamp() - DAY}
        result = Result(
            vendor=vendor,
            limits=Limits.of(vendor),
            notified_endpoints=frozenset(module.NOTIFIED_ENDPOINTS),
            policy=name,
            users=len(users),
            hours=min(hours + drain, 24.0),
            requests=sum(endpoints.values()),
            endpoints=endpoints,
            refused=int(sandbox.call("limit_exceeded", vendor)),
            deliveries=deliveries,
            notified=[],
            changes=[],
            pending=[],
            missing=len(missing - young),
            missing_types=dict(Counter(key[0] for key in missing - young)),
            young=len(young),
            expected=len(expected),
            stale_deleted=len(landed - truth),
            timer_jobs=sum(run.sent for run in runs),
            deadline_jobs=sum(run.deadline for run in runs),
            deferred=sum(run.deferred for run in runs),
            deferred_at_end=runs[-1].deferred if runs else 0,
            quiet=sum(quiet_runs),
            jobs_worked=counts[LIVE_QUEUE].handled,
            backlog=backlog,
            failures={**counts[NOTIFY_QUEUE].errors, **counts[LIVE_QUEUE].errors},
            seconds=0.0,
        )
        for item in sent:
            for record_id in item.change.record_ids:
                key = (item.change.data_type, item.change.user, record_id)
                at = landings.landed_at(key, item.change, item.changed_at)
                result.changes.append(math.inf if at is None else max(0.0, at - item.changed_at))
                if at is None:
                    result.pending.append(end.timestamp() - item.changed_at)
                if item.notified_at is not None:
                    result.notified.append(math.inf if at is None else max(0.0, at - item.notified_at))
        result.seconds = time.perf_counter() - started
        return result


def raw_keys(context: AppContext, vendor: str, types: Sequence[str]) -> set[tuple[str, str, str]]:
    container = context.storage.blobs.get_container_client(RAW_CONTAINER)
    keys = set()
    for blob in container.list_blobs(name_starts_with=f"{vendor}/"):
        _, data_type, user, _day, leaf = blob.name.split("/")
        if data_type in types:
            keys.add((data_type, user.removeprefix("user="), leaf.removesuffix(".json")))
    return keys


# -- the report ----------------------------------------------------------------------------------------------------
def quantiles(samples: list[float]) -> tuple[str, str]:
    if not samples:
        return "-", "-"
    ordered = sorted(samples)

    def cut(share: float) -> str:
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]
        return ">run" if math.isinf(value) else f"{value / 60:.1f}"

    return cut(0.50), cut(0.95)


def served_text(result: Result) -> str:
    if result.served is None:
        return (
            f"users served: not bounded by a published app budget (only {result.limits}: "
            f"{result.limits.per_day:,} a day for each user's own requests)"
        )
    return f"users served per default budget {result.served:,}"


def report(result: Result) -> None:
    n50, n95 = quantiles(result.notified)
    c50, c95 = quantiles(result.changes)
    never = sum(1 for x in result.changes if math.isinf(x))
    finite = [x for x in result.changes if not math.isinf(x)]
    slowest = max(finite, default=0.0) / 3600
    owed = result.backlog + result.deferred_at_end
    behind = (
        f" + {result.backlog} pull jobs this machine left queued and {result.deferred_at_end} due types the last "
        f"timer run deferred (at {result.demand - result.requests:.0f} requests)"
        if owed
        else ""
    )
    share = "" if result.limits.per_user else f", {result.demand / result.limits.per_day:.1%} of the app's day"
    print(
        f"  {result.vendor:<8} {result.policy:<8} users {result.users}: {result.requests} API requests in the "
        f"day{behind} = {result.per_user_day:.1f} per user per day{share} -> {served_text(result)}"
    )
    spread = ", ".join(
        f"{name} {count / result.users * 24 / result.hours:.1f}"
        for name, count in sorted(result.endpoints.items(), key=lambda item: -item[1])
    )
    print(f"           per user per day by endpoint: {spread}")
    print(
        f"           notification->landed p50 {n50} min p95 {n95} min ({len(result.notified)} notified, "
        f"{sum(1 for x in result.notified if math.isinf(x))} not landed); "
        f"vendor change->landed p50 {c50} min p95 {c95} min, slowest {slowest:.1f} h, "
        f"{never} of {len(result.changes)} not landed by the end"
        + (f" (the oldest {max(result.pending) / 3600:.1f} h old)" if result.pending else "")
    )
    print(
        f"           missing {result.missing} of {result.expected} records {result.missing_types or ''} (ground truth, "
        "deletes applied; "
        f"besides {result.young} uploaded < 24 h before the end, unnotified, not landed yet), "
        f"{result.stale_deleted} deleted at the vendor but still landed; 429s {result.refused}; "
        f"notifications refused by the intake {result.deliveries.refused} (sent again as the vendor does; "
        f"given up {result.deliveries.given_up}, a retry still due {result.deliveries.pending}); "
        f"timer jobs {result.timer_jobs} ({result.deadline_jobs} at a freshness deadline), due types deferred "
        f"{result.deferred} over the runs, {result.deferred_at_end} at the last; "
        f"quiet streams pulled {result.quiet}; pull jobs worked {result.jobs_worked}; "
        f"worker failures {result.failures or 0}; {result.seconds:.0f} s"
    )


def vendors_with_traffic() -> list[str]:
    from sandbox.vendors import twins

    found = []
    for name in sorted(twins()):
        with suppress(ModuleNotFoundError):
            traffic_of(name)
            found.append(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = vendors_with_traffic()
    parser.add_argument("--vendors", nargs="*", default=known, choices=known, help="twins with a traffic module")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--day-seconds", type=float, default=150.0, help="real seconds per simulated day")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours of traffic")
    parser.add_argument("--drain-hours", type=float, default=1.0, help="simulated hours after the traffic")
    parser.add_argument("--workers", type=int, default=3, help="threads per queue")
    parser.add_argument("--vendor-latency", type=float, default=0.0, help="real seconds per vendor answer")
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument(
        "--log-level",
        default="CRITICAL",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="the app's log records shown (ERROR: refused notifications, failed work, as they happen)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s")
    factor = DAY / args.day_seconds
    print(
        f"reach benchmark: {args.users} users per vendor, {args.hours:.0f} simulated hours of traffic "
        f"+ {args.drain_hours:.0f} h drain, 1 simulated day = {args.day_seconds:.0f} s real (x{factor:.0f}); "
        "times below are simulated",
        flush=True,
    )
    for vendor in args.vendors:
        notified = ", ".join(sorted(vendor_for(vendor).notified_types)) or "none"
        print(f"  {vendor}: the sandbox enforces {Limits.of(vendor)}; notified types: {notified}", flush=True)
    results = []
    for vendor in args.vendors:
        for name in args.policies:
            results.append(run_policy(vendor, name, args))
            report(results[-1])
            sys.stdout.flush()
    print(
        f"  (users served = the app-wide day's requests / measured requests per user per day, measured on "
        f"{args.users} users; targets (WHOOP): >= {TARGET_USERS:,} users, notified p95 <= "
        f"{TARGET_NOTIFIED_MINUTES:.0f} min, all data <= {TARGET_ALL_HOURS:.0f} h, 0 missing)"
    )
    headlines = []
    for vendor in args.vendors:
        mine = [r for r in results if r.vendor == vendor]
        top = next((r for r in mine if r.policy == "planned"), mine[-1])
        served = "per-user limits only" if top.served is None else f"{top.served:,}"
        headlines.append(f"{vendor} {served} ({top.policy}, notified p95 {quantiles(top.notified)[1]} min)")
    print("Users served per default budget: " + "; ".join(headlines))


if __name__ == "__main__":
    main()
