"""Sweeps that scale: the registry is swept in shards that never overlap and together hold every connection; a
shard killed half-way resumes without sending anything twice or leaving anything out; timer runs that overlap
enqueue each connection once per period; the pull's messages are spread over the hour."""

from __future__ import annotations

import itertools
import json
import random
import string
import threading
import time
from collections import Counter
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from sandbox.function_host import invoke
from shared import rotation
from shared.app_context import AppContext
from shared.pull.jobs import LIVE_QUEUE, PullJob
from shared.registry import Connection, Status
from shared.rotation import RotationSweep
from shared.storage import CONNECTIONS_TABLE, ROTATE_QUEUE, SWEEP_QUEUE, SWEEP_TABLE
from shared.sweep import (
    CHUNK_ROWS,
    Outgoing,
    Shard,
    ShardWorker,
    balanced_cuts,
    make_shards,
    period_of,
    progress_partition,
    ranges_between,
)
from shared.sweep_once import ONCE_TABLE_PREFIX, once_table
from tests.sweeping import run_shards

OLD = "2020-01-01T00:00:00Z"  # long enough ago for every pair to be due


def user_ids(count: int, seed: int = 12) -> list[str]:
    """Ids as products make them: uuids, e-mail-like, upper case, digits, short and long."""
    rng = random.Random(seed)
    ids: set[str] = set()
    while len(ids) < count:
        style = rng.randrange(4)
        if style == 0:
            ids.add("".join(rng.choices("0123456789abcdef", k=32)))
        elif style == 1:
            ids.add(rng.choice(string.ascii_letters) + "".join(rng.choices(string.ascii_lowercase + "._@-", k=9)))
        elif style == 2:
            ids.add("".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randrange(1, 6))))
        else:
            ids.add(f"user-{rng.randrange(10**6):06d}")
    return sorted(ids)


def seed_registry(ctx: AppContext, vendor: str, users: list[str], **fields: Any) -> None:
    """Registry rows written as the app writes them, 100 to a batch (one partition per vendor)."""
    table = ctx.storage.tables.get_table_client(CONNECTIONS_TABLE)
    rows = [
        Connection(vendor, user, secret_name=f"tok-{i}", last_refresh_at=OLD, connected_at=OLD, **fields).to_entity()
        for i, user in enumerate(users)
    ]
    for start in range(0, len(rows), 100):
        table.submit_transaction([("upsert", row) for row in rows[start : start + 100]])


def drain(ctx: AppContext, queue_name: str) -> list[str]:
    queue = ctx.storage.queue(queue_name)
    bodies: list[str] = []
    while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)):
        for message in batch:
            bodies.append(message.content.decode() if isinstance(message.content, bytes) else message.content)
            queue.delete_message(message)
    return bodies


def rotated(ctx: AppContext) -> Counter[str]:
    """How many rotation messages each connection (vendor/user) got."""
    return Counter(f"{m['vendor']}/{m['user_id']}" for m in map(json.loads, drain(ctx, ROTATE_QUEUE)))


class FailingSend:
    """The app's own send, with a storage outage from the ``fail_after``-th message on (a run that dies)."""

    def __init__(self, send: Any, fail_after: int) -> None:
        self.send = send
        self.fail_after = fail_after
        self.calls = 0
        self.guard = threading.Lock()

    def __call__(self, item: Outgoing) -> None:
        with self.guard:
            self.calls += 1
            failing = self.calls > self.fail_after
        if failing:
            raise ServiceRequestError("storage went away")
        self.send(item)


def rotation_worker(ctx: AppContext, send: Any, **options: Any) -> ShardWorker:
    kind = RotationSweep(ctx.settings.rotate_min_age_seconds, tuple(ctx.settings.vendors))
    tables = ctx.storage.tables
    return ShardWorker(
        kind, tables.get_table_client(CONNECTIONS_TABLE), tables.get_table_client(SWEEP_TABLE), send, **options
    )


def test_the_cuts_make_ranges_that_cover_every_key_once_each_holding_about_as_many() -> None:
    keys = user_ids(300)
    ranges = ranges_between(balanced_cuts(keys, 16))
    assert len(ranges) == 16 and ranges[0][0] == "" and ranges[-1][1] == ""
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), "contiguous: no gap, no overlap"
    held = [sum(1 for key in keys if lo <= key and (not hi or key < hi)) for lo, hi in ranges]
    assert sum(held) == len(keys) and max(held) - min(held) <= 1, held
    assert len(ranges_between(balanced_cuts(keys[:5], 16))) == 5, "no more ranges than keys"
    assert ranges_between(balanced_cuts([], 16)) == [("", "")], "one range when there is no key"


def test_each_shard_lists_only_its_slice_and_together_they_list_every_connection(ctx: AppContext) -> None:
    users = user_ids(300)
    seed_registry(ctx, "whoop", users)
    seed_registry(ctx, "fitbit", users[:50])
    kind = RotationSweep(0, tuple(ctx.settings.vendors))
    seen: dict[str, list[str]] = {}
    elsewhere = user_ids(64, seed=3)  # cut between keys that are not the registry's own
    for shard in make_shards(kind, {"whoop": balanced_cuts(elsewhere, 8), "fitbit": balanced_cuts(elsewhere[:9], 4)}):
        listed: list[str] = []

        def record(item: Outgoing, listed: list[str] = listed) -> None:
            listed.append(json.loads(item.body)["vendor"] + "/" + json.loads(item.body)["user_id"])

        result = rotation_worker(ctx, record).run(shard)
        assert result.done
        seen[f"{shard.vendor}-{shard.index}"] = listed
    everything = [key for listed in seen.values() for key in listed]
    assert len(everything) == len(set(everything)), "no connection in two shards"
    assert sorted(everything) == sorted([f"whoop/{u}" for u in users] + [f"fitbit/{u}" for u in users[:50]])
    assert sum(1 for listed in seen.values() if listed) > 4, "the connections are spread over the shards"


@pytest.mark.parametrize("fail_after", [1, CHUNK_ROWS + 37, 2 * CHUNK_ROWS])
def test_a_sweep_killed_half_way_resumes_without_duplicates_or_gaps(ctx: AppContext, fail_after: int) -> None:
    users = user_ids(260)
    seed_registry(ctx, "whoop", users)
    queue = ctx.storage.queue(ROTATE_QUEUE)
    shard = Shard("rotate", "2026-11-29T18:00Z", "whoop", 0, "", "", time.time())

    def send(item: Outgoing) -> None:
        queue.send_message(item.body)

    with pytest.raises(ServiceRequestError):
        rotation_worker(ctx, FailingSend(send, fail_after)).run(shard)
    # the queue delivers the shard message again: a new worker (the old one's claim was released by its failure)
    result = rotation_worker(ctx, send).run(shard)
    assert result.done and not result.resent_chunk
    assert result.sent == len(users) - fail_after, "the retry sends exactly what the failed run did not"
    sent = rotated(ctx)
    assert sorted(sent) == [f"whoop/{u}" for u in users] and set(sent.values()) == {1}


def test_one_send_failing_in_a_chunk_while_the_next_chunk_goes_out_is_recorded_with_all_the_next_one_sent(
    ctx: AppContext,
) -> None:
    """Chunks overlap (the next goes out while the one before is settled): a failure in the first is recorded with
    everything the second sent, so the retry sends the failed message and the chunks never started, nothing else."""
    users = user_ids(260)
    seed_registry(ctx, "whoop", users)
    queue = ctx.storage.queue(ROTATE_QUEUE)
    shard = Shard("rotate", "2026-11-29T18:00Z", "whoop", 0, "", "", time.time())
    unlucky = users[5]  # in the first chunk

    def send(item: Outgoing) -> None:
        queue.send_message(item.body)

    def flaky(item: Outgoing) -> None:
        if json.loads(item.body)["user_id"] == unlucky:
            raise ServiceRequestError("one request lost")
        send(item)

    with pytest.raises(ServiceRequestError):
        rotation_worker(ctx, flaky).run(shard)
    sent = rotated(ctx)
    assert len(sent) > CHUNK_ROWS, "the second chunk went out while the first was in flight"
    result = rotation_worker(ctx, send).run(shard)
    assert result.done and result.sent == len(users) - len(sent), "the retry sends only what did not go out"
    assert result.rows == len(users) - users.index(unlucky), "it starts at the failed one"
    sent.update(rotated(ctx))
    assert sorted(sent) == [f"whoop/{u}" for u in users] and set(sent.values()) == {1}, "no gap, no duplicate"


def test_a_sweep_that_reaches_its_deadline_continues_in_a_new_message(ctx: AppContext) -> None:
    users = user_ids(250)
    seed_registry(ctx, "whoop", users)
    shard = Shard("rotate", "2026-11-29T18:00Z", "whoop", 0, "", "", time.time())
    ticks = iter(range(1000))
    queue = ctx.storage.queue(ROTATE_QUEUE)
    runs = []
    while True:  # every run may take only one chunk: the clock says one run-length passed per chunk
        worker = rotation_worker(ctx, lambda item: queue.send_message(item.body), run_seconds=1.5)
        worker.clock = lambda: float(next(ticks))
        runs.append(worker.run(shard))
        if runs[-1].done:
            break
        assert runs[-1].continued
    assert len(runs) == 3
    sent = rotated(ctx)
    assert sorted(sent) == [f"whoop/{u}" for u in users] and set(sent.values()) == {1}


def test_overlapping_timer_runs_enqueue_each_connection_once_per_period(ctx: AppContext) -> None:
    users = user_ids(200)
    seed_registry(ctx, "whoop", users)
    seed_registry(ctx, "codoon", users[:40])
    seed_registry(ctx, "fitbit", users[:30], status=Status.REAUTH_REQUIRED)  # not due: nothing for these
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, sweep_shards=8)  # both runs' shards each on a thread of its own
    ctx.__dict__.pop("sweeps", None)
    now = time.time()
    first = ctx.sweeps.start("rotate", now=now)
    newcomers = user_ids(30, seed=99)
    seed_registry(ctx, "whoop", newcomers)  # connected between the two runs: the period's cut stays
    users = sorted({*users, *newcomers})
    second = ctx.sweeps.start("rotate", now=now + 60)  # a manual run during the scheduled one: the same slot
    shards = ctx.storage.queue(SWEEP_QUEUE)
    messages = list(shards.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=120))
    while batch := list(shards.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=120)):
        messages.extend(batch)
    assert len(messages) == first + second and first == second
    made = [(s.vendor, s.index, s.lo, s.hi) for s in map(Shard.parse, (m.content for m in messages))]
    assert sorted(made[:first]) == sorted(made[first:]), "the same shards"
    threads = [threading.Thread(target=ctx.sweeps.work_shard, args=(m.content,)) for m in messages]
    for thread in threads:  # both runs' shards at once, as the host's workers would take them
        thread.start()
    for thread in threads:
        thread.join()
    sent = rotated(ctx)
    assert set(sent.values()) == {1}, "each connection once"
    assert sorted(sent) == sorted([f"whoop/{u}" for u in users] + [f"codoon/{u}" for u in user_ids(200)[:40]])
    # the next slot sweeps again
    ctx.sweeps.start("rotate", now=now + 6 * 3600)
    run_shards(ctx)
    assert rotated(ctx) == sent


@pytest.mark.parametrize("style", ["shared prefix", "digits", "hex"])
def test_shards_hold_as_many_connections_whatever_the_ids_look_like(ctx: AppContext, style: str) -> None:
    """A product's ids may share a prefix or use ten characters: the timer cuts the period's shards at the
    registry's own quantiles, so each of the 8 holds an eighth (the fixed cut put all of "user-..." in one)."""
    from dataclasses import replace

    rng = random.Random(7)

    def make() -> str:
        if style == "shared prefix":
            return f"user-{rng.randrange(10**9):09d}"
        if style == "digits":
            return str(rng.randrange(10**12))
        return "".join(rng.choices("0123456789abcdef", k=32))

    users = sorted({make() for _ in range(400)})
    seed_registry(ctx, "whoop", users)
    ctx.settings = replace(ctx.settings, sweep_shards=8)
    ctx.__dict__.pop("sweeps", None)
    others = len(ctx.settings.vendors) - 1  # with no connection: one shard each
    assert ctx.sweeps.start("rotate") == 8 + others
    sizes = [r.sent for r in map(ctx.sweeps.work_shard, drain(ctx, SWEEP_QUEUE)) if r.rows]
    assert len(sizes) == 8 and sum(sizes) == len(users) and max(sizes) - min(sizes) <= 1, sizes
    sent = rotated(ctx)
    assert sorted(sent) == [f"whoop/{u}" for u in users] and set(sent.values()) == {1}


def test_a_period_cut_of_256_shards_of_the_longest_ids_is_kept_and_read_back_whole(ctx: AppContext) -> None:
    """255 cuts of 128-character ids do not fit one string property (32K characters): they are kept in several,
    and a second run of the period reads the very same cuts back."""
    from dataclasses import replace

    rng = random.Random(4)
    users = sorted({"u" + "".join(rng.choices(string.ascii_lowercase, k=127)) for _ in range(300)})
    seed_registry(ctx, "whoop", users)
    ctx.settings = replace(ctx.settings, sweep_shards=256)
    ctx.__dict__.pop("sweeps", None)
    period = period_of(time.time(), 6 * 3600)
    made = ctx.sweeps.cut("rotate", period, "whoop")
    assert len(made) == 255 and made == balanced_cuts(users, 256)
    seed_registry(ctx, "whoop", user_ids(50, seed=5))  # the registry changes: the period keeps its cut
    assert ctx.sweeps.cut("rotate", period, "whoop") == made


def test_the_pull_is_spread_over_the_hour(ctx: AppContext) -> None:
    from dataclasses import replace

    users = user_ids(120)
    seed_registry(ctx, "whoop", users, granted_scopes="read:sleep")
    ctx.settings = replace(ctx.settings, pull_spread_seconds=3540)  # PULL_SPREAD_MINUTES=59
    ctx.__dict__.pop("sweeps", None)
    ctx.sweeps.start("pull")
    for body in drain(ctx, SWEEP_QUEUE):
        ctx.sweeps.work_shard(body)
    queue = ctx.storage.queue(LIVE_QUEUE)
    queued = queue.get_queue_properties().approximate_message_count or 0
    visible = drain(ctx, LIVE_QUEUE)
    assert queued >= len(users), "every connection has its jobs queued"
    assert len(visible) < queued / 10, "but only a few are visible now: the rest are spread over the hour"
    assert all(PullJob.parse(body).user_id in users for body in visible)


def test_a_sweeps_old_progress_rows_are_pruned_by_a_later_timer_run(ctx: AppContext) -> None:
    seed_registry(ctx, "whoop", user_ids(20))
    now = time.time()
    ctx.sweeps.start("rotate", now=now)
    run_shards(ctx)
    table = ctx.storage.tables.get_table_client(SWEEP_TABLE)
    holding = {f"whoop-{i:03d}" for i in range(20)}  # 20 connections, 64 shards at most: a shard each
    cuts = {f"{vendor}-cut" for vendor in ctx.settings.vendors}
    shards = len(holding) + len(cuts)
    assert {row["RowKey"] for row in table.list_entities()} == holding | cuts, "one per shard with rows, the cuts"

    def claims_tables() -> list[str]:
        return sorted(t.name for t in ctx.storage.tables.list_tables() if t.name.startswith(ONCE_TABLE_PREFIX))

    assert claims_tables() == [once_table("rotate", period_of(now, 6 * 3600))]
    ctx.sweeps.start("rotate", now=now + 6 * 3600)  # the next slot keeps them (and cuts its own)
    assert len(list(table.list_entities())) == shards + len(cuts) and len(claims_tables()) == 2
    ctx.sweeps.start("rotate", now=now + 5 * 6 * 3600)  # five slots on: pruned
    left = {(row["PartitionKey"], row["RowKey"]) for row in table.list_entities()}
    first = progress_partition("rotate", period_of(now, 6 * 3600))
    assert left and not any(partition == first for partition, _ in left), "the first slot's rows are gone"
    assert {key for _, key in left} == cuts, "only the cuts of the two slots that never ran a shard"
    assert once_table("rotate", period_of(now, 6 * 3600)) not in claims_tables(), "a period's claims in one delete"
    assert len(claims_tables()) == 2, "the last four slots' stay"


def test_the_pull_sweep_reads_a_chunks_state_at_once_and_plans_as_the_planner_alone(ctx: AppContext) -> None:
    """Connections with fresh, stale and no pull state, some notified lately: the chunk's two range reads give
    the very jobs the planner gives reading each connection itself."""
    from datetime import UTC, datetime, timedelta

    from shared.notify.worker import NOTIFY_ACTIVITY_TABLE
    from shared.pull.sweep import PullSweep

    users = user_ids(40, seed=3)
    seed_registry(ctx, "whoop", users)
    rng = random.Random(5)
    activity = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    for user in users:
        for data_type in rng.sample(["cycle", "sleep", "recovery", "workout", "profile", "body"], rng.randrange(4)):
            at = datetime.now(UTC) - timedelta(hours=rng.choice([1, 30, 100]))
            stamp = at.isoformat(timespec="seconds").replace("+00:00", "Z")
            ctx.pull_state.table.upsert_entity(
                {"PartitionKey": f"whoop|{user}", "RowKey": data_type, "last_pull_at": stamp, "watermark": "2026-11-01"}
            )
        if rng.random() < 0.5:
            activity.upsert_entity({"PartitionKey": "whoop", "RowKey": user, "last_at": time.time() - 3600})
    chunk = [Connection("whoop", user) for user in users]
    kind = PullSweep(ctx.settings, ctx.pull_state, tuple(ctx.settings.vendors))
    shard = Shard("pull", "2026-11-29T18:00Z", "whoop", 0, "", "", time.time())
    alone = {c.user_id: [(m.key, m.body) for m in kind.messages(c, shard)] for c in chunk}
    prepared = kind.prepare(chunk)
    together = {c.user_id: [(m.key, m.body) for m in prepared.messages(c, shard)] for c in chunk}
    assert together == alone
    assert len({len(jobs) for jobs in alone.values()}) > 2, "the connections differ in what is due"


class Killed(BaseException):
    """The process dies (no handler runs, nothing is written)."""


def work_every_message(queue_name: str, trigger: str) -> int:
    """Deliver every visible message of a work queue to its trigger, as the host would (each with its queue id)."""
    from azure.functions import QueueMessage

    from shared.app_context import get_context

    queue = get_context().storage.queue(queue_name)
    count = 0
    while batch := list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)):
        for message in batch:
            invoke(trigger, QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
            queue.delete_message(message)
            count += 1
    return count


def lapse_lease(ctx: AppContext, shard: Shard) -> None:
    table = ctx.storage.tables.get_table_client(SWEEP_TABLE)
    row = table.get_entity(*shard.progress_keys)
    row["lease_until"] = time.time() - 1  # the lease lapses (LEASE_SECONDS on)
    table.update_entity(row)


def test_a_worker_killed_mid_chunk_holds_the_shard_until_its_lease_lapses_and_each_connection_is_rotated_once(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = user_ids(250)
    seed_registry(ctx, "whoop", users)
    queue = ctx.storage.queue(ROTATE_QUEUE)
    ctx.sweeps.start("rotate")  # the timer: the period's claims table
    shard = make_shards(RotationSweep(0, ("whoop",)), {"whoop": []})[0]  # the same period, the whole partition
    drain(ctx, SWEEP_QUEUE)
    calls = iter(range(10_000))

    def dies_at_150(item: Outgoing) -> None:
        if next(calls) == 150:
            raise Killed
        queue.send_message(item.body)

    def worker(send: Any, **options: Any) -> ShardWorker:
        return ShardWorker(ctx.sweeps.kind("rotate"), ctx.sweeps.listing, ctx.sweeps.progress, send, **options)

    with pytest.raises(Killed):
        worker(dies_at_150, threads=1).run(shard)
    assert worker(lambda item: queue.send_message(item.body)).run(shard).busy, "its lease holds"
    lapse_lease(ctx, shard)
    result = worker(lambda item: queue.send_message(item.body)).run(shard)
    assert result.done and result.resent_chunk
    assert (queue.get_queue_properties().approximate_message_count or 0) > len(users), "the chunk went out twice"

    worked: Counter[str] = Counter()
    monkeypatch.setattr(rotation, "rotate_one", lambda tokens, vendor, user, force=False: worked.update([user]))
    assert work_every_message(ROTATE_QUEUE, "rotate_connection") > len(users)
    assert sorted(worked) == users, "no gap"
    assert set(worked.values()) == {1}, "each connection rotated once: the second copies were dropped"


CHILD = """
import itertools, os, sys, threading, time
from shared.app_context import AppContext
from shared.settings import load_settings
from shared.sweep import Shard
ctx = AppContext(load_settings(dict(os.environ)))
shard = Shard.parse(sys.argv[1])
worker = ctx.sweeps.worker(shard.sweep)
worker.threads = 4
send, count, guard = worker.send, itertools.count(1), threading.Lock()
def slow(item):
    time.sleep(0.01)
    send(item)
    with guard:
        print(next(count), flush=True)
worker.send = slow
worker.run(shard)
"""


def test_a_sweep_process_killed_mid_chunk_resumes_and_each_pull_job_is_worked_exactly_once(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real kill (SIGKILL) of the process sweeping a pull shard while its second chunk goes out: the resumed
    sweep sends that chunk again, and the pull worker works each (connection, data type) exactly once."""
    import os
    import signal
    import subprocess
    import sys
    from dataclasses import replace

    from shared.pull.service import PullService
    from shared.pull.sweep import PullSweep

    users = user_ids(250, seed=8)
    seed_registry(ctx, "whoop", users, granted_scopes="read:sleep read:recovery")
    kind = PullSweep(ctx.settings, ctx.pull_state, ("whoop",))
    ctx.sweeps.start("pull")
    drain(ctx, SWEEP_QUEUE)
    shard = make_shards(kind, {"whoop": []})[0]
    reference: list[Outgoing] = []  # what one uninterrupted run sends (a dry run, for another period)
    ShardWorker(kind, ctx.sweeps.listing, ctx.sweeps.progress, lambda item: reference.append(item)).run(
        replace(shard, period="x")
    )
    expected = {(json.loads(m.body)["user_id"], json.loads(m.body)["data_type"]) for m in reference}
    assert {user for user, _ in expected} == set(users)
    per_connection = len(expected) // len(users)
    assert per_connection >= 2
    queue = ctx.storage.queue(LIVE_QUEUE)

    threshold = int(1.4 * CHUNK_ROWS * per_connection)  # inside the second chunk
    child = subprocess.Popen([sys.executable, "-c", CHILD, shard.message()], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:  # one line per message sent
            print("LINE", line.strip(), threshold, per_connection, len(expected), sorted(expected)[:3])
            if int(line) >= threshold:
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(10)
    assert child.returncode == -signal.SIGKILL, "killed, not finished"
    at_kill = queue.get_queue_properties().approximate_message_count or 0
    assert CHUNK_ROWS * per_connection < at_kill < 2 * CHUNK_ROWS * per_connection, "killed inside the second chunk"

    lapse_lease(ctx, shard)
    result = ctx.sweeps.worker("pull").run(shard)
    assert result.done and result.resent_chunk

    worked: Counter[tuple[str, str]] = Counter()

    def work_live(self: PullService, body: str | bytes) -> None:
        job = PullJob.parse(body)
        worked.update([(job.user_id, job.data_type)])

    monkeypatch.setattr(PullService, "work_live", work_live)
    delivered = work_every_message(LIVE_QUEUE, "pull_worker")
    assert delivered > len(expected), "some jobs were on the queue twice"
    assert set(worked) == expected, "no gap"
    assert set(worked.values()) == {1}, "each connection's job worked once: the second copies were dropped"


def test_a_sweep_message_is_claimed_once_per_period_and_its_own_redelivery_goes_on(ctx: AppContext) -> None:
    body = json.dumps(
        {"vendor": "whoop", "user_id": "u1", "swept": ["pull", "2026-11-29T18:00Z", "whoop", "u1", "sleep"]}
    )
    once = ctx.sweeps
    assert once.first_delivery(body, "message-1"), "the first copy (its period's table made on the way)"
    assert once.first_delivery(body, "message-1"), "the same message again (the queue's retry after a failure)"
    assert not once.first_delivery(body, "message-2"), "another copy: dropped"
    next_hour = body.replace("18:00Z", "19:00Z")
    assert once.first_delivery(next_hour, "message-3"), "the next period is worked again"
    assert once.first_delivery(json.dumps({"vendor": "whoop", "user_id": "u1"}), "m"), "not a sweep's: no claim"
