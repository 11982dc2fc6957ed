"""A sweep over the connection registry that scales: the timer fans out one message per shard, each shard's
worker lists its slice and enqueues its connections' work in parallel, and resumes where it stopped.

- Shards: per vendor (the registry's PartitionKey), a fixed set of RowKey ranges that cover every string once
  (``shard_ranges``); the registry's keys are not touched. Every run of a period makes the same shards.
- Period: the schedule's slot (the hour of the pull, the six-hour slot of the rotation). One progress row per
  (sweep, period, shard) in ``SWEEP_TABLE``: the last RowKey whose work is all sent, the messages sent past it
  (after a failure half-way through a chunk), done, and a claim (owner, lease) taken with an ETag.
- Order: a shard lists its slice in RowKey order (the table's order), a chunk of rows at a time; the chunk's
  messages go out in parallel; the progress row moves past the chunk before the next one starts. A send that
  fails records exactly which messages went out, then the run fails and the queue retries it: the retry sends
  only what is missing. A run that reaches its deadline stops between chunks and hands the rest to a new
  message. Only a process killed while a chunk is in flight can send that chunk's messages again (at most
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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

__all__ = ["SWEEP_QUEUE", "SWEEP_TABLE", "Outgoing", "Shard", "ShardWorker", "SweepKind", "fan_out", "make_shards"]
CHUNK_ROWS = 100  # rows whose messages go out together before the progress row moves
PAGE_ROWS = 1000  # rows per listing request (the table's maximum)
SEND_THREADS = 16
LEASE_SECONDS = 120.0  # a claim not renewed for this long is free to take (its worker died)
RUN_SECONDS = 240.0  # a shard run stops between chunks after this long and continues in a new message

# the first characters of a user id (shared.naming.USER_ID_PATTERN), then what may follow, in key order; "" ends
_FIRST = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NEXT = "-.0123456789@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


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
        return f"{self.sweep}-{self.period.replace(':', '')}", f"{self.vendor}-{self.index:03d}"

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


def shard_ranges(count: int) -> list[tuple[str, str]]:
    """``count`` RowKey ranges [lo, hi) that together cover every string exactly once, cut on the first two
    characters of a user id. (Ids that share a long prefix crowd one shard: it is still swept in parallel.)"""
    prefixes = [a + b for a in _FIRST for b in ("", *_NEXT)]
    count = max(1, min(count, len(prefixes)))
    cuts = [prefixes[len(prefixes) * i // count] for i in range(1, count)]
    bounds = ["", *cuts, ""]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


def make_shards(kind: SweepKind, vendors: Iterable[str], count: int, now: float | None = None) -> list[Shard]:
    now = time.time() if now is None else now
    period = period_of(now, kind.period_seconds)
    ranges = shard_ranges(count)
    return [
        Shard(kind.name, period, vendor, index, lo, hi, now)
        for vendor in sorted(vendors)
        for index, (lo, hi) in enumerate(ranges)
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
                for chunk in _chunks(self._rows(shard, state.after), CHUNK_ROWS):
                    if self.clock() >= deadline:
                        state.owner, state.lease_until = "", 0.0  # free for the continuation message
                        self._write(keys, state)
                        result.continued = True
                        return result
                    result.rows += len(chunk)
                    result.sent += self._chunk(shard, keys, state, chunk, pool)
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
        """Whether the shard's slice holds no row at all (one query for a key; most shards of a small registry)."""
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

    def _chunk(
        self, shard: Shard, keys: tuple[str, str], state: _Progress, chunk: list[Connection], pool: ThreadPoolExecutor
    ) -> int:
        kind = self.kind.prepare(chunk)  # a failure here fails the run before anything of the chunk is sent

        def one(connection: Connection) -> list[tuple[str, BaseException | None]]:
            """Plan one connection's messages and send them (each connection's work overlaps the others')."""
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

        outcomes = [pair for pairs in pool.map(one, chunk) for pair in pairs]
        errors = [error for _, error in outcomes if error is not None]
        sent_marks = {mark for mark, error in outcomes if error is None}
        failed_rows = {mark.split("\t", 1)[0] for mark, error in outcomes if error is not None}
        if not failed_rows:
            state.after, state.sent_past = chunk[-1].user_id, set()
        else:
            first_failed = next(i for i, c in enumerate(chunk) if c.user_id in failed_rows)
            if first_failed:
                state.after = chunk[first_failed - 1].user_id
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


def _chunks(rows: Iterable[Connection], size: int) -> Iterator[list[Connection]]:
    chunk: list[Connection] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
