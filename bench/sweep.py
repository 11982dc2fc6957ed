"""The rotation and pull sweeps over a large registry, against parallel bare queue writes in the same run.

    python -m bench.sweep [--rows 10000] [--shards 64] [--shard-workers 4] [--granted SCOPES] [--only rotate|pull]

Azurite (in-memory, empty) is started for the run, its Table service through ``bench/azurite_table.py``: the
registry is seeded with ``--rows`` WHOOP connections (random 32-hex user ids, every pair due for rotation, no
pull yet, ``--granted`` scopes), one written over HTTP and copied inside the emulator (Azurite checks each row
inserted over HTTP against its whole partition: 30,000 rows of one partition took 224 s, 100,000 did not finish).
Then, each timed from the timer's call to the last message sent:

- bare: as many messages as the sweep just measured sent, written to a scratch queue by a pool of threads as
  wide as the shard workers' together (``--shard-workers`` x ``shared.sweep.SEND_THREADS``), the most a sweep of
  this width could reach (the same count: each message Azurite holds makes the next write dearer);
- sequential: the old timer's way (one ``send_message`` after another) over a sample, for comparison;
- rotation: ``Sweeps.start("rotate")``, then every ``sweep-shards`` message worked by ``--shard-workers``
  concurrent shard workers, each taking the next message as soon as it is done (as the Functions host takes queue
  messages in parallel): one ``rotate-jobs`` message per connection;
- pull: the same with ``Sweeps.start("pull")``: the planner's jobs for each connection (one per due data type,
  a state read per connection), spread over the hour (visibility delays).

Each of these runs on its own fresh Azurite (queue and blob), the registry's table service shared: Azurite
collects the messages a queue lost (a clear, a delete) in a background task whose every extent removal re-sorts
the whole extent index, so 100,000 messages cleared before a run cost it minutes of the emulator's one thread
(found with ``perf``); a fresh emulator per run measures the sweep, not that collection. The ``sweep-shards``
queue is on a second emulator of its own: Azurite re-sorts the index of every message it holds on each delete and
each receive, so with 100,000 work messages held each shard message's receive and delete cost about a second of
the emulator's one thread (``perf``: ``Collection.ensureAllIndexes`` under ``dequeue`` and ``removeBatch``); on
the real service they cost what any queue call costs.

messages/s is the work messages queued over the wall time; the ratio is that over the bare writes' rate (target
>= 0.8). The counts are checked on the queues (approximate counts include the invisible, delayed ones). With
fewer than 100,000 rows the 100,000-connection wall time is extrapolated at the measured rate, and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueClient

from bench.azurite_table import BulkTables
from sandbox.azurite import Azurite
from shared.app_context import AppContext
from shared.pull.jobs import LIVE_QUEUE
from shared.registry import Connection
from shared.settings import Settings, load_settings
from shared.storage import CONNECTIONS_TABLE, ROTATE_QUEUE, SWEEP_QUEUE, SWEEP_TABLE
from shared.sweep import SEND_THREADS
from shared.sweep_once import SweepOnce
from shared.sweeps import Sweeps

VENDOR = "whoop"
OLD = "2020-01-01T00:00:00Z"
TARGET = 100_000


@dataclass
class Run:
    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def seed(ctx: AppContext, tables: BulkTables, rows: int, granted: str) -> float:
    """``rows`` WHOOP connections: the first written over HTTP as the app writes it, the rest copied from it."""
    table = ctx.storage.tables.get_table_client(CONNECTIONS_TABLE)
    users = sorted(uuid.uuid4().hex for _ in range(rows))
    started = time.perf_counter()
    table.create_entity(
        Connection(
            VENDOR,
            users[0],
            secret_name=f"tok-{VENDOR}-{users[0]}",
            last_refresh_at=OLD,
            connected_at=OLD,
            granted_scopes=granted,
        ).to_entity()
    )
    copied = tables.clone(CONNECTIONS_TABLE, users[1:])
    assert copied == rows - 1
    return time.perf_counter() - started


def bare(ctx: AppContext, count: int, threads: int) -> Run:
    queue = ctx.storage.queue("bench-bare")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    body = '{"vendor":"whoop","user_id":"' + "0" * 32 + '","reason":"schedule","enqueued_at":0}'
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: queue.send_message(body), range(count)))
    return Run(f"bare parallel writes ({threads} threads)", count, time.perf_counter() - started)


def sequential(ctx: AppContext, count: int) -> Run:
    queue = ctx.storage.queue("bench-sequential")
    queue.create_queue()
    body = '{"vendor":"whoop","user_id":"' + "0" * 32 + '","reason":"schedule","enqueued_at":0}'
    started = time.perf_counter()
    for _ in range(count):
        queue.send_message(body)
    return Run("sequential writes (the old timer)", count, time.perf_counter() - started)


def sweep(ctx: AppContext, name: str, work_queue: str, shard_workers: int) -> Run:
    """The timer, then every ``sweep-shards`` message (and any continuation a shard run hands over at its
    deadline, as the host would deliver it) worked by ``shard_workers`` at a time."""
    shards = ctx.sweeps._queue(SWEEP_QUEUE)  # on an emulator of its own (see ``fresh``)
    started = time.perf_counter()
    made = ctx.sweeps.start(name)
    results: list[Any] = []

    def work(message: Any) -> Any:
        for attempt in range(5):  # a failed run is delivered again (the queue's retry), at once here
            try:
                result = ctx.sweeps.work_shard(message.content)
                break
            except AzureError:
                if attempt == 4:
                    raise
        shards.delete_message(message)
        return result

    busy, changed = [0], threading.Condition()

    def host() -> None:
        """One of the host's concurrent invocations: the next shard message as soon as the last is done. An idle
        one waits for a busy one to finish (which may hand a continuation over) instead of polling: every receive
        makes Azurite scan and sort all the messages it holds."""
        while True:
            with changed:
                message = next(iter(shards.receive_messages(max_messages=1, visibility_timeout=900)), None)
                if message is None:
                    if busy[0] == 0:
                        return  # nothing queued and nobody working who could still hand a continuation over
                    changed.wait()
                    continue
                busy[0] += 1
            try:
                results.append(work(message))
            finally:
                with changed:
                    busy[0] -= 1
                    changed.notify_all()

    hosts = [threading.Thread(target=host) for _ in range(shard_workers)]
    for thread in hosts:
        thread.start()
    for thread in hosts:
        thread.join()
    seconds = time.perf_counter() - started
    sent = sum(r.sent for r in results)
    queued = ctx.storage.queue(work_queue).get_queue_properties().approximate_message_count or 0
    done = sum(1 for r in results if r.done)
    continued = sum(1 for r in results if r.continued)
    assert done == made, f"{done} of {made} shards done"
    assert queued == sent, f"{work_queue}: {queued} queued, {sent} sent"
    return Run(f"{name} sweep ({done} shards, {shard_workers} at a time, +{continued} handovers)", sent, seconds)


def show(run: Run, base: Run) -> None:
    print(
        f"{run.name:52} {run.messages:>9,} {run.seconds:>8.1f} {run.rate:>8.0f} {run.rate / base.rate:>7.2f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="registry rows (100,000: see the report)")
    parser.add_argument("--shards", type=int, default=Settings.sweep_shards, help="SWEEP_SHARDS: shards per vendor")
    parser.add_argument("--shard-workers", type=int, default=4, help="shard messages worked at once")
    parser.add_argument(
        "--granted",
        default="",
        help="granted scopes of every row (e.g. 'read:sleep read:recovery': two pull jobs each); default all six types",
    )
    parser.add_argument("--only", choices=("rotate", "pull"), help="run one sweep (e.g. 100,000 rows of rotation)")
    args = parser.parse_args(argv)
    bench_started = time.perf_counter()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # more threads than the SDK's 10 pooled connections
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as workdir, BulkTables() as tables:

        @contextlib.contextmanager
        def fresh() -> Iterator[AppContext]:
            """The app's context on a fresh Azurite (queue, blob) and the shared table service; ``sweep-shards`` on
            a second fresh Azurite (see ``sweep``)."""
            with Azurite(memory_limit_mb=2048) as azurite, Azurite() as control:
                env = {
                    "AzureWebJobsStorage": tables.with_tables(azurite.connection_string),
                    "LOCAL_SECRETS_DIR": os.path.join(workdir, "secrets"),
                    "WHOOP_CLIENT_ID": "bench",
                    "WHOOP_CLIENT_SECRET": "bench-secret-not-used",
                    "SWEEP_SHARDS": str(args.shards),
                    "ENABLED_VENDORS": VENDOR,
                }
                ctx = AppContext(load_settings(env))
                ctx.ensure_resources()
                shards = QueueClient.from_connection_string(control.connection_string, SWEEP_QUEUE)
                shards.create_queue()

                def queue(name: str) -> QueueClient:
                    return shards if name == SWEEP_QUEUE else ctx.storage.queue(name)

                ctx.__dict__["sweeps"] = Sweeps(
                    ctx.settings,
                    ctx.storage.tables.get_table_client(CONNECTIONS_TABLE),
                    ctx.storage.tables.get_table_client(SWEEP_TABLE),
                    ctx.pull_state,
                    queue,
                    SweepOnce(ctx.storage.tables),
                )
                yield ctx

        with fresh() as ctx:
            seconds = seed(ctx, tables, args.rows, args.granted)
            print(f"seeded {args.rows:,} registry rows in {seconds:.1f} s (copied inside the emulator)", flush=True)
            sequential_run = sequential(ctx, 2000)
        threads = args.shard_workers * SEND_THREADS
        print(f"{'':52} {'messages':>9} {'wall s':>8} {'msg/s':>8} {'x bare':>7}", flush=True)
        sweeps = {"rotate": ROTATE_QUEUE, "pull": LIVE_QUEUE}
        pairs: list[tuple[Run, Run]] = []
        for name in [args.only] if args.only else sweeps:
            with fresh() as ctx:
                run = sweep(ctx, name, sweeps[name], args.shard_workers)
            with fresh() as ctx:  # as many messages as the sweep sent: each write costs Azurite more the more it holds
                base = bare(ctx, run.messages, threads)
            show(base, base)
            show(run, base)
            pairs.append((base, run))
    show(sequential_run, pairs[0][0])
    scale = "measured" if args.rows >= TARGET else f"extrapolated from {args.rows:,} rows at the measured rate"
    minutes = {run.name.split()[0]: TARGET * run.messages / args.rows / run.rate / 60 for _, run in pairs}
    wall = [f"{name} sweep {value:.1f} min" for name, value in minutes.items()]
    print(f"100,000 connections ({scale}): " + ", ".join(wall))
    ratios = [f"{run.name.split()[0]} sweep {run.rate:.0f} msg/s = {run.rate / base.rate:.2f}x" for base, run in pairs]
    print(
        f"KEY: {', '.join(ratios)} parallel bare writes of as many messages measured in the same run (target >= 0.8); "
        f"the old sequential timer {sequential_run.rate / pairs[0][0].rate:.2f}x; {args.rows:,} rows, whole bench "
        f"{(time.perf_counter() - bench_started) / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
