"""Every twin's day of changes (``sandbox/vendors/<name>/traffic.py``, which ``bench.reach``
plays): every upload is a record the twin starts serving at that moment, every change's notification is a request
the app's intake accepts and queues, and a day holds what a member's day brings."""

from __future__ import annotations

import importlib
import importlib.util
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import ModuleType

import pytest

from sandbox import Sandbox
from sandbox.vendors import twins
from shared.app_context import AppContext
from tests.conftest import FakeClock

START = datetime(2025, 3, 15, tzinfo=UTC)
USERS = [f"member-{i}" for i in range(4)]
VENDORS = sorted(name for name in twins() if importlib.util.find_spec(f"sandbox.vendors.{name}.traffic"))


def traffic(vendor: str) -> ModuleType:
    return importlib.import_module(f"sandbox.vendors.{vendor}.traffic")


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(START)
        yield box


def served(sb: Sandbox, vendor: str, data_type: str, user: str, day: date) -> set[str]:
    return {str(rid) for rid, _ in sb.expected_records(vendor, data_type, user, day, day)}


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_day_of_changes_is_what_the_twin_serves(vendor: str, sb: Sandbox, clock: FakeClock) -> None:
    changes = traffic(vendor).changes_between(USERS, START, START + timedelta(days=1))
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    for change in changes:
        if change.action == "upload":
            clock.advance((change.at - timedelta(seconds=1) - sb.data_now()).total_seconds())
            assert change.record_ids[0] not in served(sb, vendor, change.data_type, change.user, change.day), change
        clock.advance((change.at + timedelta(seconds=1) - sb.data_now()).total_seconds())
        if change.action == "revise":
            sb.revise(vendor, change.data_type, change.user, change.day)
        elif change.action == "delete":
            sb.delete_record(vendor, change.data_type, change.user, change.day, change.record_ids[0])
        now = served(sb, vendor, change.data_type, change.user, change.day)
        if change.action == "delete":
            assert change.record_ids[0] not in now
        else:
            assert set(change.record_ids) <= now, change


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_notification_of_a_day_is_accepted_and_queued_by_the_intake(
    vendor: str, ctx: AppContext, sandbox: Sandbox
) -> None:
    from shared.notify import NOTIFY_QUEUE

    module = traffic(vendor)
    changes = module.changes_between(USERS[:2], START, START + timedelta(days=1))
    notes = [(change, note) for change in changes for note in change.notifications]
    assert notes
    secret = sandbox.clients[vendor][1]
    for change, note in notes:
        request = module.notification_request(sandbox, change, note, secret)
        status, _ = ctx.notify.handle(vendor, request.method, request.headers, request.params, request.body)
        assert status < 300, (change, note, status)
    queued = ctx.storage.queue(NOTIFY_QUEUE).get_queue_properties().approximate_message_count or 0
    assert queued >= len(notes) // 2, "the notifications were queued (a vendor may collapse a repeat)"


def test_a_day_holds_a_members_day() -> None:
    users = [f"member-{i}" for i in range(100)]
    end = START + timedelta(days=1)
    oura = Counter((c.action, c.data_type) for c in traffic("oura").changes_between(users, START, end))
    assert 0.9 <= oura["upload", "sleep"] / len(users) <= 1.4  # the night, a nap one day in five
    assert oura["upload", "daily_readiness"] == pytest.approx(len(users), rel=0.1)
    assert oura["revise", "daily_activity"] >= 3 * len(users)  # synced through the day
    assert oura["delete", "workout"] > 0
    withings = Counter((c.action, c.data_type) for c in traffic("withings").changes_between(users, START, end))
    assert 0.7 <= withings["upload", "sleep"] / len(users) <= 1.0  # 17 nights in 20
    assert 0.6 <= withings["upload", "measure"] / len(users) <= 1.3  # weighings 3 in 5, blood pressure 1 in 3
    assert withings["revise", "sleep"] > 0
