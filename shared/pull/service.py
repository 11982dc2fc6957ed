"""The pull as the triggers and the command line use it: queue the hourly jobs, work a live or backfill
message, start and watch a backfill, or run any of it in-process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient

from shared.pull.backfill import QUEUE_RUNNER, BackfillJobs, BackfillPartlyQueued, BackfillRequest, pending
from shared.pull.jobs import BACKFILL_QUEUE, LIVE_QUEUE, PullJob
from shared.pull.planner import due_connections, enqueue_live, manual_jobs
from shared.pull.pull_state import PullStateStore
from shared.pull.puller import Puller, PullOutcome, PullStatus
from shared.pull.vendor_api import DataCallFailed
from shared.registry import ConnectionRegistry
from shared.settings import Settings

log = logging.getLogger(__name__)
MAX_DELAY_SECONDS = 6 * 3600


class PullService:
    def __init__(
        self,
        settings: Settings,
        registry: ConnectionRegistry,
        state: PullStateStore,
        puller: Puller,
        backfills: BackfillJobs,
        queue: Callable[[str], QueueClient],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.state = state
        self.puller = puller
        self.backfills = backfills
        self.queue = queue

    # -- live ----------------------------------------------------------------------------------------------------
    def enqueue_live(self) -> tuple[int, int]:
        return enqueue_live(self.settings, self.registry, self.state, self.queue(LIVE_QUEUE))

    def live_jobs(self, vendor: str | None = None, user_id: str | None = None) -> Iterator[PullJob]:
        """Every granted type of the matching connections, as live work (``python -m shared pull``: a person
        asked); the timer queues only what the planner finds due (``planner.live_jobs``)."""
        for connection in due_connections(self.settings, self.registry, vendor, user_id):
            yield from manual_jobs(self.settings, self.state, connection)

    def work_live(self, body: str | bytes) -> PullOutcome:
        """One ``pull-jobs`` message. Transient vendor failures raise, so the queue retries the message."""
        outcome = self.puller.run(PullJob.parse(body))
        self._continue(outcome)
        return outcome

    # -- backfill ------------------------------------------------------------------------------------------------
    def start_backfill(self, body: Any) -> dict[str, Any]:
        """Validate, store and queue a backfill (``BackfillError`` when it cannot start as asked).

        When storage fails half-way through the chunk messages, ``BackfillPartlyQueued`` says what was queued;
        the same request again finds that job and queues only the chunks that have no message yet."""
        request = BackfillRequest.parse(body, self.settings, self.registry)
        job_id = self.backfills.find_unqueued(request)
        if job_id is None:
            job_id, todo = self.backfills.create(request, runner=QUEUE_RUNNER)
            total, resumed = len(todo), False
        else:
            chunks = self.backfills.chunks(job_id)
            todo, total, resumed = [c.job for c in chunks if c.unqueued], len(chunks), True
        queue = self.queue(BACKFILL_QUEUE)
        sent: list[PullJob] = []
        try:
            for chunk in todo:
                queue.send_message(chunk.message())
                sent.append(chunk)
        except AzureError as error:
            log.warning("backfill %s: queueing stopped after %d messages (%s)", job_id, len(sent), type(error).__name__)
            self._mark_queued(job_id, sent)
            raise BackfillPartlyQueued(job_id, total - len(todo) + len(sent), total) from error
        self._mark_queued(job_id, sent)
        log.info(
            "backfill %s: %d chunks queued%s (%s %s..%s)",
            job_id,
            len(sent),
            f", {total - len(sent)} were already" if resumed else "",
            request.vendor,
            request.start,
            request.end,
        )
        return {"job_id": job_id, "chunks": total, "data_types": list(request.data_types), "resumed": resumed}

    def work_backfill(self, body: str | bytes) -> PullOutcome | None:
        """One ``backfill-jobs`` message: a chunk already done is skipped (a redelivered message)."""
        job = PullJob.parse(body)
        if not job.job_id or self.backfills.is_done(job):
            return None
        return self.run_chunk(job, requeue=True)

    def run_chunk(self, job: PullJob, *, requeue: bool, deadline: float | None = None) -> PullOutcome:
        self.backfills.started(job)
        try:
            outcome = self.puller.run(job, deadline)
        except DataCallFailed as error:
            self.backfills.note_error(job, str(error))
            raise
        if outcome.status is PullStatus.CONTINUED:
            if requeue:
                self._continue(outcome)
        else:
            self.backfills.finish(outcome)
        return outcome

    def resume(self, job_id: str) -> list[PullJob]:
        """The chunks of a job still to run in-process (a partly queued job's included: its queued chunks may
        also run from their messages, harmlessly)."""
        return pending(self.backfills.chunks(job_id))

    def _mark_queued(self, job_id: str, sent: list[PullJob]) -> None:
        """Best effort: a chunk whose mark is lost is queued again by the next identical request, a harmless
        duplicate message."""
        try:
            self.backfills.mark_queued(job_id, sent)
        except AzureError as error:
            log.warning("backfill %s: %d chunks queued but not marked (%s)", job_id, len(sent), type(error).__name__)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _continue(self, outcome: PullOutcome) -> None:
        """Queue what an interrupted job left, after the rate budget's wait."""
        rest = outcome.rest
        if outcome.status is not PullStatus.CONTINUED or rest is None:
            return
        delay = int(min(MAX_DELAY_SECONDS, max(0.0, outcome.retry_after)))
        self.queue(rest.queue).send_message(rest.message(), visibility_timeout=delay)
        log.info("pull %s: continues in a new message in %ds", rest, delay)
