"""The shared rate budget, on Azurite's Table storage: a sliding window per vendor limit, pauses learned from
the vendor's answers, live pulls before backfill, and never a wait past the caller's deadline."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pytest
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from shared.app_context import AppContext
from shared.pull.rate_budget import ETAG_TIME, OutOfTime, Priority, RateBudget
from shared.settings import RateLimit
from tests.conftest import FakeClock

MINUTE = (RateLimit(3, 60),)


@pytest.fixture
def budget(ctx: AppContext, clock: FakeClock) -> RateBudget:
    # the window arithmetic on a clock the test moves (the storage service's time would not follow it)
    made = RateBudget(ctx.storage.tables, margin_seconds=2, clock=clock, sleep=clock.advance, service_time=False)
    made.ensure()
    return made


def test_a_full_window_waits_until_its_oldest_request_leaves_it(budget: RateBudget, clock: FakeClock) -> None:
    waits = []
    for _ in range(3):
        waits.append(budget.acquire("whoop", "app", MINUTE))
        clock.advance(10)
    assert waits == [0, 0, 0]
    started = clock.now
    waited = budget.acquire("whoop", "app", MINUTE)  # the 4th: the first left the window at +62 s
    assert clock.now == pytest.approx(started - 30 + 62, abs=0.1) and waited == pytest.approx(32, abs=0.1)
    assert budget.usage("whoop", "app", MINUTE[0]) == 3


def test_each_key_has_its_own_budget(budget: RateBudget) -> None:
    limit = (RateLimit(1, 3600),)
    assert budget.acquire("fitbit", "user-a", limit) == 0
    assert budget.acquire("fitbit", "user-b", limit) == 0
    with pytest.raises(OutOfTime) as stop:
        budget.acquire("fitbit", "user-a", limit, deadline=budget.clock() + 60)
    assert stop.value.retry_after == pytest.approx(3602, abs=1)


def test_a_day_limit_counts_in_minute_buckets(budget: RateBudget, clock: FakeClock) -> None:
    budget.exact_up_to = 20  # WHOOP's 10,000 a day, scaled down: limits above this count per minute
    limits = (RateLimit(10, 60), RateLimit(150, 86_400))
    for _ in range(150):
        budget.acquire("whoop", "app", limits)
        clock.advance(7.0)
    with pytest.raises(OutOfTime) as stop:
        budget.acquire("whoop", "app", limits, deadline=clock.now + 3600)
    # the day's first minute leaves the window a day (and the margin) after it began
    assert 86_400 - 150 * 7 < stop.value.retry_after <= 86_400 + 62


def test_a_429_pauses_every_worker_until_the_vendors_reset(budget: RateBudget, clock: FakeClock) -> None:
    budget.observe("whoop", "app", status=429, remaining=0, reset_seconds=40)
    started = clock.now
    budget.acquire("whoop", "app", MINUTE)
    assert clock.now - started == pytest.approx(42, abs=0.1)  # the reset, plus the margin
    budget.observe("whoop", "app", status=200, remaining=0, reset_seconds=20)  # "0 remaining" pauses too
    with pytest.raises(OutOfTime):
        budget.acquire("whoop", "app", MINUTE, deadline=clock.now + 5)


def test_live_pulls_take_a_freed_slot_before_backfill(budget: RateBudget, clock: FakeClock) -> None:
    for _ in range(3):
        budget.acquire("whoop", "app", MINUTE)
    with pytest.raises(OutOfTime):  # a live pull found the window full: it marks that it is waiting ...
        budget.acquire("whoop", "app", MINUTE, Priority.LIVE, deadline=clock.now + 1)
    clock.advance(62.5)  # ... the window has room again, but the live pull's mark is still fresh
    with pytest.raises(OutOfTime):
        budget.acquire("whoop", "app", MINUTE, Priority.BACKFILL, deadline=clock.now + 0.1)
    assert budget.acquire("whoop", "app", MINUTE, Priority.LIVE) == 0
    clock.advance(5)  # once no live pull is waiting, backfill goes
    assert budget.acquire("whoop", "app", MINUTE, Priority.BACKFILL) == 0


def test_threads_sharing_the_table_never_exceed_the_limit_in_any_window(ctx: AppContext) -> None:
    limit = (RateLimit(4, 1),)
    times: list[float] = []
    guard = threading.Lock()

    def worker() -> None:
        # one client per worker, the table shared; the margin covers the time between taking a slot and sending
        budget = RateBudget(ctx.storage.tables, margin_seconds=0.25)
        for _ in range(4):
            budget.acquire("whoop", "threads", limit)
            with guard:
                times.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    assert len(times) == 16
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest == 4  # paced to the limit, never over it
    assert times[-1] - times[0] >= 3.0


def busiest(times: list[float], seconds: float) -> int:
    """The most of ``times`` in any window of ``seconds``."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


class ServiceView(RequestsTransport):  # type: ignore[misc]
    """The real HTTP transport, noting the storage service's own timestamp of every update it carries that
    succeeded (a Table entity's ETag holds it): when the service saw each slot taken."""

    def __init__(self) -> None:
        super().__init__()
        self.granted: list[float] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        found = ETAG_TIME.search(response.headers.get("ETag", ""))
        if request.method in ("PUT", "POST") and response.status_code in (201, 204) and found:
            self.granted.append(datetime.fromisoformat(unquote(found.group(1))).timestamp())
        return response


def test_a_worker_whose_clock_is_10_s_off_cannot_push_a_window_over_its_limit(app_env: dict[str, str]) -> None:
    limit = (RateLimit(3, 1),)
    views = [ServiceView(), ServiceView()]

    def worker(view: ServiceView, offset: float) -> None:
        tables = TableServiceClient.from_connection_string(app_env["AzureWebJobsStorage"], transport=view)
        budget = RateBudget(tables, margin_seconds=0.25, clock=lambda: time.time() + offset)
        budget.ensure()
        for _ in range(5):  # backfill: no "live waiting" marks, so every update the service saw took a slot
            budget.acquire("whoop", "skew", limit, Priority.BACKFILL)

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(views, (0.0, -10.0), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted = views[0].granted + views[1].granted
    assert len(granted) == 10
    # as the service saw them: with the worker's own clock, the late one's sends looked 10 s old to the other
    assert busiest(granted, 1.0) <= 3


def test_a_worker_clock_that_steps_back_between_two_slots_still_writes_the_services_time(ctx: AppContext) -> None:
    shift = [0.0]
    budget = RateBudget(ctx.storage.tables, margin_seconds=0.25, clock=lambda: time.time() + shift[0])
    budget.acquire("whoop", "step", MINUTE)  # the write's ETag pins the offset to the round trip
    shift[0] = -10.0  # the worker's clock steps 10 s back (NTP, a VM resumed)
    budget.acquire("whoop", "step", MINUTE)
    sent = json.loads(ctx.storage.tables.get_table_client("ratebudget").get_entity("whoop", "step")["sent"])
    assert len(sent) == 2 and all(abs(at - time.time()) < 2.0 for at in sent)  # not 10 s in the past


def test_workers_that_lose_the_update_back_off_with_jitter(ctx: AppContext) -> None:
    """Each lost conditional update is followed by a random pause, growing with the losses in a row."""
    naps: list[float] = []
    guard = threading.Lock()
    limit = (RateLimit(1_000, 60),)

    def worker() -> None:
        def sleep(seconds: float) -> None:
            with guard:
                naps.append(seconds)
            time.sleep(seconds)

        budget = RateBudget(ctx.storage.tables, margin_seconds=0.1, sleep=sleep)
        for _ in range(10):
            budget.acquire("whoop", "contended", limit)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RateBudget(ctx.storage.tables).usage("whoop", "contended", limit[0]) == 80
    assert naps, "8 workers on one key never lost an update"
    assert len(set(naps)) == len(naps) and all(0 <= nap <= 1.0 for nap in naps)  # random, bounded


def test_reconciliation_and_backfill_leave_the_reserve_to_live_work(ctx: AppContext, clock: FakeClock) -> None:
    budget = RateBudget(
        ctx.storage.tables, margin_seconds=2, clock=clock, sleep=clock.advance, service_time=False, reserve_percent=20
    )
    budget.ensure()
    day = (RateLimit(10, 86_400),)
    for _ in range(8):
        assert budget.acquire("whoop", "app", day, Priority.RECONCILE) == 0
    for priority in (Priority.RECONCILE, Priority.BACKFILL):  # the last 2 of the day are live work's
        with pytest.raises(OutOfTime) as stop:
            budget.acquire("whoop", "app", day, priority, deadline=clock() + 600)
        assert stop.value.retry_after == pytest.approx(86_400 + 2, abs=1)  # when the first of the day leaves
    assert budget.acquire("whoop", "app", day, Priority.LIVE) == 0
    # reconciliation at its freshness deadline may spend the reserve, but not past the window's limit
    assert budget.acquire("whoop", "app", day, Priority.DEADLINE) == 0
    assert budget.usage("whoop", "app", day[0]) == 10
    for priority in (Priority.DEADLINE, Priority.LIVE):
        with pytest.raises(OutOfTime):
            budget.acquire("whoop", "app", day, priority, deadline=clock() + 600)


def test_a_waiting_live_pull_goes_before_reconciliation_and_a_waiting_reconciliation_before_backfill(
    budget: RateBudget, clock: FakeClock
) -> None:
    for _ in range(3):
        budget.acquire("whoop", "app", MINUTE)
    with pytest.raises(OutOfTime):  # a live pull waits: its mark holds reconciliation back too
        budget.acquire("whoop", "app", MINUTE, Priority.LIVE, deadline=clock.now + 1)
    clock.advance(62.5)
    for planned in (Priority.RECONCILE, Priority.DEADLINE):  # even reconciliation at its freshness deadline
        with pytest.raises(OutOfTime):
            budget.acquire("whoop", "app", MINUTE, planned, deadline=clock.now + 0.1)
    assert budget.acquire("whoop", "app", MINUTE, Priority.LIVE) == 0
    clock.advance(5)
    for _ in range(2):
        assert budget.acquire("whoop", "app", MINUTE, Priority.RECONCILE) == 0
    with pytest.raises(OutOfTime):  # a reconciliation waits within its deadline: it marks the budget ...
        budget.acquire("whoop", "app", MINUTE, Priority.RECONCILE, deadline=clock.now + 1)
    clock.advance(58)  # ... so the slot freed meanwhile is not backfill's yet
    with pytest.raises(OutOfTime):
        budget.acquire("whoop", "app", MINUTE, Priority.BACKFILL, deadline=clock.now + 0.1)
    assert budget.acquire("whoop", "app", MINUTE, Priority.RECONCILE) == 0
    clock.advance(5)
    assert budget.acquire("whoop", "app", MINUTE, Priority.BACKFILL) == 0
