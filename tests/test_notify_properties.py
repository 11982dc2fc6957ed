"""Property-based tests of the notification intake: whatever arrives, the parsers raise nothing but
``MalformedNotification`` and ``handle`` never raises and never answers 5xx, unless the queue fails, and
then it never answers 2xx (nothing acknowledged that was not queued). In-memory storage keeps this quick."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from azure.core.exceptions import ResourceNotFoundError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.vendors.fitbit.notify import fitbit_item, signed_fitbit
from sandbox.vendors.whoop.notify import signed_whoop, whoop_event
from shared.notify.intake import NotificationIntake
from shared.notify.model import MalformedNotification, Notification
from shared.notify.parse import MAX_ID_CHARS
from shared.table_keys import table_key
from shared.vendors.codoon.notify import parse as parse_codoon
from shared.vendors.fitbit.notify import parse as parse_fitbit
from shared.vendors.fitbit.notify import signature as fitbit_signature
from shared.vendors.registry import vendors as registered
from shared.vendors.whoop.notify import parse as parse_whoop
from shared.vendors.whoop.notify import signature as whoop_signature
from tests.conftest import KNOWN_SECRETS

NOW = 1_800_000_000.0
SECRETS = {v: f"{v}-property-secret-0123456789abcdef" for v in ("whoop", "fitbit", "codoon")}
KNOWN_SECRETS.update(SECRETS.values())
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSERS = {name: vendor.notifications.parse for name, vendor in registered().items() if vendor.notifications}


@dataclass(frozen=True)
class _Vendor:
    client_id: str
    client_secret: str
    extra: dict[str, str] = field(default_factory=lambda: {"SUBSCRIBER_VERIFY_CODE": "code-1234"})


@dataclass(frozen=True)
class _Settings:
    vendors: dict[str, _Vendor] = field(
        default_factory=lambda: {v: _Vendor(f"{v}-client", secret) for v, secret in SECRETS.items()}
    )


class MemoryQueue:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.messages: list[str] = []

    def send_message(self, content: str, **kwargs: Any) -> None:
        if self.broken:
            raise ConnectionError("queue unavailable")
        json.loads(content)
        self.messages.append(content)


class MemoryTable:
    """The dedup table's calls the intake makes (read a row, write a row) on a set."""

    def __init__(self) -> None:
        self.rows: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def get_entity(self, partition_key: str, row_key: str, **kwargs: Any) -> dict[str, str]:
        with self.lock:
            if (partition_key, row_key) not in self.rows:
                raise ResourceNotFoundError("not found")
        return {"PartitionKey": partition_key, "RowKey": row_key}

    def upsert_entity(self, entity: dict[str, Any], **kwargs: Any) -> None:
        with self.lock:
            self.rows.add((entity["PartitionKey"], entity["RowKey"]))


def intake(queue: MemoryQueue | None = None) -> tuple[NotificationIntake, MemoryQueue]:
    queue = queue or MemoryQueue()
    args: dict[str, Any] = {"queue": queue, "dedup_table": MemoryTable()}
    return NotificationIntake(_Settings(), clock=lambda: NOW, **args), queue


# -- strategies ---------------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=20,
)
whoop_like = st.fixed_dictionaries(
    {},
    optional={
        "user_id": st.integers() | st.text(max_size=20) | st.booleans() | st.none(),
        "id": st.uuids().map(str) | st.text(max_size=200) | st.integers(),
        "type": st.sampled_from(["sleep.updated", "workout.deleted", "recovery.updated", "x", ""]) | st.text(),
        "trace_id": st.uuids().map(str) | st.text(max_size=200) | st.none(),
    },
)
fitbit_like = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "collectionType": st.sampled_from(["sleep", "activities", "userRevokedAccess"]) | st.text(max_size=20),
            "date": st.dates().map(str) | st.text(max_size=12) | st.integers(),
            "ownerId": st.text(max_size=20) | st.just("ABC123"),
            "ownerType": st.just("user") | st.text(max_size=5),
            "subscriptionId": st.text(max_size=60) | st.just("s-1"),
        },
    ),
    max_size=4,
)
form_text = st.lists(
    st.tuples(
        st.sampled_from(["user_id", "catalog", "resource_id", "start_time", "end_time", "x"]) | st.text(max_size=8),
        st.text(max_size=30),
    ),
    max_size=8,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "replace"))
bodies = (
    st.binary(max_size=600)
    | json_values.map(lambda v: json.dumps(v).encode())
    | whoop_like.map(lambda v: json.dumps(v).encode())
    | fitbit_like.map(lambda v: json.dumps(v).encode())
    | form_text
)
header_names = st.sampled_from(
    ["X-Fitbit-Signature", "X-WHOOP-Signature", "X-WHOOP-Signature-Timestamp", "Content-Type", "x-whoop-signature"]
) | st.text(max_size=20)
headers = st.dictionaries(header_names, st.text(max_size=80), max_size=4)
queries = st.dictionaries(st.sampled_from(["verify", "x"]) | st.text(max_size=8), st.text(max_size=40), max_size=3)
vendors = st.sampled_from(["whoop", "fitbit", "codoon", "garmin", ""]) | st.text(max_size=12)
methods = st.sampled_from(["GET", "POST", "HEAD", "PUT", "post", ""]) | st.text(max_size=8)


def signed(vendor: str, body: bytes, stamp: str) -> dict[str, str]:
    """Headers that carry a correct signature for any body: the parser is reached whatever the body."""
    if vendor == "fitbit":
        return {"X-Fitbit-Signature": fitbit_signature(SECRETS["fitbit"], body)}
    return {
        "X-WHOOP-Signature": whoop_signature(SECRETS["whoop"], stamp, body),
        "X-WHOOP-Signature-Timestamp": stamp,
    }


# -- parsers --------------------------------------------------------------------------------------------------
@FAST
@given(body=bodies)
def test_parsers_raise_only_malformed_notification(body: bytes) -> None:
    for parse in PARSERS.values():
        try:
            result = parse(body, "2026-11-21T00:00:00.000Z")
        except MalformedNotification as error:
            assert str(error)
            continue
        assert all(isinstance(n, Notification) and n.vendor_user_id and n.kind for n in result)
        for notification in result:
            message = json.loads(notification.to_json())
            # at most three ids of MAX_ID_CHARS characters, each at most 12 characters of JSON (\ud83d\ude00)
            assert len(notification.to_json()) < 8192 and message["v"] == 1
            assert Notification.from_message(notification.to_json()) == notification


@FAST
@given(body=bodies | json_values.map(lambda v: json.dumps({"v": 1, "vendor": v}).encode()))
def test_reading_a_queue_message_raises_only_malformed_notification(body: bytes) -> None:
    with contextlib.suppress(MalformedNotification):
        Notification.from_message(body)


@FAST
@given(event=whoop_like)
def test_the_whoop_parser_accepts_exactly_well_formed_events(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    try:
        (notification,) = parse_whoop(body)
    except MalformedNotification:
        return
    assert notification.trace_id == event["trace_id"] and notification.kind == event["type"]
    assert notification.vendor_user_id == str(event["user_id"])


@FAST
@given(items=fitbit_like)
def test_the_fitbit_parser_gives_one_notification_per_item_or_rejects_the_batch(items: list[dict[str, Any]]) -> None:
    try:
        result = parse_fitbit(json.dumps(items).encode())
    except MalformedNotification:
        return
    assert [n.vendor_user_id for n in result] == [item["ownerId"] for item in items]


vendor_ids = st.text(min_size=1, max_size=MAX_ID_CHARS)


@FAST
@given(user=vendor_ids | st.integers(min_value=0, max_value=10**30), record=vendor_ids, trace=vendor_ids)
def test_a_whoop_event_is_never_refused_for_the_characters_of_its_ids(user: str | int, record: str, trace: str) -> None:
    event = {"user_id": user, "id": record, "type": "sleep.updated", "trace_id": trace}
    (notification,) = parse_whoop(json.dumps(event).encode())
    assert (notification.vendor_user_id, notification.record_id, notification.trace_id) == (str(user), record, trace)


@FAST
@given(owners=st.lists(st.tuples(vendor_ids, vendor_ids), min_size=1, max_size=5))
def test_a_fitbit_batch_is_never_refused_for_the_characters_of_its_ids(owners: list[tuple[str, str]]) -> None:
    items = [fitbit_item(owner, "sleep", "2026-11-20", subscription_id=sub) for owner, sub in owners]
    result = parse_fitbit(json.dumps(items).encode())
    assert [(n.vendor_user_id, n.subscription_id) for n in result] == owners


_FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@FAST
@given(a=st.text(max_size=40) | st.sampled_from(["a/", "a%2F", "%", "%25", "\ud800"]), b=st.text(max_size=40))
def test_table_keys_are_valid_and_two_ids_never_share_one(a: str, b: str) -> None:
    assert not _FORBIDDEN_IN_KEYS.search(table_key(a))
    assert (table_key(a) == table_key(b)) == (a == b)


codoon_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True)
codoon_times = st.from_regex(r"[0-9A-Za-z:+. -]{1,40}", fullmatch=True)


@FAST
@given(
    user=codoon_ids,
    catalog=st.sampled_from(["activities", "gps_sports"]),
    resource=codoon_ids,
    start=codoon_times,
    end=codoon_times,
    extra=st.dictionaries(st.sampled_from(["sign", "x", "app"]), st.text(max_size=10), max_size=2),
)
def test_the_codoon_parser_reads_any_well_formed_form(
    user: str, catalog: str, resource: str, start: str, end: str, extra: dict[str, str]
) -> None:
    fields = {"user_id": user, "catalog": catalog, "resource_id": resource, "start_time": start, "end_time": end}
    (notification,) = parse_codoon(urlencode({**fields, **extra}).encode())
    assert (notification.vendor_user_id, notification.kind, notification.record_id) == (user, catalog, resource)
    assert (notification.start_time, notification.end_time) == (start, end)


# -- the whole request ----------------------------------------------------------------------------------------
@FAST
@given(vendor=vendors, method=methods, head=headers, query=queries, body=bodies)
def test_handle_never_raises_and_never_answers_5xx(
    vendor: str, method: str, head: dict[str, str], query: dict[str, str], body: bytes
) -> None:
    service, queue = intake()
    status, answer = service.handle(vendor, method, head, query, body)
    assert 200 <= status < 500
    assert answer is None or isinstance(answer, dict)
    if status >= 300:
        assert queue.messages == []
    assert all(secret not in json.dumps(answer) for secret in SECRETS.values())


@FAST
@given(vendor=st.sampled_from(["whoop", "fitbit"]), body=bodies, broken=st.booleans())
def test_a_correctly_signed_body_reaches_the_parser_and_is_2xx_only_when_queued(
    vendor: str, body: bytes, broken: bool
) -> None:
    service, queue = intake(MemoryQueue(broken=broken))
    status, _ = service.handle(vendor, "POST", signed(vendor, body, str(int(NOW * 1000))), {}, body)
    assert status in (204, 400, 503)
    if broken:
        assert status != 204 or not parsed_any(vendor, body)  # an empty Fitbit batch needs no write
        assert queue.messages == []
    else:
        assert status in (204, 400)
        assert (status == 204) == is_valid(vendor, body)


@FAST
@given(
    vendor=st.sampled_from(["whoop", "fitbit"]),
    wrong=st.sampled_from(["wrong_key", "hex", "missing_header", "plus_as_space", "reserialised"]),
    user=st.integers(min_value=1, max_value=10**12),
)
def test_a_wrongly_signed_valid_notification_is_never_queued(vendor: str, wrong: Any, user: int) -> None:
    service, queue = intake()
    if vendor == "whoop":
        headers, body = signed_whoop(SECRETS["whoop"], whoop_event(user), int(NOW * 1000), wrong=wrong)
    else:
        headers, body = signed_fitbit(SECRETS["fitbit"], [fitbit_item(f"U{user}", "sleep", "2026-11-20")], wrong=wrong)
    assert service.handle(vendor, "POST", headers, {}, body)[0] == (401 if vendor == "whoop" else 404)
    assert queue.messages == []


def parsed_any(vendor: str, body: bytes) -> bool:
    try:
        return bool(PARSERS[vendor](body, ""))
    except MalformedNotification:
        return False


def is_valid(vendor: str, body: bytes) -> bool:
    try:
        PARSERS[vendor](body, "")
    except MalformedNotification:
        return False
    return True
