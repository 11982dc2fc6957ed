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


class LockLost(Exception):
    """The lease could not be renewed: another worker may now hold the lock."""


class _LocalLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


_LOCAL = _LocalLocks()


class HeldLease:
    """A lease being renewed in the background until released."""

    def __init__(self, lease: BlobLeaseClient, duration: int, label: str) -> None:
        self.lease = lease
        self.label = label
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, args=(duration / 3.0,), daemon=True, name=f"lease-{label}")
        self._thread.start()

    def _renew(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.lease.renew()
            except HttpResponseError as error:
                log.error("lock lease renewal failed connection=%s status=%s", self.label, error.status_code)
                self.lost.set()
                return
            except Exception as error:  # network: try again at the next tick, the lease has slack
                log.warning("lock lease renewal error connection=%s error=%s", self.label, type(error).__name__)

    def check(self) -> None:
        if self.lost.is_set():
            raise LockLost(f"lock on {self.label} was lost")

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.lease.release()
        except HttpResponseError as error:
            log.warning("lock release failed connection=%s status=%s", self.label, error.status_code)


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
        except ResourceNotFoundError:
            with suppress(ResourceExistsError):
                blob.upload_blob(b"", overwrite=False)
            return None
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
                return HeldLease(lease, self.lease_seconds, label)
            now = time.monotonic()
            if now >= deadline:
                raise LockTimeout(f"timed out waiting for the lock on {label}")
            if while_waiting is not None and now >= next_poll:
                if while_waiting():
                    return None
                next_poll = now + 1.0
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - now)))
            delay = min(delay * 2, 0.5)
