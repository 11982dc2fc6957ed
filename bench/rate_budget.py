"""Table calls per granted slot of the shared rate budget, as the number of workers on one key grows.

    python -m bench.rate_budget [--workers 4 16 48] [--slots 300] [--paced-slots 150] [--paced-limit 30/1]

Runs against its own Azurite (in-memory, started here). N workers (threads, each with its own Table client,
as separate instances would have) take slots from one budget key until M slots are granted; every request any
of them sends to Table storage is counted (reads, the conditional updates they win, and those they lose to
another worker). Two loads:
- free: a limit that never binds (100,000 a minute): nothing but the workers' contention for the entity;
- paced: a limit that binds (--paced-limit, e.g. 30 a second): the workers wait for the window and wake
  together each time a slot frees, as backfill workers do under WHOOP's 100 a minute.
Each is measured with the earlier behaviour (a lost update is retried at once; the worker's own clock) and the
current one (a random, growing pause after each lost update; the storage service's time), in the same run.
The busiest window, as the service saw the grants (its own timestamps of the updates that took them), must
never hold more than the limit.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient

from sandbox.azurite import Azurite
from shared.pull.rate_budget import ETAG_TIME, Priority, RateBudget
from shared.settings import RateLimit

FREE = RateLimit(100_000, 60)
MARGIN = 0.25  # as in tests/test_rate_budget.py: covers the time from taking a slot to the grant being seen


class Counted(RequestsTransport):  # type: ignore[misc]
    """One worker's HTTP transport (the real one), counting the requests it sends and noting the storage
    service's own timestamp (in the entity's ETag) of every update that succeeded: when the service saw each
    slot taken (the workers take backfill slots, which never write a "live pulls waiting" mark)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.granted: list[float] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.calls += 1
        response = super().send(request, **kwargs)
        found = ETAG_TIME.search(response.headers.get("ETag", ""))
        if request.method in ("PUT", "POST") and response.status_code in (201, 204) and found:
            self.granted.append(datetime.fromisoformat(unquote(found.group(1))).timestamp())
        return response


@dataclass
class Run:
    workers: int
    new: bool
    granted: int
    calls: int
    seconds: float
    busiest: int

    @property
    def per_slot(self) -> float:
        return self.calls / self.granted


def busiest(times: list[float], seconds: float) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def run(connection_string: str, key: str, limit: RateLimit, workers: int, slots: int, new: bool) -> Run:
    transports = [Counted() for _ in range(workers)]
    clients = [TableServiceClient.from_connection_string(connection_string, transport=t) for t in transports]
    budgets = [RateBudget(c, MARGIN, backoff=new, service_time=new) for c in clients]
    budgets[0].ensure()
    transports[0].calls, transports[0].granted = 0, []
    taken = 0
    guard = threading.Lock()
    start = threading.Barrier(workers)

    def work(budget: RateBudget) -> None:
        nonlocal taken
        start.wait()
        while True:
            with guard:
                if taken >= slots:
                    return
            budget.acquire("bench", key, (limit,), Priority.BACKFILL)
            with guard:
                taken += 1

    threads = [threading.Thread(target=work, args=(b,)) for b in budgets]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for client in clients:
        client.close()
    granted = [at for t in transports for at in t.granted]
    assert len(granted) == taken, (len(granted), taken)
    calls = sum(t.calls for t in transports)
    return Run(workers, new, taken, calls, seconds, busiest(granted, limit.seconds))


def report(title: str, limit: RateLimit, runs: list[Run]) -> None:
    print(f"{title}: limit {limit.requests}/{limit.seconds:g} s")
    print(f"  {'workers':>7}  {'behaviour':<9} {'slots':>6} {'calls':>7} {'calls/slot':>10} {'time':>7} {'busiest':>8}")
    for r in runs:
        behaviour = "backoff" if r.new else "old"
        print(
            f"  {r.workers:>7}  {behaviour:<9} {r.granted:>6} {r.calls:>7} {r.per_slot:>10.2f} {r.seconds:>6.1f}s "
            f"{r.busiest:>4}/{limit.requests}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="*", default=[4, 16, 48])
    parser.add_argument("--slots", type=int, default=300, help="slots granted per free run")
    parser.add_argument("--paced-slots", type=int, default=150, help="slots granted per paced run")
    parser.add_argument("--paced-limit", default="30/1", help="requests/seconds of the paced runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    requests, seconds = (int(x) for x in args.paced_limit.split("/"))
    paced = RateLimit(requests, seconds)
    started = time.perf_counter()
    with Azurite() as azurite:
        loads = (("free", FREE, args.slots), ("paced", paced, args.paced_slots))
        results: dict[str, list[Run]] = {}
        for name, limit, slots in loads:
            results[name] = [
                run(azurite.connection_string, f"{name}-{workers}-{new}", limit, workers, slots, new)
                for workers in args.workers
                for new in (False, True)
            ]
    print(f"rate budget benchmark: Table calls per granted slot, one key, workers {args.workers}")
    for name, limit, _ in loads:
        report(name, limit, results[name])
    over = [r for name, limit, _ in loads for r in results[name] if r.busiest > limit.requests]
    print(f"total {time.perf_counter() - started:.0f} s")
    most = max(args.workers)
    figures = []
    for name in ("free", "paced"):
        old = next(r for r in results[name] if r.workers == most and not r.new)
        new = next(r for r in results[name] if r.workers == most and r.new)
        figures.append(f"{name} {old.per_slot:.2f} -> {new.per_slot:.2f}")
    print(f"key figure: Table calls per granted slot with {most} workers, old -> backoff: {'; '.join(figures)}")
    if over:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
