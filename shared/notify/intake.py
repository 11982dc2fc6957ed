"""The service behind ``GET|POST|HEAD /api/notify/{vendor}`` (anonymous: the vendor's own proof is checked).

``NotificationIntake.handle`` takes the raw request and returns ``(status, json_body_or_None)``:

- unknown vendor, or a vendor without a client id configured -> 404; HEAD -> 204 without a body;
  a body over ``MAX_BODY_BYTES`` -> 413; a method the vendor does not use -> 405.
- Fitbit: ``GET ?verify=`` -> 204 when it equals the configured verification code, else 404. POST: a bad or
  missing ``X-Fitbit-Signature`` -> 404 (Fitbit's convention); a malformed body -> 400; else 204.
- WHOOP: a bad or missing signature or timestamp, or a timestamp more than 5 minutes off -> 401; malformed
  -> 400; else 204. A ``trace_id`` whose message was queued before -> 204 and no second message: its row in
  the dedup table is written only *after* the queue write succeeded, so a row proves a message exists and a
  storage failure (or a crash) anywhere before that leaves WHOOP's retry to be queued. Two deliveries racing
  each other may both be queued (the worker is idempotent); a row that cannot be written is logged, and the
  answer is still 204 (the message is queued).
- Codoon (no documented proof): a form with user_id, catalog, resource_id, start_time, end_time -> 200
  ``{"queued": 1}``; malformed -> 400. Being unsigned, it is bounded per source (vendor user id) and per
  process before anything is queued (``shared.notify.bounds.SourceGate``): beyond -> 200 ``{"queued": 0}``.
- Every accepted notification is one message on queue ``notify-jobs`` before the answer; when storage
  fails the answer is 503 so that the vendor retries, and nothing is acknowledged that was not queued.

Rejections are logged with their reason; never the body, a signature, a code or a secret.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode
from azure.storage.queue import QueueClient

from shared.notify.bounds import SourceGate
from shared.notify.parse import PARSERS, MalformedNotification, Notification
from shared.notify.verify import WHOOP_MAX_SKEW_SECONDS, SignatureRejected, check_fitbit, check_whoop
from shared.table_keys import table_key
from shared.telemetry import count_notification

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
Response = tuple[int, dict[str, Any] | None]


class VendorSecretLike(Protocol):
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...


class SettingsLike(Protocol):
    @property
    def vendors(self) -> Mapping[str, VendorSecretLike]: ...


class StorageUnavailable(Exception):
    """A queue or table call failed; the vendor must retry."""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, message: str) -> Response:
    return status, {"error": message}


class NotificationIntake:
    """Thread-safe: one instance serves every request of a worker process.

    ``clock`` returns epoch seconds (WHOOP's timestamp window, ``received_at``). Storage calls carry no SDK
    retries (the SDK's first back-off is 15 s, beyond Fitbit's 5 s deadline) and short timeouts; a call that
    fails fast is tried once more."""

    def __init__(
        self,
        settings: SettingsLike,
        queue: QueueClient,
        dedup_table: TableClient,
        clock: Callable[[], float] = time.time,
        fitbit_verify_code: str = "",
        *,
        storage_timeout: float = 2.0,
        max_skew: float = WHOOP_MAX_SKEW_SECONDS,
    ) -> None:
        self._secrets = {
            name: vendor.client_secret
            for name, vendor in settings.vendors.items()
            if name in PARSERS and vendor.client_id and vendor.client_secret
        }
        self.queue = queue
        self.dedup = dedup_table
        self.clock = clock
        self._verify_code = fitbit_verify_code
        self._max_skew = max_skew
        self._call: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": storage_timeout,
            "read_timeout": storage_timeout,
        }
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="notify-enqueue")
        self.codoon_gate = SourceGate()  # Codoon signs nothing: bound what one source (and this process) queues

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
        if vendor not in PARSERS:
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
        if vendor == "fitbit" and method == "GET":
            return self._fitbit_verify(query)
        if method != "POST":
            return self._reject(vendor, 405, f"method {method[:10]!r} not allowed", "method not allowed")
        lowered = {key.lower(): value for key, value in headers.items()}
        now = self.clock()
        try:
            self._check_signature(vendor, lowered, body, now)
        except SignatureRejected as rejected:
            if vendor == "fitbit":  # Fitbit's convention: a wrong signature is answered 404
                return self._reject(vendor, 404, rejected.reason, "not found")
            return self._reject(vendor, 401, rejected.reason, "invalid signature")
        try:
            notifications = PARSERS[vendor](body, _iso(now))
        except MalformedNotification as error:
            return self._reject(vendor, 400, str(error), str(error))
        if vendor == "codoon":
            notifications = [n for n in notifications if self.codoon_gate.allow(n.vendor_user_id)]
            if not notifications:
                log.info("notify bounded vendor=codoon: over the per-source or per-process bound, not queued")
                count_notification(vendor, "bounded")
                return 200, {"queued": 0}  # Codoon reads only the status and never retries
        try:
            queued = self._accept(vendor, notifications)
        except StorageUnavailable as error:
            log.error("notify not queued vendor=%s count=%d reason=%s", vendor, len(notifications), error)
            count_notification(vendor, "not_queued")
            return _error(503, "temporarily unavailable, retry later")
        log.info("notify accepted vendor=%s received=%d queued=%d", vendor, len(notifications), queued)
        count_notification(vendor, "queued")
        if queued < len(notifications):
            count_notification(vendor, "duplicate")
        if vendor == "codoon":
            return 200, {"queued": queued}
        return 204, None

    def _reject(self, vendor: str, status: int, reason: str, public: str) -> Response:
        count_notification(vendor, f"rejected_{status}")
        log.warning("notify rejected vendor=%s status=%d reason=%s", vendor, status, reason)
        return _error(status, public)

    def _fitbit_verify(self, query: Mapping[str, str]) -> Response:
        presented = query.get("verify")
        if not self._verify_code:
            return self._reject("fitbit", 404, "verify handshake but no verification code configured", "not found")
        if presented is None:
            return self._reject("fitbit", 404, "GET without verify", "not found")
        if not hmac.compare_digest(presented.encode("utf-8", "replace"), self._verify_code.encode("utf-8")):
            # Fitbit sends a deliberately wrong code as well and expects 404 for it
            log.info("notify fitbit verify: code does not match (404)")
            return _error(404, "not found")
        log.info("notify fitbit verify: code matches (204)")
        return 204, None

    def _check_signature(self, vendor: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
        secret = self._secrets[vendor]
        if vendor == "fitbit":
            check_fitbit(secret, body, headers.get("x-fitbit-signature"))
        elif vendor == "whoop":
            check_whoop(
                secret,
                body,
                headers.get("x-whoop-signature"),
                headers.get("x-whoop-signature-timestamp"),
                now,
                self._max_skew,
            )
        # Codoon documents no signature: anyone may post; the worker only pulls with the user's own token

    # -- storage ---------------------------------------------------------------------------------------

    def _accept(self, vendor: str, notifications: list[Notification]) -> int:
        """Queue every notification (WHOOP: unless its trace_id was queued before). Returns how many were queued."""
        if vendor != "whoop":
            self._enqueue_all(notifications)
            return len(notifications)
        queued = 0
        for notification in notifications:
            if self._was_queued(notification):
                log.info("notify duplicate collapsed vendor=whoop trace_id=%r", notification.trace_id)
                continue
            self._enqueue(notification)
            self._record_queued(notification)
            queued += 1
        return queued

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

    @staticmethod
    def _dedup_key(notification: Notification) -> tuple[str, str]:
        return table_key(notification.trace_id or ""), notification.vendor

    def _was_queued(self, notification: Notification) -> bool:
        """Whether a message for this trace_id was queued before (its row exists)."""
        partition, row = self._dedup_key(notification)
        try:
            self.dedup.get_entity(partition, row, select=["PartitionKey"], **self._call)
        except ResourceNotFoundError as error:
            if getattr(error, "error_code", None) == "TableNotFound":
                raise StorageUnavailable("dedup table does not exist") from None
            return False
        except Exception as error:
            raise StorageUnavailable(f"dedup read failed ({type(error).__name__})") from None
        return True

    def _record_queued(self, notification: Notification) -> None:
        """Write the trace_id's row once its message is queued; best effort: without it, a retry is queued again."""
        partition, row = self._dedup_key(notification)
        entity = {
            "PartitionKey": partition,
            "RowKey": row,
            "received_at": notification.received_at,
            "kind": notification.kind,
            "vendor_user_id": notification.vendor_user_id,
        }
        try:
            self.dedup.upsert_entity(entity, mode=UpdateMode.REPLACE, **self._call)
        except Exception as error:
            log.warning(
                "notify dedup row not written vendor=whoop (%s): the message is queued; a retry would be queued again",
                type(error).__name__,
            )
