"""Backfill throughput under WHOOP's rate limit, and backfill memory against the length of the history.

    python -m bench.pull [--years 1 3] [--memory-years 1 5] [--concurrency 4] [--vendor-latency 0.02]

Everything runs on loopback, afresh for every run: Azurite (in-memory, empty) and the sandbox WHOOP in a
process of its own (the vendor is remote: this process measures only the app). Backfills go through the
command line's own chunk runner (``shared.cli_pull.run_chunks``): all four WHOOP data types, one user.

Rate-limited runs (``--years``): the sandbox enforces WHOOP's 100 requests/60 s and 10,000/day; the app runs
with its default WHOOP_RATE_LIMITS (and RATE_LIMIT_MARGIN_SECONDS). R is the data requests the sandbox saw
(token and profile calls excluded). Two bounds on the wall time:
- naive: R / 100 per minute (the issue's definition);
- tight: the earliest any client can send R requests when no 60 s window may hold more than 100, i.e.
  (ceil(R/100) - 1) x 60 s, as the first 100 may go at once. With R <= 100 the limit never binds: the bound
  is 0 and the run is bound by latency and storage instead.
The ratio bound/wall is the share of the rate limit used (target >= 0.9 on the tight bound). The send times
of the 100th, 200th, ... and last request show where the time went. Every landed record is compared with the
sandbox's ``expected_records``; the busiest minute must hold <= 100 requests and no request may get a 429.

Memory runs (``--memory-years``): limits off at both ends, each backfill in a fresh worker process. Peak
Python memory (tracemalloc; "retained": still allocated when it ends), the RSS growth (sampled every 20 ms)
and the ru_maxrss growth are measured around the backfill only; a streamed pull keeps them flat as the
history grows. tracemalloc slows these runs several times over: their time is not the app's speed.
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import math
import multiprocessing
import os
import resource
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from multiprocessing.connection import Connection
from typing import Any

from bench.remote import RemoteSandbox
from bench.remote import app_env as remote_app_env
from sandbox.azurite import Azurite
from shared.app_context import AppContext
from shared.cli_pull import ProgressBar, run_chunks
from shared.connections import store_connection
from shared.layout import RAW_CONTAINER
from shared.pull.backfill import BackfillRequest
from shared.settings import load_settings
from shared.vendors import spec_for

VENDOR = "whoop"
TYPES = ("cycle", "sleep", "recovery", "workout")
LIMITS = (100, 10_000)
PER_MINUTE, WINDOW = LIMITS[0], 60.0
OAUTH_ENDPOINTS = frozenset({"token", "authorize", "revoke", "profile"})
"""Not data requests: not counted by the vendor's rate limit (nor by the sandbox's)."""
TARGET = 0.9


# -- the sandbox vendor, in a process of its own -------------------------------------------------------------
def _set_rate_limits(box: Any, vendor: str, setting: Any) -> None:
    box.rate_limits[vendor] = setting


def _data_requests(box: Any, vendor: str) -> int:
    return sum(1 for r in box.requests(vendor) if r.endpoint not in OAUTH_ENDPOINTS)


def _request_times(box: Any, vendor: str) -> list[float]:
    return sorted(r.at for r in box.requests(vendor) if r.endpoint not in OAUTH_ENDPOINTS)


def _expected(box: Any, vendor: str, types: tuple[str, ...], user: str, start: date, end: date) -> dict[str, set[str]]:
    return {
        t: {f"{rid}@{day.isoformat()}" for rid, day in box.expected_records(vendor, t, user, start, end)} for t in types
    }


def _token_pair(box: Any, vendor: str, user: str) -> tuple[dict[str, object], str]:
    return box.grant(vendor, user), box.vendor_user_id(vendor, user)


_OPS: dict[str, Callable[..., Any]] = {
    "set_rate_limits": _set_rate_limits,
    "data_requests": _data_requests,
    "request_times": _request_times,
    "expected": _expected,
    "token_pair": _token_pair,
}


def _serve(channel: Connection, latency: float) -> None:
    from sandbox import Sandbox

    box = Sandbox(latency=latency).start()
    channel.send(box.settings_env())
    try:
        while (command := channel.recv()) is not None:
            name, args = command
            try:
                operation = _OPS.get(name)
                result = operation(box, *args) if operation else getattr(box, name)(*args)
                channel.send((True, result))
            except Exception as error:  # reported to the caller
                channel.send((False, f"{type(error).__name__}: {error}"))
    finally:
        box.stop()


# -- the app ---------------------------------------------------------------------------------------------------
def app_env(storage: str, secrets_dir: str, sandbox: RemoteSandbox, rate_limits: bool) -> dict[str, str]:
    """App settings as tests/conftest.py's ``app_env`` makes them; WHOOP's limits are the app's defaults."""
    return remote_app_env(storage, secrets_dir, sandbox, rate_limits, VAULT_WRITE_RETRY_SECONDS="60")


def context_for(env: dict[str, str]) -> AppContext:
    os.environ.update(env)
    context = AppContext(load_settings(env))
    context.ensure_resources()
    _ = context.pull  # the services' clients, built once per process: not part of any backfill's cost
    return context


def connect(context: AppContext, sandbox: RemoteSandbox, user: str, start: date) -> None:
    """A WHOOP member since ``start``, connected as the OAuth callback would store it."""
    sandbox.call("set_member_since", VENDOR, user, start)
    body, vendor_user = sandbox.call("token_pair", VENDOR, user)
    pair = spec_for(VENDOR).parse_token_response(body).with_user(vendor_user)
    store_connection(context.vault, context.registry, VENDOR, user, pair)


def window(years: int) -> tuple[date, date]:
    end = date.today() - timedelta(days=3)
    return end - timedelta(days=365 * years - 1), end


def backfill(context: AppContext, user: str, start: date, end: date, concurrency: int) -> tuple[float, int, int]:
    """What ``python -m shared backfill`` does: (seconds, records landed, chunks failed)."""
    started = time.perf_counter()
    body = {"vendor": VENDOR, "user_id": user, "start": start.isoformat(), "end": end.isoformat()}
    request = BackfillRequest.parse(body, context.settings, context.registry)
    assert set(request.data_types) == set(TYPES), request.data_types
    job_id, chunks = context.backfills.create(request, runner="bench")
    failed = run_chunks(context, chunks, concurrency, ProgressBar(len(chunks), 0, stream=io.StringIO()))
    elapsed = time.perf_counter() - started
    progress = context.backfills.progress(job_id) or {}
    return elapsed, int(progress.get("records_landed") or 0), failed


def check_landed(context: AppContext, sandbox: RemoteSandbox, user: str, start: date, end: date) -> str:
    """OK when the raw blobs of the window are exactly the sandbox's records (id and local day) per type."""
    want: dict[str, set[str]] = sandbox.call("expected", VENDOR, TYPES, user, start, end)
    container = context.storage.blobs.get_container_client(RAW_CONTAINER)
    problems = []
    for data_type in TYPES:
        got = set()
        for blob in container.list_blobs(name_starts_with=f"{VENDOR}/{data_type}/user={user}/"):
            day = blob.name.split("/date=")[1].split("/")[0]
            if start.isoformat() <= day <= end.isoformat():
                got.add(f"{blob.name.rsplit('/', 1)[1].removesuffix('.json')}@{day}")
        if got != want[data_type]:
            problems.append(f"{data_type} {len(got)}/{len(want[data_type])}")
    counts = "+".join(str(len(want[t])) for t in TYPES)
    return f"OK ({counts} expected)" if not problems else f"MISMATCH: {', '.join(problems)}"


@contextmanager
def fresh_app(latency: float, rate_limits: bool) -> Iterator[tuple[AppContext, dict[str, str], RemoteSandbox]]:
    """Empty storage (its own Azurite), its own secrets directory and its own sandbox WHOOP, so every run
    starts with an empty rate-limit window at both ends and lands into an empty account."""
    with (
        Azurite(memory_limit_mb=2048) as azurite,
        tempfile.TemporaryDirectory(prefix="bench-pull-") as secrets_dir,
        RemoteSandbox(_serve, latency) as sandbox,
    ):
        sandbox.call("set_rate_limits", VENDOR, LIMITS if rate_limits else None)
        env = app_env(azurite.connection_string, secrets_dir, sandbox, rate_limits)
        yield context_for(env), env, sandbox


# -- rate-limited runs ------------------------------------------------------------------------------------------
@dataclass
class RateRun:
    years: int
    requests: int
    seconds: float
    landed: int
    failed: int
    busiest: int
    refused: int
    check: str
    sends: list[float]  # seconds from the backfill's start

    def report(self, latency: float, concurrency: int) -> None:
        naive = self.requests / PER_MINUTE * WINDOW
        tight = (math.ceil(self.requests / PER_MINUTE) - 1) * WINDOW
        print(
            f"  {self.years} year(s): R = {self.requests} data requests, {self.landed} records landed "
            f"in {self.seconds:.1f} s, {self.failed} chunks failed"
        )
        print(f"    naive bound  R/100 per min          {naive:6.1f} s   ratio {naive / self.seconds:5.2f}")
        if tight > 0:
            verdict = "ok" if tight / self.seconds >= TARGET else "BELOW TARGET"
            print(
                f"    tight bound  (ceil(R/100)-1) x 60 s {tight:6.1f} s   ratio {tight / self.seconds:5.2f}"
                f"   (target >= {TARGET}: {verdict})"
            )
        else:
            print(
                f"    tight bound  0 s: R <= {PER_MINUTE}, the limit never binds; this run is bound by the vendor "
                f"latency ({latency * 1000:.0f} ms, {concurrency} chunks at once) and storage, not the rate limit"
            )
        marks = [n for n in range(PER_MINUTE, len(self.sends) + 1, PER_MINUTE)] + [len(self.sends)]
        timeline = ", ".join(f"#{n} at {self.sends[n - 1]:.1f} s" for n in dict.fromkeys(marks) if n)
        print(f"    sends        {timeline}; done at {self.seconds:.1f} s")
        print(
            f"    busiest 60 s window {self.busiest} requests (limit {PER_MINUTE}), 429s served {self.refused}, "
            f"records vs sandbox {self.check}"
        )


def rate_run(latency: float, years: int, concurrency: int) -> RateRun:
    with fresh_app(latency, rate_limits=True) as (context, _, sandbox):
        user = f"bench-rate-{years}y"
        start, end = window(years)
        connect(context, sandbox, user, start)
        started = time.monotonic()  # CLOCK_MONOTONIC: the same clock as the sandbox process's request times
        seconds, landed, failed = backfill(context, user, start, end, concurrency)
        sends = [at - started for at in sandbox.call("request_times", VENDOR)]
        return RateRun(
            years,
            len(sends),
            seconds,
            landed,
            failed,
            sandbox.call("max_window_usage", VENDOR),
            sandbox.call("limit_exceeded", VENDOR),
            check_landed(context, sandbox, user, start, end),
            sends,
        )


# -- memory runs ------------------------------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _memory_worker(env: dict[str, str], user: str, start: date, end: date, concurrency: int) -> dict[str, float]:
    """One backfill in a fresh process; memory measured around it only (tracemalloc, and the process's RSS
    sampled every 20 ms beside its high-water mark)."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    context = context_for(env)
    gc.collect()
    rss_before, max_rss_before = _rss_bytes(), _max_rss_bytes()
    rss_peak = rss_before
    stop = threading.Event()

    def sample() -> None:
        nonlocal rss_peak
        while not stop.wait(0.02):
            rss_peak = max(rss_peak, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracemalloc.start()
    seconds, landed, failed = backfill(context, user, start, end, concurrency)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stop.set()
    sampler.join()
    return {
        "seconds": seconds,
        "landed": landed,
        "failed": failed,
        "peak": peak,
        "retained": retained,
        "rss_before": rss_before,
        "rss_growth": max(rss_peak, _rss_bytes()) - rss_before,
        "max_rss_growth": _max_rss_bytes() - max_rss_before,
        "max_rss_before": max_rss_before,
    }


@dataclass
class MemoryRun:
    years: int
    figures: dict[str, float]
    check: str


def memory_run(latency: float, years: int, concurrency: int) -> MemoryRun:
    with fresh_app(latency, rate_limits=False) as (context, env, sandbox):
        user = f"bench-mem-{years}y"
        start, end = window(years)
        connect(context, sandbox, user, start)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            figures = pool.submit(_memory_worker, env, user, start, end, concurrency).result()
        return MemoryRun(years, figures, check_landed(context, sandbox, user, start, end))


def report_memory(runs: list[MemoryRun]) -> None:
    mib = 2**20
    print("memory: limits off, each run in a fresh process with empty storage, measured around the backfill only")
    print(
        f"  {'history':>7} {'records':>8} {'time':>7} {'tracemalloc peak':>17} {'retained':>9} "
        f"{'RSS growth':>11} {'maxrss growth':>14}"
    )
    for run in runs:
        f = run.figures
        print(
            f"  {run.years:>5} y {int(f['landed']):>8} {f['seconds']:>6.1f}s {f['peak'] / mib:>13.1f} MiB "
            f"{f['retained'] / mib:>5.1f} MiB "
            f"{f['rss_growth'] / mib:>7.1f} MiB {f['max_rss_growth'] / mib:>10.1f} MiB  records vs sandbox {run.check}"
        )
    if len(runs) >= 2:
        low, high = min(runs, key=lambda r: r.years), max(runs, key=lambda r: r.years)
        grew = high.figures["landed"] / max(1.0, low.figures["landed"])
        print(
            f"  peak {high.years} y / peak {low.years} y = {high.figures['peak'] / low.figures['peak']:.2f} "
            f"(tracemalloc), {grew:.1f}x the records; flat is ~1.0. RSS before the backfill "
            f"{low.figures['rss_before'] / mib:.0f} MiB "
            f"(ru_maxrss {low.figures['max_rss_before'] / mib:.0f} MiB, set at start-up)"
        )


# -- the benchmark ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, nargs="*", default=[1, 3], help="rate-limited runs, years of history")
    parser.add_argument("--memory-years", type=int, nargs="*", default=[1, 5], help="memory runs, years of history")
    parser.add_argument("--concurrency", type=int, default=4, help="chunks at once, as `backfill --concurrency`")
    parser.add_argument("--vendor-latency", type=float, default=0.020)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    print(
        f"pull benchmark: one WHOOP user per run, data types {', '.join(TYPES)}; backfill concurrency "
        f"{args.concurrency}, vendor latency {args.vendor_latency * 1000:.0f} ms"
    )
    rate_runs = [rate_run(args.vendor_latency, years, args.concurrency) for years in args.years]
    memory_runs = [memory_run(args.vendor_latency, years, args.concurrency) for years in args.memory_years]
    if rate_runs:
        print(f"rate-limited: the sandbox enforces {LIMITS[0]}/60 s and {LIMITS[1]}/day; the app its default limits")
        for run in rate_runs:
            run.report(args.vendor_latency, args.concurrency)
    if memory_runs:
        report_memory(memory_runs)
    print(f"total {time.perf_counter() - started:.0f} s")
    bad = [r for r in rate_runs if r.busiest > PER_MINUTE or r.refused or r.failed or not r.check.startswith("OK")]
    if bad or any(r.figures["failed"] or not r.check.startswith("OK") for r in memory_runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
