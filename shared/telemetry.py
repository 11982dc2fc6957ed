"""Observability the Functions way: OpenTelemetry to Application Insights.

Three parts, none of which ever sees a token or a raw user id:

- ``configure_telemetry()``, called once when function_app.py is imported. On Azure the Python worker itself calls
  ``configure_azure_monitor()`` (app setting ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true``, with host.json
  ``"telemetryMode": "OpenTelemetry"``); configuring it a second time in the app is unsupported and duplicates every
  log line, so then this only installs the log context. Elsewhere (the command line against Azure, say) it configures
  Azure Monitor itself when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, and does nothing when it is not.
  It never raises: a failure is a warning, and the app runs without telemetry.

- Structured fields: ``with operation("rotate", vendor=v, user_id=u) as op:`` puts ``vendor``, ``connection``
  (``log_id(vendor, user_id)``, a short digest: never the user id) and ``operation`` in a context variable; every
  log record made inside the block carries them as attributes, which Azure Monitor exports as customDimensions. On
  exit the block logs one line, ``operation finished ...``, with ``outcome`` (``op.outcome``: "ok" unless set; "error"
  when an exception escapes and no outcome was set), ``duration_ms`` and, after an exception, ``error_class`` (the
  exception's class name; never its message, which may quote a vendor's answer). The fields are also in the text of
  that line, for the default (non-OpenTelemetry) path, where the worker drops record attributes.

  The fields reach records through a log record factory (``install_log_context()``), not through filters on
  handlers: the factory covers every record of every logger, created before or after installation, whichever
  handler receives it, including handlers added later (the OpenTelemetry handler that ``configure_azure_monitor()``
  adds to the root logger, pytest's ``caplog``). A filter on the root logger misses records that propagate from
  child loggers, and filters on handlers miss handlers added afterwards. The factory chains to the previous one.
  Fields that are not set are absent from the record (not ""), so records made outside any operation are unchanged.
  One consequence: inside an operation, ``log.info(..., extra={"vendor": ...})`` (any of the field names) raises
  KeyError in ``logging``, which refuses to overwrite a record attribute: name the connection with ``operation()``
  or ``op.bind()`` instead. Other ``extra`` keys (``data_type``, ``count``...) are fine.

- Counters through the OpenTelemetry metrics API, meter "wearsync" (exported as customMetrics; the Azure Monitor
  exporter sends counters as deltas, so ``sum(valueSum)`` over a window counts the events in it). Without an SDK
  configured the API is a no-op. Tests inject a provider with ``use_meter_provider()`` (the global one can be set
  only once per process). The ``count_*`` helpers never raise.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from opentelemetry import metrics

from shared.naming import log_id

log = logging.getLogger(__name__)

METER_NAME = "wearsync"

# metric names (customMetrics.name in Application Insights; the alert rules in infra/app/monitoring.bicep use them)
ROTATIONS = "wearsync.rotations"  # vendor, outcome (rotated, skipped, degraded, reauth_required, failed, error)
REFRESH_FAILURES = "wearsync.refresh_failures"  # vendor, failure_kind (shared.vendors.FailureKind)
REAUTH_REQUIRED = "wearsync.reauth_required"  # vendor: a connection became reauth_required
NOTIFICATIONS = "wearsync.notifications"  # vendor, outcome
RECORDS_LANDED = "wearsync.records_landed"  # vendor, data_type, result (created, updated, unchanged)
RATE_LIMIT_WAITS = "wearsync.rate_limit_waits"  # vendor
RATE_LIMIT_WAIT_SECONDS = "wearsync.rate_limit_wait_seconds"  # histogram, vendor
POISON_MESSAGES = "wearsync.poison_messages"  # queue

# the structured fields a record can carry (absent when not set)
FIELDS = ("vendor", "connection", "operation", "outcome", "duration_ms", "error_class")

ATTRIBUTE_MAX_LENGTH = 64  # metric attributes come from our own enums and names; cut anything unexpected short


# -- structured fields -------------------------------------------------------------------------------------------

_EMPTY: Mapping[str, str | float] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str | float]] = contextvars.ContextVar("wearsync_log_fields")


def current_fields() -> Mapping[str, str | float]:
    """The structured fields in effect here (empty outside any operation)."""
    return _context.get(_EMPTY)


class ContextFilter(logging.Filter):
    """Copies the current structured fields onto a record, leaving attributes it already has alone. Always passes.

    ``install_log_context()`` applies it to every record through the record factory; it can also be added to a
    handler of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_fields().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


_FILTER = ContextFilter()
_install_lock = threading.Lock()


def install_log_context() -> None:
    """Make every log record carry the current structured fields (idempotent; chains the previous factory)."""
    with _install_lock:
        previous = logging.getLogRecordFactory()
        if getattr(previous, "_wearsync_context", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        factory._wearsync_context = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)


class Operation:
    """A unit of work being timed: set ``outcome`` before leaving the block; ``bind()`` names the connection later."""

    def __init__(self, name: str, vendor: str, user_id: str) -> None:
        self.name = name
        self.vendor = vendor
        self.connection = log_id(vendor, user_id) if vendor and user_id else ""
        self._outcome: str | None = None
        self.started = time.monotonic()

    @property
    def outcome(self) -> str:
        return self._outcome or "ok"

    @outcome.setter
    def outcome(self, value: str) -> None:
        self._outcome = str(value)

    @property
    def outcome_set(self) -> bool:
        return self._outcome is not None

    def duration_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def bind(self, *, vendor: str | None = None, user_id: str | None = None) -> None:
        """Name the vendor and/or the connection once they are known (a callback learns the user from its state)."""
        if vendor:
            self.vendor = vendor
        if user_id and self.vendor:
            self.connection = log_id(self.vendor, user_id)
        _context.set(self._fields(_context.get(_EMPTY)))

    def _fields(self, outer: Mapping[str, str | float]) -> Mapping[str, str | float]:
        fields = {k: v for k, v in outer.items() if k in ("vendor", "connection")}
        if self.vendor:
            fields["vendor"] = self.vendor
        if self.connection:
            fields["connection"] = self.connection
        fields["operation"] = self.name
        return MappingProxyType(fields)


@contextmanager
def operation(
    name: str, *, vendor: str = "", user_id: str = "", logger: logging.Logger | None = None
) -> Iterator[Operation]:
    """Time a unit of work and put vendor/connection/operation on every log record made inside it; log one
    ``operation finished`` line on the way out. Nested operations inherit the outer vendor and connection."""
    outer = _context.get(_EMPTY)
    op = Operation(name, vendor or str(outer.get("vendor", "")), user_id)
    if not op.connection and op.vendor == outer.get("vendor"):
        op.connection = str(outer.get("connection", ""))
    token = _context.set(op._fields(outer))
    error_class = ""
    try:
        yield op
    except BaseException as exc:
        error_class = type(exc).__name__
        if not op.outcome_set:
            op.outcome = "error"
        raise
    finally:
        fields = dict(_context.get(_EMPTY))
        fields["outcome"] = op.outcome
        fields["duration_ms"] = op.duration_ms()
        if error_class:
            fields["error_class"] = error_class
        _context.set(MappingProxyType(fields))
        try:
            (logger or log).log(
                logging.WARNING if error_class else logging.INFO,
                "operation finished operation=%s vendor=%s connection=%s outcome=%s duration_ms=%.1f%s",
                op.name,
                op.vendor or "-",
                op.connection or "-",
                fields["outcome"],
                fields["duration_ms"],
                f" error_class={error_class}" if error_class else "",
            )
        finally:
            _context.reset(token)


# -- counters ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Instruments:
    rotations: metrics.Counter
    refresh_failures: metrics.Counter
    reauth_required: metrics.Counter
    notifications: metrics.Counter
    records_landed: metrics.Counter
    rate_limit_waits: metrics.Counter
    rate_limit_wait_seconds: metrics.Histogram
    poison_messages: metrics.Counter


_provider_override: metrics.MeterProvider | None = None
_instruments_cache: tuple[metrics.MeterProvider, _Instruments] | None = None
_instruments_lock = threading.Lock()


def use_meter_provider(provider: metrics.MeterProvider | None) -> None:
    """Count into ``provider`` instead of the global meter provider (tests); None goes back to the global one."""
    global _provider_override, _instruments_cache
    with _instruments_lock:
        _provider_override = provider
        _instruments_cache = None


def _instruments() -> _Instruments:
    global _instruments_cache
    provider = _provider_override or metrics.get_meter_provider()
    cached = _instruments_cache
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _instruments_lock:
        meter = provider.get_meter(METER_NAME)
        built = _Instruments(
            rotations=meter.create_counter(ROTATIONS, unit="{rotation}", description="Rotations by outcome"),
            refresh_failures=meter.create_counter(
                REFRESH_FAILURES, unit="{failure}", description="Failed token refreshes by failure class"
            ),
            reauth_required=meter.create_counter(
                REAUTH_REQUIRED, unit="{connection}", description="Connections that became reauth_required"
            ),
            notifications=meter.create_counter(
                NOTIFICATIONS, unit="{notification}", description="Vendor notifications by outcome"
            ),
            records_landed=meter.create_counter(
                RECORDS_LANDED, unit="{record}", description="Records landed by result (created/updated/unchanged)"
            ),
            rate_limit_waits=meter.create_counter(
                RATE_LIMIT_WAITS, unit="{wait}", description="Waits imposed by vendor rate limits"
            ),
            rate_limit_wait_seconds=meter.create_histogram(
                RATE_LIMIT_WAIT_SECONDS, unit="s", description="Length of the waits imposed by vendor rate limits"
            ),
            poison_messages=meter.create_counter(
                POISON_MESSAGES, unit="{message}", description="Queue messages that ended in a poison queue"
            ),
        )
        _instruments_cache = (provider, built)
        return built


def _attr(value: object) -> str:
    return str(value)[:ATTRIBUTE_MAX_LENGTH]


def _safely(record: Callable[[_Instruments], None]) -> None:
    try:
        record(_instruments())
    except Exception as exc:  # telemetry must never break the work it observes
        log.debug("metric not recorded: %s", type(exc).__name__)


def count_rotation(vendor: str, outcome: str) -> None:
    _safely(lambda i: i.rotations.add(1, {"vendor": _attr(vendor), "outcome": _attr(outcome)}))


def count_refresh_failure(vendor: str, failure_kind: str) -> None:
    _safely(lambda i: i.refresh_failures.add(1, {"vendor": _attr(vendor), "failure_kind": _attr(failure_kind)}))


def count_reauth_required(vendor: str) -> None:
    _safely(lambda i: i.reauth_required.add(1, {"vendor": _attr(vendor)}))


def count_notification(vendor: str, outcome: str) -> None:
    _safely(lambda i: i.notifications.add(1, {"vendor": _attr(vendor), "outcome": _attr(outcome)}))


def count_records_landed(vendor: str, data_type: str, result: str, count: int = 1) -> None:
    if count <= 0:
        return
    attributes = {"vendor": _attr(vendor), "data_type": _attr(data_type), "result": _attr(result)}
    _safely(lambda i: i.records_landed.add(count, attributes))


def count_rate_limit_wait(vendor: str, seconds: float) -> None:
    attributes = {"vendor": _attr(vendor)}

    def record(i: _Instruments) -> None:
        i.rate_limit_waits.add(1, attributes)
        i.rate_limit_wait_seconds.record(max(0.0, float(seconds)), attributes)

    _safely(record)


def count_poison_message(queue: str) -> None:
    _safely(lambda i: i.poison_messages.add(1, {"queue": _attr(queue)}))


# -- configuration -----------------------------------------------------------------------------------------------

TelemetryMode = Literal["worker", "azure_monitor", "off", "failed"]
_mode: TelemetryMode | None = None
_configure_lock = threading.Lock()


def _true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


# Loggers lowered to WARNING (unless their level was set explicitly). The Azure SDK logs every HTTP request at INFO:
# the URL (a Table entity's names the user id: RowKey='<user>') and the headers. The Azure Monitor exporter logs
# "Transmission succeeded" at INFO after each export. Exported from the root logger, both feed back: each export
# logs, the log line is exported, which logs again, forever (a force_flush() never returns).
QUIET_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.monitor.opentelemetry")


def _quiet_sdk_logging() -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def configure_telemetry() -> TelemetryMode:
    """Set up telemetry once per process and say how; later calls return the first answer. Never raises.

    - "worker": ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY`` is true, the Functions worker configured Azure
      Monitor before importing the app; only the log context is installed;
    - "azure_monitor": ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set, ``configure_azure_monitor()`` ran (logs of
      the logger named by ``PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME``, default the root logger, like the worker;
      Entra ID ingestion from ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``, read by the exporter);
    - "off": no connection string, nothing exported;
    - "failed": configuring raised; a warning says which exception class, and the app runs without telemetry.

    In every mode the log context is installed and the chatty SDK loggers (``QUIET_LOGGERS``) are lowered to
    WARNING: the Azure SDK's request lines name user ids in URLs, and exported from the root logger, they and the
    exporter's own "Transmission succeeded" lines feed back on themselves.
    """
    global _mode
    with _configure_lock:
        if _mode is not None:
            return _mode
        try:
            install_log_context()
            _quiet_sdk_logging()
        except Exception as exc:
            log.warning("log context not installed: %s", type(exc).__name__)
        if _true("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"):
            _mode = "worker"
            return _mode
        connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
        if not connection_string:
            _mode = "off"
            return _mode
        try:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                connection_string=connection_string,
                logger_name=os.environ.get("PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME", ""),
            )
            _mode = "azure_monitor"
        except Exception as exc:  # a bad connection string must not stop the app
            log.warning("telemetry not configured, running without it: %s", type(exc).__name__)
            _mode = "failed"
        return _mode


def _reset_for_tests() -> None:
    """Forget the configuration (tests only; does not undo a configured SDK)."""
    global _mode
    with _configure_lock:
        _mode = None
