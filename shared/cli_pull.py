"""``python -m shared pull`` and ``python -m shared backfill``: the pull's services run in-process (the command
line's layer: it reads the services from the ``AppContext``; the pull engine knows nothing of it)."""

from __future__ import annotations

import argparse
import io
import math
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TextIO

from azure.core.exceptions import AzureError

from shared.app_context import AppContext
from shared.cli_args import vendor_name
from shared.cli_table import format_table
from shared.pull.backfill import BackfillError, BackfillRequest
from shared.pull.jobs import PullJob
from shared.pull.puller import PullOutcome, PullStatus
from shared.pull.vendor_api import DataCallFailed

PULL_COLUMNS = (
    "vendor",
    "user_id",
    "data_type",
    "window",
    "status",
    "new",
    "revised",
    "unchanged",
    "requests",
    "dates",
)


def _run_whole(ctx: AppContext, job: PullJob, deadline: float = math.inf) -> PullOutcome:
    """Run a job to its end in this process, waiting for the rate budget as long as it takes."""
    try:
        return ctx.puller.run(job, deadline)
    except DataCallFailed as error:
        return PullOutcome(job, PullStatus.FAILED, detail=str(error))


def outcome_row(outcome: PullOutcome) -> dict[str, str]:
    job = outcome.job
    dates = f"{outcome.first_date}..{outcome.last_date}" if outcome.first_date else "-"
    return {
        "vendor": job.vendor,
        "user_id": job.user_id,
        "data_type": job.data_type,
        "window": str(job.window),
        "status": outcome.status.value + (f": {outcome.detail}" if outcome.detail else ""),
        "new": str(outcome.created),
        "revised": str(outcome.updated),
        "unchanged": str(outcome.unchanged),
        "requests": str(outcome.requests),
        "dates": dates,
    }


def cmd_pull(ctx: AppContext, args: argparse.Namespace) -> int:
    outcomes = [_run_whole(ctx, job) for job in ctx.pull.live_jobs(args.vendor, args.user)]
    if not outcomes:
        print("nothing to pull: no usable connection matches")
        return 0
    print(format_table([outcome_row(o) for o in outcomes], PULL_COLUMNS))
    return 1 if any(o.status is PullStatus.FAILED for o in outcomes) else 0


class ProgressBar:
    """One line, redrawn in place: chunks done of total, records, estimated time left."""

    def __init__(self, total: int, done: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.done, self.stream, self.width = total, done, stream, width
        self.records = 0
        self.started, self.done_at_start = time.monotonic(), done
        self._lock = threading.Lock()

    def advance(self, records: int) -> None:
        with self._lock:
            self.done += 1
            self.records += records
            self.draw()

    def draw(self) -> None:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        ran = self.done - self.done_at_start
        left = (time.monotonic() - self.started) / ran * (self.total - self.done) if ran else None
        eta = "--:--" if left is None else time.strftime("%H:%M:%S", time.gmtime(left))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"\r[{bar}] {self.done}/{self.total} chunks  {self.records} records  left {eta}"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def cmd_backfill(ctx: AppContext, args: argparse.Namespace) -> int:
    body = {"vendor": args.vendor, "user_id": args.user, "start": args.start, "end": args.end}
    if args.types:
        body["data_types"] = [t.strip() for t in args.types.split(",") if t.strip()]
    try:
        request = BackfillRequest.parse(body, ctx.settings, ctx.registry)
    except BackfillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # an unfinished job of the same request is resumed, whoever started it (a run of this command, or
    # POST /api/backfill whose queueing stopped half-way: its queued chunks may also run from their messages)
    job_id = None if args.new else ctx.backfills.find_unfinished(request)
    resumed = job_id is not None
    if job_id is None:
        job_id, _ = ctx.backfills.create(request, runner="cli")
        print(f"backfill {job_id}: {request.vendor} {', '.join(request.data_types)} {request.start}..{request.end}")
    chunks = ctx.backfills.chunks(job_id)
    todo = [c.job for c in chunks if c.status == "pending"]
    if resumed:
        unqueued = sum(1 for c in chunks if c.unqueued)
        note = f" ({unqueued} never queued)" if unqueued else ""
        print(f"resuming backfill {job_id}: {len(chunks) - len(todo)} of {len(chunks)} chunks already done{note}")
    bar = ProgressBar(len(chunks), len(chunks) - len(todo), stream=io.StringIO() if args.quiet else sys.stderr)
    bar.draw()
    failed = run_chunks(ctx, todo, args.concurrency, bar)
    bar.close()
    progress = ctx.backfills.progress(job_id) or {}
    print(
        f"backfill {job_id}: {progress.get('status')}, {progress.get('chunks_done')}/{progress.get('chunks_total')} "
        f"chunks, {progress.get('records_landed')} records landed, {progress.get('requests')} requests"
    )
    for problem in progress.get("errors", []):
        print(f"  {problem['data_type']} {problem['window']}: {problem['error']}")
    return 1 if failed else 0


def run_chunks(ctx: AppContext, todo: Sequence[PullJob], concurrency: int, bar: ProgressBar) -> int:
    """Run the chunks on a few threads; an interruption leaves the unfinished ones pending (resumable)."""
    failed = 0
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        futures = {pool.submit(_run_chunk, ctx, job): job for job in todo}
        for future in as_completed(futures):
            outcome = future.result()
            failed += outcome.status in (PullStatus.FAILED, PullStatus.SKIPPED)
            bar.advance(outcome.records)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        raise
    pool.shutdown()
    return failed


def _run_chunk(ctx: AppContext, job: PullJob) -> PullOutcome:
    try:
        return ctx.pull.run_chunk(job, requeue=False, deadline=math.inf)
    except DataCallFailed as error:  # run_chunk noted it on the chunk, which stays pending: a rerun resumes it
        return PullOutcome(job, PullStatus.FAILED, detail=str(error))
    except AzureError as error:  # storage hiccup: this chunk stays pending, the others go on
        return PullOutcome(job, PullStatus.FAILED, detail=f"storage unavailable ({type(error).__name__})")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pull = sub.add_parser("pull", help="pull every usable connection's new data now, in-process")
    pull.add_argument("--vendor", type=vendor_name)
    pull.add_argument("--user")
    pull.set_defaults(handler=cmd_pull)
    backfill = sub.add_parser("backfill", help="pull a date range of one connection (resumes an interrupted run)")
    backfill.add_argument("--vendor", required=True, type=vendor_name)
    backfill.add_argument("--user", required=True)
    backfill.add_argument("--start", required=True, help="first local date, YYYY-MM-DD")
    backfill.add_argument("--end", required=True, help="last local date, YYYY-MM-DD")
    backfill.add_argument("--types", help="comma-separated data types (default: every type the user granted)")
    backfill.add_argument("--concurrency", type=int, default=4)
    backfill.add_argument("--new", action="store_true", help="start afresh instead of resuming the same range")
    backfill.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill.set_defaults(handler=cmd_backfill)
