"""Rotation: the six-hourly timer enqueues the due connections, the queue worker rotates one connection,
the command line runs the same in-process; double firing and overlapping runs do no harm."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from croniter import croniter

from sandbox import Sandbox
from shared import cli
from shared.app_context import AppContext, get_context
from shared.registry import Status
from shared.storage import ROTATE_QUEUE
from tests.host import functions, trigger
from tests.sweeping import run_shards

ROOT = Path(__file__).resolve().parents[1]


def test_the_rotation_timer_schedule_resolves_to_every_six_hours(app_env: dict[str, str]) -> None:
    binding = trigger("rotate_tokens")
    assert binding["schedule"] == "%ROTATE_SCHEDULE%"
    assert binding["runOnStartup"] is False and binding["useMonitor"] is True
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    expression = re.sub(r"%([^%]+)%", lambda m: sample[m.group(1)], binding["schedule"])
    assert expression == "0 0 */6 * * *"
    times = croniter(expression, datetime(2026, 11, 21, 1, 30, tzinfo=UTC), second_at_beginning=True)
    assert [times.get_next(datetime).hour for _ in range(4)] == [6, 12, 18, 0]


def _age(ctx: AppContext, vendor: str, user: str, hours: float) -> None:
    """Make a connection's pair look older than it is (as if obtained hours ago)."""
    stored = ctx.vault.read(vendor, user)
    assert stored is not None
    then = stored.pair.obtained_at - hours * 3600
    ctx.vault.write(vendor, user, replace(stored.pair, obtained_at=then))
    stamp = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds").replace("+00:00", "Z")
    ctx.registry.update(vendor, user, last_refresh_at=stamp)


def _drain(ctx: AppContext) -> list[func.QueueMessage]:
    from azure.functions import QueueMessage

    queue = ctx.storage.queue(ROTATE_QUEUE)
    messages = []
    for message in queue.receive_messages(messages_per_page=32):
        messages.append(QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
        queue.delete_message(message)
    return messages


def test_the_timer_enqueues_due_connections_and_the_worker_rotates_them(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    for user in ("u1", "u2"):
        seed("whoop", user)
        _age(ctx, "whoop", user, 7)
    seed("fitbit", "fresh")  # connected just now: not due
    seed("codoon", "gone")
    _age(ctx, "codoon", "gone", 7)
    ctx.registry.update("codoon", "gone", status=Status.REAUTH_REQUIRED)

    fns = functions()
    fns["rotate_tokens"].get_user_function()(TimerRequest(past_due=False))
    fns["rotate_tokens"].get_user_function()(TimerRequest(past_due=True))  # the timer fires twice
    run_shards(ctx)
    messages = _drain(ctx)
    assert sorted(json.loads(m.get_body())["user_id"] for m in messages) == ["u1", "u2"], "once per six-hour slot"

    threads = [threading.Thread(target=fns["rotate_connection"].get_user_function(), args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sandbox.refresh_count("whoop", "u1") == 1 and sandbox.refresh_count("whoop", "u2") == 1
    assert sandbox.refresh_count("fitbit") == 0 and sandbox.refresh_count("codoon") == 0
    for user in ("u1", "u2"):
        connection = ctx.registry.get("whoop", user)
        assert connection is not None and connection.last_rotation_at and connection.status is Status.ACTIVE
    ctx.sweeps.start("rotate", now=time.time() + 6 * 3600)  # the next slot's sweep
    run_shards(ctx)
    assert _drain(ctx) == [], "freshly rotated connections are not due again"


def test_a_malformed_rotation_message_fails_so_it_reaches_the_poison_queue(app_env: dict[str, str]) -> None:
    from azure.functions import QueueMessage

    from shared.rotation import BadRotationMessage

    with pytest.raises(BadRotationMessage):
        functions()["rotate_connection"].get_user_function()(QueueMessage(body=b"{not json"))


def test_a_manual_run_during_a_scheduled_one_rotates_each_connection_once(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, seed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [f"m{i}" for i in range(6)]
    for user in users:
        seed("fitbit", user)
        _age(ctx, "fitbit", user, 7)
    sandbox.set_latency("fitbit", 0.2)
    fns = functions()
    fns["rotate_tokens"].get_user_function()(TimerRequest(past_due=False))
    run_shards(ctx)
    scheduled = [threading.Thread(target=fns["rotate_connection"].get_user_function(), args=(m,)) for m in _drain(ctx)]
    for thread in scheduled:
        thread.start()
    assert cli.main(["rotate", "--vendor", "fitbit"]) == 0
    for thread in scheduled:
        thread.join()
    for user in users:
        assert sandbox.refresh_count("fitbit", user) == 1
    out = capsys.readouterr().out
    match = re.search(r"rotation: rotated (\d+), skipped (\d+), degraded 0, reauth_required 0, failed 0", out)
    assert match and int(match.group(1)) + int(match.group(2)) == 6


def test_cli_rotate_and_status_report_health_and_never_a_token(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, seed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    seed("whoop", "ok-user", expired=True)
    seed("fitbit", "revoked-user", expired=True)
    seed("codoon", "flaky-user", expired=True)
    sandbox.revoke_grant("fitbit", "revoked-user")
    sandbox.inject("codoon", "error_503", times=3)
    code = cli.main(["rotate"])
    out = capsys.readouterr().out
    assert "rotation: rotated 1, skipped 0, degraded 0, reauth_required 1, failed 1" in out
    assert code == 1
    assert cli.main(["status"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"whoop\s+ok-user\s+active", table)
    assert re.search(r"fitbit\s+revoked-user\s+reauth_required", table)
    assert re.search(r"codoon\s+flaky-user\s+active .*transient: http_503", table)
    assert cli.main(["status", "--json", "--vendor", "fitbit"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["user_id"] for r in rows] == ["revoked-user"]
    everything = out + table
    assert not [s for s in sandbox.issued_secrets() if s in everything]


def test_a_disabled_vendor_is_left_out_of_every_sweep_and_its_queued_rotation_is_dropped(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, seed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENABLED_VENDORS=fitbit: WHOOP's connections get no rotation, pull or reconcile message; a WHOOP rotation
    queued before the change is dropped with a log line (no refresh, no marker, no poison)."""
    import contextlib
    import time as time_module

    from azure.core.exceptions import ResourceExistsError
    from azure.data.tables import UpdateMode

    from shared import app_context
    from shared.pull.jobs import LIVE_QUEUE

    for vendor in ("whoop", "fitbit"):
        seed(vendor, "sweeper")
        _age(ctx, vendor, "sweeper", 7)
    queued_before = json.dumps({"vendor": "whoop", "user_id": "sweeper"})
    monkeypatch.setenv("ENABLED_VENDORS", "fitbit")
    app_context.reset_context()
    fns = functions()

    fns["rotate_tokens"].get_user_function()(TimerRequest(past_due=False))
    run_shards(get_context())
    assert [json.loads(m.get_body())["vendor"] for m in _drain(ctx)] == ["fitbit"]

    from azure.functions import QueueMessage

    fns["rotate_connection"].get_user_function()(QueueMessage(body=queued_before.encode()))
    assert sandbox.refresh_count("whoop") == 0
    whoop = ctx.registry.get("whoop", "sweeper")
    assert whoop is not None and whoop.status is Status.ACTIVE and not whoop.refresh_started_at

    pulls = ctx.storage.queue(LIVE_QUEUE)
    fns["pull_data"].get_user_function()(TimerRequest(past_due=False))
    run_shards(get_context())
    activity = ctx.notify_activity
    with contextlib.suppress(ResourceExistsError):
        activity.create_table()
    for vendor in ("whoop", "fitbit"):  # both went quiet a day ago
        entity = {"PartitionKey": vendor, "RowKey": "sweeper", "last_at": time_module.time() - 86400}
        activity.upsert_entity(entity, mode=UpdateMode.MERGE)
    fns["reconcile_notifications"].get_user_function()(TimerRequest(past_due=False))
    vendors = set()
    while batch := pulls.receive_messages(messages_per_page=32, max_messages=32):
        listed = list(batch)
        if not listed:
            break
        for message in listed:
            vendors.add(json.loads(message.content)["vendor"])
            pulls.delete_message(message)
    assert vendors == {"fitbit"}
