"""Withings end to end, through the app's functions as the host calls them, against the Withings twin and Azurite: a
user connects and is subscribed to Withings' notifications (one subscription per appli, to our notify URL), a year
is backfilled over HTTP (chunk messages run by ``backfill_worker``), Withings' reachability check of the callback
URL is answered, an unsigned notification lands the record it names, and a disconnect's signed revocation ends the
subscriptions. A subscription that fails leaves the
connection standing, says so in its health, and the next rotation subscribes it."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from typing import Any

import pytest
from azure.functions import QueueMessage

from sandbox import Sandbox
from sandbox.function_host import http as call
from sandbox.function_host import invoke
from sandbox.notify import NotificationRequest
from sandbox.vendors.withings.api import reset_subscriptions, subscriptions
from sandbox.vendors.withings.notify import notification
from shared import app_context
from shared.app_context import get_context
from shared.pull.jobs import BACKFILL_QUEUE
from shared.rotation import rotation_message
from shared.vendors.withings.notify import APPLIS
from tests.vendors.kit import connect_user
from tests.vendors.test_notifications import deliver, landed, work_queued

END = date.today() - timedelta(days=3)
START = END - timedelta(days=364)
TYPES = ("measure", "sleep", "heart")


@pytest.fixture
def withings_env(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("WITHINGS_RATE_LIMITS", "none")
    app_context.reset_context()
    reset_subscriptions()
    return app_env


def health(user: str) -> dict[str, Any]:
    answer = call("connection", "GET", f"connections/withings/{user}", route={"vendor": "withings", "user_id": user})
    assert answer.status_code == 200, answer.get_body()
    result: dict[str, Any] = json.loads(answer.get_body())
    return result


def run_backfill_queue() -> int:
    queue = get_context().storage.queue(BACKFILL_QUEUE)
    done = 0
    while batch := list(queue.receive_messages(messages_per_page=32, visibility_timeout=300)):
        for message in batch:
            invoke(
                "backfill_worker", QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt)
            )
            queue.delete_message(message)
            done += 1
    return done


def test_withings_connect_subscribes_a_years_backfill_and_a_notification_lands_its_record(
    withings_env: dict[str, str], sandbox: Sandbox
) -> None:
    user = "withings-e2e"
    connect_user("withings", user)
    callback = f"{get_context().settings.public_base_url}/api/notify/withings"
    assert subscriptions(user) == {(callback, appli) for appli in APPLIS}
    assert health(user)["notify_subscription"].startswith("subscribed ")

    started = time.monotonic()
    body = {"vendor": "withings", "user_id": user, "start": START.isoformat(), "end": END.isoformat()}
    answer = call("backfill", "POST", "backfill", body=body)
    assert answer.status_code == 202, answer.get_body()
    job_id = json.loads(answer.get_body())["job_id"]
    chunks = run_backfill_queue()
    status = call("backfill_status", "GET", f"backfill/{job_id}", route={"job_id": job_id})
    finished = json.loads(status.get_body())
    assert finished["status"] == "done" and finished["chunks_done"] == finished["chunks_total"] == chunks
    total = 0
    for data_type in TYPES:
        want = {str(r): d.isoformat() for r, d in sandbox.expected_records("withings", data_type, user, START, END)}
        got = {
            r: d for r, d in landed("withings", data_type, user).items() if START.isoformat() <= d <= END.isoformat()
        }
        assert len(want) >= 50 and got == want, data_type
        total += len(want)
    assert finished["records_landed"] == total
    print(f"withings year backfill: {total} records, {chunks} chunks in {time.monotonic() - started:.1f}s")

    # Withings checks the callback URL before subscribing it: HEAD and GET answer 2xx, nothing is queued
    for method in ("HEAD", "GET"):
        probe = deliver("withings", NotificationRequest(method, {}, {}, b""))
        assert 200 <= probe.status_code < 300, (method, probe.status_code)
    assert work_queued() == 0

    # a record after the backfill's window (a weighing, else a night or an ECG): the notification lands it on its day
    data_type, day, record_id = next(
        (data_type, d, str(found[0][0]))
        for data_type in TYPES
        for back in (1, 2)
        if (found := sandbox.expected_records("withings", data_type, user, (d := END + timedelta(days=back)), d))
    )
    assert record_id not in landed("withings", data_type, user)
    secret = sandbox.clients["withings"][1]
    accepted = deliver("withings", notification(sandbox, user, data_type, record_id, day, client_secret=secret))
    assert 200 <= accepted.status_code < 300, accepted.get_body()
    assert work_queued() == 1
    assert landed("withings", data_type, user)[record_id] == day.isoformat()

    # a disconnect revokes the grant with a signed request, which ends the user's subscriptions at Withings
    gone = call("connection", "DELETE", f"connections/withings/{user}", route={"vendor": "withings", "user_id": user})
    assert gone.status_code == 200 and json.loads(gone.get_body())["revoked_at_vendor"] is True
    assert sandbox.grant_status("withings", user) == "revoked" and subscriptions(user) == set()


def test_a_failed_subscription_keeps_the_connection_and_the_next_rotation_subscribes_it(
    withings_env: dict[str, str], sandbox: Sandbox
) -> None:
    user = "withings-unsubscribed"
    sandbox.inject("withings", "error_503", times=20, endpoint="notify")  # every retry of the subscribe call fails
    connect_user("withings", user)
    found = health(user)
    assert found["status"] == "active"
    assert (
        found["notify_subscription"].startswith("failed ")
        and "retried at the next rotation" in found["notify_subscription"]
    )
    assert subscriptions(user) == set()

    sandbox.clear_faults()
    connection = get_context().registry.get("withings", user)
    assert connection is not None
    invoke("rotate_connection", QueueMessage(id="rotate-1", body=rotation_message(connection).encode()))
    assert health(user)["notify_subscription"].startswith("subscribed ")
    assert len(subscriptions(user)) == len(APPLIS)
