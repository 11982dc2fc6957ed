"""One lock per connection: a blob lease in the app's storage account, renewed while held, released on
every path. Within one process, threads first queue on an in-process lock so that only one of them
competes for the lease; across processes and instances the lease decides.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from shared.naming import connection_digest

log = logging.getLogger(__name__)


class LockTimeout(Exception):
    """Another worker held the connection's lock for longer than we were willing to wait."""


class _LocalLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


_LOCAL = _LocalLocks()


class HeldLease:
    """A held lease; the shared renewer keeps it alive until it is released."""

    def __init__(self, lease: BlobLeaseClient, duration: int, label: str) -> None:
        self.lease = lease
        self.label = label
        self.every = duration / 3.0
        self.next_renewal = time.monotonic() + self.every
        self.lost = threading.Event()
        self.released = False

    def renew(self) -> None:
        try:
            self.lease.renew()
        except HttpResponseError as error:
            log.error("lock lease renewal failed connection=%s status=%s", self.label, error.status_code)
            self.lost.set()
        except Exception as error:  # network: try again at the next tick, the lease has slack
            log.warning("lock lease renewal error connection=%s error=%s", self.label, type(error).__name__)
        self.next_renewal = time.monotonic() + self.every

    def release(self) -> None:
        _RENEWER.forget(self)
        try:
            self.lease.release()
        except HttpResponseError as error:
            log.warning("lock release failed connection=%s status=%s", self.label, error.status_code)


class _Renewer:
    """One background thread per process renews every held lease a third of the way through its term."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: set[HeldLease] = set()
        self._thread: threading.Thread | None = None

    def watch(self, held: HeldLease) -> None:
        with self._cond:
            self._held.add(held)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="lease-renewer")
                self._thread.start()
            self._cond.notify()

    def forget(self, held: HeldLease) -> None:
        with self._cond:
            held.released = True
            self._held.discard(held)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [h for h in self._held if h.next_renewal <= now]
                wait = min((h.next_renewal for h in self._held), default=now + 60.0) - now
                if not due:
                    self._cond.wait(timeout=max(0.05, wait))
                    continue
            for held in due:
                if not held.released:
                    held.renew()


_RENEWER = _Renewer()


class ConnectionLocks:
    def __init__(
        self, blobs: BlobServiceClient, container: str = "locks", lease_seconds: int = 30, wait_seconds: float = 60.0
    ) -> None:
        self.container = blobs.get_container_client(container)
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds

    def ensure(self) -> None:
        with suppress(ResourceExistsError):
            self.container.create_container()

    def _try_acquire(self, blob_name: str) -> BlobLeaseClient | None:
        blob = self.container.get_blob_client(blob_name)
        lease = BlobLeaseClient(blob)
        try:
            lease.acquire(lease_duration=self.lease_seconds)
            return lease
        except ResourceNotFoundError:  # first use of this connection's lock: make the blob, then lease it
            with suppress(ResourceExistsError):
                blob.upload_blob(b"", overwrite=False)
            return self._try_acquire(blob_name)
        except HttpResponseError as error:
            if error.status_code == 409:  # LeaseAlreadyPresent
                return None
            raise

    @contextmanager
    def hold(
        self, vendor: str, user_id: str, while_waiting: Callable[[], bool] | None = None
    ) -> Iterator[HeldLease | None]:
        """Hold the connection's lock. Yields None, without the lock, if ``while_waiting`` (polled about
        once a second while another worker holds it) returns True: the wait is no longer needed."""
        digest = connection_digest(vendor, user_id)
        label = f"{vendor}/{digest[:12]}"
        local = _LOCAL.get(f"{vendor}/{digest}")
        deadline = time.monotonic() + self.wait_seconds
        if not self._acquire_local(local, deadline, while_waiting, label):
            yield None
            return
        try:
            held = self._acquire_lease(f"{vendor}/{digest}", deadline, while_waiting, label)
            if held is None:
                yield None
                return
            try:
                yield held
            finally:
                held.release()
        finally:
            local.release()

    def _acquire_local(
        self, local: threading.Lock, deadline: float, while_waiting: Callable[[], bool] | None, label: str
    ) -> bool:
        while not local.acquire(timeout=1.0):
            if while_waiting is not None and while_waiting():
                return False
            if time.monotonic() >= deadline:
                raise LockTimeout(f"timed out waiting for the lock on {label}")
        return True

    def _acquire_lease(
        self, blob_name: str, deadline: float, while_waiting: Callable[[], bool] | None, label: str
    ) -> HeldLease | None:
        next_poll = time.monotonic() + 1.0
        delay = 0.05
        while True:
            lease = self._try_acquire(blob_name)
            if lease is not None:
                held = HeldLease(lease, self.lease_seconds, label)
                _RENEWER.watch(held)
                return held
            now = time.monotonic()
            if now >= deadline:
                raise LockTimeout(f"timed out waiting for the lock on {label}")
            if while_waiting is not None and now >= next_poll:
                if while_waiting():
                    return None
                next_poll = now + 1.0
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - now)))
            delay = min(delay * 2, 0.5)
