"""Every registered vendor's notifications against its twin, through the app's functions as the host calls them
(``notify`` on the raw request, ``notify_worker`` on what it queued): a valid notification is accepted and lands
the record it names on its local date; a forged one is refused (a vendor that signs nothing: it spends no vendor
call for a user nobody connected).

Each twin package (``sandbox/vendors/<name>/``) gives the notification as its vendor sends it:
``notification(box, user, data_type, record_id, day, *, client_secret, forged=False) -> NotificationRequest`` and
``SIGNED``; the facts table names the data types the vendor notifies about and the status a bad signature gets."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest

from sandbox import Sandbox
from sandbox.function_host import invoke
from sandbox.notify import NotificationRequest
from shared.app_context import get_context
from shared.layout import RAW_CONTAINER
from shared.notify import NOTIFY_QUEUE
from tests.host import call
from tests.vendors.kit import VENDORS, connect_user, facts, facts_or_none, vendor_params

DAY = datetime.now(UTC).date() - timedelta(days=5)  # a day whose records are final at every twin


def twin(vendor: str) -> ModuleType:
    """The vendor's twin package, which carries the notification hook."""
    return importlib.import_module(f"sandbox.vendors.{vendor}")


def deliver(vendor: str, notice: NotificationRequest) -> func.HttpResponse:
    """The notification as the vendor sends it, to ``/api/notify/<vendor>`` (header names as HTTP: any case)."""
    headers = {name.lower(): value for name, value in notice.headers.items()}
    return call(
        "notify",
        notice.method,
        f"notify/{vendor}",
        route={"vendor": vendor},
        params=dict(notice.params),
        raw=notice.body,
        headers=headers,
    )


def work_queued() -> int:
    """Run ``notify_worker`` on every queued notification, as the host delivers them; how many there were."""
    queue = get_context().storage.queue(NOTIFY_QUEUE)
    done = 0
    for message in queue.receive_messages(messages_per_page=32, visibility_timeout=60):
        invoke("notify_worker", func.QueueMessage(id=message.id, body=message.content, pop_receipt=message.pop_receipt))
        queue.delete_message(message)
        done += 1
    return done


def landed(vendor: str, data_type: str, user: str) -> dict[str, str]:
    """record id -> local date of the type's raw blobs."""
    container = get_context().storage.blobs.get_container_client(RAW_CONTAINER)
    found = {}
    for blob in container.list_blobs(name_starts_with=f"{vendor}/{data_type}/user={user}/"):
        found[blob.name.rsplit("/", 1)[1].removesuffix(".json")] = blob.name.split("/date=")[1].split("/")[0]
    return found


def a_record(sandbox: Sandbox, vendor: str, data_type: str, user: str) -> tuple[str, date]:
    """The first of the user's records of the type on DAY, or on the nearest day before with one."""
    for back in range(10):
        day = DAY - timedelta(days=back)
        found = sandbox.expected_records(vendor, data_type, user, day, day)
        if found:
            return str(found[0][0]), day
    pytest.fail(f"the {vendor} twin has no {data_type} of {user} in the ten days before {DAY}")


@pytest.mark.parametrize("vendor", vendor_params())
def test_every_registered_vendor_has_a_twin_with_the_notification_hook(vendor: str, sandbox: Sandbox) -> None:
    assert vendor in sandbox.twin_names(), f"no twin for {vendor}: add sandbox/vendors/{vendor}/"
    package = twin(vendor)
    assert callable(getattr(package, "notification", None)) and isinstance(getattr(package, "SIGNED", None), bool)
    refused = facts(vendor).refused_status
    assert (refused is not None) == package.SIGNED, "the facts' refused_status and the twin's SIGNED disagree"


def notified_params() -> list[Any]:
    rows: list[Any] = []
    for vendor in VENDORS:
        found = facts_or_none(vendor)
        if found is None:
            rows.append(pytest.param(vendor, None, id=f"{vendor}-no-facts"))
            continue
        if not found.notified_types:
            rows.append(pytest.param(vendor, None, id=f"{vendor}-notifies-nothing"))
        rows += [pytest.param(vendor, data_type, id=f"{vendor}-{data_type}") for data_type in found.notified_types]
    return rows


@pytest.mark.parametrize(("vendor", "data_type"), notified_params())
def test_a_valid_notification_is_accepted_and_lands_the_record_it_names(
    vendor: str, data_type: str | None, app_env: dict[str, str], sandbox: Sandbox
) -> None:
    if data_type is None:
        assert facts(vendor).notified_types, f"{vendor}'s facts name no notified data type"
        return
    user = "kit-notify"
    connect_user(vendor, user)
    record_id, day = a_record(sandbox, vendor, data_type, user)
    secret = sandbox.clients[vendor][1]
    notice = twin(vendor).notification(sandbox, user, data_type, record_id, day, client_secret=secret)
    answer = deliver(vendor, notice)
    assert 200 <= answer.status_code < 300, answer.get_body()
    assert work_queued() >= 1, "an accepted notification queued nothing"
    assert landed(vendor, data_type, user).get(record_id) == day.isoformat()


@pytest.mark.parametrize("vendor", vendor_params())
def test_a_forged_notification_is_refused_and_spends_no_vendor_call(
    vendor: str, app_env: dict[str, str], sandbox: Sandbox
) -> None:
    user = "kit-forged"
    connect_user(vendor, user)
    data_type = facts(vendor).notified_types[0]
    record_id, day = a_record(sandbox, vendor, data_type, user)
    secret = sandbox.clients[vendor][1]
    package = twin(vendor)
    calls = len(sandbox.requests(vendor))
    if package.SIGNED:
        forged = package.notification(sandbox, user, data_type, record_id, day, client_secret=secret, forged=True)
        answer = deliver(vendor, forged)
        assert answer.status_code == facts(vendor).refused_status
        assert work_queued() == 0, "a forged notification was queued"
    else:  # anyone can send it: for a user nobody connected, it must cost no vendor call
        stranger = "kit-nobody"
        forged = package.notification(sandbox, stranger, data_type, None, day, client_secret=secret, forged=True)
        answer = deliver(vendor, forged)
        assert answer.status_code < 500
        work_queued()
        assert landed(vendor, data_type, stranger) == {}
    assert len(sandbox.requests(vendor)) == calls, "a forged notification made the app call the vendor"
    assert landed(vendor, data_type, user) == {}
