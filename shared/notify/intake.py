"""The service behind ``GET|POST|HEAD /api/notify/{vendor}`` (anonymous: the vendor's own proof is checked).

``NotificationIntake.handle`` takes the raw request and returns ``(status, json_body_or_None)``, following the
vendor package's ``notifications`` part (``shared.notify.model.Notifications``):

- unknown vendor, a vendor without notifications, or one without a client id configured -> 404; HEAD -> 204
  without a body; a body over ``MAX_BODY_BYTES`` -> 413; a method the vendor does not use -> 405.
- the package's handshake (``Handshake``: a method and a query parameter) -> 204 when the parameter equals the
  package's configured code (constant time), else the handshake's refusal status; never a body read. A package's
  ``challenge`` sees every other request first (method, headers, query, raw body, its settings) and may answer it
  itself (a verification POST, an echoed challenge): its answer is returned as it is.
- POST: the package's ``verify`` on the raw body; a refusal gets the package's ``refused`` status (401 unless
  the vendor's convention is another); a malformed body -> 400; else 204 (or ``200 {"queued": n}`` for a vendor
  that reads the count). With a ``dedup_key``, a notification whose key was queued before -> no second message:
  its row in the dedup table is written only *after* the queue write succeeded, so a row proves a message exists
  and a storage failure (or a crash) anywhere before that leaves the vendor's retry to be queued. Two deliveries
  racing each other may both be queued (the worker is idempotent); a row that cannot be written is logged, and
  the answer is still a success (the message is queued).
- an unsigned vendor (no ``verify``) is bounded per source (vendor user id) and per process before anything is
  queued (``shared.notify.bounds.SourceGate`` with the package's ``SourceLimits``): beyond, nothing is queued
  and the answer is a success with nothing queued.
- Every accepted notification is one message on queue ``notify-jobs`` before the answer; when storage
  fails the answer is 503 so that the vendor retries, and nothing is acknowledged that was not queued.

Rejections are logged with their reason; never the body, a signature, a code or a secret.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from shared.notify.bounds import SourceGate
from shared.notify.model import (
    ChallengeAnswer,
    ChallengeRequest,
    Handshake,
    MalformedNotification,
    Notification,
    Notifications,
    SignatureRejected,
    SignedRequest,
)
from shared.table_keys import table_key
from shared.telemetry import count_notification
from shared.vendors.registry import vendors

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
Response = tuple[int, dict[str, Any] | None]
_PUBLIC = {401: "invalid signature", 403: "forbidden", 404: "not found"}


class VendorSecretLike(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def extra(self) -> Mapping[str, str]: ...


class SettingsLike(Protocol):
    @property
    def vendors(self) -> Mapping[str, VendorSecretLike]: ...


class StorageUnavailable(Exception):
    """A queue or table call failed; the vendor must retry."""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str) -> Response:
    return status, {"error": message}


def _accepted(spec: Notifications, queued: int) -> Response:
    return (200, {"queued": queued}) if spec.answers_count else (204, None)


class NotificationIntake:
    """Thread-safe: one instance serves every request of a worker process.

    ``clock`` returns epoch seconds (signature time windows, ``received_at``). Storage calls carry no SDK
    retries (the SDK's first back-off is 15 s, beyond the shortest vendor deadline, 5 s) and short timeouts; a
    call that fails fast is tried once more. ``gates`` holds the ``SourceGate`` of each unsigned vendor."""

    def __init__(
        self,
        settings: SettingsLike,
        queue: QueueClient,
        dedup_table: TableClient,
        clock: Callable[[], float] = time.time,
        *,
        storage_timeout: float = 2.0,
    ) -> None:
        self._specs: dict[str, Notifications] = {
            name: vendor.notifications for name, vendor in vendors().items() if vendor.notifications is not None
        }
        enabled = {
            name: vendor
            for name, vendor in settings.vendors.items()
            if name in self._specs and vendor.client_id and vendor.client_secret
        }
        self._secrets = {name: vendor.client_secret for name, vendor in enabled.items()}
        self._extra: dict[str, Mapping[str, str]] = {name: dict(vendor.extra) for name, vendor in enabled.items()}
        self._codes = {
            name: vendor.extra.get(handshake.setting, "")
            for name, vendor in enabled.items()
            if (handshake := self._specs[name].handshake) is not None
        }
        self.queue = queue
        self.dedup = dedup_table
        self.clock = clock
        self._call: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": storage_timeout,
            "read_timeout": storage_timeout,
        }
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="notify-enqueue")
        # dedup rows are written after the answer's queue write, off the request's path (see _record_queued)
        self._rows = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify-dedup")
        self._writing: set[Future[None]] = set()
        self._writing_lock = threading.Lock()
        self.gates = {name: SourceGate.of(spec.unsigned) for name, spec in self._specs.items() if spec.unsigned}

    def ensure(self) -> None:
        """Create the queue and the dedup table (idempotent; the infrastructure creates them in Azure)."""
        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()
        with contextlib.suppress(ResourceExistsError):
            self.dedup.create_table()

    # -- the request -----------------------------------------------------------------------------------

    def handle(
        self, vendor: str, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> Response:
        spec = self._specs.get(vendor)
        if spec is None:
            log.warning("notify rejected: unknown vendor %r", vendor[:32])
            return _error(404, "not found")
        if vendor not in self._secrets:
            log.warning("notify rejected vendor=%s reason=vendor not enabled", vendor)
            return _error(404, "not found")
        method = method.upper()
        if method == "HEAD":
            return 204, None
        if len(body) > MAX_BODY_BYTES:
            return self._reject(vendor, 413, f"body larger than {MAX_BODY_BYTES} bytes", "body too large")
        if spec.handshake is not None and method == spec.handshake.method.upper():
            return self._handshake(vendor, spec.handshake, query)
        lowered = {key.lower(): value for key, value in headers.items()}
        if spec.challenge is not None:
            request = ChallengeRequest(method, lowered, query, body, self._secrets[vendor], self._extra[vendor])
            answer = spec.challenge(request)
            if answer is not None:
                return self._challenged(vendor, answer)
        if method not in spec.methods:
            return self._reject(vendor, 405, f"method {method[:10]!r} not allowed", "method not allowed")
        now = self.clock()
        if spec.verify is not None:
            try:
                spec.verify(SignedRequest(self._secrets[vendor], lowered, body, now, self._extra[vendor]))
            except SignatureRejected as rejected:
                return self._reject(vendor, spec.refused, rejected.reason, _PUBLIC.get(spec.refused, "refused"))
        try:
            notifications = spec.parse(body, _iso(now))
        except MalformedNotification as error:
            return self._reject(vendor, 400, str(error), str(error))
        gate = self.gates.get(vendor)
        if gate is not None:
            notifications = [n for n in notifications if gate.allow(n.vendor_user_id)]
            if not notifications:
                log.info("notify bounded vendor=%s: over the per-source or per-process bound, not queued", vendor)
                count_notification(vendor, "bounded")
                return _accepted(spec, 0)
        try:
            queued = self._accept(spec, notifications)
        except StorageUnavailable as error:
            log.error("notify not queued vendor=%s count=%d reason=%s", vendor, len(notifications), error)
            count_notification(vendor, "not_queued")
            return _error(503, "temporarily unavailable, retry later")
        log.info("notify accepted vendor=%s received=%d queued=%d", vendor, len(notifications), queued)
        count_notification(vendor, "queued")
        if queued < len(notifications):
            count_notification(vendor, "duplicate")
        return _accepted(spec, queued)

    def _reject(self, vendor: str, status: int, reason: str, public: str) -> Response:
        count_notification(vendor, f"rejected_{status}")
        log.warning("notify rejected vendor=%s status=%d reason=%s", vendor, status, reason)
        return _error(status, public)

    def _handshake(self, vendor: str, handshake: Handshake, query: Mapping[str, str]) -> Response:
        refused, public = handshake.refused, _PUBLIC.get(handshake.refused, "refused")
        code = self._codes.get(vendor, "")
        presented = query.get(handshake.parameter)
        if not code:
            return self._reject(vendor, refused, "handshake but no verification code configured", public)
        if presented is None:
            return self._reject(vendor, refused, f"handshake without {handshake.parameter}", public)
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), code.encode("utf-8")):
            # a vendor may send a deliberately wrong code as well, and expect the refusal for it
            log.info("notify handshake vendor=%s: code does not match (%d)", vendor, refused)
            return _error(refused, public)
        log.info("notify handshake vendor=%s: code matches (204)", vendor)
        return 204, None

    def _challenged(self, vendor: str, answer: ChallengeAnswer) -> Response:
        if answer.status >= 400:
            count_notification(vendor, f"rejected_{answer.status}")
            log.warning("notify challenge refused vendor=%s status=%d reason=%s", vendor, answer.status, answer.reason)
            return answer.status, answer.body if answer.body is not None else {
                "error": _PUBLIC.get(answer.status, "refused")
            }
        log.info("notify challenge answered vendor=%s status=%d reason=%s", vendor, answer.status, answer.reason)
        return answer.status, answer.body

    # -- storage ---------------------------------------------------------------------------------------

    def _accept(self, spec: Notifications, notifications: list[Notification]) -> int:
        """Queue every notification (with a dedup key: unless its key was queued before). Returns how many were
        queued."""
        if spec.dedup_key is None:
            self._enqueue_all(notifications)
            return len(notifications)
        queued = 0
        for notification in notifications:
            key = spec.dedup_key(notification)
            if key is not None and self._was_queued(key, notification.vendor):
                log.info("notify duplicate collapsed vendor=%s key=%r", notification.vendor, key)
                continue
            self._enqueue(notification)
            if key is not None:
                self._record_queued_later(key, notification)
            queued += 1
        return queued

    def _record_queued_later(self, key: str, notification: Notification) -> None:
        """The dedup row only collapses a vendor's retry of a delivery whose answer it did not get, which comes
        seconds later at the earliest: it is written beside the answer rather than before it, so the request
        waits on two storage calls (the read and the queue write), not three."""
        future = self._rows.submit(self._record_queued, key, notification)
        with self._writing_lock:
            self._writing.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: Future[None]) -> None:
        with self._writing_lock:
            self._writing.discard(future)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the dedup rows of the notifications answered so far are written (or failed)."""
        with self._writing_lock:
            writing = set(self._writing)
        if writing:
            wait(writing, timeout=timeout)

    def _enqueue_all(self, notifications: list[Notification]) -> None:
        if len(notifications) == 1:
            self._enqueue(notifications[0])
        elif notifications:
            list(self._pool.map(self._enqueue, notifications))  # re-raises the first failure

    def _enqueue(self, notification: Notification) -> None:
        text = notification.to_json()
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                self.queue.send_message(text, **self._call)
                return
            except ResourceNotFoundError:
                raise StorageUnavailable("queue does not exist") from None
            except Exception as error:  # any transport or service failure: the vendor must retry
                if attempt == 2 or time.monotonic() - started > 0.5:
                    raise StorageUnavailable(f"queue write failed ({type(error).__name__})") from None
                time.sleep(0.05)

    def _was_queued(self, key: str, vendor: str) -> bool:
        """Whether a message for this dedup key was queued before (its row exists)."""
        try:
            self.dedup.get_entity(table_key(key), vendor, select=["PartitionKey"], **self._call)
        except ResourceNotFoundError as error:
            if getattr(error, "error_code", None) == "TableNotFound":
                raise StorageUnavailable("dedup table does not exist") from None
            return False
        except Exception as error:
            raise StorageUnavailable(f"dedup read failed ({type(error).__name__})") from None
        return True

    def _record_queued(self, key: str, notification: Notification) -> None:
        """Write the key's row once its message is queued; best effort: without it, a retry is queued again."""
        entity = {
            "PartitionKey": table_key(key),
            "RowKey": notification.vendor,
            "received_at": notification.received_at,
            "kind": notification.kind,
            "vendor_user_id": notification.vendor_user_id,
        }
        try:
            self.dedup.upsert_entity(entity, mode=UpdateMode.REPLACE, **self._call)
        except Exception as error:
            log.warning(
                "notify dedup row not written vendor=%s (%s): the message is queued; a retry would be queued again",
                notification.vendor,
                type(error).__name__,
            )
