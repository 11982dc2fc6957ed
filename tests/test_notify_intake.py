"""The receiving half of vendor notifications: ``NotificationIntake.handle`` on raw bytes against Azurite.

Correct signatures are computed here from the documented formulas (vendors.md 1.4 and 2.4), independently
of the code under test; every way a signature can be wrong comes from the twins' ``sandbox.vendors.<name>.notify``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import inspect
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from sandbox import Sandbox
from sandbox.vendors.codoon.notify import codoon_form
from sandbox.vendors.fitbit.notify import FITBIT_WRONG, FitbitWrong, fitbit_item, signed_fitbit
from sandbox.vendors.whoop.notify import WHOOP_WRONG, WhoopWrong, signed_whoop, whoop_event
from shared.app_context import AppContext
from shared.notify import NOTIFY_DEDUP_TABLE, NOTIFY_QUEUE
from shared.notify.bounds import SourceGate
from shared.notify.intake import MAX_BODY_BYTES, NotificationIntake
from shared.notify.model import ChallengeAnswer, ChallengeRequest, Ignore, Notification, Notifications
from shared.settings import Settings, load_settings
from shared.vendors.codoon.notify import SOURCE_LIMITS
from shared.vendors.registry import names
from tests.conftest import KNOWN_SECRETS, secrets_in

VERIFY_CODE = "fitbit-verify-" + secrets.token_hex(16)
KNOWN_SECRETS.add(VERIFY_CODE)
WHOOP_USER = 10129
GATE_PER_SOURCE = SOURCE_LIMITS.per_source


class EpochClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    settings: Settings
    intake: NotificationIntake
    queue: QueueClient
    table: TableClient
    clock: EpochClock
    sandbox: Sandbox

    def another(self, **changes: Any) -> NotificationIntake:
        """An intake like the rig's, with other settings or clients."""
        args: dict[str, Any] = {
            "settings": self.settings,
            "queue": self.queue,
            "dedup_table": self.table,
            "clock": self.clock,
        }
        return NotificationIntake(**{**args, **changes})

    def secret(self, vendor: str) -> str:
        return self.sandbox.clients[vendor][1]

    def post(self, vendor: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | None]:
        answer = self.intake.handle(vendor, "POST", headers, {}, body)
        self.intake.settle()  # a vendor's retry comes seconds later: the dedup row is written by then
        return answer

    def messages(self) -> list[dict[str, Any]]:
        found = []
        for message in self.queue.receive_messages(messages_per_page=32, visibility_timeout=60):
            found.append(json.loads(message.content))
        return found

    def dedup_rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.table.list_entities()]


@pytest.fixture
def rig(ctx: AppContext, sandbox: Sandbox, app_env: dict[str, str]) -> Rig:
    clock = EpochClock()
    queue = ctx.storage.queue(NOTIFY_QUEUE)
    table = ctx.storage.tables.get_table_client(NOTIFY_DEDUP_TABLE)
    settings = load_settings({**app_env, "FITBIT_SUBSCRIBER_VERIFY_CODE": VERIFY_CODE})  # the package's setting
    intake = NotificationIntake(settings, queue, table, clock)
    intake.ensure()
    return Rig(settings, intake, queue, table, clock, sandbox)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="shared.notify")
    yield caplog


# -- the documented formulas, computed here ----------------------------------------------------------------
def fitbit_formula(client_secret: str, body: bytes) -> str:
    digest = hmac.new((client_secret + "&").encode(), body, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def whoop_formula(client_secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(client_secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def deliver(intake: NotificationIntake, vendor: str, request: tuple[dict[str, str], bytes]) -> int:
    headers, body = request
    status = intake.handle(vendor, "POST", headers, {}, body)[0]
    intake.settle()
    return status


def whoop_request(rig: Rig, event: dict[str, Any], at: float | None = None) -> tuple[dict[str, str], bytes]:
    body = json.dumps(event).encode()
    stamp = str(int((rig.clock.now if at is None else at) * 1000))
    return {
        "X-WHOOP-Signature-Timestamp": stamp,
        "X-WHOOP-Signature": whoop_formula(rig.secret("whoop"), stamp, body),
    }, body


# -- correct signatures ------------------------------------------------------------------------------------
def test_a_correctly_signed_fitbit_batch_is_queued_one_message_per_notification(rig: Rig) -> None:
    body = (
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":"ABC123","ownerType":"user",'
        b'"subscriptionId":"sub-1"},\n {"collectionType": "activities", "date": "2026-11-21", "ownerId": "ABC123",'
        b' "ownerType": "user", "subscriptionId": "sub-1"}]'
    )
    headers = {"Content-Type": "application/json", "X-Fitbit-Signature": fitbit_formula(rig.secret("fitbit"), body)}
    assert rig.post("fitbit", headers, body) == (204, None)
    messages = sorted(rig.messages(), key=lambda m: m["date"])
    assert [(m["collection"], m["date"], m["vendor_user_id"]) for m in messages] == [
        ("sleep", "2026-11-20", "ABC123"),
        ("activities", "2026-11-21", "ABC123"),
    ]
    first = messages[0]
    assert first["v"] == 1 and first["vendor"] == "fitbit" and first["kind"] == "sleep"
    assert first["action"] == "updated" and first["subscription_id"] == "sub-1"
    assert first["trace_id"] is None and first["record_id"] is None
    assert datetime.fromisoformat(first["received_at"]).timestamp() == pytest.approx(rig.clock.now, abs=0.01)
    assert not secrets_in(json.dumps(messages))


def test_a_correctly_signed_whoop_event_is_queued(rig: Rig) -> None:
    event = whoop_event(WHOOP_USER, "recovery.updated")
    headers, body = whoop_request(rig, event)
    headers["x-whoop-signature"] = headers.pop("X-WHOOP-Signature")  # header names are case-insensitive
    assert rig.post("whoop", headers, body) == (204, None)
    (message,) = rig.messages()
    assert message == {
        "v": 1,
        "vendor": "whoop",
        "vendor_user_id": str(WHOOP_USER),
        "kind": "recovery.updated",
        "collection": "recovery",
        "action": "updated",
        "record_id": event["id"],  # recovery: the sleep's UUID
        "date": None,
        "trace_id": event["trace_id"],
        "subscription_id": None,
        "start_time": None,
        "end_time": None,
        "received_at": message["received_at"],
    }
    assert [row["PartitionKey"] for row in rig.dedup_rows()] == [event["trace_id"]]
    assert Notification.from_message(json.dumps(message)).record_id == event["id"]  # what the worker reads


def test_the_sandbox_signs_as_the_documented_formulas_do(rig: Rig) -> None:
    headers, body = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "body", "2026-11-20")])
    assert headers["X-Fitbit-Signature"] == fitbit_formula(rig.secret("fitbit"), body)
    headers, body = signed_whoop(rig.secret("whoop"), whoop_event(WHOOP_USER), timestamp_ms=1_800_000_000_123)
    assert headers["X-WHOOP-Signature-Timestamp"] == "1800000000123"
    assert headers["X-WHOOP-Signature"] == whoop_formula(rig.secret("whoop"), "1800000000123", body)


def test_a_correct_signature_holding_a_plus_is_accepted(rig: Rig) -> None:
    headers, body = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "foods", "2026-11-20")], want_plus=True)
    assert "+" in headers["X-Fitbit-Signature"]
    assert rig.post("fitbit", headers, body) == (204, None)
    stamp_ms = int(rig.clock.now * 1000)
    headers, body = signed_whoop(rig.secret("whoop"), whoop_event(WHOOP_USER), stamp_ms, want_plus=True)
    assert "+" in headers["X-WHOOP-Signature"]
    assert rig.post("whoop", headers, body) == (204, None)
    assert len(rig.messages()) == 2


# -- every way a signature can be wrong --------------------------------------------------------------------
@pytest.mark.parametrize("wrong", FITBIT_WRONG)
def test_a_wrong_fitbit_signature_is_answered_404_logged_and_not_queued(
    rig: Rig, logs: pytest.LogCaptureFixture, wrong: FitbitWrong
) -> None:
    headers, body = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "sleep", "2026-11-20")], wrong=wrong)
    assert rig.post("fitbit", headers, body) == (404, {"error": "not found"})
    assert rig.messages() == []
    rejections = [r.getMessage() for r in logs.records if "notify rejected vendor=fitbit status=404" in r.getMessage()]
    assert len(rejections) == 1 and "X-Fitbit-Signature" in rejections[0]
    signature = headers.get("X-Fitbit-Signature")
    assert signature is None or signature not in logs.text
    assert body.decode() not in logs.text and "ABC123" not in logs.text


@pytest.mark.parametrize("wrong", WHOOP_WRONG)
def test_a_wrong_whoop_signature_is_answered_401_and_the_genuine_retry_still_accepted(
    rig: Rig, logs: pytest.LogCaptureFixture, wrong: WhoopWrong
) -> None:
    event = whoop_event(WHOOP_USER, "workout.deleted")
    headers, body = signed_whoop(rig.secret("whoop"), event, int(rig.clock.now * 1000), wrong=wrong)
    assert rig.post("whoop", headers, body) == (401, {"error": "invalid signature"})
    assert rig.messages() == [] and rig.dedup_rows() == []
    assert any("notify rejected vendor=whoop status=401" in r.getMessage() for r in logs.records)
    signature = headers.get("X-WHOOP-Signature")
    assert signature is None or signature not in logs.text
    assert event["trace_id"] not in logs.text  # the body is never logged

    headers, body = signed_whoop(rig.secret("whoop"), event, int(rig.clock.now * 1000))
    assert rig.post("whoop", headers, body) == (204, None)
    assert [m["trace_id"] for m in rig.messages()] == [event["trace_id"]]


def test_the_whoop_timestamp_window_is_five_minutes_either_way(rig: Rig) -> None:
    now = rig.clock.now
    for offset, status in ((-299, 204), (299, 204), (-301, 401), (301, 401), (-86400, 401)):
        headers, body = whoop_request(rig, whoop_event(WHOOP_USER), at=now + offset)
        assert rig.post("whoop", headers, body)[0] == status, offset
    assert len(rig.messages()) == 2


def test_a_signature_over_one_body_does_not_cover_another(rig: Rig) -> None:
    headers, body = whoop_request(rig, whoop_event(WHOOP_USER))
    tampered = body.replace(b"sleep.updated", b"sleep.deleted")
    assert rig.post("whoop", headers, tampered)[0] == 401
    headers, body = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "sleep", "2026-11-20")])
    assert rig.post("fitbit", headers, body + b" ")[0] == 404
    assert rig.messages() == []


# -- Fitbit's verification handshake --------------------------------------------------------------------------
def test_fitbit_verify_handshake_answers_204_for_the_code_and_404_otherwise(
    rig: Rig, logs: pytest.LogCaptureFixture, app_env: dict[str, str]
) -> None:
    handle = rig.intake.handle
    assert handle("fitbit", "GET", {}, {"verify": VERIFY_CODE}, b"") == (204, None)
    for wrong in (VERIFY_CODE + "x", VERIFY_CODE[:-1], "", "é" * 5):
        assert handle("fitbit", "GET", {}, {"verify": wrong}, b"")[0] == 404
    assert handle("fitbit", "GET", {}, {}, b"")[0] == 404
    no_code = rig.another(settings=load_settings(app_env))  # not configured: no code ever matches
    assert no_code.handle("fitbit", "GET", {}, {"verify": ""}, b"")[0] == 404
    assert no_code.handle("fitbit", "GET", {}, {"verify": VERIFY_CODE}, b"")[0] == 404
    assert handle("whoop", "GET", {}, {"verify": VERIFY_CODE}, b"")[0] == 405
    assert rig.messages() == []
    assert VERIFY_CODE not in logs.text


# -- Codoon's form -------------------------------------------------------------------------------------------
def test_a_codoon_form_is_answered_200_once_queued(rig: Rig) -> None:
    headers, body = codoon_form("8f1c2d3e-user", "gps_sports", "route-77", "2017-05-01 07:00:00", "2017-05-01 08:10:00")
    assert rig.post("codoon", headers, body) == (200, {"queued": 1})
    (message,) = rig.messages()
    assert (message["vendor"], message["vendor_user_id"], message["collection"]) == (
        "codoon",
        "8f1c2d3e-user",
        "gps_sports",
    )
    assert (message["record_id"], message["start_time"], message["end_time"]) == (
        "route-77",
        "2017-05-01 07:00:00",
        "2017-05-01 08:10:00",
    )
    raw = b"user_id=u1&catalog=activities&resource_id=r1&start_time=1493622000&end_time=1493626200"
    assert rig.post("codoon", {}, raw) == (200, {"queued": 1})


def test_a_codoon_gps_sports_form_without_times_is_accepted(rig: Rig) -> None:
    """The document: start_time/end_time are for tracker uploads only, empty for gps_sports."""
    assert rig.post("codoon", *codoon_form("8f1c2d3e-user", "gps_sports", "a1b2c3", "", "")) == (200, {"queued": 1})
    (message,) = rig.messages()
    assert (message["record_id"], message["start_time"], message["end_time"]) == ("a1b2c3", None, None)


def test_codoon_notifications_are_bounded_per_source_before_anything_is_queued(rig: Rig) -> None:
    """Codoon signs nothing: one source (vendor user id) gets at most its bound queued, answered 200 beyond it."""
    answers = [rig.post("codoon", *codoon_form("8f1c2d3e-user", "activities", "d", "1", "2")) for _ in range(500)]
    assert answers.count((200, {"queued": 1})) == GATE_PER_SOURCE
    assert answers.count((200, {"queued": 0})) == 500 - GATE_PER_SOURCE
    assert len(rig.messages()) == GATE_PER_SOURCE
    assert rig.post("codoon", *codoon_form("another-user", "activities", "d", "1", "2")) == (200, {"queued": 1})


def test_the_source_gate_forgets_old_sends_and_bounds_the_process() -> None:
    now = [0.0]
    gate = SourceGate(per_source=2, per_process=3, seconds=60, sources=2, clock=lambda: now[0])
    assert [gate.allow("a"), gate.allow("a"), gate.allow("a"), gate.allow("b"), gate.allow("c")] == [
        True,
        True,
        False,
        True,
        False,  # the process bound
    ]
    now[0] = 61.0
    assert gate.allow("a") and gate.allow("a") and not gate.allow("a")


@pytest.mark.parametrize(
    "body",
    [
        b"user_id=u1&catalog=activities&resource_id=r1&start_time=1",  # end_time missing
        b"user_id=u1&user_id=u2&catalog=activities&resource_id=r1&start_time=1&end_time=2",  # twice
        b"user_id=u%2F1&catalog=activities&resource_id=r1&start_time=1&end_time=2",  # '/' in an id
        b"user_id=u1&catalog=activities&resource_id=&start_time=1&end_time=2",  # empty
        b'{"user_id": "u1"}',
        b"\xff\xfe",
        b"",
    ],
)
def test_a_malformed_codoon_form_is_answered_400(rig: Rig, body: bytes) -> None:
    status, answer = rig.post("codoon", {"Content-Type": "application/x-www-form-urlencoded"}, body)
    assert status == 400 and answer and "error" in answer
    assert rig.messages() == []


# -- malformed input, limits, methods, vendors -------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff{}",
        b'{"collectionType":"sleep"}',  # an object, not an array
        b'[{"collectionType":"sleep","date":"2026-02-30","ownerId":"A","subscriptionId":"s"}]',
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":"","subscriptionId":"s"}]',
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":"' + b"A" * 129 + b'","subscriptionId":"s"}]',
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":"A","subscriptionId":"' + b"s" * 129 + b'"}]',
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":7,"subscriptionId":"s"}]',
        b"["
        + b",".join([b'{"collectionType":"sleep","date":"2026-11-20","ownerId":"A","subscriptionId":"s"}'] * 501)
        + b"]",
        b'[{"collectionType":"sleep","date":"2026-11-20","ownerId":"A","subscriptionId":"s","ownerType":"x"}]',
        b"[1]",
        b"[" * 100_000,
    ],
)
def test_a_signed_but_malformed_fitbit_body_is_answered_400(rig: Rig, body: bytes) -> None:
    headers = {"X-Fitbit-Signature": fitbit_formula(rig.secret("fitbit"), body)}
    status, answer = rig.post("fitbit", headers, body)
    assert status == 400 and answer and "error" in answer
    assert rig.messages() == []


# ids as the vendor chooses them: a trailing '/', '#', '?', '\\', '%', spaces, control characters, non-ASCII
ODD_IDS = ("ABC123/", "7Q/x#1?a\\b%2F \u00e9/", "  spaced  ", "tab\tand\nnewline\u0085", "\u00fc" * 128, "\U0001f600/")


def test_a_signed_fitbit_notification_is_accepted_whatever_characters_its_ids_hold(rig: Rig) -> None:
    items = [fitbit_item(odd, "sleep", "2026-11-20", subscription_id=odd) for odd in ODD_IDS]
    revoked = {"collectionType": "userRevokedAccess", "ownerId": "9Z/", "ownerType": "user", "subscriptionId": "s#/"}
    assert rig.post("fitbit", *signed_fitbit(rig.secret("fitbit"), [*items, revoked])) == (204, None)
    messages = rig.messages()
    assert sorted((m["vendor_user_id"], m["subscription_id"]) for m in messages) == sorted(
        [(odd, odd) for odd in ODD_IDS] + [("9Z/", "s#/")]
    )
    assert all(Notification.from_message(json.dumps(m)).vendor == "fitbit" for m in messages)


def test_a_signed_whoop_event_is_accepted_whatever_characters_its_ids_hold(rig: Rig) -> None:
    for odd in ODD_IDS:
        event = {"user_id": odd, "id": odd, "type": "sleep.updated", "trace_id": odd}
        assert rig.post("whoop", *whoop_request(rig, event)) == (204, None), odd
        assert rig.post("whoop", *whoop_request(rig, event)) == (204, None), odd  # its duplicate is collapsed
    assert sorted((m["vendor_user_id"], m["record_id"], m["trace_id"]) for m in rig.messages()) == sorted(
        (odd, odd, odd) for odd in ODD_IDS
    )
    assert len(rig.dedup_rows()) == len(ODD_IDS)


@pytest.mark.parametrize(
    "event",
    [
        [],
        {"user_id": True, "id": "a", "type": "sleep.updated", "trace_id": "t"},
        {"user_id": 1, "id": "a", "type": "sleep", "trace_id": "t"},
        {"user_id": 1, "id": "a", "type": "sleep.updated"},
        {"user_id": 1, "id": "a", "type": "sleep.updated", "trace_id": ""},
        {"user_id": 1, "id": "a" * 129, "type": "sleep.updated", "trace_id": "t"},
        {"user_id": 1.5, "id": "a", "type": "sleep.updated", "trace_id": "t"},
    ],
)
def test_a_signed_but_malformed_whoop_body_is_answered_400(rig: Rig, event: Any) -> None:
    headers, body = whoop_request(rig, event)
    status, answer = rig.post("whoop", headers, body)
    assert status == 400 and answer and "error" in answer
    assert rig.messages() == [] and rig.dedup_rows() == []


def test_vendors_methods_and_sizes(rig: Rig, app_env: dict[str, str]) -> None:
    handle = rig.intake.handle
    assert handle("garmin", "POST", {}, {}, b"[]")[0] == 404
    assert handle("WHOOP", "POST", {}, {}, b"{}")[0] == 404
    assert handle("", "GET", {}, {}, b"")[0] == 404
    for vendor in ("whoop", "fitbit", "codoon"):
        assert handle(vendor, "HEAD", {}, {}, b"") == (204, None)
        assert handle(vendor, "PUT", {}, {}, b"")[0] == 405
    assert handle("codoon", "GET", {}, {}, b"")[0] == 405
    huge = b"[" + b" " * MAX_BODY_BYTES + b"]"
    assert (
        handle("fitbit", "POST", {"X-Fitbit-Signature": fitbit_formula(rig.secret("fitbit"), huge)}, {}, huge)[0] == 413
    )
    without_codoon = {k: v for k, v in app_env.items() if not k.startswith("CODOON_CLIENT")}
    disabled = rig.another(settings=load_settings(without_codoon))
    headers, body = codoon_form("u1", "activities", "r1", "1", "2")
    assert disabled.handle("codoon", "POST", headers, {}, body)[0] == 404
    assert disabled.handle("codoon", "HEAD", {}, {}, b"")[0] == 404
    assert rig.messages() == []


# -- duplicates ----------------------------------------------------------------------------------------------
def test_whoop_duplicates_are_collapsed_on_trace_id(rig: Rig) -> None:
    event = whoop_event(WHOOP_USER, "sleep.updated")
    first = whoop_request(rig, event)
    assert rig.post("whoop", *first) == (204, None)
    assert rig.post("whoop", *first) == (204, None)  # the same delivery again
    rig.clock.now += 60
    assert rig.post("whoop", *whoop_request(rig, event)) == (204, None)  # a retry, signed anew
    other = dict(event, trace_id=str(uuid.uuid4()))  # same record, another event: not a duplicate
    assert rig.post("whoop", *whoop_request(rig, other)) == (204, None)
    assert sorted(m["trace_id"] for m in rig.messages()) == sorted([event["trace_id"], other["trace_id"]])


def test_concurrent_deliveries_of_one_event_are_all_queued_and_later_ones_collapsed(rig: Rig) -> None:
    """A delivery racing another cannot know whether the other's queue write will succeed, so it queues too
    (the worker is idempotent); once one is queued, later deliveries are collapsed."""
    event = whoop_event(WHOOP_USER, "workout.updated")
    request = whoop_request(rig, event)
    results: list[tuple[int, Any]] = []
    barrier = threading.Barrier(12)

    def deliver() -> None:
        barrier.wait()
        results.append(rig.post("whoop", *request))

    threads = [threading.Thread(target=deliver) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(204, None)] * 12
    raced = [m["trace_id"] for m in rig.messages()]
    assert 1 <= len(raced) <= 12 and set(raced) == {event["trace_id"]}
    assert [row["PartitionKey"] for row in rig.dedup_rows()] == [event["trace_id"]]
    rig.clock.now += 60
    assert rig.post("whoop", *whoop_request(rig, event)) == (204, None)
    assert rig.messages() == []  # the earlier ones are invisible for a minute: none was added


# -- storage failures -----------------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_queue_gone_answers_503_acknowledges_nothing_and_the_retry_is_accepted(rig: Rig) -> None:
    rig.queue.delete_queue()
    event = whoop_event(WHOOP_USER, "sleep.deleted")
    request = whoop_request(rig, event)
    status, answer = rig.post("whoop", *request)
    assert status == 503 and answer == {"error": "temporarily unavailable, retry later"}
    assert rig.dedup_rows() == []  # released, so that WHOOP's retry is not taken for a duplicate
    # one item: Azurite may accept a parallel write to a queue it is still deleting (a batch whose writes
    # partly succeed is answered 503 all the same: see the test of a Fitbit batch with a failed write)
    fitbit = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "sleep", "2026-11-20")])
    assert rig.post("fitbit", *fitbit)[0] == 503
    assert rig.post("codoon", *codoon_form("u1", "activities", "r1", "1", "2"))[0] == 503

    rig.intake.ensure()  # the queue is back
    assert rig.messages() == []
    assert rig.post("whoop", *request) == (204, None)
    assert [m["trace_id"] for m in rig.messages()] == [event["trace_id"]]


def test_queue_unreachable_answers_503_quickly_and_nothing_is_queued(rig: Rig) -> None:
    dead = QueueClient(
        f"http://127.0.0.1:{closed_port()}/devstoreaccount1",
        NOTIFY_QUEUE,
        credential={"account_name": "devstoreaccount1", "account_key": "a2V5"},
        message_encode_policy=TextBase64EncodePolicy(),
    )
    intake = rig.another(queue=dead)
    event = whoop_event(WHOOP_USER)
    started = time.monotonic()
    assert deliver(intake, "whoop", whoop_request(rig, event)) == 503
    fitbit = signed_fitbit(rig.secret("fitbit"), [fitbit_item("ABC123", "body", "2026-11-20")])
    assert deliver(intake, "fitbit", fitbit) == 503
    assert time.monotonic() - started < 5  # no SDK back-off (15 s) beyond the vendors' deadlines
    assert rig.dedup_rows() == [] and rig.messages() == []
    assert rig.post("whoop", *whoop_request(rig, event)) == (204, None)
    assert len(rig.messages()) == 1


def test_dedup_table_unavailable_answers_503_and_nothing_is_queued(rig: Rig) -> None:
    rig.table.delete_table()
    assert rig.post("whoop", *whoop_request(rig, whoop_event(WHOOP_USER)))[0] == 503
    assert rig.messages() == []


class FlakyQueue:
    """A queue that fails the n-th send: a batch's earlier messages land, then the batch is answered 503."""

    def __init__(self, real: QueueClient, fail_on: int) -> None:
        self.real, self.fail_on, self.sent = real, fail_on, 0
        self.lock = threading.Lock()

    def send_message(self, content: str, **kwargs: Any) -> Any:
        with self.lock:
            self.sent += 1
            if self.sent >= self.fail_on:
                raise ConnectionError("queue unavailable")
        return self.real.send_message(content, **kwargs)


def test_a_fitbit_batch_with_a_failed_write_is_answered_503_so_fitbit_sends_it_again(rig: Rig) -> None:
    intake = rig.another(queue=FlakyQueue(rig.queue, fail_on=3))
    items = [fitbit_item("ABC123", "sleep", f"2026-11-{day:02d}") for day in range(1, 6)]
    assert deliver(intake, "fitbit", signed_fitbit(rig.secret("fitbit"), items)) == 503
    assert len(rig.messages()) < len(items)  # some landed; the whole batch is answered 503 and comes again


class CuttablePath:
    """A loopback TCP path to one Azurite endpoint that the test can cut, as a network failure would: real
    sockets between the real SDK and the real emulator. ``on_connect`` runs when a client connects, before
    anything is forwarded (it may cut this path or another one)."""

    def __init__(self, upstream_url: str, on_connect: Any = None) -> None:
        parsed = urlsplit(upstream_url)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.on_connect = on_connect
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.is_cut = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, original: str) -> str:
        return urlunsplit(urlsplit(original)._replace(netloc=f"127.0.0.1:{self.port}"))

    def cut(self) -> None:
        with self.lock:
            self.is_cut = True
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop: new connections are refused
            self.listener.close()
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.on_connect is not None:
                self.on_connect()
            with self.lock:
                if self.is_cut:
                    client.close()
                    continue
                upstream = socket.create_connection(self.upstream)
                self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def storage_through(rig: Rig, storage: str, table_path: CuttablePath, queue_path: CuttablePath) -> NotificationIntake:
    """An intake like the rig's whose dedup table and queue are reached through the given paths."""
    parts = dict(part.split("=", 1) for part in storage.split(";") if "=" in part)
    name, key = parts["AccountName"], parts["AccountKey"]
    table = TableClient(
        table_path.url(rig.table.url), NOTIFY_DEDUP_TABLE, credential=AzureNamedKeyCredential(name, key)
    )
    queue = QueueClient(
        queue_path.url(rig.queue.url).rsplit("/", 1)[0],
        NOTIFY_QUEUE,
        credential={"account_name": name, "account_key": key},
        message_encode_policy=TextBase64EncodePolicy(),
    )
    return rig.another(queue=queue, dedup_table=table)


def test_storage_dying_between_the_dedup_check_and_the_queue_write_does_not_make_the_retry_a_duplicate(
    rig: Rig, app_env: dict[str, str]
) -> None:
    table_path = CuttablePath(rig.table.url)
    queue_path = CuttablePath(rig.queue.url)

    def storage_dies() -> None:  # the moment the queue write starts: the table and the queue go down together
        table_path.cut()
        queue_path.cut()

    queue_path.on_connect = storage_dies
    intake = storage_through(rig, app_env["AzureWebJobsStorage"], table_path, queue_path)
    event = whoop_event(WHOOP_USER, "sleep.updated")
    assert deliver(intake, "whoop", whoop_request(rig, event)) == 503
    assert rig.messages() == []

    rig.clock.now += 30  # storage is back; WHOOP retries, signed anew
    assert rig.post("whoop", *whoop_request(rig, event)) == (204, None)
    assert [m["trace_id"] for m in rig.messages()] == [event["trace_id"]]
    assert [row["PartitionKey"] for row in rig.dedup_rows()] == [event["trace_id"]]


def test_a_queued_notification_is_answered_204_even_when_its_dedup_row_cannot_be_written(
    rig: Rig, app_env: dict[str, str], logs: pytest.LogCaptureFixture
) -> None:
    table_path = CuttablePath(rig.table.url)
    queue_path = CuttablePath(rig.queue.url, on_connect=table_path.cut)  # the table goes down once queued
    intake = storage_through(rig, app_env["AzureWebJobsStorage"], table_path, queue_path)
    event = whoop_event(WHOOP_USER, "workout.updated")
    assert deliver(intake, "whoop", whoop_request(rig, event)) == 204
    assert [m["trace_id"] for m in rig.messages()] == [event["trace_id"]]
    assert rig.dedup_rows() == []
    assert any("dedup row not written" in r.getMessage() for r in logs.records)
    queue_path.cut()


# -- the contract ----------------------------------------------------------------------------------------------
def test_a_vendor_without_a_signature_check_must_bound_its_notifications() -> None:
    """Anyone can post an unsigned notification: a package cannot declare one without the per-source bound."""
    with pytest.raises(ValueError, match="unsigned"):
        Notifications(parse=lambda body, received_at: [], work=lambda notification, context: Ignore(""))


def test_the_notification_engine_names_no_vendor() -> None:
    """Every vendor rule lives in its package: the engine's code, comments and docstrings name none."""
    engine = Path(inspect.getfile(NotificationIntake)).parent
    for path in sorted(engine.glob("*.py")):
        text = path.read_text(encoding="utf-8").lower()
        assert [name for name in names() if name in text] == [], path.name


def test_a_package_challenge_answers_a_subscriber_verification_itself_and_passes_the_rest_on(
    rig: Rig, logs: pytest.LogCaptureFixture
) -> None:
    """The ``challenge`` hook (for a verification a query parameter cannot express: a JSON POST, an echoed
    challenge) sees the raw request with the vendor's settings first; its answer is returned as it is, and a
    request it does not answer goes through the signature check as before."""
    seen: list[ChallengeRequest] = []

    def challenge(request: ChallengeRequest) -> ChallengeAnswer | None:
        seen.append(request)
        if request.method == "GET" and "challenge" in request.query:
            return ChallengeAnswer(200, {"challenge": request.query["challenge"]}, "echoed")
        if request.body == b'{"type":"verification"}':
            granted = hmac.compare_digest(request.headers.get("authorization", ""), request.settings["VERIFY"])
            return ChallengeAnswer(201, None, "verified") if granted else ChallengeAnswer(401, None, "wrong secret")
        return None

    spec = rig.intake._specs["whoop"]
    rig.intake._specs["whoop"] = replace(spec, challenge=challenge, challenge_methods=frozenset({"GET"}))
    rig.intake._extra["whoop"] = {"VERIFY": "right-secret"}
    assert rig.intake.handle("whoop", "GET", {}, {"challenge": "abc"}, b"") == (200, {"challenge": "abc"})
    body = b'{"type":"verification"}'
    assert rig.intake.handle("whoop", "POST", {"Authorization": "right-secret"}, {}, body)[0] == 201
    status, answer = rig.intake.handle("whoop", "POST", {"Authorization": "wrong"}, {}, body)
    assert status == 401 and answer == {"error": "invalid signature"}
    assert seen[1].headers["authorization"] == "right-secret" and seen[1].secret == rig.secret("whoop")
    # anything else is a notification as before: an unsigned one is refused by the package's verify
    assert rig.intake.handle("whoop", "POST", {}, {}, b'{"type":"recovery.updated"}')[0] == 401
    assert rig.messages() == []
    assert "right-secret" not in logs.text and "wrong secret" in logs.text
