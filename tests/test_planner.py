"""The pull planner: a type is pulled when its freshness runs out, notified types rarely while notifications
flow, snapshots weekly (at most daily), within the budget left after notifications; a budget exhausted by
notifications defers reconciliation and never drops it. And what it saves: WHOOP requests per connection per
day, hourly polling against the planner, counted at the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox import Sandbox
from sandbox.function_host import http as call
from shared.app_context import AppContext
from shared.cli import main as cli
from shared.notify.reconcile import reconcile
from shared.notify.worker import NOTIFY_ACTIVITY_TABLE
from shared.pull.jobs import LIVE_QUEUE
from shared.pull.model import Priority
from shared.pull.planner import budget_report, forget_budget_readings, freshness, manual_jobs, plan
from shared.pull.pull_state import ACTIVITY_TABLE
from shared.pull.puller import Puller, PullStatus
from shared.registry import Connection
from shared.settings import Settings, load_settings

COLLECTIONS = ("cycle", "sleep", "recovery", "workout")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def pulled(ctx: AppContext, user: str, data_type: str, at: datetime) -> None:
    ctx.pull_state.table.upsert_entity(
        {"PartitionKey": f"whoop|{user}", "RowKey": data_type, "last_pull_at": iso(at), "watermark": "2026-01-01"}
    )


def notified(ctx: AppContext, user: str, at: datetime) -> None:
    table = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    table.upsert_entity({"PartitionKey": "whoop", "RowKey": user, "last_at": at.timestamp()})


def with_budget(app_env: dict[str, str], seed: Any, limits: str, user: str) -> tuple[Settings, AppContext, Connection]:
    """An app whose WHOOP budget is ``limits`` with a 20% reserve, and one WHOOP connection of ``user``."""
    settings = load_settings({**app_env, "WHOOP_RATE_LIMITS": limits, "PULL_BUDGET_RESERVE_PERCENT": "20"})
    ctx = AppContext(settings)
    ctx.ensure_resources()
    forget_budget_readings()
    seed("whoop", user, context=ctx)
    connection = ctx.registry.get("whoop", user)
    assert connection is not None
    return settings, ctx, connection


def test_the_planner_reads_the_table_the_notification_worker_keeps() -> None:
    assert ACTIVITY_TABLE == NOTIFY_ACTIVITY_TABLE


def test_a_type_is_due_when_its_freshness_runs_out(ctx: AppContext, seed: Any) -> None:
    seed("whoop", "u-fresh")
    connection = ctx.registry.get("whoop", "u-fresh")
    assert connection is not None
    now = datetime.now(UTC)
    first = plan(ctx.settings, ctx.pull_state, connection, now)
    assert sorted(j.data_type for j in first.jobs) == sorted((*COLLECTIONS, "profile", "body"))  # never pulled
    assert all(j.priority is Priority.RECONCILE for j in first.jobs)

    hours = {"cycle": 21.0, "sleep": 30.0, "recovery": 30.0, "workout": 2.0, "profile": 167.5, "body": 30.0}
    for name, age in hours.items():
        pulled(ctx, "u-fresh", name, now - timedelta(hours=age))
    notified(ctx, "u-fresh", now - timedelta(hours=1))  # notifications flow: notified types weekly
    flowing = plan(ctx.settings, ctx.pull_state, connection, now)
    # a snapshot is due weekly (PULL_SNAPSHOT_FRESHNESS_HOURS): the profile within the hour, the body not for days
    assert [j.data_type for j in flowing.jobs] == ["profile"]
    assert sorted(flowing.fresh) == ["body", "cycle", "recovery", "sleep", "workout"]
    # an hour later the cycle, which no notification covers, is due: two hours before it is a day old
    assert "cycle" in {
        j.data_type for j in plan(ctx.settings, ctx.pull_state, connection, now + timedelta(hours=1)).jobs
    }

    notified(ctx, "u-fresh", now - timedelta(hours=26))  # notifications stopped: every type within a day
    stopped = plan(ctx.settings, ctx.pull_state, connection, now)
    assert sorted(j.data_type for j in stopped.jobs) == ["profile", "recovery", "sleep"]
    # the quiet-stream reconciliation cuts the notified types' freshness to the quiet period
    notified(ctx, "u-fresh", now - timedelta(hours=7))
    quiet = plan(ctx.settings, ctx.pull_state, connection, now, quiet_hours=6.0)
    assert sorted(j.data_type for j in quiet.jobs) == ["profile", "recovery", "sleep"]

    shown = freshness(ctx.settings, ctx.pull_state, connection, now)
    assert shown["notifications_flow"] is True and shown["types"]["sleep"]["age_hours"] == pytest.approx(30.0)
    assert shown["types"]["sleep"]["notified"] and not shown["types"]["cycle"]["notified"]


def test_a_budget_exhausted_by_notifications_defers_reconciliation_and_never_drops_it(
    app_env: dict[str, str], seed: Any
) -> None:
    settings, ctx, connection = with_budget(app_env, seed, "10/86400", "u-busy")
    limits = settings.vendor("whoop").rate_limits
    due = plan(settings, ctx.pull_state, connection)
    assert len(due.jobs) == 6
    job = next(j for j in due.jobs if j.data_type == "sleep")

    for _ in range(8):  # notification work takes the 8 requests reconciliation may use (2 are kept for it)
        ctx.budget.acquire("whoop", "app", limits, Priority.LIVE)
    forget_budget_readings()
    deferred = plan(settings, ctx.pull_state, connection)
    assert deferred.jobs == [] and sorted(deferred.deferred) == sorted(j.data_type for j in due.jobs)
    assert list(ctx.pull_state.list("whoop", "u-busy")) == []  # nothing recorded: still due next run

    # a planned job already queued meets the reserve when it runs: it is queued again with a delay, not dropped
    outcome = ctx.pull.work_live(job.message())
    assert outcome.status is PullStatus.CONTINUED and outcome.requests == 0
    assert outcome.rest is not None and outcome.rest.data_type == "sleep" and outcome.retry_after > 3600
    queue = ctx.storage.queue(LIVE_QUEUE)
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.receive_messages()) == []  # invisible until the budget allows
    report = {row["limit"]: row for row in budget_report(settings, ctx.budget)}
    assert report["10/86400"]["used"] == 8 and report["10/86400"]["reconcile_left"] == 0

    # the reserve is notification work's: live requests still go
    assert ctx.budget.acquire("whoop", "app", limits, Priority.LIVE, deadline=datetime.now(UTC).timestamp() + 5) < 5

    # the quiet-stream reconciliation defers the same way: the connection is not marked reconciled
    activity = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    notified(ctx, "u-busy", datetime.now(UTC) - timedelta(hours=7))
    assert reconcile(settings, ctx.registry, ctx.pull_state, activity, queue) == 0
    assert "reconciled_at" not in activity.get_entity("whoop", "u-busy")

    # once the window frees (a new day: here the budget row goes), the same connection is planned in full
    ctx.budget.table.delete_entity("whoop", "app")
    forget_budget_readings()
    again = plan(settings, ctx.pull_state, connection)
    assert sorted(j.data_type for j in again.jobs) == sorted(j.data_type for j in due.jobs) and not again.deferred
    assert reconcile(settings, ctx.registry, ctx.pull_state, activity, queue) == 1


def test_reconciliation_at_its_freshness_deadline_spends_the_reserve_and_only_a_full_window_defers_it(
    app_env: dict[str, str], seed: Any, sandbox: Sandbox
) -> None:
    """When notification work alone takes more than the reserve leaves (a day of 1,000 WHOOP users), a type whose
    freshness runs out before the timer's next run is still pulled: what can wait keeps waiting."""
    settings, ctx, connection = with_budget(app_env, seed, "100/86400", "u-late")
    now = datetime.now(UTC)
    recent = (now - timedelta(days=2)).date().isoformat()
    ages = {"cycle": 23.5, "profile": 166.5, "body": 1, "sleep": 1, "recovery": 1, "workout": 1}
    for name, hours in ages.items():  # the cycle's day runs out within the hour; the profile's week in two hours
        ctx.pull_state.table.upsert_entity(
            {
                "PartitionKey": "whoop|u-late",
                "RowKey": name,
                "last_pull_at": iso(now - timedelta(hours=hours)),
                "watermark": recent,
            }
        )
    notified(ctx, "u-late", now - timedelta(minutes=5))
    limits = settings.vendor("whoop").rate_limits

    roomy = plan(settings, ctx.pull_state, connection, now)
    assert {j.data_type: j.priority for j in roomy.jobs} == {"cycle": Priority.DEADLINE, "profile": Priority.RECONCILE}

    for _ in range(80):  # notification work takes all reconciliation may use beyond the reserve
        ctx.budget.acquire("whoop", "app", limits, Priority.LIVE)
    forget_budget_readings()
    tight = plan(settings, ctx.pull_state, connection, now)
    assert [(j.data_type, j.priority) for j in tight.jobs] == [("cycle", Priority.DEADLINE)]
    assert tight.deferred == ["profile"] and tight.pressing == ["cycle"]
    before = sum(1 for r in sandbox.requests("whoop") if r.endpoint != "token")
    outcome = ctx.pull.work_live(tight.jobs[0].message())
    assert outcome.status is PullStatus.DONE and outcome.requests >= 1  # out of the reserve
    assert sum(1 for r in sandbox.requests("whoop") if r.endpoint != "token") - before == outcome.requests
    assert ctx.budget.usage("whoop", "app", limits[-1]) > 80
    mark = ctx.pull_state.get("whoop", "u-late", "cycle")
    assert mark is not None and mark.pulled_at is not None and mark.pulled_at > now - timedelta(minutes=1)

    # a full window defers even a pressing type, and records nothing: it is planned again next run
    while ctx.budget.usage("whoop", "app", limits[-1]) < 100:
        ctx.budget.acquire("whoop", "app", limits, Priority.LIVE)
    forget_budget_readings()
    later = now + timedelta(hours=23, minutes=30)
    full = plan(settings, ctx.pull_state, connection, later)
    assert full.jobs == [] and sorted(full.deferred) == sorted(full.pressing) == ["cycle", "profile"]


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()


def vendor_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests("whoop") if r.endpoint != "token")


def test_steady_state_whoop_requests_per_connection_per_day(
    ctx: AppContext, seed: Any, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """One WHOOP user, notifications flowing: hourly polling of every type against the planner's reconciliation,
    counted at the sandbox over simulated hours (the pull's requests; the notifications' own fetches, a few a day,
    come on top of both)."""
    seed("whoop", "u-day")
    connection = ctx.registry.get("whoop", "u-day")
    assert connection is not None
    clock = SimClock(datetime.now(UTC) - timedelta(days=8))  # the simulated week ends before the twin's now
    puller = Puller(ctx.settings, ctx.registry, ctx.tokens, ctx.budget, ctx.pull_state, ctx.sink, ctx.http, clock=clock)
    for job in plan(ctx.settings, ctx.pull_state, connection, clock.now).jobs:  # the first pull: 30 days
        assert puller.run(job).status is PullStatus.DONE

    hours_polled = 3
    before = vendor_requests(sandbox)
    for _ in range(hours_polled):  # today's policy: every type every hour
        clock.now += timedelta(hours=1)
        for job in manual_jobs(ctx.settings, ctx.pull_state, connection, clock.now):
            puller.run(job)
    polling_per_day = (vendor_requests(sandbox) - before) * 24 / hours_polled

    days = 7  # the notified types' reconciliation comes weekly: average over it
    before = vendor_requests(sandbox)
    for _ in range(24 * days):
        clock.now += timedelta(hours=1)
        notified(ctx, "u-day", clock.now - timedelta(minutes=20))  # a sync within the hour
        jobs = plan(ctx.settings, ctx.pull_state, connection, clock.now).jobs
        clock.now += timedelta(minutes=5)  # the worker runs the queued jobs a little after the timer
        for job in jobs:
            assert puller.run(job).status is PullStatus.DONE
        clock.now -= timedelta(minutes=5)
    planned_per_day = (vendor_requests(sandbox) - before) / days
    with capsys.disabled():
        print(
            f"\nWHOOP pull requests per connection a day: polling {polling_per_day:.0f}, planner {planned_per_day:.1f}"
        )
    assert polling_per_day == 7 * 24
    assert planned_per_day <= 2.5


def test_health_shows_freshness_per_type_and_the_budget_per_vendor(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, seed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WHOOP_RATE_LIMITS", "100/60,10000/86400")
    ctx = AppContext(load_settings({**app_env, "WHOOP_RATE_LIMITS": "100/60,10000/86400"}))
    ctx.ensure_resources()
    seed("whoop", "u-health", context=ctx)
    now = datetime.now(UTC)
    pulled(ctx, "u-health", "cycle", now - timedelta(hours=5))
    for _ in range(3):
        ctx.budget.acquire("whoop", "app", ctx.settings.vendor("whoop").rate_limits)

    response = call("connection", "GET", "connections/whoop/u-health", route={"vendor": "whoop", "user_id": "u-health"})
    body = json.loads(response.get_body())
    assert response.status_code == 200
    cycle = body["freshness"]["types"]["cycle"]
    assert cycle["age_hours"] == pytest.approx(5.0, abs=0.1) and cycle["due"] is False
    assert body["freshness"]["types"]["sleep"]["age_hours"] is None and body["freshness"]["types"]["sleep"]["due"]

    assert cli(["status"]) == 0
    out = capsys.readouterr().out
    daily = next(line for line in out.splitlines() if "10000/86400" in line)
    assert daily.split()[:6] == ["whoop", "10000/86400", "app", "3", "9997", "7997"]


def test_a_run_reads_a_collection_once_when_two_types_need_it(ctx: AppContext, seed: Any, sandbox: Sandbox) -> None:
    seed("whoop", "u-share")
    connection = ctx.registry.get("whoop", "u-share")
    assert connection is not None

    def cycle_reads() -> int:
        return sum(1 for r in sandbox.requests("whoop") if r.path.endswith("/v2/cycle"))

    jobs = {j.data_type: j for j in plan(ctx.settings, ctx.pull_state, connection).jobs}
    ctx.puller.run(jobs["cycle"])
    once = cycle_reads()
    assert once > 0
    recovery = ctx.puller.run(jobs["recovery"])  # the recovery reads the same window's cycles: from this run
    assert recovery.status is PullStatus.DONE and recovery.landed > 0
    assert cycle_reads() == once
    # live work always asks the vendor
    live = {j.data_type: j for j in manual_jobs(ctx.settings, ctx.pull_state, connection)}
    ctx.puller.run(live["recovery"])
    assert cycle_reads() > once
