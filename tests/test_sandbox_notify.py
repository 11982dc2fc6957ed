"""The twins' notification hook (`sandbox.vendors.<name>.notification`), which the acceptance kit sends to the
app: every twin has one, it names the vendor's user and the record or day asked for, and a forged one differs
from the genuine one only in its signature (an unsigned vendor's is the same request)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import ModuleType
from urllib.parse import parse_qs

import pytest

from sandbox import NotificationRequest, Sandbox
from shared.vendors.registry import names
from tests.conftest import FakeClock

NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
DAY = date(2025, 3, 10)
SECRET = "app-client-secret-for-the-hook-0123456789"


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        yield box


def twin(name: str) -> ModuleType:
    return importlib.import_module(f"sandbox.vendors.{name}")


def test_every_twin_has_the_hook() -> None:
    assert Sandbox.twin_names() == names()  # one twin per vendor package, each with the hook
    for name in Sandbox.twin_names():
        module = twin(name)
        assert isinstance(module.SIGNED, bool) and callable(module.notification), name


@pytest.mark.parametrize(
    ("name", "data_type"),
    [("whoop", "sleep"), ("whoop", "workout"), ("fitbit", "sleep"), ("fitbit", "steps"), ("codoon", "route")],
)
def test_a_notification_names_the_users_record_or_day(sb: Sandbox, name: str, data_type: str) -> None:
    (record_id, day), *_ = sb.expected_records(name, data_type, "alice", DAY, date(2025, 3, 14))
    made = twin(name).notification(sb, "alice", data_type, str(record_id), day, client_secret=SECRET)
    assert isinstance(made, NotificationRequest) and made.method == "POST"
    user_id = sb.vendor_user_id(name, "alice")
    if name == "codoon":
        form = {key: values[0] for key, values in parse_qs(made.body.decode(), keep_blank_values=True).items()}
        assert form["user_id"] == user_id and form["resource_id"] == str(record_id)
        assert form["catalog"] == "gps_sports"
        return
    body = json.loads(made.body)
    if name == "whoop":
        assert str(body["user_id"]) == user_id and body["id"] == str(record_id)
        assert body["type"] == f"{data_type}.updated"
    else:
        assert body[0]["ownerId"] == user_id and body[0]["date"] == day.isoformat()


def test_a_whoop_recovery_or_cycle_notification_names_the_days_main_sleep(sb: Sandbox) -> None:
    sleeps = sb.expected_records("whoop", "sleep", "alice", DAY, DAY)
    for data_type in ("recovery", "cycle"):
        made = twin("whoop").notification(sb, "alice", data_type, None, DAY, client_secret=SECRET)
        event = json.loads(made.body)
        assert event["type"] == "recovery.updated" and event["id"] in {str(sleep_id) for sleep_id, _ in sleeps}


def same_event(one: bytes, other: bytes) -> bool:
    """The same notification, whatever its trace id (WHOOP gives each event it sends a new one)."""
    first, second = json.loads(one), json.loads(other)
    if isinstance(first, dict) and isinstance(second, dict):
        first.pop("trace_id", None)
        second.pop("trace_id", None)
    return bool(first == second)


@pytest.mark.parametrize("name", ["whoop", "fitbit", "codoon"])
def test_a_forged_notification_differs_only_in_its_signature(sb: Sandbox, name: str) -> None:
    data_type = {"whoop": "sleep", "fitbit": "sleep", "codoon": "tracker"}[name]
    hook = twin(name).notification
    genuine = hook(sb, "alice", data_type, None, DAY, client_secret=SECRET)
    forged = hook(sb, "alice", data_type, None, DAY, client_secret=SECRET, forged=True)
    if not twin(name).SIGNED:
        assert forged == genuine
        return
    assert same_event(forged.body, genuine.body) and forged.headers.keys() == genuine.headers.keys()
    changed = {key for key in genuine.headers if genuine.headers[key] != forged.headers[key]}
    assert changed and all("signature" in key.lower() for key in changed)


def test_no_notification_for_a_type_the_vendor_never_notifies(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="no notification"):
        twin("whoop").notification(sb, "alice", "body", None, DAY, client_secret=SECRET)
