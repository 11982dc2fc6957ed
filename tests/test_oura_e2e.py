"""Oura end to end, through the app's functions as the host calls them, against the Oura twin and Azurite: a user
connects, a year is backfilled over HTTP (chunk messages run by ``backfill_worker``), Oura's verification challenge
is answered, a signed notification lands the document it names, a forged one is refused, and the
``maintain_subscriptions`` timer creates the app's webhook subscriptions and renews one before it expires."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient
from azure.functions import QueueMessage
from azure.functions.timer import TimerRequest

from sandbox import Sandbox
from sandbox.function_host import http as call
from sandbox.function_host import invoke
from sandbox.notify import NotificationRequest
from sandbox.vendors.oura.notify import challenge_request, notification, oura_event, signed_oura
from sandbox.vendors.oura.webhooks import LIFETIME, store_of
from shared import app_context
from shared.app_context import get_context
from shared.cli import main as cli_main
from shared.pull.jobs import BACKFILL_QUEUE, PullJob
from shared.pull.puller import PullStatus
from shared.pull.vendor_api import ConnectionApi
from shared.vendors.oura.oauth import SPEC
from shared.vendors.oura.subscriptions import WANTED
from tests.vendors.kit import connect_user
from tests.vendors.test_notifications import deliver, landed, work_queued

TOKEN = "oura-verification-token-for-tests"
END = date.today() - timedelta(days=3)
START = END - timedelta(days=364)
YEAR_TYPES = ("sleep", "daily_sleep", "daily_readiness", "daily_activity", "workout", "heartrate")


@pytest.fixture
def oura_env(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("OURA_VERIFICATION_TOKEN", TOKEN)
    monkeypatch.setenv("OURA_RATE_LIMITS", "none")
    app_context.reset_context()
    return {**app_env, "OURA_VERIFICATION_TOKEN": TOKEN}


def progress(job_id: str) -> dict[str, Any]:
    answer = call("backfill_status", "GET", f"backfill/{job_id}", route={"job_id": job_id})
    assert answer.status_code == 200, answer.get_body()
    result: dict[str, Any] = json.loads(answer.get_body())
    return result


def run_backfill_queue() -> int:
    queue = get_context().storage.queue(BACKFILL_QUEUE)
    done = 0
    while True:
        batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=300))
        if not batch:
            return done
        for message in batch:
            invoke(
                "backfill_worker", QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt)
            )
            queue.delete_message(message)
            done += 1


def test_oura_connect_a_years_backfill_the_challenge_a_notification_and_a_forged_one(
    oura_env: dict[str, str], sandbox: Sandbox
) -> None:
    user = "oura-e2e"
    connect_user("oura", user)

    started = time.monotonic()
    body = {"vendor": "oura", "user_id": user, "start": START.isoformat(), "end": END.isoformat()}
    answer = call("backfill", "POST", "backfill", body={**body, "data_types": list(YEAR_TYPES)})
    assert answer.status_code == 202, answer.get_body()
    job_id = json.loads(answer.get_body())["job_id"]
    chunks = run_backfill_queue()
    finished = progress(job_id)
    assert finished["status"] == "done" and finished["chunks_done"] == finished["chunks_total"] == chunks
    total = 0
    for data_type in YEAR_TYPES:
        want = {str(rid): day.isoformat() for rid, day in sandbox.expected_records("oura", data_type, user, START, END)}
        got = {
            rid: day
            for rid, day in landed("oura", data_type, user).items()
            if START.isoformat() <= day <= END.isoformat()
        }
        assert len(want) >= 250 and got == want, data_type
        total += len(want)
    assert finished["records_landed"] == total
    print(f"oura year backfill: {total} records, {chunks} chunks in {time.monotonic() - started:.1f}s")

    # Oura's verification of a new subscription: the challenge is echoed for our token only
    good = deliver("oura", challenge_request(TOKEN, "echo-me-123"))
    assert good.status_code == 200 and json.loads(good.get_body()) == {"challenge": "echo-me-123"}
    bad = deliver("oura", challenge_request("someone-elses-token", "echo-me-123"))
    assert bad.status_code == 401 and b"echo-me-123" not in bad.get_body()

    # a document after the backfill's window: the notification lands it on its day
    day = date.today() - timedelta(days=1)
    record_id, _ = sandbox.expected_records("oura", "sleep", user, day, day)[0]
    secret = sandbox.clients["oura"][1]
    accepted = deliver("oura", notification(sandbox, user, "sleep", str(record_id), day, client_secret=secret))
    assert 200 <= accepted.status_code < 300, accepted.get_body()
    assert work_queued() == 1
    assert landed("oura", "sleep", user)[str(record_id)] == day.isoformat()

    # the user deletes it in the Oura app: the delete event removes what landed
    headers, raw = signed_oura(
        secret, oura_event(sandbox.vendor_user_id("oura", user), "sleep", str(record_id), "delete")
    )
    assert 200 <= deliver("oura", NotificationRequest("POST", headers, {}, raw)).status_code < 300
    assert work_queued() == 1 and str(record_id) not in landed("oura", "sleep", user)

    calls = len(sandbox.requests("oura"))
    forged = notification(sandbox, user, "sleep", None, day - timedelta(days=1), client_secret=secret, forged=True)
    refused = deliver("oura", forged)
    assert refused.status_code == 401
    assert work_queued() == 0 and len(sandbox.requests("oura")) == calls


def test_the_timer_creates_the_subscriptions_and_renews_one_before_it_expires(
    oura_env: dict[str, str], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    store = store_of(sandbox)
    store.clear()
    callback = f"{get_context().settings.public_base_url}/api/notify/oura"

    def verify_callback(url: str, token: str, challenge: str) -> bool:  # Oura's GET, to the app's notify function
        assert url == callback, url
        answer = deliver("oura", challenge_request(token, challenge))
        echoed: object = json.loads(answer.get_body()) if answer.status_code == 200 else None
        return echoed == {"challenge": challenge}

    foreign = sandbox.base_url + "/oura/v2/webhook/subscription"
    client_id, secret = sandbox.clients["oura"]
    other = requests.post(
        foreign,
        headers={"x-client-id": client_id, "x-client-secret": secret},
        json={
            "callback_url": "https://staging.example/api/notify/oura",
            "verification_token": "x",
            "event_type": "create",
            "data_type": "sleep",
        },
        timeout=5,
    ).json()
    store.verifier = verify_callback  # from now on, a new subscription is verified through the app

    invoke("maintain_subscriptions", TimerRequest(past_due=False))
    ours = {k.id: k for k in store.kept.values() if k.callback_url == callback}
    assert {(k.data_type, k.event_type) for k in ours.values()} == {(w.data_type, w.event_type) for w in WANTED}
    assert all(k.verification_token == TOKEN for k in ours.values())
    assert store.verified == len(WANTED)  # each one's callback answered Oura's challenge

    invoke("maintain_subscriptions", TimerRequest(past_due=False))  # nothing due: nothing changes
    assert store.renewals == 0 and len(store.kept) == len(WANTED) + 1

    near = next(iter(ours))
    store.expire_in(near, timedelta(hours=20))  # expires before the next two timer runs are over
    store.expire_in(other["id"], timedelta(hours=1))  # another deployment's: not ours to renew
    invoke("maintain_subscriptions", TimerRequest(past_due=False))
    assert store.renewals == 1
    assert store.kept[near].expiration_time - store.now() > LIFETIME - timedelta(minutes=5)
    assert store.kept[other["id"]].expiration_time - store.now() < timedelta(hours=1)

    gone = next(k for k in ours if k != near)
    del store.kept[gone]  # dropped at Oura: made anew
    invoke("maintain_subscriptions", TimerRequest(past_due=False))
    assert len([k for k in store.kept.values() if k.callback_url == callback]) == len(WANTED)

    # the command line lists them (ours and the other deployment's) and ensures nothing more is due
    assert cli_main(["subscriptions", "list", "--vendor", "oura"]) == 0
    listed = capsys.readouterr().out
    assert listed.count(callback) == len(WANTED) and "staging.example" in listed
    assert cli_main(["subscriptions", "ensure"]) == 0
    assert f"oura: created 0, renewed 0, kept {len(WANTED)}, failed 0" in capsys.readouterr().out


def test_a_connect_link_beyond_the_unapproved_apps_user_cap_is_refused_clearly(
    oura_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OURA_MAX_USERS", "2")
    app_context.reset_context()
    connect_user("oura", "cap-1")
    connect_user("oura", "cap-2")
    refused = call("connect", "POST", "connect/oura", route={"vendor": "oura"}, body={"user_id": "cap-3"})
    assert refused.status_code == 403
    message = json.loads(refused.get_body())["error"]
    assert "at most 2 users until Oura approves it" in message and "OURA_MAX_USERS" in message
    again = call("connect", "POST", "connect/oura", route={"vendor": "oura"}, body={"user_id": "cap-1"})
    assert again.status_code == 200  # a connected user may reconnect
    monkeypatch.setenv("OURA_MAX_USERS", "0")  # approved
    app_context.reset_context()
    assert (
        call("connect", "POST", "connect/oura", route={"vendor": "oura"}, body={"user_id": "cap-3"}).status_code == 200
    )


def test_a_429_pauses_for_its_retry_after_and_the_pull_still_lands_everything(
    oura_env: dict[str, str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oura's 429 carries Retry-After (seconds) and X-RateLimit-Reset (a Unix epoch): the pause is the former, so a
    pull that meets the limit waits seconds, not decades, and loses nothing."""
    monkeypatch.setenv("OURA_RATE_LIMITS", "5000/300")  # the default: the per-token budget, which reads the pause
    monkeypatch.setenv("RATE_LIMIT_MARGIN_SECONDS", "0")
    app_context.reset_context()
    user = "oura-429"
    sandbox.set_member_since("oura", user, END - timedelta(days=59))
    connect_user("oura", user)
    sandbox.data_quirks["oura"]["page_size"] = 10  # 6 pages for 60 days
    sandbox.rate_windows["oura"] = (2,)
    sandbox.rate_limits["oura"] = 4  # 4 requests per 2 s per token: far below what our budget allows
    started = time.monotonic()
    outcome = get_context().puller.run(PullJob("oura", user, "daily_sleep", END - timedelta(days=59), END))
    elapsed = time.monotonic() - started
    assert outcome.status is PullStatus.DONE, outcome.line()
    want = {str(rid): day.isoformat() for rid, day in sandbox.expected_records("oura", "daily_sleep", user, START, END)}
    assert landed("oura", "daily_sleep", user) == want and len(want) == 60
    assert sandbox.limit_exceeded("oura") >= 1, "the twin never refused: the test proves nothing"
    assert elapsed < 15, f"the pauses took {elapsed:.0f}s"


def app_paused(table: TableClient) -> bool:
    try:
        return bool(table.get_entity("oura", "app").get("paused_until"))
    except ResourceNotFoundError:
        return False


def test_a_429_from_the_app_layer_pauses_every_oura_connection_not_only_the_one_that_met_it(
    oura_env: dict[str, str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oura's per-application layer caps all users together; its 429 says so (``X-RateLimit-Tier``). The pause
    it asks for is the app's (budget key "app"): another connection waits it out instead of meeting a 429 of its
    own, so a busy app spends one refused request per window, not one per connection."""
    monkeypatch.setenv("RATE_LIMIT_MARGIN_SECONDS", "0")
    app_context.reset_context()
    ctx = get_context()
    first, second = "oura-app-1", "oura-app-2"
    for user in (first, second):
        connect_user("oura", user)
    sandbox.data_quirks["oura"].update(app_limit=2, app_window=4)  # 2 requests per 4 s of all users together
    apis = {
        user: ConnectionApi(ctx.settings, ctx.tokens, ctx.budget, ctx.http, "oura", user) for user in (first, second)
    }
    path = "/v2/usercollection/personal_info"
    while time.time() % 4 > 0.5:  # start early in a window of the twin's app layer
        time.sleep(0.05)
    apis[first].get(path)
    apis[first].get(path)  # the window is full
    met = threading.Thread(target=apis[second].get, args=(path,))  # meets the app layer's 429, waits, is served
    met.start()
    deadline = time.monotonic() + 3
    while not app_paused(ctx.budget.table) and time.monotonic() < deadline:
        time.sleep(0.02)  # until the 429 has paused the app's budget
    apis[first].get(path)  # during the pause: waits for the next window instead of sending into the full one
    met.join(timeout=10)
    refused = [r for r in sandbox.requests("oura", "personal_info") if r.status == 429]
    assert len(refused) == 1, f"{len(refused)} requests met the app layer's 429"
    assert apis[first].waited_seconds > 1 and apis[second].waited_seconds > 1


def test_the_tier_of_a_429_says_which_layer_paused() -> None:
    assert SPEC.rate_limit_layer({"X-RateLimit-Tier": "application"}) == "app"
    assert SPEC.rate_limit_layer({"X-RateLimit-Tier": "access_token"}) == "user"
    assert SPEC.rate_limit_layer({}) is None
