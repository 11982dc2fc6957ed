"""The WHOOP twin's day of changes (`sandbox.vendors.whoop.traffic`, which `bench.reach` plays): every upload is
a record the twin starts serving at that moment, every notification names a record the twin serves then, and a
day holds what a member's day brings (a sleep and a recovery, about one workout, cycles revised, some deletes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from sandbox import Sandbox
from sandbox.vendors.whoop.data import main_sleep_id
from sandbox.vendors.whoop.traffic import changes_between
from tests.conftest import FakeClock

START = datetime(2025, 3, 15, tzinfo=UTC)
USERS = [f"member-{i}" for i in range(6)]


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(START)
        yield box


def served(sb: Sandbox, data_type: str, user: str, day: date) -> set[str]:
    return {str(rid) for rid, _ in sb.expected_records("whoop", data_type, user, day, day)}


def move_to(sb: Sandbox, clock: FakeClock, when: datetime) -> None:
    clock.advance((when - sb.data_now()).total_seconds())


def test_a_day_of_changes_is_what_the_twin_serves(sb: Sandbox, clock: FakeClock) -> None:
    changes = changes_between(USERS, START, START + timedelta(days=1))
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    assert all(START <= c.at < START + timedelta(days=1) for c in changes)
    for change in changes:
        if change.action == "upload":
            move_to(sb, clock, change.at - timedelta(seconds=1))
            assert change.record_ids[0] not in served(sb, change.data_type, change.user, change.day), change
        move_to(sb, clock, change.at + timedelta(milliseconds=1))
        if change.action == "revise":
            sb.revise("whoop", change.data_type, change.user, change.day)
        elif change.action == "delete":
            sb.delete_record("whoop", change.data_type, change.user, change.day, change.record_ids[0])
        now = served(sb, change.data_type, change.user, change.day)
        if change.action == "delete":
            assert change.record_ids[0] not in now
        else:
            assert set(change.record_ids) <= now, change
        for event, event_id in change.notifications:
            collection = event.split(".")[0]
            if event.endswith(".deleted"):
                continue
            if collection == "recovery":
                assert event_id == main_sleep_id(change.user, change.day)
                assert event_id in served(sb, "sleep", change.user, change.day)
            else:
                assert event_id in served(sb, collection, change.user, change.day), change


def test_a_day_holds_a_members_day() -> None:
    users = [f"member-{i}" for i in range(200)]
    changes = changes_between(users, START, START + timedelta(days=1))
    uploads = Counter(c.data_type for c in changes if c.action == "upload")
    per_user = {kind: count / len(users) for kind, count in uploads.items()}
    assert 0.9 <= per_user["recovery"] <= 1.1 and 0.9 <= per_user["cycle"] <= 1.1
    assert 1.0 <= per_user["sleep"] <= 1.4  # a nap one day in five
    assert 0.6 <= per_user["workout"] <= 1.1
    revised = Counter(c.data_type for c in changes if c.action == "revise")
    assert revised["cycle"] >= 3 * len(users)  # strain revised through the day, never notified
    assert all(not c.notifications for c in changes if c.data_type == "cycle")
    deletes = [c for c in changes if c.action == "delete"]
    assert deletes and all(c.notifications == (("workout.deleted", c.record_ids[0]),) for c in deletes)
