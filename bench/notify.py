"""Notification intake latency: request -> response through a real loopback HTTP server and the real
Azurite queue, beside the queue write alone (the bound).

    python -m bench.notify [--notifications 1000] [--concurrency 50] [--vendor both]

The server (stdlib ThreadingHTTPServer wrapping ``NotificationIntake.handle``, one thread per connection)
runs in this process; the vendor side (``--concurrency`` threads with keep-alive sessions, correctly signed
notifications from the twins' ``sandbox.vendors.<name>.notify``) runs in a separate process, as the vendors are
remote. The bound is
``queue.send_message`` alone, from this process, at the same concurrency and with the same client. Prints
p50/p99 of each and the ratio of the p99s (target <= 3). A WHOOP notification costs a dedup read (Table) and a
queue write before its answer (the dedup row is written beside it); a Fitbit notification costs the queue write.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from sandbox.azurite import Azurite
from sandbox.vendors.fitbit.notify import fitbit_item, signed_fitbit
from sandbox.vendors.whoop.notify import signed_whoop, whoop_event
from shared.notify import NOTIFY_DEDUP_TABLE, NOTIFY_QUEUE
from shared.notify.intake import NotificationIntake

ROUTE = "/api/notify/"
TARGET = 3.0


@dataclass(frozen=True)
class _Vendor:
    client_id: str
    client_secret: str = field(repr=False)
    extra: dict[str, str] = field(default_factory=dict)  # the package's own settings (none needed here)


@dataclass(frozen=True)
class _Settings:
    vendors: dict[str, _Vendor]


def _transport(pool: int) -> RequestsTransport:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops SYNs when 50 clients connect at once

    def __init__(self, intake: NotificationIntake) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.intake = intake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        vendor = url.path[len(ROUTE) :] if url.path.startswith(ROUTE) else ""
        status, answer = self.server.intake.handle(
            vendor, self.command, dict(self.headers.items()), dict(parse_qsl(url.query)), body
        )
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        if payload:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def environment(concurrency: int) -> Iterator[tuple[NotificationIntake, QueueClient, dict[str, str], str]]:
    secrets_by_vendor = {v: f"bench-{v}-{secrets.token_urlsafe(24)}" for v in ("whoop", "fitbit")}
    with Azurite(memory_limit_mb=1024) as azurite:
        conn = azurite.connection_string
        queue = QueueClient.from_connection_string(
            conn, NOTIFY_QUEUE, message_encode_policy=TextBase64EncodePolicy(), transport=_transport(concurrency + 8)
        )
        table = TableClient.from_connection_string(conn, NOTIFY_DEDUP_TABLE, transport=_transport(concurrency + 8))
        settings = _Settings({v: _Vendor(f"bench-{v}", s) for v, s in secrets_by_vendor.items()})
        intake = NotificationIntake(settings, queue, table)
        intake.ensure()
        server = _Server(intake)
        thread = threading.Thread(target=server.serve_forever, name="notify-http", daemon=True)
        thread.start()
        try:
            yield intake, queue, secrets_by_vendor, f"http://127.0.0.1:{server.server_port}{ROUTE}"
        finally:
            server.shutdown()
            server.server_close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def timed(work: list[Callable[[], Any]], concurrency: int) -> list[float]:
    """Run every callable, ``concurrency`` at once; each one's seconds from start to end."""

    def one(call: Callable[[], Any]) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, work))


# -- the vendor side, in its own process ---------------------------------------------------------------------
def _requests(vendor: str, secret: str, count: int) -> list[tuple[dict[str, str], bytes]]:
    if vendor == "whoop":
        types = ("sleep.updated", "workout.updated", "recovery.updated", "workout.deleted")
        return [signed_whoop(secret, whoop_event(10_000 + i, types[i % 4])) for i in range(count)]
    return [signed_fitbit(secret, [fitbit_item(f"U{i:06d}", "sleep", "2026-11-20")]) for i in range(count)]


def _vendor_side(job: tuple[str, str, str, int, int, int]) -> tuple[list[float], dict[int, int]]:
    url, vendor, secret, count, warmup, concurrency = job
    local = threading.local()
    lock = threading.Lock()

    def post(headers: dict[str, str], body: bytes) -> Callable[[], int]:
        def call() -> int:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            status: int = local.session.post(url + vendor, headers=headers, data=body, timeout=30).status_code
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
            return status

        return call

    statuses: dict[int, int] = {}
    timed([post(*r) for r in _requests(vendor, secret, warmup)], concurrency)
    statuses.clear()
    latencies = timed([post(*r) for r in _requests(vendor, secret, count)], concurrency)
    return latencies, statuses


# -- the bound -------------------------------------------------------------------------------------------------
def queue_write_alone(queue: QueueClient, count: int, warmup: int, concurrency: int) -> list[float]:
    text = json.dumps({"v": 1, "vendor": "fitbit", "vendor_user_id": "U000001", "kind": "sleep", "x": "." * 250})
    timed([lambda: queue.send_message(text) for _ in range(warmup)], concurrency)
    return timed([lambda: queue.send_message(text) for _ in range(count)], concurrency)


def dedup_then_queue(intake: NotificationIntake, count: int, concurrency: int) -> list[float]:
    """For reference: WHOOP's three storage calls in sequence, without HTTP."""
    text = "." * 300

    def both() -> None:
        key = str(uuid.uuid4())
        with suppress(ResourceNotFoundError):
            intake.dedup.get_entity(key, "bench")
        intake.queue.send_message(text)
        intake.dedup.upsert_entity({"PartitionKey": key, "RowKey": "bench"})

    return timed([both for _ in range(count)], concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--vendor", default="both", choices=["both", "whoop", "fitbit"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    vendors = ["fitbit", "whoop"] if args.vendor == "both" else [args.vendor]
    n, c = args.notifications, args.concurrency

    with environment(c) as (intake, queue, secrets_by_vendor, url), multiprocessing.get_context("spawn").Pool(1) as vp:
        bound = queue_write_alone(queue, n, args.warmup, c)
        b50, b99 = percentiles(bound)
        print(f"notification intake benchmark: {n} notifications per vendor, {c} concurrent, Azurite on loopback")
        print(f"  queue write alone (bound)   p50 {b50:7.1f} ms   p99 {b99:7.1f} ms")
        ok = True
        for vendor in vendors:
            before = queue.get_queue_properties().approximate_message_count or 0
            latencies, statuses = vp.apply(_vendor_side, ((url, vendor, secrets_by_vendor[vendor], n, args.warmup, c),))
            queued = (queue.get_queue_properties().approximate_message_count or 0) - before - args.warmup
            p50, p99 = percentiles(latencies)
            ratio = p99 / b99
            ok = ok and ratio <= TARGET and statuses == {204: n} and queued == n
            print(
                f"  {vendor:<6} request->response   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
                f"p99 ratio {ratio:4.2f} (target <= {TARGET:.0f})   statuses {statuses}   queued {queued}"
            )
        if "whoop" in vendors:
            d50, d99 = percentiles(dedup_then_queue(intake, n, c))
            print(f"  (reference: dedup read + queue + dedup write, no HTTP   p50 {d50:7.1f} ms   p99 {d99:7.1f} ms)")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
