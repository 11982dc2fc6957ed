"""The pull planner: which data types of one connection the pull timer pulls now, within the vendor's budget.

Notifications bring in the types they cover (``Vendor.notified_types``); the pull timer is a reconciliation that
catches what they missed. A type is *due* when its last successful pull (``pullstate.last_pull_at``) is older
than its freshness, less ``DUE_SLACK`` (so an hourly timer does not drift an hour a day):

- a type the vendor's notifications cover, of a connection whose notifications flow (one came within
  ``PULL_FRESHNESS_HOURS``): ``PULL_NOTIFIED_FRESHNESS_HOURS`` (168), or the quiet period the notification
  reconciliation passes (``quiet_hours``) when the stream went quiet;
- every other type: ``PULL_FRESHNESS_HOURS`` (24);
- a snapshot (a profile, a body measurement: no history, rarely changed): ``PULL_SNAPSHOT_FRESHNESS_HOURS`` (168;
  at least 24, so at most daily).

A type never pulled is due at once. Due types are planned as ``Priority.RECONCILE`` jobs (live work, i.e.
notifications and pulls a person asked for, goes first; backfill after). When the vendor's budget has less left
than the due jobs need, beyond the share kept for notifications (``PULL_BUDGET_RESERVE_PERCENT`` of the widest
window), the jobs are *deferred*: not queued, their state untouched, so they stay due for the next run (and a
queued job that meets the reserve at run time is queued again with a delay by the rate budget's ``OutOfTime``).

A type whose freshness runs out before the timer's next run (its age within ``DEADLINE_SLACK`` of it: the
hourly timer's period) is *pressing*: it is planned as ``Priority.DEADLINE``, which may spend the reserve (still
after live work), as long as the whole window has a request left for it; else it is deferred too. So
reconciliation is not starved when notification work alone takes more than the reserve leaves (1,000 users of
one app-wide daily budget can take 80% of it), and the reserve still holds back what can wait: a type due early
(``DUE_SLACK`` before its freshness runs out, an hour ahead of its deadline), a first pull, backfill.

API (used by the timers, the notification reconciliation and ``bench/reach.py``):

- ``live_jobs(settings, state, connection, now=None, *, budget=None) -> Iterator[PullJob]``: the jobs to queue
  for one connection now (due and within budget).
- ``plan(settings, state, connection, now=None, *, quiet_hours=None) -> Plan``: the same with what was left
  out and why (``Plan.deferred``: due but over budget; ``Plan.fresh``: not due).
- ``manual_jobs(settings, state, connection, now=None)``: every granted type, as live work (``python -m shared
  pull``: a person asked).
- ``freshness(settings, state, connection, now=None) -> dict``: per type, the age of its last pull and whether
  it is due (health pages).
- ``budget_left(settings, budget, vendor, user_id) -> BudgetLeft | None``: requests reconciliation may still
  take in the vendor's widest window, beyond the reserve and with it (None: no limit).
- ``budget_report(settings, budget) -> list[dict]``: per enabled vendor and limit, requests used and left in the
  current window (``python -m shared status``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.naming import connection_digest
from shared.pull.jobs import PullJob
from shared.pull.model import Priority
from shared.pull.pull_state import PullStateStore, TypeState
from shared.pull.puller import latest_local_date
from shared.pull.rate_budget import RateBudget
from shared.registry import USABLE, Connection, ConnectionRegistry
from shared.settings import Settings
from shared.vendors import spec_for
from shared.vendors.registry import vendor_for

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

log = logging.getLogger(__name__)

DUE_SLACK = timedelta(hours=2)
"""A type is due this much before its freshness runs out: the timer runs hourly, so it is pulled on time even when
the budget beyond the reserve defers it once."""
DEADLINE_SLACK = timedelta(hours=1)
"""A due type whose freshness runs out within this (before the hourly timer's next run) is pressing: planned as
``Priority.DEADLINE``, which may spend the reserve."""
BUDGET_CACHE_SECONDS = 30.0
"""How long one process reuses an app-wide budget's reading (a sweep plans many connections of one vendor)."""


@dataclass
class Plan:
    connection: Connection
    jobs: list[PullJob] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # due, but the budget left after notifications is short
    fresh: list[str] = field(default_factory=list)  # not due yet
    pressing: list[str] = field(default_factory=list)  # due, and their freshness runs out before the next run


def _granted_types(connection: Connection) -> list[str]:
    granted = set(connection.granted)  # granted at consent: a narrowed token must not stop the pull silently
    return [
        name
        for name, kind in vendor_for(connection.vendor).data.data_types.items()
        if not (kind.scope and granted and kind.scope not in granted)
    ]


def _job(
    settings: Settings, connection: Connection, name: str, mark: TypeState | None, now: datetime, priority: Priority
) -> PullJob:
    kind = vendor_for(connection.vendor).data.data_types[name]
    if kind.snapshot:
        return PullJob(connection.vendor, connection.user_id, name, now.date(), now.date(), priority)
    last = latest_local_date(now)
    if mark is None or mark.watermark is None:
        first = now.date() - timedelta(days=settings.pull_initial_days)
    else:  # everything before the last success's lookback horizon has landed and is not read again
        first = min(mark.watermark, last) - timedelta(days=settings.pull_lookback_days)
    return PullJob(connection.vendor, connection.user_id, name, first, last, priority)


def freshness_hours(
    settings: Settings, connection: Connection, name: str, flowing: bool, quiet_hours: float | None = None
) -> float:
    """How old the last pull of ``name`` may get before the type is due (see the module docstring)."""
    vendor = vendor_for(connection.vendor)
    kind = vendor.data.data_types[name]
    if kind.snapshot:
        return float(settings.pull_snapshot_freshness_hours)
    if name not in vendor.notified_types or vendor.notifications is None:
        return float(settings.pull_freshness_hours)
    if quiet_hours is not None:
        return min(float(settings.pull_notified_freshness_hours), quiet_hours)
    return float(settings.pull_notified_freshness_hours if flowing else settings.pull_freshness_hours)


def freshness(
    settings: Settings, state: PullStateStore, connection: Connection, now: datetime | None = None
) -> dict[str, Any]:
    """Per granted type: the age of its last successful pull (hours, None: never), its freshness and whether it
    is due; and the age of the connection's last notification."""
    now = now or datetime.now(UTC)
    marks = {s.data_type: s for s in state.list(connection.vendor, connection.user_id)}
    notified = _last_notified(state, connection)
    flowing = notified is not None and now - notified <= timedelta(hours=settings.pull_freshness_hours)
    types: dict[str, Any] = {}
    for name in _granted_types(connection):
        mark = marks.get(name)
        pulled = mark.pulled_at if mark else None
        limit = freshness_hours(settings, connection, name, flowing)
        age = None if pulled is None else round((now - pulled).total_seconds() / 3600, 2)
        types[name] = {
            "last_pull_at": mark.last_pull_at if mark and mark.last_pull_at else None,
            "age_hours": age,
            "freshness_hours": limit,
            "notified": name in vendor_for(connection.vendor).notified_types,
            "due": age is None or age >= limit - DUE_SLACK.total_seconds() / 3600,
            "last_error": mark.last_error if mark and mark.last_error else None,
        }
    return {
        "last_notification_at": notified.isoformat().replace("+00:00", "Z") if notified else None,
        "notifications_flow": flowing,
        "types": types,
    }


def _last_notified(state: PullStateStore, connection: Connection) -> datetime | None:
    """When the connection's last notification came; not read for a vendor whose notifications cover nothing."""
    vendor = vendor_for(connection.vendor)
    if vendor.notifications is None or not vendor.notified_types:
        return None
    return state.last_notified_at(connection.vendor, connection.user_id)


_budget_cache: dict[tuple[str, str], tuple[float, int]] = {}  # (vendor, key) -> (good until, requests used)
_budget_guard = threading.Lock()


@dataclass(frozen=True)
class BudgetLeft:
    """Requests left now in a vendor's widest window, for one connection's budget (the app's one or the user's)."""

    beyond_reserve: int  # what reconciliation may take
    whole: int  # the notifications' reserve included: what pressing reconciliation may take


def budget_left(settings: Settings, budget: RateBudget, vendor: str, user_id: str) -> BudgetLeft | None:
    """Requests reconciliation may still take now in ``vendor``'s widest window, beyond the notifications' reserve
    and with it, for this connection's budget (one reading); None when the vendor has no limit."""
    limits = settings.vendor(vendor).rate_limits
    if not limits:
        return None
    widest = max(limits, key=lambda each: each.seconds)
    allowed = (budget.reserved(limits) or [widest])[0].requests
    key = "app" if spec_for(vendor).rate_limit_scope == "app" else connection_digest(vendor, user_id)
    moment = time.monotonic()
    with _budget_guard:
        cached = _budget_cache.get((vendor, key))
    if key == "app" and cached and cached[0] > moment:
        used = cached[1]
    else:
        used = budget.usage(vendor, key, widest)
        if key == "app":  # one reading serves every connection of the vendor; a user's budget is read each time
            with _budget_guard:
                _budget_cache[(vendor, key)] = (moment + BUDGET_CACHE_SECONDS, used)
    return BudgetLeft(max(0, allowed - used), max(0, widest.requests - used))


def budget_report(settings: Settings, budget: RateBudget) -> list[dict[str, Any]]:
    """Per enabled vendor and rate limit: whom it counts, requests used in its current window and left (an app-wide
    budget: the app's; a per-user one: all users' together and the busiest user's), and what reconciliation may
    still take beyond the notifications' reserve."""
    rows: list[dict[str, Any]] = []
    for vendor in settings.vendors:
        limits = settings.vendor(vendor).rate_limits
        scope = spec_for(vendor).rate_limit_scope
        reserved = budget.reserved(limits)
        widest = max(limits, key=lambda each: each.seconds) if limits else None
        for limit in limits:
            used = budget.usage_by_key(vendor, limit)
            busiest = max(used.values(), default=0)
            row: dict[str, Any] = {
                "vendor": vendor,
                "limit": str(limit),
                "per": scope,
                "used": sum(used.values()),
                "left": max(0, limit.requests - busiest),
            }
            if scope == "user":
                row["users"] = len(used)
                row["busiest_user_used"] = busiest
            if limit == widest:
                allowed = reserved[0].requests if reserved else limit.requests
                row["reconcile_left"] = max(0, allowed - busiest)
            rows.append(row)
    return rows


def forget_budget_readings() -> None:
    """Drop the cached budget readings (tests, and the bench between policies)."""
    with _budget_guard:
        _budget_cache.clear()


def plan(
    settings: Settings,
    state: PullStateStore,
    connection: Connection,
    now: datetime | None = None,
    *,
    quiet_hours: float | None = None,
    budget: RateBudget | None = None,
) -> Plan:
    """What the pull timer does for one connection now (see the module docstring)."""
    now = now or datetime.now(UTC)
    result = Plan(connection)
    marks = {s.data_type: s for s in state.list(connection.vendor, connection.user_id)}
    notified = _last_notified(state, connection)
    flowing = notified is not None and now - notified <= timedelta(hours=settings.pull_freshness_hours)
    due: list[str] = []
    for name in _granted_types(connection):
        mark = marks.get(name)
        pulled = mark.pulled_at if mark else None
        limit = timedelta(hours=freshness_hours(settings, connection, name, flowing, quiet_hours))
        if pulled is None or now - pulled >= limit - DUE_SLACK:
            due.append(name)
            if pulled is not None and now - pulled >= limit - DEADLINE_SLACK:
                result.pressing.append(name)
        else:
            result.fresh.append(name)
    if not due:
        return result
    budget = budget or RateBudget(
        state.tables, settings.rate_limit_margin_seconds, reserve_percent=settings.pull_budget_reserve_percent
    )
    planned = due
    left = budget_left(settings, budget, connection.vendor, connection.user_id)
    if left is not None and left.beyond_reserve < len(due):  # each job costs at least one request
        planned = result.pressing if result.pressing and left.whole >= len(result.pressing) else []
        result.deferred = [name for name in due if name not in planned]
        log.info(
            "pull plan %s: %d due types deferred, %d pressing planned, %d requests left beyond the reserve",
            connection.vendor,
            len(result.deferred),
            len(planned),
            left.beyond_reserve,
        )
    jobs = [
        _job(
            settings,
            connection,
            name,
            marks.get(name),
            now,
            Priority.DEADLINE if name in result.pressing else Priority.RECONCILE,
        )
        for name in planned
    ]
    result.jobs = _aligned(settings, connection, jobs)
    return result


def _aligned(settings: Settings, connection: Connection, jobs: list[PullJob]) -> list[PullJob]:
    """Paged types (``max_days`` 0) due in the same run start at the same date when their starts lie at most
    the notified freshness apart (the widest gap the planner itself makes): their fetches then send the same
    reads, and a fetch that reads another type's collection (a recovery its cycles) finds it made in this run
    (``puller.SharedReads``). Paging costs by records, not days, so the few days more cost no request or one."""
    kinds = vendor_for(connection.vendor).data.data_types
    paged = [job for job in jobs if not kinds[job.data_type].snapshot and kinds[job.data_type].max_days == 0]
    if len(paged) < 2:
        return jobs
    first = min(job.first for job in paged)
    gap = timedelta(hours=settings.pull_notified_freshness_hours) + timedelta(days=1)
    return [replace(job, first=first) if job in paged and job.first - first <= gap else job for job in jobs]


def live_jobs(
    settings: Settings,
    state: PullStateStore,
    connection: Connection,
    now: datetime | None = None,
    *,
    budget: RateBudget | None = None,
) -> Iterator[PullJob]:
    """The jobs the pull timer queues for one connection now: its due types, within the vendor's budget
    (``budget``: the rate budget to read, e.g. one on a simulated clock; default: the app's tables, real time)."""
    yield from plan(settings, state, connection, now, budget=budget).jobs


def manual_jobs(
    settings: Settings, state: PullStateStore, connection: Connection, now: datetime | None = None
) -> Iterator[PullJob]:
    """Every granted type of one connection, as live work (a person asked for the pull)."""
    now = now or datetime.now(UTC)
    marks = {s.data_type: s for s in state.list(connection.vendor, connection.user_id)}
    for name in _granted_types(connection):
        yield _job(settings, connection, name, marks.get(name), now, Priority.LIVE)


def due_connections(
    settings: Settings, registry: ConnectionRegistry, vendor: str | None = None, user_id: str | None = None
) -> Iterator[Connection]:
    for connection in registry.list(vendor, user_id):
        if connection.status in USABLE and connection.vendor in settings.vendors:
            yield connection


def enqueue_live(
    settings: Settings, registry: ConnectionRegistry, state: PullStateStore, queue: QueueClient
) -> tuple[int, int]:
    """Queue the due jobs of every usable connection; returns (connections, jobs)."""
    connections = jobs = 0
    for connection in due_connections(settings, registry):
        connections += 1
        for job in live_jobs(settings, state, connection):
            queue.send_message(job.message())
            jobs += 1
    log.info("pull: queued %d jobs for %d connections", jobs, connections)
    return connections, jobs
