"""The working half of notifications, against the sandbox vendors and Azurite: a vendor-signed notification goes
through the intake onto the real ``notify-jobs`` queue, the worker takes the message from there and lands (or
removes) what it names; poison messages go back; quiet connections get a pull.

Expected records and their contents come from the sandbox itself (its ground truth, and its API read here with
the seeded access token), never from the code under test."""

from __future__ import annotations

import argparse
import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient

from sandbox import Sandbox
from sandbox.vendors.codoon.notify import codoon_form
from sandbox.vendors.fitbit.notify import fitbit_item, signed_fitbit
from sandbox.vendors.whoop.notify import signed_whoop, whoop_event
from shared.app_context import AppContext
from shared.connections import store_connection
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER
from shared.notify import NOTIFY_QUEUE
from shared.notify.bounds import NOTIFY_WORK_TABLE, SourceGate, UnknownUsers, expire_unknown
from shared.notify.model import MalformedNotification, Notification
from shared.notify.poison import add_commands, replay_poison
from shared.notify.reconcile import quiet_connections, reconcile
from shared.notify.worker import NOTIFY_ACTIVITY_TABLE, NOTIFY_UNKNOWN_TABLE, NotificationWorker, WorkOutcome
from shared.pull import vendor_api
from shared.pull.jobs import LIVE_QUEUE, PullJob
from shared.pull.planner import live_jobs
from shared.pull.vendor_api import DataCallFailed
from shared.registry import Status
from shared.vendors.codoon.notify import WORK_LIMITS as CODOON_WORK_LIMITS
from shared.vendors.fitbit.notify import TYPES as FITBIT_TYPES

TODAY = date.today()
PAST = (TODAY - timedelta(days=9), TODAY - timedelta(days=3))  # scored, final records only


# -- rig -------------------------------------------------------------------------------------------------------
@pytest.fixture
def worker(ctx: AppContext) -> NotificationWorker:
    made = NotificationWorker(
        ctx.settings,
        ctx.registry,
        ctx.tokens,
        ctx.budget,
        ctx.sink,
        ctx.puller,
        ctx.http,
        ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE),
        activity_table=ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE),
        pull_queue=ctx.storage.queue(LIVE_QUEUE),
        work_table=ctx.storage.tables.get_table_client(NOTIFY_WORK_TABLE),
    )
    made.ensure()
    return made


def take_all(queue: QueueClient) -> list[bytes]:
    """Every visible message of a queue (decoded as the trigger's ``get_body()``), removed from it."""
    bodies = []
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=60):
        bodies.append(bytes(message.content))
        queue.delete_message(message)
    return bodies


def through_intake(ctx: AppContext, vendor: str, request: tuple[dict[str, str], bytes]) -> bytes:
    """Deliver a notification to the intake as the vendor would; return the one message it queued."""
    headers, body = request
    status, _ = ctx.notify.handle(vendor, "POST", headers, {}, body)
    assert status in (200, 204)
    (message,) = take_all(ctx.storage.queue(NOTIFY_QUEUE))
    return message


def whoop_notice(ctx: AppContext, sandbox: Sandbox, user: str, kind: str, record_id: str) -> bytes:
    event = whoop_event(int(sandbox.vendor_user_id("whoop", user)), kind, record_id)
    return through_intake(ctx, "whoop", signed_whoop(sandbox.clients["whoop"][1], event))


def vendor_get(ctx: AppContext, vendor: str, pair: Any, path: str) -> Any:
    """The sandbox's own answer for a path, read directly with the seeded access token."""
    base = ctx.settings.vendor(vendor).url("API_BASE_URL").rstrip("/")
    answer = requests.get(base + path, headers={"Authorization": f"Bearer {pair.access_token}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()


def blobs(ctx: AppContext, container: str, vendor: str, data_type: str, user: str) -> dict[str, str]:
    """blob name below the type's user folder -> content."""
    client = ctx.storage.blobs.get_container_client(container)
    prefix = f"{vendor}/{data_type}/user={user}/"
    return {
        blob.name.removeprefix(prefix): client.download_blob(blob.name).readall().decode()
        for blob in client.list_blobs(name_starts_with=prefix)
    }


def user_rows(ctx: AppContext) -> list[Any]:
    """The notifyunknown rows of vendor users (not the per-vendor count and overflow rows)."""
    rows = ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE).list_entities()
    return [r for r in rows if not r["PartitionKey"].endswith("~")]


def first_record(sandbox: Sandbox, vendor: str, data_type: str, user: str) -> tuple[str, date]:
    found = sandbox.expected_records(vendor, data_type, user, *PAST)
    assert found, f"the sandbox has no {vendor} {data_type} in {PAST}"
    record_id, day = found[0]
    return str(record_id), day


# -- WHOOP -----------------------------------------------------------------------------------------------------
def test_a_whoop_sleep_notification_lands_the_sleep_through_the_queue(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    pair = seed("whoop", "u-sleep")
    sleep_id, day = first_record(sandbox, "whoop", "sleep", "u-sleep")
    message = whoop_notice(ctx, sandbox, "u-sleep", "sleep.updated", sleep_id)

    result = worker.handle(message)
    assert (result.outcome, result.landed, result.user_id) == (WorkOutcome.LANDED, 1, "u-sleep")
    raw = blobs(ctx, RAW_CONTAINER, "whoop", "sleep", "u-sleep")
    assert list(raw) == [f"date={day.isoformat()}/{sleep_id}.json"]
    assert json.loads(raw[f"date={day.isoformat()}/{sleep_id}.json"]) == vendor_get(
        ctx, "whoop", pair, f"/v2/activity/sleep/{sleep_id}"
    )
    assert list(blobs(ctx, CURATED_CONTAINER, "whoop", "sleep", "u-sleep")) == [f"date={day}/{sleep_id}.jsonl"]

    again = worker.handle(message)  # a redelivery changes nothing
    assert (again.outcome, again.landed, again.unchanged) == (WorkOutcome.LANDED, 0, 1)
    activity = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE).get_entity("whoop", "u-sleep")
    assert activity["notifications"] == 1 and activity["last_at"] > 0


def test_workout_and_recovery_land_where_the_pull_lands_them(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    pair = seed("whoop", "u-rec")
    workout_id, workout_day = first_record(sandbox, "whoop", "workout", "u-rec")
    result = worker.handle(whoop_notice(ctx, sandbox, "u-rec", "workout.updated", workout_id))
    assert result.outcome is WorkOutcome.LANDED  # the same recovery again: landed unchanged
    raw = blobs(ctx, RAW_CONTAINER, "whoop", "workout", "u-rec")
    assert json.loads(raw[f"date={workout_day}/{workout_id}.json"]) == vendor_get(
        ctx, "whoop", pair, f"/v2/activity/workout/{workout_id}"
    )

    cycle_id, recovery_day = first_record(sandbox, "whoop", "recovery", "u-rec")
    recovery = vendor_get(ctx, "whoop", pair, f"/v2/cycle/{cycle_id}/recovery")
    result = worker.handle(whoop_notice(ctx, sandbox, "u-rec", "recovery.updated", recovery["sleep_id"]))
    assert result.outcome is WorkOutcome.LANDED and result.landed == 2  # the recovery, and its cycle
    raw = blobs(ctx, RAW_CONTAINER, "whoop", "recovery", "u-rec")
    assert list(raw) == [f"date={recovery_day}/{cycle_id}.json"]
    assert json.loads(raw[f"date={recovery_day}/{cycle_id}.json"]) == recovery
    assert list(blobs(ctx, RAW_CONTAINER, "whoop", "cycle", "u-rec")) == [f"date={recovery_day}/{cycle_id}.json"]

    # the pull of that day finds the very same blobs: nothing new, nothing revised
    for data_type in ("recovery", "cycle"):
        outcome = ctx.puller.run(PullJob("whoop", "u-rec", data_type, recovery_day, recovery_day))
        assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 0, 1), data_type


def test_whoop_deletes_remove_raw_and_curated_and_a_vanished_record_is_ignored(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    pair = seed("whoop", "u-del")
    recoveries = sandbox.expected_records("whoop", "recovery", "u-del", *PAST)[:2]
    sleeps = [vendor_get(ctx, "whoop", pair, f"/v2/cycle/{cycle}/recovery")["sleep_id"] for cycle, _ in recoveries]
    for sleep_id in sleeps:
        assert worker.handle(whoop_notice(ctx, sandbox, "u-del", "sleep.updated", sleep_id)).landed == 1
        assert worker.handle(whoop_notice(ctx, sandbox, "u-del", "recovery.updated", sleep_id)).landed == 2
    for container in (RAW_CONTAINER, CURATED_CONTAINER):
        assert len(blobs(ctx, container, "whoop", "sleep", "u-del")) == 2
        assert len(blobs(ctx, container, "whoop", "recovery", "u-del")) == 2

    # the first recovery is found through its landed sleep; the second after its sleep is gone (by scan)
    first = worker.handle(whoop_notice(ctx, sandbox, "u-del", "recovery.deleted", sleeps[0].upper()))
    assert (first.outcome, first.deleted) == (WorkOutcome.DELETED, 1)
    second_sleep = worker.handle(whoop_notice(ctx, sandbox, "u-del", "sleep.deleted", sleeps[1]))
    assert (second_sleep.outcome, second_sleep.deleted) == (WorkOutcome.DELETED, 1)
    second = worker.handle(whoop_notice(ctx, sandbox, "u-del", "recovery.deleted", sleeps[1]))
    assert (second.outcome, second.deleted) == (WorkOutcome.DELETED, 1)
    for container in (RAW_CONTAINER, CURATED_CONTAINER):
        assert blobs(ctx, container, "whoop", "recovery", "u-del") == {}
        assert [name.rsplit("/", 1)[1].split(".")[0] for name in blobs(ctx, container, "whoop", "sleep", "u-del")] == [
            sleeps[0]
        ]
    assert len(blobs(ctx, RAW_CONTAINER, "whoop", "cycle", "u-del")) == 2  # cycles are not deleted by events
    again = worker.handle(whoop_notice(ctx, sandbox, "u-del", "sleep.deleted", sleeps[1]))
    assert (again.outcome, again.deleted) == (WorkOutcome.DELETED, 0)

    # deleted at the vendor before the update was worked: 404 -> ignored, nothing landed
    day = recoveries[0][1]
    sandbox.delete_record("whoop", "sleep", "u-del", day, sleeps[0])
    gone = worker.handle(whoop_notice(ctx, sandbox, "u-del", "sleep.updated", sleeps[0]))
    assert (gone.outcome, gone.landed) == (WorkOutcome.IGNORED, 0)


def test_an_unknown_vendor_user_is_recorded_once_and_not_retried(
    ctx: AppContext, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    for kind in ("sleep.updated", "workout.updated"):
        event = whoop_event(424242, kind)
        message = through_intake(ctx, "whoop", signed_whoop(sandbox.clients["whoop"][1], event))
        assert worker.handle(message).outcome is WorkOutcome.UNKNOWN_USER
    rows = user_rows(ctx)
    assert [(r["PartitionKey"], r["RowKey"], r["count"], r["last_kind"]) for r in rows] == [
        ("whoop", "424242", 2, "workout.updated")
    ]
    assert not sandbox.requests("whoop", "sleep_by_id")


def test_a_malformed_message_raises(worker: NotificationWorker) -> None:
    for body in (b"not json", b'{"v": 1, "vendor": "whoop"}', b'{"v":1,"vendor":"x","vendor_user_id":"1","kind":"k",'):
        with pytest.raises(MalformedNotification):
            worker.handle(body)
    other = Notification("garmin", "1", "sleep", "sleep", "updated").to_json()
    with pytest.raises(MalformedNotification):
        worker.handle(other)


def test_a_transient_vendor_failure_raises_and_the_retry_lands(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vendor_api, "BACKOFF_SECONDS", (0.0,) * 5)  # the client's own retries, without waiting
    seed("whoop", "u-flaky")
    sleep_id, _ = first_record(sandbox, "whoop", "sleep", "u-flaky")
    message = whoop_notice(ctx, sandbox, "u-flaky", "sleep.updated", sleep_id)
    sandbox.inject("whoop", "error_503", times=vendor_api.MAX_ATTEMPTS, endpoint="sleep_by_id")
    with pytest.raises(DataCallFailed) as failure:
        worker.handle(message)
    assert failure.value.transient and failure.value.status == 503
    assert blobs(ctx, RAW_CONTAINER, "whoop", "sleep", "u-flaky") == {}
    assert worker.handle(message).landed == 1  # the queue's next delivery


# -- Fitbit ----------------------------------------------------------------------------------------------------
def test_a_fitbit_sleep_notification_pulls_that_date_without_moving_the_watermark(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    seed("fitbit", "u-fb")
    _, day = first_record(sandbox, "fitbit", "sleep", "u-fb")
    owner = sandbox.vendor_user_id("fitbit", "u-fb")
    secret = sandbox.clients["fitbit"][1]
    message = through_intake(ctx, "fitbit", signed_fitbit(secret, [fitbit_item(owner, "sleep", day.isoformat())]))

    result = worker.handle(message)
    assert result.outcome is WorkOutcome.LANDED and result.landed >= 1
    assert set(result.data_types) <= set(FITBIT_TYPES["sleep"]) and "sleep" in result.data_types
    want = {f"date={d}/{rid}.json" for rid, d in sandbox.expected_records("fitbit", "sleep", "u-fb", day, day)}
    assert want and set(blobs(ctx, RAW_CONTAINER, "fitbit", "sleep", "u-fb")) == want
    for data_type in FITBIT_TYPES["sleep"]:
        state = ctx.pull_state.get("fitbit", "u-fb", data_type)
        assert state is None or state.watermark is None, data_type  # one date says nothing about the days before

    foods = through_intake(ctx, "fitbit", signed_fitbit(secret, [fitbit_item(owner, "foods", day.isoformat())]))
    assert worker.handle(foods).outcome is WorkOutcome.IGNORED


def test_fitbit_user_revoked_access_marks_the_connection_and_keeps_the_data(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    seed("fitbit", "u-gone")
    _, day = first_record(sandbox, "fitbit", "sleep", "u-gone")
    owner = sandbox.vendor_user_id("fitbit", "u-gone")
    secret = sandbox.clients["fitbit"][1]
    worker.handle(through_intake(ctx, "fitbit", signed_fitbit(secret, [fitbit_item(owner, "sleep", day.isoformat())])))
    landed = blobs(ctx, RAW_CONTAINER, "fitbit", "sleep", "u-gone")
    assert landed

    revoked = [{"collectionType": "userRevokedAccess", "ownerId": owner, "ownerType": "user", "subscriptionId": "s1"}]
    result = worker.handle(through_intake(ctx, "fitbit", signed_fitbit(secret, revoked)))
    assert result.outcome is WorkOutcome.REVOKED
    connection = ctx.registry.get("fitbit", "u-gone")
    assert connection is not None and connection.status is Status.REAUTH_REQUIRED
    assert connection.last_error == "revoked at the vendor"
    assert blobs(ctx, RAW_CONTAINER, "fitbit", "sleep", "u-gone") == landed

    later = worker.handle(
        through_intake(ctx, "fitbit", signed_fitbit(secret, [fitbit_item(owner, "sleep", day.isoformat())]))
    )
    assert later.outcome is WorkOutcome.IGNORED and later.requests == 0


def test_fitbit_notifications_with_odd_owner_and_subscription_ids_reach_their_connection(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    """Ids as Fitbit chooses them ('/' at the end, characters Table keys forbid) find the user: the lookup
    and bookkeeping rows encode them where they become keys."""
    owner = "7Q/x#1?a\\b%2F\t/"
    pair = seed("fitbit", "u-odd")
    store_connection(ctx.vault, ctx.registry, "fitbit", "u-odd", pair.with_user(owner))
    _, day = first_record(sandbox, "fitbit", "sleep", "u-odd")
    secret = sandbox.clients["fitbit"][1]
    item = fitbit_item(owner, "sleep", day.isoformat(), subscription_id="sub/#?/")
    result = worker.handle(through_intake(ctx, "fitbit", signed_fitbit(secret, [item])))
    assert (result.outcome, result.user_id) == (WorkOutcome.LANDED, "u-odd") and result.landed >= 1

    stranger = fitbit_item(owner + "x/", "sleep", day.isoformat())
    result = worker.handle(through_intake(ctx, "fitbit", signed_fitbit(secret, [stranger])))
    assert result.outcome is WorkOutcome.UNKNOWN_USER

    revoked = [{"collectionType": "userRevokedAccess", "ownerId": owner, "ownerType": "user", "subscriptionId": "/"}]
    result = worker.handle(through_intake(ctx, "fitbit", signed_fitbit(secret, revoked)))
    assert (result.outcome, result.user_id) == (WorkOutcome.REVOKED, "u-odd")


# -- Codoon ----------------------------------------------------------------------------------------------------
def test_codoon_route_and_activity_notifications_land_the_route_and_the_day(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    pair = seed("codoon", "u-cd")
    route_id, day = first_record(sandbox, "codoon", "route", "u-cd")
    owner = sandbox.vendor_user_id("codoon", "u-cd")
    form = codoon_form(owner, "gps_sports", route_id, "", "")  # the document: no times for gps_sports
    result = worker.handle(through_intake(ctx, "codoon", form))
    assert (result.outcome, result.landed, result.requests) == (WorkOutcome.LANDED, 1, 1)
    raw = blobs(ctx, RAW_CONTAINER, "codoon", "route", "u-cd")
    assert list(raw) == [f"date={day}/{route_id}.json"]
    base = ctx.settings.vendor("codoon").url("API_BASE_URL").rstrip("/")
    answer = requests.post(
        f"{base}/get_route_by_id",
        json={"route_id": route_id},
        headers={"Authorization": f"Bearer {pair.access_token}"},
        timeout=10,
    ).json()
    assert answer["status"] == "OK"
    assert json.loads(raw[f"date={day}/{route_id}.json"]) == answer["data"]  # the route, without the envelope
    again = worker.handle(through_intake(ctx, "codoon", form))  # within the hour: a duplicate, no vendor call
    assert (again.outcome, again.requests) == (WorkOutcome.IGNORED, 0) and "duplicate" in again.detail

    start = int(datetime(day.year, day.month, day.day, 1, tzinfo=UTC).timestamp())  # epoch seconds: 09:00 +08:00
    form = codoon_form(owner, "activities", "r-1", str(start), str(start + 3600))
    result = worker.handle(through_intake(ctx, "codoon", form))
    assert result.outcome is WorkOutcome.LANDED and result.data_types == ["tracker"]
    assert list(blobs(ctx, RAW_CONTAINER, "codoon", "tracker", "u-cd")) == [f"date={day}/{day}.json"]


def codoon_message(user: str, catalog: str, resource: str, start: str = "", end: str = "") -> str:
    """A notify-jobs message as the intake writes it for a Codoon form (forged or not: Codoon signs nothing)."""
    notification = Notification(
        "codoon", user, catalog, catalog, "updated", resource, start_time=start or None, end_time=end or None
    )
    return notification.to_json()


def test_a_flood_of_forged_codoon_notifications_for_random_users_is_capped_and_spends_no_vendor_call(
    ctx: AppContext, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    """10,000 forged forms (Codoon signs nothing): the intake queues at most its per-process bound, the worker
    keeps at most the cap of unknown-user rows and counts the rest in one overflow row; no vendor call."""
    ctx.notify.gates["codoon"] = SourceGate(per_source=3, per_process=300)
    worker.unknown_users = UnknownUsers(worker.unknown, cap=100, writes_per_minute=150)
    forms = (codoon_form(str(uuid.uuid4()), "activities", "d", "1", "2") for _ in range(10_000))
    answers = Counter(str(ctx.notify.handle("codoon", "POST", headers, {}, body)) for headers, body in forms)
    assert answers == {str((200, {"queued": 1})): 300, str((200, {"queued": 0})): 9_700}
    queued = take_all(ctx.storage.queue(NOTIFY_QUEUE))
    with ThreadPoolExecutor(4) as pool:
        outcomes = set(pool.map(lambda body: worker.handle(body).outcome, queued))
    worker.unknown_users.flush()
    assert outcomes == {WorkOutcome.UNKNOWN_USER}
    rows = user_rows(ctx)
    assert len(rows) == 100  # the cap
    table = ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE)
    overflow = table.get_entity("codoon~", "overflow")
    assert overflow["count"] + sum(r["count"] for r in rows) == 300  # every one counted, in 101 rows
    assert sandbox.requests("codoon") == []

    # expiry (the cleanup timer): old rows go, the count follows, and new unknown users get rows again
    later = datetime.now(UTC) + timedelta(days=8)
    assert expire_unknown(table, timedelta(days=7), now=datetime.now(UTC)) == 0
    assert expire_unknown(table, timedelta(days=7), now=later) == 101
    assert user_rows(ctx) == [] and table.get_entity("codoon~", "rows")["rows"] == 0
    worker.unknown_users = UnknownUsers(table, cap=100)  # a new process: no memory of "full"
    assert worker.handle(codoon_message("after-expiry", "activities", "d")).outcome is WorkOutcome.UNKNOWN_USER
    assert [r["RowKey"] for r in user_rows(ctx)] == ["after-expiry"]


def test_the_worker_alone_keeps_unknown_users_to_the_cap(
    ctx: AppContext, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    """Messages that reach the queue anyway (several intake processes): the cap holds in the worker itself."""
    worker.unknown_users = UnknownUsers(worker.unknown, cap=20, writes_per_minute=60)
    flood = [codoon_message(f"forged-{n}", "gps_sports", f"r{n}") for n in range(400)]
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda body: worker.handle(body).outcome, flood)) == {WorkOutcome.UNKNOWN_USER}
    worker.unknown_users.flush()
    rows = user_rows(ctx)
    overflow = ctx.storage.tables.get_table_client(NOTIFY_UNKNOWN_TABLE).get_entity("codoon~", "overflow")
    assert len(rows) == 20 and overflow["count"] + sum(r["count"] for r in rows) == 400
    assert sandbox.requests("codoon") == []


def test_a_flood_for_one_connected_codoon_user_spends_at_most_the_bound(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    seed("codoon", "u-flood")
    owner = sandbox.vendor_user_id("codoon", "u-flood")
    today = datetime.now(timezone(timedelta(hours=8))).date()
    day = (today - timedelta(days=2)).isoformat()
    once = worker.handle(codoon_message(owner, "activities", "dev", f"{day} 07:00:00", f"{day} 08:00:00"))
    assert once.outcome is WorkOutcome.LANDED and once.requests == 1
    again = worker.handle(codoon_message(owner, "activities", "dev", f"{day} 09:00:00", f"{day} 10:00:00"))
    assert (again.outcome, again.requests) == (WorkOutcome.IGNORED, 0) and "duplicate" in again.detail

    flood = [
        codoon_message(owner, "gps_sports", uuid.uuid4().hex)
        if n % 2
        else codoon_message(owner, "activities", "dev", f"{today - timedelta(days=n % 40)} 07:00:00", "")
        for n in range(300)
    ]
    spent = sum(worker.handle(body).requests for body in flood)
    assert spent == len(sandbox.requests("codoon")) - 1 <= CODOON_WORK_LIMITS.fetches - 1  # one fetch: 1 request


# -- poison ----------------------------------------------------------------------------------------------------
def test_replay_poison_moves_every_message_back_and_leaves_none(
    ctx: AppContext, sandbox: Sandbox, worker: NotificationWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = [whoop_event(7000 + n, "sleep.updated") for n in range(3)]
    bodies = [through_intake(ctx, "whoop", signed_whoop(sandbox.clients["whoop"][1], event)).decode() for event in sent]
    poison = ctx.storage.queue(NOTIFY_QUEUE + "-poison")
    poison.create_queue()
    for body in bodies:  # as the host parks them: the same base64 text
        poison.send_message(body)
    pull_poison = ctx.storage.queue(LIVE_QUEUE + "-poison")
    pull_poison.create_queue()
    job = PullJob("whoop", "u-x", "sleep", TODAY, TODAY)
    pull_poison.send_message(job.message())

    assert replay_poison(ctx.storage, NOTIFY_QUEUE, limit=2) == 2
    assert replay_poison(ctx.storage, NOTIFY_QUEUE) == 1
    assert replay_poison(ctx.storage, NOTIFY_QUEUE) == 0
    assert take_all(poison) == []
    back = take_all(ctx.storage.queue(NOTIFY_QUEUE))
    assert sorted(b.decode() for b in back) == sorted(bodies)
    assert all(worker.handle(body).outcome is WorkOutcome.UNKNOWN_USER for body in back)  # still workable

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["replay-poison", "--all"])
    assert args.handler(ctx, args) == 0
    out = capsys.readouterr().out
    assert f"{LIVE_QUEUE}: 1 moved back" in out and f"{NOTIFY_QUEUE}: 0 moved back" in out
    assert take_all(pull_poison) == []
    (moved,) = take_all(ctx.storage.queue(LIVE_QUEUE))
    assert PullJob.parse(moved) == job


# -- reconciliation --------------------------------------------------------------------------------------------
def test_reconciliation_pulls_a_connection_quiet_for_longer_than_usual_only(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    now = datetime.now(UTC).timestamp()
    hour = 3600.0
    # (user, vendor, hours before now of each notification): usual longest gaps 1 h, 1 h and 5 h
    histories = {
        "u-quiet": ("whoop", (9.0, 8.0, 7.0)),  # last 7 h ago, usual 1 h: quiet (past the 6 h floor)
        "u-active": ("whoop", (3.0, 2.0, 1.0)),  # last 1 h ago: active
        "u-slow": ("fitbit", (14.0, 9.0, 4.0)),  # last 4 h ago, usual 5 h: quiet after 1.5 x 5 h
    }
    for user, (vendor, hours) in histories.items():
        seed(vendor, user)
        vendor_user = sandbox.vendor_user_id(vendor, user)
        for ago in hours:
            stamp = datetime.fromtimestamp(now - ago * hour, UTC).isoformat().replace("+00:00", "Z")
            if vendor == "whoop":  # an unknown sleep id: 404 at the vendor, ignored, but the notification counts
                notice = Notification(vendor, vendor_user, "sleep.updated", "sleep", "updated", str(uuid.uuid4()))
            else:  # a collection without data types here: ignored, but counted
                notice = Notification(vendor, vendor_user, "body", "body", "updated", date=TODAY.isoformat())
            worker.handle(Notification(**{**notice.__dict__, "received_at": stamp}).to_json())
    seed("whoop", "u-never")  # no notification ever: the hourly pull's business

    table = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    assert table.get_entity("fitbit", "u-slow")["usual_gap_seconds"] == pytest.approx(5 * hour, abs=1)
    assert table.get_entity("whoop", "u-quiet")["usual_gap_seconds"] == pytest.approx(hour, abs=1)
    assert [c.user_id for c in quiet_connections(ctx.registry, table, now)] == ["u-quiet"]
    assert {c.user_id for c in quiet_connections(ctx.registry, table, now + 4 * hour)} == {"u-quiet", "u-slow"}

    queue = ctx.storage.queue(LIVE_QUEUE)
    assert reconcile(ctx.settings, ctx.registry, ctx.pull_state, table, queue, now) == 1
    jobs = [PullJob.parse(body) for body in take_all(queue)]
    connection = ctx.registry.get("whoop", "u-quiet")
    assert connection is not None
    want = {(j.vendor, j.user_id, j.data_type) for j in live_jobs(ctx.settings, ctx.pull_state, connection)}
    assert {(j.vendor, j.user_id, j.data_type) for j in jobs} == want and len(jobs) == len(want) > 0
    assert reconcile(ctx.settings, ctx.registry, ctx.pull_state, table, queue, now + 60) == 0  # reconciled now
    assert take_all(queue) == []

    ctx.registry.update("whoop", "u-quiet", status=Status.REAUTH_REQUIRED)
    later = {c.user_id for c in quiet_connections(ctx.registry, table, now + 30 * hour)}
    assert later == {"u-slow", "u-active"}  # everyone is quiet by then, but an unusable connection is not pulled


def test_a_members_nightly_silence_is_usual_not_quiet(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    """A WHOOP member's notifications come in a morning burst (sleep and recovery, each scored half an hour later)
    and after an evening workout; between them, 10 and 12 hours of silence. The usual gap is the longest one:
    the night is not quiet (a mean of the gaps, a few hours, made every night quiet: a needless pull of the
    notified types each day), a day and a half of silence is."""
    seed("whoop", "u-rhythm")
    vendor_user = sandbox.vendor_user_id("whoop", "u-rhythm")
    hour, minute = 3600.0, 60.0
    first = datetime.now(UTC).timestamp() - 4 * 24 * hour
    offsets = (0.0, 3 * minute, 25 * minute, 30 * minute, 11 * hour, 11.5 * hour)
    stamps = [first + day * 24 * hour + offset for day in range(4) for offset in offsets]
    for at in stamps:  # unknown sleep ids: 404 at the vendor, ignored, but each notification counts
        received = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
        notice = Notification("whoop", vendor_user, "sleep.updated", "sleep", "updated", str(uuid.uuid4()))
        worker.handle(Notification(**{**notice.__dict__, "received_at": received}).to_json())
    table = ctx.storage.tables.get_table_client(NOTIFY_ACTIVITY_TABLE)
    row = table.get_entity("whoop", "u-rhythm")
    assert row["usual_gap_seconds"] == pytest.approx(12.5 * hour, rel=0.05)  # the night, evening to morning
    last = stamps[-1]
    assert [c.user_id for c in quiet_connections(ctx.registry, table, last + 14 * hour)] == []  # a late morning
    assert [c.user_id for c in quiet_connections(ctx.registry, table, last + 20 * hour)] == ["u-rhythm"]


def test_a_recovery_costs_one_vendor_read_once_its_sleep_and_cycle_have_landed(
    ctx: AppContext, seed: Any, sandbox: Sandbox, worker: NotificationWorker
) -> None:
    """WHOOP's budget is per app. A sleep never changes cycle, and a cycle never changes its start or time zone, so
    what has landed answers what the recovery needs besides itself: the landed sleep's cycle_id, the landed cycle's
    local date. WHOOP sends a second recovery.updated each morning (once the recovery is scored): one read."""
    pair = seed("whoop", "u-cheap")
    (first, _), (cycle_id, recovery_day) = [
        (str(c), d) for c, d in sandbox.expected_records("whoop", "recovery", "u-cheap", *PAST)[:2]
    ]
    sleep_of = {c: vendor_get(ctx, "whoop", pair, f"/v2/cycle/{c}/recovery")["sleep_id"] for c in (first, cycle_id)}

    def data_calls() -> list[str]:
        return [r.path.rsplit("/", 1)[-1] for r in sandbox.requests("whoop") if r.endpoint != "token"]

    before = len(data_calls())
    assert worker.handle(whoop_notice(ctx, sandbox, "u-cheap", "recovery.updated", sleep_of[first])).landed == 2
    assert len(data_calls()) - before == 3, "nothing landed: the sleep, the recovery and the cycle"

    assert worker.handle(whoop_notice(ctx, sandbox, "u-cheap", "sleep.updated", sleep_of[cycle_id])).landed == 1
    before = len(data_calls())
    assert worker.handle(whoop_notice(ctx, sandbox, "u-cheap", "recovery.updated", sleep_of[cycle_id])).landed == 2
    assert data_calls()[before:] == ["recovery", cycle_id], "the sleep landed: the recovery, and its cycle for its date"

    before = len(data_calls())
    result = worker.handle(whoop_notice(ctx, sandbox, "u-cheap", "recovery.updated", sleep_of[cycle_id]))
    assert result.outcome is WorkOutcome.LANDED  # the same recovery again: landed unchanged
    assert data_calls()[before:] == ["recovery"], "the sleep and the cycle landed: the recovery alone"
    raw = blobs(ctx, RAW_CONTAINER, "whoop", "recovery", "u-cheap")
    assert f"date={recovery_day}/{cycle_id}.json" in raw  # where the pull lands it
    outcome = ctx.puller.run(PullJob("whoop", "u-cheap", "recovery", recovery_day, recovery_day))
    assert (outcome.created, outcome.updated, outcome.unchanged) == (0, 0, 1), "the pull finds it where it landed"
