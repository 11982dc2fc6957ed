"""Telemetry: counters with the right attributes, structured fields on every log line of an operation (never a
token, never a user id), a configuration that never stops the app, and what Azure Monitor actually receives."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import os
import re
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

from shared import rotation, telemetry
from shared.naming import log_id
from shared.telemetry import operation
from shared.token_service import Outcome, RefreshResult, TokenService
from shared.vault import VaultWriteFailed

ROOT = Path(__file__).resolve().parents[1]
EARLY = logging.getLogger("tests.telemetry.early")  # a logger that exists before the log context is installed
USER = "u-7QK2-private-person@example.org"
FAKE_TOKEN = "eyFAKEtoken-3b1f9d7c5a0e2468ace"


# -- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """Counters go to an in-memory reader for the test (the global meter provider can be set once per process)."""
    memory = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[memory]))
    yield memory
    telemetry.use_meter_provider(None)


def points(reader: InMemoryMetricReader, name: str) -> dict[frozenset[tuple[str, Any]], float]:
    """The value of each attribute set of one metric (a histogram: its sum)."""
    found: dict[frozenset[tuple[str, Any]], float] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    key = frozenset((point.attributes or {}).items())
                    if isinstance(point, NumberDataPoint):
                        found[key] = float(point.value)
                    elif isinstance(point, HistogramDataPoint):
                        found[key] = float(point.sum)
    return found


def attrs(**kwargs: str) -> frozenset[tuple[str, Any]]:
    return frozenset(kwargs.items())


class Records(logging.Handler):
    """Every record, as made (added to the root logger after the log context is installed)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def finished(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage().startswith("operation finished")]


@pytest.fixture
def records() -> Iterator[Records]:
    telemetry.install_log_context()
    handler = Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def everything_in(record: logging.LogRecord) -> str:
    """The message and every attribute of a record, as text."""
    return record.getMessage() + " " + " ".join(f"{k}={v!r}" for k, v in vars(record).items())


# -- counters ----------------------------------------------------------------------------------------------------


def test_counters_count_with_the_right_attributes(reader: InMemoryMetricReader) -> None:
    telemetry.count_rotation("whoop", "rotated")
    telemetry.count_rotation("whoop", "rotated")
    telemetry.count_rotation("fitbit", Outcome.FAILED)
    telemetry.count_refresh_failure("fitbit", "transient")
    telemetry.count_reauth_required("whoop")
    telemetry.count_notification("fitbit", "accepted")
    telemetry.count_records_landed("whoop", "sleep", "created", 3)
    telemetry.count_records_landed("whoop", "sleep", "unchanged")
    telemetry.count_records_landed("whoop", "sleep", "updated", 0)  # nothing landed: not counted
    telemetry.count_rate_limit_wait("codoon", 2.5)
    telemetry.count_rate_limit_wait("codoon", 1.5)
    telemetry.count_poison_message("rotate-poison")

    assert points(reader, telemetry.ROTATIONS) == {
        attrs(vendor="whoop", outcome="rotated"): 2,
        attrs(vendor="fitbit", outcome="failed"): 1,
    }
    assert points(reader, telemetry.REFRESH_FAILURES) == {attrs(vendor="fitbit", failure_kind="transient"): 1}
    assert points(reader, telemetry.REAUTH_REQUIRED) == {attrs(vendor="whoop"): 1}
    assert points(reader, telemetry.NOTIFICATIONS) == {attrs(vendor="fitbit", outcome="accepted"): 1}
    assert points(reader, telemetry.RECORDS_LANDED) == {
        attrs(vendor="whoop", data_type="sleep", result="created"): 3,
        attrs(vendor="whoop", data_type="sleep", result="unchanged"): 1,
    }
    assert points(reader, telemetry.RATE_LIMIT_WAITS) == {attrs(vendor="codoon"): 2}
    assert points(reader, telemetry.RATE_LIMIT_WAIT_SECONDS) == {attrs(vendor="codoon"): 4.0}
    assert points(reader, telemetry.POISON_MESSAGES) == {attrs(queue="rotate-poison"): 1}


def test_a_broken_meter_never_breaks_the_caller() -> None:
    class Broken(metrics.NoOpMeterProvider):
        def get_meter(self, *args: Any, **kwargs: Any) -> metrics.Meter:
            raise RuntimeError("no meter today")

    telemetry.use_meter_provider(Broken())
    try:
        telemetry.count_rotation("whoop", "rotated")
        telemetry.count_rate_limit_wait("whoop", 1.0)
    finally:
        telemetry.use_meter_provider(None)


def test_rotate_one_counts_its_outcome_and_an_escaping_failure(reader: InMemoryMetricReader, records: Records) -> None:
    class Tokens:
        def __init__(self) -> None:
            self.fail = False

        def rotate(self, vendor: str, user_id: str, force: bool = False) -> RefreshResult:
            logging.getLogger("shared.token_service").info("refreshing")
            if self.fail:
                raise VaultWriteFailed(f"vault write failed for {vendor}/{user_id}: {FAKE_TOKEN}")
            return RefreshResult(Outcome.DEGRADED, None, "transient: http_503")

    tokens = Tokens()
    assert rotation.rotate_one(tokens, "whoop", USER).outcome is Outcome.DEGRADED  # type: ignore[arg-type]
    tokens.fail = True
    with pytest.raises(VaultWriteFailed):
        rotation.rotate_one(tokens, "whoop", USER)  # type: ignore[arg-type]

    assert points(reader, telemetry.ROTATIONS) == {
        attrs(vendor="whoop", outcome="degraded"): 1,
        attrs(vendor="whoop", outcome="error"): 1,
    }
    finished = records.finished()
    assert [(r.__dict__["operation"], r.__dict__["outcome"], r.__dict__.get("error_class", "")) for r in finished] == [
        ("rotate", "degraded", ""),
        ("rotate", "error", "VaultWriteFailed"),
    ]
    for record in records.records:
        assert record.connection == log_id("whoop", USER)  # type: ignore[attr-defined]
        assert USER not in everything_in(record) and FAKE_TOKEN not in everything_in(record)


# -- structured fields -------------------------------------------------------------------------------------------


def test_every_line_inside_an_operation_carries_vendor_connection_and_operation(records: Records) -> None:
    late = logging.getLogger("tests.telemetry.late")
    with operation("pull", vendor="fitbit", user_id=USER) as op:
        EARLY.info("a line from a logger made before the log context was installed")
        late.warning("a line from a logger made after, with %s", "arguments", extra={"data_type": "sleep"})
        logging.info("a line on the root logger")
        op.outcome = "landed"
    inside, finish = records.records[:3], records.records[3]
    assert len(records.records) == 4
    for record in inside:
        assert (record.vendor, record.connection, record.operation) == (  # type: ignore[attr-defined]
            "fitbit",
            log_id("fitbit", USER),
            "pull",
        )
        assert not hasattr(record, "outcome") and not hasattr(record, "duration_ms")
    assert inside[1].data_type == "sleep"  # type: ignore[attr-defined]
    assert finish.getMessage().startswith("operation finished operation=pull vendor=fitbit connection=")
    assert finish.outcome == "landed" and finish.levelno == logging.INFO  # type: ignore[attr-defined]
    assert isinstance(finish.duration_ms, float) and finish.duration_ms >= 0  # type: ignore[attr-defined]
    assert "outcome=landed" in finish.getMessage() and "duration_ms=" in finish.getMessage()
    assert not [r for r in records.records if USER in everything_in(r)]


def test_an_exception_is_named_by_its_class_never_by_its_message(records: Records) -> None:
    with pytest.raises(RuntimeError), operation("refresh", vendor="whoop", user_id=USER):
        EARLY.info("about to fail")
        raise RuntimeError(f"vendor said: invalid refresh_token {FAKE_TOKEN} for {USER}")
    finish = records.finished()
    assert len(finish) == 1
    assert finish[0].outcome == "error" and finish[0].error_class == "RuntimeError"  # type: ignore[attr-defined]
    assert finish[0].levelno == logging.WARNING and finish[0].exc_info is None
    for record in records.records:
        assert FAKE_TOKEN not in everything_in(record) and USER not in everything_in(record)


def test_an_outcome_set_before_an_exception_is_kept(records: Records) -> None:
    with pytest.raises(ValueError), operation("connect", vendor="whoop") as op:
        op.bind(user_id=USER)
        EARLY.info("bound")
        op.outcome = "rejected"
        raise ValueError("state unknown")
    bound, finish = records.records
    assert bound.connection == log_id("whoop", USER)  # type: ignore[attr-defined]
    assert (finish.outcome, finish.error_class) == ("rejected", "ValueError")  # type: ignore[attr-defined]


def test_nested_operations_inherit_the_connection_and_restore_the_outer_fields(records: Records) -> None:
    with operation("pull", vendor="whoop", user_id=USER):
        with operation("refresh"):
            EARLY.info("inner")
        EARLY.info("outer again")
    EARLY.info("outside")
    inner, inner_finish, outer, _outer_finish, outside = records.records
    assert (inner.operation, inner.connection) == ("refresh", log_id("whoop", USER))  # type: ignore[attr-defined]
    assert inner_finish.operation == "refresh"  # type: ignore[attr-defined]
    assert f"vendor=whoop connection={log_id('whoop', USER)}" in inner_finish.getMessage()
    assert outer.operation == "pull" and not hasattr(outer, "outcome")  # type: ignore[attr-defined]
    assert not any(hasattr(outside, name) for name in telemetry.FIELDS)
    assert telemetry.current_fields() == {}


def test_the_fields_of_one_thread_do_not_reach_another(records: Records) -> None:
    entered, release = threading.Event(), threading.Event()

    def work() -> None:
        with operation("rotate", vendor="whoop", user_id=USER):
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=work)
    worker.start()
    assert entered.wait(10)
    EARLY.info("from the main thread")
    release.set()
    worker.join(10)
    main = next(r for r in records.records if r.getMessage() == "from the main thread")
    assert not hasattr(main, "vendor") and not hasattr(main, "connection")


def test_extra_must_not_repeat_a_field_inside_an_operation(records: Records) -> None:
    """The documented limit: logging refuses to overwrite a record attribute the context has set."""
    with operation("pull", vendor="whoop"), pytest.raises(KeyError, match="vendor"):
        EARLY.info("named twice", extra={"vendor": "whoop"})
    EARLY.info("outside, extra is free", extra={"vendor": "whoop"})


def test_installing_twice_chains_once() -> None:
    telemetry.install_log_context()
    factory = logging.getLogRecordFactory()
    telemetry.install_log_context()
    assert logging.getLogRecordFactory() is factory


# -- configuration -----------------------------------------------------------------------------------------------


@pytest.fixture
def distro(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A stand-in azure.monitor.opentelemetry that records configure_azure_monitor() calls; a clean environment."""
    calls: list[dict[str, Any]] = []
    fake = types.ModuleType("azure.monitor.opentelemetry")

    def configure_azure_monitor(**kwargs: Any) -> None:
        calls.append(kwargs)
        if "fail" in kwargs.get("connection_string", ""):
            raise ValueError(f"connection string rejected: {FAKE_TOKEN}")

    fake.configure_azure_monitor = configure_azure_monitor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", fake)
    for name in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)
    levels = {name: logging.getLogger(name).level for name in telemetry.QUIET_LOGGERS}
    for name in levels:
        logging.getLogger(name).setLevel(logging.NOTSET)
    telemetry._reset_for_tests()
    yield calls
    telemetry._reset_for_tests()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_without_a_connection_string_configuring_does_nothing(distro: list[dict[str, Any]]) -> None:
    provider, handlers = metrics.get_meter_provider(), list(logging.getLogger().handlers)
    assert telemetry.configure_telemetry() == "off"
    assert telemetry.configure_telemetry() == "off"
    assert distro == []
    assert metrics.get_meter_provider() is provider and logging.getLogger().handlers == handlers


def test_configuring_quiets_the_sdk_loggers_whose_lines_name_users_and_feed_back(distro: list[dict[str, Any]]) -> None:
    logging.getLogger(telemetry.QUIET_LOGGERS[1]).setLevel(logging.DEBUG)  # an explicit choice is kept
    telemetry.configure_telemetry()
    assert logging.getLogger(telemetry.QUIET_LOGGERS[0]).level == logging.WARNING
    assert logging.getLogger("azure.monitor.opentelemetry.exporter.export._base").getEffectiveLevel() == logging.DEBUG


def test_when_the_worker_configured_azure_monitor_the_app_does_not_again(
    distro: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "true")
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=x")
    assert telemetry.configure_telemetry() == "worker"
    assert distro == []


def test_with_a_connection_string_azure_monitor_is_configured_once(
    distro: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=x;IngestionEndpoint=https://x/")
    assert telemetry.configure_telemetry() == "azure_monitor"
    assert telemetry.configure_telemetry() == "azure_monitor"
    assert distro == [{"connection_string": "InstrumentationKey=x;IngestionEndpoint=https://x/", "logger_name": ""}]


def test_a_failing_configuration_is_a_warning_without_its_message(
    distro: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, records: Records
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "fail")
    assert telemetry.configure_telemetry() == "failed"
    warnings = [r for r in records.records if r.name == "shared.telemetry" and r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["telemetry not configured, running without it: ValueError"]
    assert not [r for r in records.records if FAKE_TOKEN in everything_in(r)]


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "PYTHON_APPLICATION"))}
    return {**env, "PYTHONPATH": str(ROOT), "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **extra}


def test_a_bogus_connection_string_does_not_stop_the_app() -> None:
    """The real distro, in a child process (it sets process-wide providers)."""
    code = "from shared.telemetry import configure_telemetry as c; print(c(), c())"
    env = _child_env(APPLICATIONINSIGHTS_CONNECTION_STRING="this is not a connection string")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["failed", "failed"]
    assert "telemetry not configured, running without it" in proc.stderr


CHILD = f"""
import logging
from opentelemetry import metrics
from opentelemetry._logs import get_logger_provider
from shared import telemetry
assert telemetry.configure_telemetry() == "azure_monitor"
logging.getLogger().setLevel(logging.INFO)
with telemetry.operation("rotate", vendor="whoop", user_id={USER!r}) as op:
    logging.getLogger("shared.rotation").info("rotating")
    telemetry.count_rotation("whoop", "rotated")
    op.outcome = "rotated"
get_logger_provider().force_flush()
metrics.get_meter_provider().force_flush()
"""


def test_azure_monitor_receives_the_fields_as_custom_dimensions_and_the_counters_as_metrics() -> None:
    """The real distro and exporter, in a child process, against a local ingestion endpoint."""
    envelopes: list[dict[str, Any]] = []
    raw: list[str] = []

    class Ingestion(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            raw.append(body.decode())
            envelopes.extend(json.loads(body))
            answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection_string = (
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
            f"IngestionEndpoint=http://127.0.0.1:{server.server_address[1]}/"
        )
        env = _child_env(APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string)
        proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr

    messages = {
        e["data"]["baseData"]["message"].split(" ")[0]: e["data"]["baseData"]["properties"]
        for e in envelopes
        if e["data"]["baseType"] == "MessageData"
    }
    connection = log_id("whoop", USER)
    assert messages["rotating"] | {"logger_name": ""} == {
        "vendor": "whoop",
        "connection": connection,
        "operation": "rotate",
        "logger_name": "",
    }
    finish = messages["operation"]
    assert (finish["operation"], finish["outcome"], finish["connection"]) == ("rotate", "rotated", connection)
    assert float(finish["duration_ms"]) >= 0
    rotations = [
        (e["data"]["baseData"]["properties"], m["value"])
        for e in envelopes
        if e["data"]["baseType"] == "MetricData"
        for m in e["data"]["baseData"]["metrics"]
        if m["name"] == telemetry.ROTATIONS
    ]
    assert rotations == [({"vendor": "whoop", "outcome": "rotated"}, 1)]
    assert not [body for body in raw if USER in body]


# -- the token code, against Azurite and the sandbox vendors ---------------------------------------------------------


def test_a_revoked_grant_counts_a_refresh_failure_a_reauth_and_the_rotation(
    ctx: Any, sandbox: Any, seed: Any, reader: InMemoryMetricReader, records: Records
) -> None:
    seed("fitbit", USER, expired=True)
    sandbox.revoke_grant("fitbit", USER)
    tokens: TokenService = ctx.tokens
    assert rotation.rotate_one(tokens, "fitbit", USER).outcome is Outcome.REAUTH_REQUIRED
    assert rotation.rotate_one(tokens, "fitbit", USER).outcome is Outcome.SKIPPED  # no second transition

    assert points(reader, telemetry.REFRESH_FAILURES) == {attrs(vendor="fitbit", failure_kind="grant_rejected"): 1}
    assert points(reader, telemetry.REAUTH_REQUIRED) == {attrs(vendor="fitbit"): 1}
    assert points(reader, telemetry.ROTATIONS) == {
        attrs(vendor="fitbit", outcome="reauth_required"): 1,
        attrs(vendor="fitbit", outcome="skipped"): 1,
    }
    ours = [r for r in records.records if r.name.startswith("shared.")]
    reauth = next(r for r in ours if r.getMessage().startswith("reauth required"))
    assert (reauth.operation, reauth.connection) == ("rotate", log_id("fitbit", USER))  # type: ignore[attr-defined]
    assert [r.outcome for r in records.finished()] == ["reauth_required", "skipped"]  # type: ignore[attr-defined]
    assert not [r for r in ours if USER in everything_in(r)]


def test_an_on_demand_refresh_and_a_lost_whoop_response_are_operations_without_the_user_id(
    ctx: Any, sandbox: Any, seed: Any, reader: InMemoryMetricReader, records: Records
) -> None:
    seed("whoop", USER, expired=True)
    ctx.tokens.access_token_for("whoop", USER)
    seed("whoop", "second-" + USER, expired=True)
    sandbox.inject("whoop", "lost_response")
    rotation.rotate_one(ctx.tokens, "whoop", "second-" + USER)

    finished = [(r.operation, r.outcome) for r in records.finished()]  # type: ignore[attr-defined]
    assert finished == [("refresh", "rotated"), ("rotate", "reauth_required")]
    ours = [r for r in records.records if r.name.startswith("shared.")]
    assert not [r for r in ours if USER in everything_in(r)]
    assert points(reader, telemetry.REAUTH_REQUIRED) == {attrs(vendor="whoop"): 1}


def test_the_connect_callback_is_an_operation_named_by_the_connection(
    app_env: dict[str, str], sandbox: Any, records: Records
) -> None:
    from tests.host import callback, connect

    assert connect("codoon", USER).status_code == 200  # callback, then the product's confirmation
    assert callback("codoon", {"state": "x" * 32, "code": "abc"}).status_code == 400
    finished = [
        (r.__dict__["operation"], r.__dict__["outcome"], r.__dict__.get("connection")) for r in records.finished()
    ]
    assert finished == [
        ("connect", "pending", log_id("codoon", USER)),
        ("confirm", "connected", log_id("codoon", USER)),
        ("connect", "rejected", None),
    ]
    ours = [r for r in records.records if r.name.startswith("shared.")]
    assert not [r for r in ours if USER in everything_in(r)]


# -- the alert rules query what the app counts ----------------------------------------------------------------------


def test_the_alert_rules_query_the_counters_the_app_emits() -> None:
    bicep = (ROOT / "infra" / "app" / "monitoring.bicep").read_text()
    queries = re.findall(r"^\s*query: '(.*)'$", bicep, re.M)
    assert len(queries) == 3
    by_metric = {re.search(r'name == "([^"]+)"', q).group(1): q for q in queries}  # type: ignore[union-attr]
    assert set(by_metric) == {telemetry.REAUTH_REQUIRED, telemetry.POISON_MESSAGES, telemetry.ROTATIONS}
    assert "customDimensions.vendor" in by_metric[telemetry.REAUTH_REQUIRED]
    assert "customDimensions.queue" in by_metric[telemetry.POISON_MESSAGES]
    failing = re.search(r"outcome in \(([^)]*)\)", by_metric[telemetry.ROTATIONS])
    assert failing is not None
    outcomes = {o.strip().strip('"') for o in failing.group(1).split(",")}
    # every outcome the alert counts is one rotate_one reports, and it counts every failing one
    assert outcomes == {Outcome.FAILED.value, Outcome.DEGRADED.value, "error"}


def test_a_message_failing_its_last_delivery_is_counted_as_poison(reader: InMemoryMetricReader) -> None:
    import json as json_module
    from pathlib import Path

    from azure.functions.queue import QueueMessage  # what the worker delivers: it carries the dequeue count

    from shared.queue_work import MAX_DEQUEUE_COUNT, poison_counted

    host = json_module.loads((Path(__file__).resolve().parents[1] / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == MAX_DEQUEUE_COUNT
    for attempt in range(1, MAX_DEQUEUE_COUNT + 1):
        message = QueueMessage(id=f"m{attempt}", body=b"{}", dequeue_count=attempt)  # type: ignore[no-untyped-call]
        with pytest.raises(ValueError), poison_counted(message, "pull-jobs"):
            raise ValueError("the work failed")
    last = QueueMessage(id="ok", body=b"{}", dequeue_count=MAX_DEQUEUE_COUNT)  # type: ignore[no-untyped-call]
    with poison_counted(last, "pull-jobs"):
        pass  # a last delivery that succeeds is not poison
    assert points(reader, "wearsync.poison_messages") == {attrs(queue="pull-jobs"): 1.0}


def test_a_pull_counts_the_records_it_landed(reader: InMemoryMetricReader, ctx: Any, seed: Any) -> None:
    from datetime import date, timedelta

    from shared.pull.jobs import PullJob

    seed("whoop", "u-count")
    day = date.today() - timedelta(days=5)
    outcome = ctx.puller.run(PullJob("whoop", "u-count", "sleep", day - timedelta(days=3), day))
    again = ctx.puller.run(PullJob("whoop", "u-count", "sleep", day - timedelta(days=3), day))
    assert outcome.created >= 4 and again.unchanged == outcome.created
    landed = points(reader, "wearsync.records_landed")
    assert landed[attrs(vendor="whoop", data_type="sleep", result="created")] == outcome.created
    assert landed[attrs(vendor="whoop", data_type="sleep", result="unchanged")] == outcome.created
