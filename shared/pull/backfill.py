"""Backfill jobs: a date range of one connection cut into chunks, one queue message (or one in-process run)
per chunk, with their progress in Table ``backfills``.

Partition = job id; row ``job`` holds the request, rows ``c00000``... one chunk each (data type, window,
status, counts, last error, and for a queued job whether its message was sent: ``queued``). A chunk is
small enough to finish well inside a 10-minute function run at the vendor's rate limit
(``DataType.chunk_days``). Chunks are idempotent: a chunk run twice (a redelivered message, a resumed command
line) lands the same blobs, unchanged. Backfill never moves a live watermark.

Queueing a job's chunks can stop half-way (storage fails): each chunk is marked ``queued`` once its message is
sent, so the same request again finds the job and sends only the messages that are missing, and the command
line resumes it like any other unfinished job. A chunk sent but not marked is sent again: a duplicate message
is harmless (a done chunk is skipped, a pending one lands the same blobs).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.naming import InvalidUserId, validate_user_id
from shared.pull.jobs import PullJob
from shared.pull.model import Window
from shared.pull.puller import PullOutcome, PullStatus, latest_local_date
from shared.pull.rate_budget import Priority
from shared.registry import USABLE, ConnectionRegistry, now_iso
from shared.settings import Settings
from shared.vendors.registry import vendors

BACKFILL_TABLE = "backfills"
JOB_ROW = "job"
MAX_RANGE_DAYS = 3660
EARLIEST = date(2000, 1, 1)
BATCH = 100
QUEUE_RUNNER = "queue"
JOB_ID = re.compile(r"[0-9a-f]{32}")


class BackfillError(ValueError):
    """A backfill that cannot be started as asked: ``status`` is the HTTP status to answer with, ``details``
    more fields for the answer's body."""

    def __init__(self, status: int, message: str, details: Mapping[str, Any] | None = None) -> None:
        self.status = status
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(message)


class BackfillPartlyQueued(BackfillError):
    """Storage failed while a job's chunk messages were being sent: some are queued, the rest are not yet."""

    def __init__(self, job_id: str, queued: int, total: int) -> None:
        super().__init__(
            503,
            f"storage is unavailable: {queued} of {total} chunks of backfill {job_id} are queued; "
            "send the same request again to queue the rest",
            {"job_id": job_id, "chunks_queued": queued, "chunks_total": total, "status_url": status_url(job_id)},
        )


def status_url(job_id: str) -> str:
    return f"/api/backfill/{job_id}"


@dataclass(frozen=True)
class BackfillRequest:
    vendor: str
    user_id: str
    start: date
    end: date
    data_types: tuple[str, ...]

    @classmethod
    def parse(cls, body: Any, settings: Settings, registry: ConnectionRegistry) -> BackfillRequest:
        """Validate an operator's request (the HTTP body or the command line's arguments)."""
        if not isinstance(body, Mapping):
            raise BackfillError(400, 'the body must be a JSON object {"vendor", "user_id", "start", "end"}')
        missing = [k for k in ("vendor", "user_id", "start", "end") if not body.get(k)]
        if missing:
            raise BackfillError(400, f"missing {', '.join(missing)}")
        vendor = str(body["vendor"]).lower()
        if vendor not in vendors():
            raise BackfillError(404, f"unknown vendor {vendor!r}; known: {sorted(vendors())}")
        if vendor not in settings.vendors:
            raise BackfillError(404, f"vendor {vendor!r} is not enabled")
        try:
            user_id = validate_user_id(str(body["user_id"]))
        except InvalidUserId as error:
            raise BackfillError(400, str(error)) from None
        try:
            start, end = date.fromisoformat(str(body["start"])), date.fromisoformat(str(body["end"]))
        except ValueError:
            raise BackfillError(400, "start and end must be dates as YYYY-MM-DD") from None
        latest = latest_local_date()
        if end < start:
            raise BackfillError(400, "end is before start")
        if start < EARLIEST or end > latest:
            raise BackfillError(400, f"the range must lie between {EARLIEST} and {latest}")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise BackfillError(400, f"the range is longer than {MAX_RANGE_DAYS} days: split it")
        connection = registry.get(vendor, user_id)
        if connection is None:
            raise BackfillError(404, f"no {vendor} connection for this user")
        if connection.status not in USABLE:
            raise BackfillError(409, f"the connection is {connection.status.value}: the user must reconnect first")
        known = {name for name, kind in vendors()[vendor].data.data_types.items() if not kind.snapshot}
        granted = set(connection.granted)
        wanted = body.get("data_types")
        if wanted is None:
            chosen = [n for n in sorted(known) if not granted or vendors()[vendor].data.data_types[n].scope in granted]
        elif isinstance(wanted, list) and wanted and all(isinstance(n, str) for n in wanted):
            unknown = sorted(set(wanted) - known)
            if unknown:
                raise BackfillError(400, f"unknown data types {unknown}; {vendor} has {sorted(known)}")
            chosen = list(dict.fromkeys(wanted))
        else:
            raise BackfillError(400, "data_types must be a non-empty list of names")
        return cls(vendor, user_id, start, end, tuple(chosen))

    def chunks(self) -> Iterator[PullJob]:
        kinds = vendors()[self.vendor].data.data_types
        for name in self.data_types:
            for piece in Window(self.start, self.end).split(kinds[name].chunk_days):
                yield PullJob(self.vendor, self.user_id, name, piece.first, piece.last, Priority.BACKFILL)


@dataclass(frozen=True)
class Chunk:
    job: PullJob
    status: str  # pending | done | failed
    records: int
    landed: int
    requests: int
    error: str
    queued: bool = True  # False: a chunk of a queued job whose message has not been sent yet

    @property
    def unqueued(self) -> bool:
        return self.status == "pending" and not self.queued


class BackfillJobs:
    def __init__(
        self, tables: TableServiceClient, table_name: str = BACKFILL_TABLE, clock: Callable[[], float] = time.time
    ) -> None:
        self.table: TableClient = tables.get_table_client(table_name)
        self.clock = clock

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    # -- creating ------------------------------------------------------------------------------------------------
    def create(self, request: BackfillRequest, runner: str) -> tuple[str, list[PullJob]]:
        """Store a new job and its chunks (all pending); returns the job id and the chunk jobs to run.
        The job row is written last: a job that is found has all its chunks. With ``runner="queue"`` the
        chunks start unqueued (see ``mark_queued``)."""
        job_id = uuid.uuid4().hex
        chunks = [
            PullJob(c.vendor, c.user_id, c.data_type, c.first, c.last, c.priority, job_id, f"c{index:05d}")
            for index, c in enumerate(request.chunks())
        ]
        rows: list[dict[str, Any]] = [
            {
                "PartitionKey": job_id,
                "RowKey": chunk.chunk,
                "data_type": chunk.data_type,
                "first": chunk.first.isoformat(),
                "last": chunk.last.isoformat(),
                "status": "pending",
                **({"queued": False} if runner == QUEUE_RUNNER else {}),
            }
            for chunk in chunks
        ]
        for start in range(0, len(rows), BATCH):
            self.table.submit_transaction([("create", row) for row in rows[start : start + BATCH]])
        self.table.create_entity(
            {
                "PartitionKey": job_id,
                "RowKey": JOB_ROW,
                "vendor": request.vendor,
                "user_id": request.user_id,
                "start": request.start.isoformat(),
                "end": request.end.isoformat(),
                "data_types": json.dumps(list(request.data_types)),
                "chunks": len(chunks),
                "runner": runner,
                "created_at": now_iso(),
                "started_at": 0.0,
            }
        )
        return job_id, chunks

    def find_unfinished(self, request: BackfillRequest) -> str | None:
        """The newest job with exactly these parameters that still has pending chunks (to resume it), whoever
        ran it (the command line, or the queue: then its chunks may also be running from their messages)."""
        for entity in self._same_jobs(request):
            job_id = str(entity["PartitionKey"])
            if any(chunk.status == "pending" for chunk in self.chunks(job_id)):
                return job_id
        return None

    def find_unqueued(self, request: BackfillRequest) -> str | None:
        """The newest queued job with exactly these parameters that has chunks whose message was never sent."""
        for entity in self._same_jobs(request):
            job_id = str(entity["PartitionKey"])
            if entity.get("runner") == QUEUE_RUNNER and any(chunk.unqueued for chunk in self.chunks(job_id)):
                return job_id
        return None

    def mark_queued(self, job_id: str, chunks: Sequence[PullJob]) -> None:
        """Note that these chunks' messages were sent."""
        rows = [{"PartitionKey": job_id, "RowKey": c.chunk, "queued": True} for c in chunks]
        for start in range(0, len(rows), BATCH):
            self.table.submit_transaction(
                [("update", row, {"mode": UpdateMode.MERGE}) for row in rows[start : start + BATCH]]
            )

    def _same_jobs(self, request: BackfillRequest) -> list[Mapping[str, Any]]:
        """Job rows with exactly these parameters, newest first."""
        query = self.table.query_entities(
            "RowKey eq @row and vendor eq @vendor and user_id eq @user and start eq @start and end eq @end",
            parameters={
                "row": JOB_ROW,
                "vendor": request.vendor,
                "user": request.user_id,
                "start": request.start.isoformat(),
                "end": request.end.isoformat(),
            },
        )
        return sorted(
            (e for e in query if json.loads(e["data_types"]) == list(request.data_types)),
            key=lambda e: str(e.get("created_at") or ""),
            reverse=True,
        )

    # -- running -------------------------------------------------------------------------------------------------
    def chunks(self, job_id: str) -> list[Chunk]:
        job = self._job_row(job_id)
        if job is None:
            return []
        found = []
        for row in self.table.query_entities("PartitionKey eq @job", parameters={"job": job_id}):
            if row["RowKey"] == JOB_ROW:
                continue
            pull = PullJob(
                str(job["vendor"]),
                str(job["user_id"]),
                str(row["data_type"]),
                date.fromisoformat(row["first"]),
                date.fromisoformat(row["last"]),
                Priority.BACKFILL,
                job_id,
                str(row["RowKey"]),
            )
            found.append(
                Chunk(
                    pull,
                    str(row.get("status") or "pending"),
                    int(row.get("records") or 0),
                    int(row.get("landed") or 0),
                    int(row.get("requests") or 0),
                    str(row.get("error") or ""),
                    row.get("queued") is not False,  # absent: a command-line job, or one queued before the flag
                )
            )
        return sorted(found, key=lambda c: c.job.chunk)

    def is_done(self, job: PullJob) -> bool:
        try:
            return self.table.get_entity(job.job_id, job.chunk).get("status") == "done"
        except ResourceNotFoundError:
            return True  # the job was deleted: nothing to do

    def started(self, job: PullJob) -> None:
        """Note when the job's first chunk started (for the time estimate)."""
        row = self._job_row(job.job_id)
        if row is not None and not float(row.get("started_at") or 0.0):
            self.table.update_entity(
                {"PartitionKey": job.job_id, "RowKey": JOB_ROW, "started_at": self.clock()}, mode=UpdateMode.MERGE
            )

    def finish(self, outcome: PullOutcome) -> None:
        job = outcome.job
        failed = outcome.status in (PullStatus.FAILED, PullStatus.SKIPPED)
        self.table.update_entity(
            {
                "PartitionKey": job.job_id,
                "RowKey": job.chunk,
                "status": "failed" if failed else "done",
                "records": outcome.records,
                "landed": outcome.landed,
                "requests": outcome.requests,
                "error": outcome.detail if failed else "",
                "finished_at": now_iso(),
            },
            mode=UpdateMode.MERGE,
        )

    def note_error(self, job: PullJob, error: str) -> None:
        """A transient failure: the chunk stays pending (the queue retries it); the error shows in progress."""
        self.table.update_entity(
            {"PartitionKey": job.job_id, "RowKey": job.chunk, "error": error[:1000]}, mode=UpdateMode.MERGE
        )

    # -- watching ------------------------------------------------------------------------------------------------
    def progress(self, job_id: str) -> dict[str, Any] | None:
        job = self._job_row(job_id)
        if job is None:
            return None
        chunks = self.chunks(job_id)
        done = [c for c in chunks if c.status == "done"]
        failed = [c for c in chunks if c.status == "failed"]
        finished = len(done) + len(failed)
        started_at = float(job.get("started_at") or 0.0)
        left: float | None = None
        if finished == len(chunks):
            left = 0.0
        elif finished and started_at:
            left = (self.clock() - started_at) / finished * (len(chunks) - finished)
        unqueued = sum(1 for c in chunks if c.unqueued)
        status = "queued" if not started_at else "running"
        if unqueued:
            status = "partly_queued"  # the queueing stopped half-way: the same request again queues the rest
        if finished == len(chunks):
            status = "done" if not failed else "done_with_errors"
        return {
            "job_id": job_id,
            "vendor": job["vendor"],
            "user_id": job["user_id"],
            "start": job["start"],
            "end": job["end"],
            "data_types": json.loads(job["data_types"]),
            "status": status,
            "chunks_total": len(chunks),
            "chunks_done": len(done),
            "chunks_failed": len(failed),
            "chunks_unqueued": unqueued,
            "records_landed": sum(c.landed for c in chunks),
            "records_seen": sum(c.records for c in chunks),
            "requests": sum(c.requests for c in chunks),
            "errors": [
                {"chunk": c.job.chunk, "data_type": c.job.data_type, "window": str(c.job.window), "error": c.error}
                for c in chunks
                if c.error
            ],
            "estimated_seconds_left": None if left is None else round(left),
            "created_at": job.get("created_at"),
        }

    def _job_row(self, job_id: str) -> Mapping[str, Any] | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        try:
            return self.table.get_entity(job_id, JOB_ROW)
        except (ResourceNotFoundError, ValueError):
            return None


def pending(chunks: Sequence[Chunk]) -> list[PullJob]:
    return [c.job for c in chunks if c.status == "pending"]
