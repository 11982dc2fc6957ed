"""A sweep over the connection registry that scales: the timer fans out one message per shard, each shard's
worker lists its slice and enqueues its connections' work in parallel, and resumes where it stopped.

- Shards: per vendor (the registry's PartitionKey), RowKey ranges that cover every string once, cut at the
  quantiles of the registry's own keys when the period's first timer run lists them (``balanced_cuts``), so
  every shard holds about as many connections whatever alphabet or prefix the product's user ids use; the cut is
  kept with the period's progress (``Sweeps.cut``), so every run of a period makes the same shards. The
  registry's keys are not touched.
- Period: the schedule's slot (the hour of the pull, the six-hour slot of the rotation). One progress row per
  (sweep, period, shard) in ``SWEEP_TABLE``: the last RowKey whose work is all sent, the messages sent past it
  (after a failure half-way through a chunk), done, and a claim (owner, lease) taken with an ETag.
- Order: a shard lists its slice in RowKey order (the table's order), a chunk of rows at a time; the chunk's
  messages go out in parallel, and the next chunk's start while the progress row moves past the one before
  (``IN_FLIGHT`` chunks at most: the send threads never wait for a progress write or a listing page). The
  progress row moves past a chunk only when it and every chunk before it are sent. A send that fails records
  exactly which messages went out, then the run fails and the queue retries it: the retry sends only what is
  missing. A run that reaches its deadline stops between chunks and hands the rest to a new message. Only a
  process killed while chunks are in flight can send their messages again (at most ``IN_FLIGHT`` x
  ``CHUNK_ROWS`` connections' worth): every message names its item (``tagged``) and its consumer claims the item
  once per period (``shared.sweep_once``), so a second copy is dropped before any vendor call.
- Overlap: a second timer run (or a manual one) of the same period makes the same shards; a shard done is not
  swept again, a shard another worker holds is left to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.registry import Connection
from shared.storage import SWEEP_QUEUE, SWEEP_TABLE
from shared.sweep_once import SWEPT

log = logging.getLogger(__name__)

__all__ = [
    "SWEEP_QUEUE",
    "SWEEP_TABLE",
    "Outgoing",
    "Shard",
    "ShardWorker",
    "SweepKind",
    "balanced_cuts",
    "fan_out",
    "make_shards",
]
CHUNK_ROWS = 100  # rows whose messages go out together before the progress row moves
IN_FLIGHT = 2  # chunks sending at once: one goes out while the progress row moves past the one before
PAGE_ROWS = 1000  # rows per listing request (the table's maximum)
SEND_THREADS = 16
LEASE_SECONDS = 120.0  # a claim not renewed for this long is free to take (its worker died)
RUN_SECONDS = 240.0  # a shard run stops between chunks after this long and continues in a new message


@dataclass(frozen=True)
class Outgoing:
    """One message a connection's work needs: ``key`` names it within the connection (e.g. its data type)."""

    queue: str
    body: str
    key: str = ""
    delay_seconds: int = 0


class SweepKind(Protocol):
    """What a sweep does with each connection of its shard."""

    @property
    def name(self) -> str: ...

    @property
    def period_seconds(self) -> int: ...

    @property
    def columns(self) -> Sequence[str]:  # registry columns the worker needs (PartitionKey and RowKey always come)
        ...

    def prepare(self, connections: list[Connection]) -> SweepKind:
        """This kind ready for one chunk (e.g. with what it reads per connection read for the chunk at once)."""
        ...

    def messages(self, connection: Connection, shard: Shard) -> list[Outgoing]: ...


@dataclass(frozen=True)
class Shard:
    sweep: str
    period: str  # the slot's start, e.g. 2026-11-29T19:00Z
    vendor: str
    index: int
    lo: str  # RowKey >= lo ("" : from the start)
    hi: str  # RowKey < hi ("" : to the end)
    started_at: float = 0.0  # when the timer fired (the pull spreads its messages from here)

    @property
    def progress_keys(self) -> tuple[str, str]:
        return progress_partition(self.sweep, self.period), f"{self.vendor}-{self.index:03d}"

    def message(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str | bytes) -> Shard:
        try:
            data: Any = json.loads(body)
            return cls(
                str(data["sweep"]),
                str(data["period"]),
                str(data["vendor"]),
                int(data["index"]),
                str(data["lo"]),
                str(data["hi"]),
                float(data.get("started_at") or 0.0),
            )
        except (ValueError, KeyError, TypeError):
            raise BadShardMessage("not a sweep shard message") from None


class BadShardMessage(ValueError):
    pass


@dataclass
class ShardResult:
    rows: int = 0  # connections listed by this run
    sent: int = 0  # messages sent by this run
    done: bool = False
    busy: bool = False  # another worker holds the shard, or it was done already
    continued: bool = False  # the deadline came: the rest goes on in a new message
    resent_chunk: bool = False  # a claim left by a dead worker: its last chunk may have been sent already


def tagged(item: Outgoing, shard: Shard, connection: Connection) -> Outgoing:
    """The message with the sweep item it carries out (``shared.sweep_once``): its consumer works it once."""
    data = json.loads(item.body)
    data[SWEPT] = [shard.sweep, shard.period, connection.vendor, connection.user_id, item.key]
    return replace(item, body=json.dumps(data, separators=(",", ":")))


def period_of(now: float, seconds: int) -> str:
    """The slot of ``now`` (epoch seconds): periods of ``seconds`` from midnight UTC."""
    start = int(now) - int(now) % seconds
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%MZ")


def ranges_between(cuts: Sequence[str]) -> list[tuple[str, str]]:
    """The RowKey ranges [lo, hi) between sorted ``cuts`` ("" : open): together they cover every string once."""
    bounds = ["", *cuts, ""]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def balanced_cuts(keys: Sequence[str], count: int) -> list[str]:
    """Where to cut sorted, distinct ``keys`` into at most ``count`` ranges holding about as many keys each (the
    keys' quantiles): no more ranges than keys, one when there is none."""
    count = max(1, min(count, len(keys)))
    return [keys[len(keys) * i // count] for i in range(1, count)]


def progress_partition(sweep: str, period: str) -> str:
    """The ``SWEEP_TABLE`` partition of one sweep's period (its shards' progress rows and its cut)."""
    return f"{sweep}-{period.replace(':', '')}"


def make_shards(kind: SweepKind, cuts: Mapping[str, Sequence[str]], now: float | None = None) -> list[Shard]:
    """The shards of one period: per vendor, the ranges between its ``cuts`` (``Sweeps.cut``)."""
    now = time.time() if now is None else now
    period = period_of(now, kind.period_seconds)
    return [
        Shard(kind.name, period, vendor, index, lo, hi, now)
        for vendor in sorted(cuts)
        for index, (lo, hi) in enumerate(ranges_between(cuts[vendor]))
    ]


class Sender(Protocol):
    def __call__(self, item: Outgoing) -> None: ...


def send_all(send: Sender, items: Sequence[Outgoing], pool: ThreadPoolExecutor) -> list[BaseException | None]:
    """Send every item in parallel; the error of each (None: sent)."""

    def one(item: Outgoing) -> BaseException | None:
        try:
            send(item)
        except AzureError as error:
            return error
        return None

    return list(pool.map(one, items))


def fan_out(send: Sender, shards: Sequence[Shard], threads: int = SEND_THREADS) -> int:
    """The timer's work: one ``SWEEP_QUEUE`` message per shard, in parallel. Raises the first failure."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        errors = send_all(send, [Outgoing(SWEEP_QUEUE, s.message()) for s in shards], pool)
    for error in errors:
        if error is not None:
            raise error
    return len(shards)


@dataclass
class _Progress:
    after: str = ""
    sent_past: set[str] = field(default_factory=set)  # "rowkey\tkey" of messages sent for rows past ``after``
    done: bool = False
    sent: int = 0
    owner: str = ""
    lease_until: float = 0.0
    etag: str = ""

    @classmethod
    def of(cls, entity: Any) -> _Progress:
        return cls(
            str(entity.get("after") or ""),
            set(json.loads(entity.get("sent_past") or "[]")),
            bool(entity.get("done")),
            int(entity.get("sent") or 0),
            str(entity.get("owner") or ""),
            float(entity.get("lease_until") or 0.0),
            str(entity.metadata.get("etag") or ""),
        )

    def entity(self, keys: tuple[str, str]) -> dict[str, Any]:
        return {
            "PartitionKey": keys[0],
            "RowKey": keys[1],
            "after": self.after,
            "sent_past": json.dumps(sorted(self.sent_past)),
            "done": self.done,
            "sent": self.sent,
            "owner": self.owner,
            "lease_until": self.lease_until,
        }


class _LostClaim(Exception):
    pass


class ShardWorker:
    """Runs one shard of a sweep: ``listing`` is the registry table, ``progress`` the ``SWEEP_TABLE``."""

    def __init__(
        self,
        kind: SweepKind,
        listing: TableClient,
        progress: TableClient,
        send: Sender,
        *,
        threads: int = SEND_THREADS,
        run_seconds: float = RUN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.listing = listing
        self.progress = progress
        self.send = send
        self.threads = threads
        self.run_seconds = run_seconds
        self.clock = clock
        self.owner = uuid.uuid4().hex

    def run(self, shard: Shard) -> ShardResult:
        result = ShardResult()
        if self._empty(shard):  # nothing to send, now or on any rerun: no progress row needed
            result.done = True
            return result
        keys = shard.progress_keys
        claimed = self._claim(keys)
        if claimed is None:
            result.busy = True
            return result
        state, result.resent_chunk = claimed
        deadline = self.clock() + self.run_seconds
        try:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                flight: list[_Chunk] = []
                try:
                    for rows in _chunks(self._rows(shard, state.after), CHUNK_ROWS):
                        if self.clock() >= deadline:
                            result.sent += self._settle(shard, keys, state, flight)
                            state.owner, state.lease_until = "", 0.0  # free for the continuation message
                            self._write(keys, state)
                            result.continued = True
                            return result
                        result.rows += len(rows)
                        flight.append(self._start(shard, state, rows, pool))
                        if len(flight) >= IN_FLIGHT:
                            result.sent += self._settle(shard, keys, state, flight[:1], flight[1:])
                            del flight[:1]
                except (AzureError, _LostClaim):  # what is still in flight is recorded before the run fails
                    with contextlib.suppress(AzureError, _LostClaim):
                        self._settle(shard, keys, state, [chunk for chunk in flight if not chunk.settled])
                    raise
                result.sent += self._settle(shard, keys, state, flight)
            state.done, state.owner, state.lease_until = True, "", 0.0
            self._write(keys, state)
            result.done = True
        except _LostClaim:
            log.warning("sweep %s %s: another worker took shard %s over", shard.sweep, shard.period, keys[1])
            result.busy = True
        return result

    # -- the progress row ----------------------------------------------------------------------------------------
    def _claim(self, keys: tuple[str, str]) -> tuple[_Progress, bool] | None:
        """The shard's progress, claimed for this worker, and whether a worker that died held it before; None
        when the shard is done or another worker holds it."""
        with contextlib.suppress(ResourceExistsError):
            self.progress.create_entity(_Progress().entity(keys))
        try:
            state = _Progress.of(self.progress.get_entity(*keys))
        except ResourceNotFoundError:
            return None
        if state.done or (state.owner and state.lease_until > time.time()):
            return None
        resumed = bool(state.owner)
        state.owner, state.lease_until = self.owner, time.time() + LEASE_SECONDS
        try:
            self._write(keys, state)
        except _LostClaim:
            return None
        if resumed:
            log.warning("sweep shard %s/%s: resuming after a worker that stopped mid-chunk", *keys)
        return state, resumed

    def _write(self, keys: tuple[str, str], state: _Progress) -> None:
        """Write the progress if nobody else has since this worker last read or wrote it."""
        try:
            meta = self.progress.update_entity(
                state.entity(keys),
                mode=UpdateMode.REPLACE,
                etag=state.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise _LostClaim from None
        state.etag = str(meta.get("etag") or "")

    # -- the work ------------------------------------------------------------------------------------------------
    def _empty(self, shard: Shard) -> bool:
        """Whether the shard's slice holds no row at all (one query for a key): the one shard of a vendor with no
        connection, or a slice whose rows went since the period's cut."""
        clauses, params = ["PartitionKey eq @vendor"], {"vendor": shard.vendor}
        if shard.lo:
            clauses.append("RowKey ge @lo")
            params["lo"] = shard.lo
        if shard.hi:
            clauses.append("RowKey lt @hi")
            params["hi"] = shard.hi
        pages = self.listing.query_entities(
            " and ".join(clauses), parameters=params, select=["RowKey"], results_per_page=1
        ).by_page()
        return next((False for page in pages for _ in page), True)

    def _rows(self, shard: Shard, after: str) -> Iterator[Connection]:
        clauses = ["PartitionKey eq @vendor"]
        params = {"vendor": shard.vendor}
        if after:
            clauses.append("RowKey gt @after")
            params["after"] = after
        elif shard.lo:
            clauses.append("RowKey ge @lo")
            params["lo"] = shard.lo
        if shard.hi:
            clauses.append("RowKey lt @hi")
            params["hi"] = shard.hi
        columns = ["PartitionKey", "RowKey", *self.kind.columns]
        for entity in self.listing.query_entities(
            " and ".join(clauses), parameters=params, select=columns, results_per_page=PAGE_ROWS
        ):
            data = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey") and v is not None}
            data.update(vendor=entity["PartitionKey"], user_id=entity["RowKey"])
            yield Connection.from_entity(data)

    def _start(self, shard: Shard, state: _Progress, rows: list[Connection], pool: ThreadPoolExecutor) -> _Chunk:
        """Plan and send one chunk's messages on the pool (each connection's work overlaps the others')."""
        kind = self.kind.prepare(rows)  # a failure here fails the run before anything of the chunk is sent

        def one(connection: Connection) -> list[tuple[str, BaseException | None]]:
            done: list[tuple[str, BaseException | None]] = []
            try:
                items = kind.messages(connection, shard)
            except AzureError as error:  # its plan could not be read: the connection is retried whole
                return [(f"{connection.user_id}\t", error)]
            for item in items:
                mark = f"{connection.user_id}\t{item.key}"
                if mark in state.sent_past:
                    continue
                try:
                    self.send(tagged(item, shard, connection))
                    done.append((mark, None))
                except AzureError as error:
                    done.append((mark, error))
            return done

        return _Chunk(rows, [pool.submit(one, connection) for connection in rows])

    def _settle(
        self, shard: Shard, keys: tuple[str, str], state: _Progress, chunks: list[_Chunk], later: Sequence[_Chunk] = ()
    ) -> int:
        """Wait for ``chunks`` (consecutive, oldest first) and move the progress row past them; returns the
        messages they sent. When one of their sends failed, the chunks still in flight (``later``) are waited
        for too, everything sent is recorded, and the first failure is raised (the retry sends only the rest)."""
        if not chunks:
            return 0
        outcomes = [pair for chunk in chunks for future in chunk.futures for pair in future.result()]
        if any(error is not None for _, error in outcomes):
            chunks = [*chunks, *later]
            outcomes = [pair for chunk in chunks for future in chunk.futures for pair in future.result()]
        for chunk in chunks:
            chunk.settled = True
        rows = [connection for chunk in chunks for connection in chunk.rows]
        errors = [error for _, error in outcomes if error is not None]
        sent_marks = {mark for mark, error in outcomes if error is None}
        failed_rows = {mark.split("\t", 1)[0] for mark, error in outcomes if error is not None}
        if not failed_rows:
            state.after = rows[-1].user_id
        else:
            first_failed = next(i for i, c in enumerate(rows) if c.user_id in failed_rows)
            if first_failed:
                state.after = rows[first_failed - 1].user_id
        state.sent_past = {m for m in state.sent_past | sent_marks if m.split("\t", 1)[0] > state.after}
        state.sent += len(sent_marks)
        state.lease_until = time.time() + LEASE_SECONDS
        if failed_rows:  # what went out is recorded: the shard is free for the retry at once
            state.owner, state.lease_until = "", 0.0
        self._write(keys, state)
        if failed_rows:
            log.warning(
                "sweep %s %s shard %s: %d of %d sends failed (%s); the retry sends only those",
                shard.sweep,
                shard.period,
                keys[1],
                len(errors),
                len(outcomes),
                type(errors[0]).__name__,
            )
            raise errors[0]
        return len(sent_marks)


@dataclass
class _Chunk:
    rows: list[Connection]
    futures: list[Future[list[tuple[str, BaseException | None]]]]
    settled: bool = False  # its outcome is in the progress row


def _chunks(rows: Iterable[Connection], size: int) -> Iterator[list[Connection]]:
    chunk: list[Connection] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
