"""Every registered vendor's data side through the real pull (the Puller, against Azurite and the vendor's twin):
each data type over a multi-year window lands exactly the twin's records on their local dates, paging and the
window's edges included, and every curated line is in a unit from the kit's one allowed list.

One pull per vendor (the first check that needs it runs it; the rest read what it landed) and one user. The window
spans years; the user's history at the twin starts 100 days before its end, so the run stays quick and still crosses
every edge that matters: the years before the history (nothing may be invented there), the pull's chunk boundaries
inside the history (each chunk is a window of its own for the vendor's fetcher: records on both sides of each), the
vendors' pages (a WHOOP page holds 25 records, a Codoon tracker request 30 days), and the window's last day, with
records after it that must not land on a date inside it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sandbox import Sandbox
from shared.app_context import AppContext
from shared.layout import CURATED_CONTAINER, RAW_CONTAINER
from shared.pull.jobs import PullJob
from shared.pull.puller import PullStatus
from shared.vendors.registry import vendor_for
from tests.vendors.kit import ALLOWED_UNITS, VENDORS, connect_user, facts, vendor_params

USER = "kit-data"
TODAY = datetime.now(UTC).date()
LAST = TODAY - timedelta(days=4)  # records after the window exist: its last edge is tested
FIRST = LAST - timedelta(days=2 * 365)  # a multi-year window
MEMBER_SINCE = LAST - timedelta(days=100)  # the user's first day at the vendor


@dataclass
class Landing:
    """What one vendor's pull of the window landed, and what its twin says it should have."""

    vendor: str
    status: dict[str, str] = field(default_factory=dict)  # data type -> the pull's outcome line
    landed: dict[str, dict[str, str]] = field(default_factory=dict)  # type -> record id -> local date (raw blobs)
    twice: dict[str, list[str]] = field(default_factory=dict)  # type -> record ids landed on two dates
    expected: dict[str, dict[str, str] | None] = field(default_factory=dict)  # the window's records (None: unknown)
    history: dict[str, dict[str, str]] = field(default_factory=dict)  # every record the user has, any date
    uncurated: dict[str, list[str]] = field(default_factory=dict)  # raw blobs without their curated blob
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # type -> curated lines


def pull(vendor: str, ctx: AppContext, sandbox: Sandbox) -> Landing:
    """Connect the user, pull every data type over the window with the real Puller, and read back what landed."""
    sandbox.set_member_since(vendor, USER, MEMBER_SINCE)
    connect_user(vendor, USER)
    landing = Landing(vendor)
    for data_type in vendor_for(vendor).data.data_types:
        outcome = ctx.puller.run(PullJob(vendor, USER, data_type, FIRST, LAST))
        landing.status[data_type] = f"{outcome.status.value}: {outcome.line()}"
        landing.expected[data_type] = twin_records(sandbox, vendor, data_type, FIRST, LAST)
        landing.history[data_type] = twin_records(sandbox, vendor, data_type, MEMBER_SINCE, TODAY + timedelta(1)) or {}
    raw = ctx.storage.blobs.get_container_client(RAW_CONTAINER)
    curated = ctx.storage.blobs.get_container_client(CURATED_CONTAINER)
    curated_names = {b.name for b in curated.list_blobs(name_starts_with=f"{vendor}/")}
    for data_type in vendor_for(vendor).data.data_types:
        found: dict[str, str] = {}
        twice: list[str] = []
        missing: list[str] = []
        names: list[str] = []
        mapped = data_type in vendor_for(vendor).curated
        for blob in raw.list_blobs(name_starts_with=f"{vendor}/{data_type}/user={USER}/"):
            day = blob.name.split("/date=")[1].split("/")[0]
            record_id = blob.name.rsplit("/", 1)[1].removesuffix(".json")
            if record_id in found:
                twice.append(record_id)
            found[record_id] = day
            curated_name = blob.name + "l"
            if curated_name in curated_names:
                names.append(curated_name)
            elif mapped:
                missing.append(curated_name)
        landing.landed[data_type], landing.twice[data_type], landing.uncurated[data_type] = found, twice, missing
        landing.lines[data_type] = read_lines(lambda name: curated.download_blob(name).readall(), names)
    return landing


def twin_records(sandbox: Sandbox, vendor: str, data_type: str, first: date, last: date) -> dict[str, str] | None:
    """The twin's records of the type with local dates in [first, last]; None when the twin keeps no history of it."""
    try:
        found = sandbox.expected_records(vendor, data_type, USER, first, last)
    except ValueError:
        return None
    return {str(record_id): day.isoformat() for record_id, day in found}


def read_lines(download: Callable[[str], bytes], names: list[str]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(8) as pool:
        contents = list(pool.map(download, names))
    return [json.loads(line) for content in contents for line in content.splitlines()]


class Landings:
    """The pulls done so far in this session, one per vendor."""

    def __init__(self) -> None:
        self.done: dict[str, Landing] = {}

    def of(self, vendor: str, request: pytest.FixtureRequest) -> Landing:
        if vendor not in self.done:
            ctx: AppContext = request.getfixturevalue("ctx")  # fresh storage, a reset twin
            self.done[vendor] = pull(vendor, ctx, request.getfixturevalue("sandbox"))
        return self.done[vendor]


@pytest.fixture(scope="module")
def landings() -> Iterator[Landings]:
    yield Landings()


def type_params() -> list[Any]:
    return [
        pytest.param(vendor, data_type, id=f"{vendor}-{data_type}")
        for vendor in VENDORS
        for data_type in vendor_for(vendor).data.data_types
    ]


@pytest.mark.parametrize(("vendor", "data_type"), type_params())
def test_a_multi_year_window_lands_exactly_the_twins_records_on_their_local_dates(
    vendor: str, data_type: str, landings: Landings, request: pytest.FixtureRequest
) -> None:
    landing = landings.of(vendor, request)
    assert landing.status[data_type].startswith(PullStatus.DONE.value), landing.status[data_type]
    found = landing.landed[data_type]
    assert not landing.twice[data_type], f"records landed on two dates: {landing.twice[data_type][:5]}"
    expected = landing.expected[data_type]
    if expected is None:  # a type the twin keeps no history of: it must be a snapshot, landed once, today
        assert vendor_for(vendor).data.data_types[data_type].snapshot, f"the twin has no {vendor} {data_type}"
        assert len(found) == 1 and abs(date.fromisoformat(*found.values()) - TODAY) <= timedelta(days=1), found
        return
    inside = {rid: day for rid, day in found.items() if FIRST.isoformat() <= day <= LAST.isoformat()}
    placeholders: dict[str, str] = {}
    if data_type in facts(vendor).placeholder_types:  # one entry per day asked, before the history too
        placeholders = {rid: day for rid, day in inside.items() if day < MEMBER_SINCE.isoformat()}
        days = [(FIRST + timedelta(days=n)).isoformat() for n in range((MEMBER_SINCE - FIRST).days)]
        assert sorted(placeholders.values()) == days, "not one placeholder for each day before the history"
    assert len(expected) >= 2, "the twin has too few records to prove anything"
    assert {rid: day for rid, day in inside.items() if rid not in placeholders} == expected
    history = landing.history[data_type]
    outside = {rid: day for rid, day in found.items() if rid not in inside and history.get(rid) != day}
    assert not outside, f"records outside the window landed that the twin does not have on those dates: {outside}"


@pytest.mark.parametrize("vendor", vendor_params())
def test_every_landed_record_has_curated_lines_in_allowed_units(
    vendor: str, landings: Landings, request: pytest.FixtureRequest
) -> None:
    landing = landings.of(vendor, request)
    for data_type, missing in landing.uncurated.items():
        assert not missing, f"{data_type}: {len(missing)} records without curated lines, e.g. {missing[:3]}"
    for data_type, lines in landing.lines.items():
        if data_type in vendor_for(vendor).curated:
            assert lines or not landing.landed[data_type], f"{data_type}: landed records gave no measurement"
        units = {line["unit"] for line in lines}
        assert units <= ALLOWED_UNITS, f"{data_type}: units outside the allowed list: {sorted(units - ALLOWED_UNITS)}"
        for line in lines:
            assert (line["vendor"], line["user"], line["data_type"]) == (vendor, USER, data_type), line
            if isinstance(line["value"], str):
                assert line["unit"] == "", line
