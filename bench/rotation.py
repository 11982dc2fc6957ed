"""Rotation throughput against the sandbox and a Key Vault-compatible server, and losses under chaos.

    python -m bench.rotation [--connections 1000] [--concurrency 32] [--vendor fitbit] [--chaos]

Everything runs on loopback: Azurite (locks, registry), the sandbox vendor (100 ms latency), the Key Vault
fake (30 ms latency, 300 writes per 10 s like Key Vault) reached through the real SDK and managed identity.
Prints achieved rotations/s, the bound, their ratio (target >= 0.8), and the speed-up over one-at-a-time
rotation measured in the same run. With --chaos (20% vendor faults, 5% vault faults, two overlapping runs
plus on-demand refreshes) it prints how many connections were lost (must be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.pool import Pool

from bench.fakes import RemoteFakes
from sandbox.azurite import Azurite
from shared.app_context import AppContext
from shared.connections import store_connection
from shared.registry import Connection
from shared.rotation import rotate_all, rotate_one
from shared.settings import load_settings
from shared.token_service import Outcome
from shared.vendors import spec_for

VAULT_WRITES, VAULT_WINDOW = 300, 10.0


@contextmanager
def environment() -> Iterator[tuple[AppContext, RemoteFakes]]:
    with Azurite(memory_limit_mb=1024) as azurite, RemoteFakes() as fakes:
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "LOCK_LEASE_SECONDS": "30",
            "LOCK_WAIT_SECONDS": "300",
            "HTTP_TIMEOUT_SECONDS": "2",
            "VAULT_WRITE_RETRY_SECONDS": "600",
            **fakes.env,
        }
        os.environ.update(env)
        context = AppContext(load_settings(env))
        context.ensure_resources()
        yield context, fakes


def seed(context: AppContext, fakes: RemoteFakes, vendor: str, count: int) -> list[Connection]:
    spec = spec_for(vendor)

    def one(index: int) -> Connection:
        user = f"bench-{index:05d}"
        pair = spec.parse_token_response(fakes.call("sandbox", "grant", vendor, user))
        return store_connection(context.vault, context.registry, vendor, user, pair)

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


_WORKER: AppContext | None = None


def _start_worker(env: dict[str, str]) -> None:
    """A rotation worker process, like one Functions worker process: its own context from app settings."""
    global _WORKER
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    os.environ.update(env)
    _WORKER = AppContext(load_settings(env))


def _warm_up(connection: tuple[str, str]) -> None:
    assert _WORKER is not None
    _WORKER.vault.read(*connection)  # first use opens connections and fetches the managed-identity token


def _rotate_shard(job: tuple[list[tuple[str, str]], int]) -> tuple[int, str, list[str]]:
    assert _WORKER is not None
    shard, concurrency = job
    summary = rotate_all(_WORKER.tokens, [Connection(v, u) for v, u in shard], concurrency=concurrency, force=True)
    return summary.counts.get(Outcome.ROTATED.value, 0), summary.line(), summary.problems[:3]


def timed_rotations(pool: Pool, connections: list[Connection], concurrency: int, processes: int) -> float:
    """Rotate every connection across the worker processes; seconds taken. Exits when any fails to rotate."""
    keys = [(c.vendor, c.user_id) for c in connections]
    shards = [keys[i::processes] for i in range(processes)]
    per_process = max(1, concurrency // processes)
    started = time.perf_counter()
    results = pool.map(_rotate_shard, [(shard, per_process) for shard in shards if shard])
    elapsed = time.perf_counter() - started
    rotated = sum(r[0] for r in results)
    if rotated != len(connections):
        raise SystemExit(f"only {rotated} of {len(connections)} rotated: {[r[1:] for r in results]}")
    return elapsed


def bound_rate(count: int, concurrency: int, vendor_latency: float, vault_latency: float) -> tuple[float, str]:
    """The best rotations/s possible: each rotation needs a vault read, a vendor call and a vault write in
    sequence (storage calls to Azurite are left out, so the bound is generous), with `concurrency` at once;
    and Key Vault admits VAULT_WRITES writes per sliding VAULT_WINDOW."""
    per_rotation = vendor_latency + 2 * vault_latency
    by_latency = concurrency / per_rotation
    windows = math.ceil(count / VAULT_WRITES) - 1
    by_vault = count / (windows * VAULT_WINDOW) if windows > 0 else math.inf
    if by_latency <= by_vault:
        return by_latency, f"{concurrency} at once / {per_rotation * 1000:.0f} ms each"
    return by_vault, f"vault writes: {count} writes need {windows} full {VAULT_WINDOW:.0f} s windows"


def throughput(args: argparse.Namespace) -> None:
    with environment() as (context, fakes):
        connections = seed(context, fakes, args.vendor, args.connections)
        fakes.call("sandbox", "set_latency", args.vendor, args.vendor_latency)
        fakes.set("vault", "latency", args.vault_latency)
        fakes.set("vault", "write_limit", (VAULT_WRITES, VAULT_WINDOW))

        env = dict(fakes.env, AzureWebJobsStorage=context.settings.storage.connection_string or "")
        with multiprocessing.get_context("spawn").Pool(args.processes, _start_worker, (env,)) as pool:
            pool.map(_warm_up, [(c.vendor, c.user_id) for c in connections[: args.processes * 4]])
            sample = connections[: args.sequential_sample]
            sequential = timed_rotations(pool, sample, concurrency=1, processes=1)
            sequential_rate = len(sample) / sequential
            time.sleep(VAULT_WINDOW)  # let the write window empty before the timed run
            elapsed = timed_rotations(pool, connections, args.concurrency, args.processes)
        rate = len(connections) / elapsed
        bound, why = bound_rate(len(connections), args.concurrency, args.vendor_latency, args.vault_latency)
        throttled = sum(1 for r in fakes.get("vault", "requests") if r.status == 429)
        print(
            f"rotation benchmark: {len(connections)} {args.vendor} connections, concurrency {args.concurrency}, "
            f"vendor latency {args.vendor_latency * 1000:.0f} ms, vault latency {args.vault_latency * 1000:.0f} ms, "
            f"vault limit {VAULT_WRITES} writes/{VAULT_WINDOW:.0f} s"
        )
        print(f"  achieved        {rate:8.1f} rotations/s  ({elapsed:.1f} s)")
        print(f"  bound           {bound:8.1f} rotations/s  ({why})")
        print(f"  ratio           {rate / bound:8.2f}        (target >= 0.80)")
        print(f"  one at a time   {sequential_rate:8.1f} rotations/s  ({len(sample)} measured in this run)")
        print(f"  speed-up        {rate / sequential_rate:8.1f}x")
        print(f"  vault 429s      {throttled:8d}        (answered by waiting Retry-After)")


def chaos(args: argparse.Namespace) -> None:
    with environment() as (context, fakes):
        connections = seed(context, fakes, args.vendor, args.connections)
        kinds = ["error_500", "error_503", "rate_limited", "timeout"]
        if spec_for(args.vendor).name == "fitbit":  # a lost response spends a WHOOP token for good, by design
            kinds.append("lost_response")
        fakes.call("sandbox", "set_latency", args.vendor, args.vendor_latency)
        fakes.call("sandbox", "chaos", args.vendor, 0.2, kinds, seed=7, seconds=3, retry_after=1)
        fakes.set("vault", "latency", args.vault_latency)
        fakes.set("vault", "write_limit", (VAULT_WRITES, VAULT_WINDOW))
        fakes.call("vault", "chaos", 0.05, ["throttle", "unavailable"], seed=11)

        stop = threading.Event()

        def on_demand() -> None:
            rng = random.Random(3)
            while not stop.is_set():
                connection = rng.choice(connections)
                with contextlib.suppress(Exception):  # failures under chaos are expected; losses are counted
                    context.tokens.access_token_for(connection.vendor, connection.user_id)

        started = time.perf_counter()
        side = [threading.Thread(target=on_demand) for _ in range(4)]
        runs = [
            threading.Thread(target=rotate_all, args=(context.tokens, connections, args.concurrency, True))
            for _ in range(2)
        ]
        for thread in side + runs:
            thread.start()
        for thread in runs:
            thread.join()
        stop.set()
        for thread in side:
            thread.join()
        elapsed = time.perf_counter() - started

        backing_off = sum(1 for c in context.registry.list(args.vendor) if c.consecutive_failures)
        requests = fakes.call("sandbox", "requests", args.vendor)
        faults = sum(1 for r in requests if r.status is None or (r.status or 0) >= 429)
        fakes.call("sandbox", "chaos", args.vendor, 0, [])
        fakes.call("vault", "chaos", 0, [])
        with ThreadPoolExecutor(args.concurrency) as pool:  # every connection must still rotate
            outcomes = list(
                pool.map(lambda c: rotate_one(context.tokens, c.vendor, c.user_id, force=True).outcome, connections)
            )
        lost = [c.user_id for c, o in zip(connections, outcomes, strict=True) if o is not Outcome.ROTATED]
        print(
            f"rotation chaos: {len(connections)} {args.vendor} connections, two overlapping runs and on-demand "
            f"refreshes for {elapsed:.1f} s; vendor faults 20% ({', '.join(kinds)}), vault faults 5%"
        )
        print(f"  vendor requests that failed   {faults} of {len(requests)}")
        print(f"  connections left backing off  {backing_off} (then every connection was rotated once more)")
        print(f"  connections lost              {len(lost)}" + (f"  {lost[:5]}" if lost else ""))
        if lost:
            raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="rotations at once, over all processes")
    parser.add_argument("--processes", type=int, default=2, help="worker processes, like Functions workers")
    parser.add_argument("--vendor", default="fitbit", choices=["fitbit", "whoop", "codoon"])
    parser.add_argument("--vendor-latency", type=float, default=0.100)
    parser.add_argument("--vault-latency", type=float, default=0.030)
    parser.add_argument("--sequential-sample", type=int, default=30)
    parser.add_argument("--chaos", action="store_true")
    args = parser.parse_args()
    # transient failures are expected here (and counted); keep the report readable
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.chaos:
        chaos(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
