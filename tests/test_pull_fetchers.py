"""The Fitbit and Codoon fetchers against the sandbox: every record of a window exactly once with its id and
local date, requests split at the vendors' limits, the activity list's pagination, wake-day sleeps, nothing
before the user's history, and no request for a date the user has not reached yet."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from sandbox import Sandbox
from sandbox.core import RecordedRequest
from sandbox.vendors import vendor_named
from shared.pull.model import Fetched, Fetcher, Window
from shared.vendors.codoon.data import CODOON
from shared.vendors.fitbit.data import FITBIT

NOW = datetime(2025, 6, 15, 20, 0, tzinfo=UTC)
TODAY = date(2025, 6, 16)  # UTC today + 1: the latest local date any user can have at NOW
EARLY = datetime(2025, 6, 15, 3, 0, tzinfo=UTC)  # 19:00 the day before at -08:00, 11:00 at +08:00
YEAR = Window(TODAY - timedelta(days=364), TODAY)
FETCHERS: dict[str, Fetcher] = {"fitbit": FITBIT, "codoon": CODOON}
FITBIT_SERIES = ("steps", "calories", "distance")
TYPES = [(vendor, kind) for vendor, fetcher in FETCHERS.items() for kind in fetcher.data_types]
_RANGE = re.compile(r"/date/([^/]+)/([^/]+)\.json$")


class SandboxApi:
    """A stand-in for the production VendorApi: Bearer calls to the sandbox, full links accepted below the base."""

    def __init__(self, sandbox: Sandbox, vendor: str, user: str, scope: list[str] | None = None) -> None:
        self.base = sandbox.settings_env()[f"{vendor.upper()}_API_BASE_URL"].rstrip("/")
        token = sandbox.grant(vendor, user, scope=scope)["access_token"]
        assert isinstance(token, str)
        self._headers = {"Authorization": f"Bearer {token}"}

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            assert path.startswith(self.base + "/"), "a link outside the vendor's API base"
            return path
        assert path.startswith("/")
        return self.base + path

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        reply = requests.get(self._url(path), params=params, headers=self._headers, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        reply = requests.post(self._url(path), json=dict(body), headers=self._headers, timeout=30)
        reply.raise_for_status()
        return reply.json()


@pytest.fixture
def box(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.reset()
    sandbox.set_data_now(NOW)
    yield sandbox
    sandbox.reset()


def user_at(box: Sandbox, vendor: str, offset: str) -> str:
    """A user whose fixed UTC offset at the vendor is ``offset``."""
    return next(name for name in (f"user-{n}" for n in range(1000)) if box.timezone_offset(vendor, name) == offset)


def fetch(box: Sandbox, vendor: str, kind: str, user: str, window: Window, today: date = TODAY) -> list[Fetched]:
    return list(FETCHERS[vendor].fetch(SandboxApi(box, vendor, user), kind, window, today))


def pairs(fetched: list[Fetched]) -> list[tuple[str, date]]:
    return sorted((f.record_id, f.local_date) for f in fetched)


def expected(box: Sandbox, vendor: str, kind: str, user: str, window: Window) -> list[tuple[str, date]]:
    return sorted((str(rid), day) for rid, day in box.expected_records(vendor, kind, user, window.first, window.last))


def fitbit_dates(request: RecordedRequest, local_today: date) -> list[date]:
    """The dates a Fitbit request asks for ("today" read as the user's today)."""
    if request.endpoint == "activities_list":
        return [date.fromisoformat(request.query["afterDate"][:10])]
    found = _RANGE.search(request.path)
    assert found, request.path
    return [local_today if raw == "today" else date.fromisoformat(raw) for raw in found.groups()]


def codoon_body(request: RecordedRequest) -> dict[str, Any]:
    body = json.loads(request.body)
    assert isinstance(body, dict)
    return body


# -- every record of a year, once --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", ["-08:00", "+10:00"])
@pytest.mark.parametrize(("vendor", "kind"), TYPES)
def test_a_year_yields_exactly_the_vendors_records(box: Sandbox, vendor: str, kind: str, offset: str) -> None:
    user = user_at(box, "fitbit", offset)  # Codoon users are all at +08:00
    fetched = fetch(box, vendor, kind, user, YEAR)
    want = expected(box, vendor, kind, user, YEAR)
    assert len(want) > 40
    assert pairs(fetched) == want
    assert len({f.record_id for f in fetched}) == len(fetched)
    token = box.grant(vendor, user)["access_token"]
    assert isinstance(token, str)
    for record in fetched:
        assert record.source.startswith("/") and "://" not in record.source
        assert token not in record.source
        assert isinstance(record.content, list if (vendor, kind) == ("codoon", "body") else dict)


def test_contents_are_the_vendor_records_as_sent(box: Sandbox) -> None:
    user = user_at(box, "fitbit", "-08:00")
    window = Window(date(2025, 1, 1), date(2025, 1, 20))
    sleeps = fetch(box, "fitbit", "sleep", user, window)
    assert sleeps and all(f.content["logId"] == int(f.record_id) for f in sleeps)
    assert all(f.source == "/1.2/user/-/sleep/date/2025-01-01/2025-01-20.json" for f in sleeps)
    steps = fetch(box, "fitbit", "steps", user, window)
    assert [f.content["dateTime"] for f in steps] == [f.local_date.isoformat() for f in steps]
    assert all(isinstance(f.content["value"], str) for f in steps)
    tracker = fetch(box, "codoon", "tracker", "alice", window)
    assert tracker[0].source == "/get_tracker_summary?date_end=2025-01-20&days_back=20"
    assert set(tracker[0].content) == {"status", "calories", "meters", "activity", "steps", "minutes"}


# -- request windows ------------------------------------------------------------------------------------------------


def test_a_250_day_sleep_window_takes_three_requests_of_at_most_100_days(box: Sandbox) -> None:
    window = Window(date(2024, 1, 1), date(2024, 1, 1) + timedelta(days=249))
    fetched = fetch(box, "fitbit", "sleep", "alice", window)
    assert pairs(fetched) == expected(box, "fitbit", "sleep", "alice", window)
    ranges = [fitbit_dates(r, TODAY) for r in box.requests("fitbit", "sleep")]
    assert len(ranges) == 3
    assert all((last - first).days + 1 <= 100 for first, last in ranges)
    assert ranges[0][0] == window.first and ranges[-1][1] == window.last
    assert all(ranges[i][1] + timedelta(days=1) == ranges[i + 1][0] for i in range(2))


def test_hrv_over_61_days_takes_three_requests(box: Sandbox) -> None:
    window = Window(date(2025, 2, 1), date(2025, 2, 1) + timedelta(days=60))
    fetched = fetch(box, "fitbit", "hrv", "alice", window)
    assert pairs(fetched) == expected(box, "fitbit", "hrv", "alice", window)
    ranges = [fitbit_dates(r, TODAY) for r in box.requests("fitbit", "hrv")]
    assert len(ranges) == 3
    assert all((last - first).days + 1 <= 30 for first, last in ranges)


def test_a_year_ending_today_stays_inside_every_range_limit(box: Sandbox) -> None:
    user = user_at(box, "fitbit", "+10:00")  # at NOW the user's today is TODAY itself
    for kind in ("hrv", "spo2", "br", "heart"):
        fetch(box, "fitbit", kind, user, YEAR)
    limits = {"hrv": 30, "spo2": 30, "br": 30, "heart": 365}
    for kind, limit in limits.items():
        ranges = [fitbit_dates(r, TODAY) for r in box.requests("fitbit", kind)]
        assert len(ranges) == math.ceil(365 / limit)
        assert all(r.status == 200 for r in box.requests("fitbit", kind))
        assert all((last - first).days + 1 <= limit for first, last in ranges)


def test_codoon_tracker_over_31_days_takes_two_calls(box: Sandbox) -> None:
    window = Window(date(2025, 3, 1), date(2025, 3, 31))
    fetched = fetch(box, "codoon", "tracker", "alice", window)
    assert pairs(fetched) == expected(box, "codoon", "tracker", "alice", window)
    bodies = [codoon_body(r) for r in box.requests("codoon", "get_tracker_summary")]
    assert len(bodies) == 2
    assert all(1 <= body["days_back"] <= 30 for body in bodies)
    assert sum(body["days_back"] for body in bodies) == 31
    assert bodies[-1]["date_end"] == "2025-03-31"


def test_codoon_sleep_goes_day_by_day_and_the_body_log_is_read_once(box: Sandbox) -> None:
    window = Window(date(2025, 3, 1), date(2025, 4, 9))  # 40 days
    for kind in ("sleep", "body"):
        assert pairs(fetch(box, "codoon", kind, "alice", window)) == expected(box, "codoon", kind, "alice", window)
    days = [codoon_body(r) for r in box.requests("codoon", "get_sleep_data")]
    assert days == [{"the_day": (window.first + timedelta(days=n)).isoformat()} for n in range(40)]
    assert [codoon_body(r) for r in box.requests("codoon", "get_body_log")] == [{}]
    assert box.requests("codoon", "get_tracker_data") == [] and box.requests("codoon", "get_route_by_id") == []


def test_codoon_tracker_days_follow_the_day_order_rule(box: Sandbox) -> None:
    """get_tracker_summary's summaries carry no date: oldest first, the last one is date_end."""
    window = Window(date(2025, 3, 1), date(2025, 3, 12))
    fetched = fetch(box, "codoon", "tracker", "alice", window)
    assert [f.local_date for f in fetched] == [date(2025, 3, d) for d in range(1, 13)]
    headers = {"Authorization": f"Bearer {box.grant('codoon', 'alice')['access_token']}"}
    base = box.settings_env()["CODOON_API_BASE_URL"].rstrip("/")
    for record in fetched:  # each summary is the day's own, as get_tracker_data's arrays add up
        one = requests.post(f"{base}/get_tracker_data", json={"the_day": record.record_id}, headers=headers, timeout=10)
        assert sum(one.json()["data"]["steps"]) == record.content["steps"]
    canned = {"status": "OK", "data": [{"steps": 5, "meters": 1, "calories": 1, "minutes": 1}] * 2, "description": ""}
    with pytest.raises(ValueError, match="cannot date"):  # 2 summaries for 3 days: refused, never misdated
        list(CODOON.fetch(_Canned(canned), "tracker", Window(date(2025, 1, 1), date(2025, 1, 3)), TODAY))


# -- the activity log list ------------------------------------------------------------------------------------------


def test_the_activity_list_follows_next_links_to_the_last_page(box: Sandbox) -> None:
    window = Window(TODAY - timedelta(days=199), TODAY)
    fetched = fetch(box, "fitbit", "activities", "alice", window)
    want = expected(box, "fitbit", "activities", "alice", window)
    assert len(want) > 100
    assert pairs(fetched) == want
    pages = box.requests("fitbit", "activities_list")
    assert len(pages) == math.ceil(len(want) / 100)
    assert [p.query["offset"] for p in pages] == [str(100 * n) for n in range(len(pages))]
    assert all(p.query["sort"] == "asc" and p.query["limit"] == "100" for p in pages)
    assert fetched[-1].source.startswith("/1/user/-/activities/list.json?") and "offset=100" in fetched[-1].source


def test_the_activity_list_stops_once_logs_pass_the_window(box: Sandbox) -> None:
    window = Window(date(2024, 1, 1), date(2024, 6, 30))
    fetched = fetch(box, "fitbit", "activities", "alice", window)
    want = expected(box, "fitbit", "activities", "alice", window)
    assert len(want) > 100
    assert pairs(fetched) == want
    # the page holding the first log after the window is the last one asked for
    assert len(box.requests("fitbit", "activities_list")) == len(want) // 100 + 1


def test_an_activity_gets_the_local_date_of_its_start(box: Sandbox) -> None:
    user = user_at(box, "fitbit", "+10:00")
    fetched = fetch(box, "fitbit", "activities", user, Window(date(2025, 5, 1), date(2025, 5, 31)))
    assert fetched
    for record in fetched:
        assert record.content["startTime"].endswith("+10:00")
        assert record.local_date.isoformat() == record.content["startTime"][:10]


# -- local dates ----------------------------------------------------------------------------------------------------


def test_a_sleep_crossing_midnight_gets_its_wake_date(box: Sandbox) -> None:
    user = user_at(box, "fitbit", "-08:00")
    window = Window(date(2025, 3, 10), date(2025, 3, 20))
    crossing = [
        f.content["dateOfSleep"]
        for f in fetch(box, "fitbit", "sleep", user, window)
        if f.content["isMainSleep"] and f.content["startTime"][:10] < f.content["dateOfSleep"]
    ]
    assert crossing, "no sleep crossing midnight in the window"
    day = date.fromisoformat(crossing[0])
    [night] = [f for f in fetch(box, "fitbit", "sleep", user, Window(day, day)) if f.content["isMainSleep"]]
    assert night.content["startTime"][:10] == (day - timedelta(days=1)).isoformat()
    assert night.content["endTime"][:10] == day.isoformat()
    assert night.local_date == day
    assert (night.record_id, day) in expected(box, "fitbit", "sleep", user, Window(day, day))
    before = fetch(box, "fitbit", "sleep", user, Window(day - timedelta(days=1), day - timedelta(days=1)))
    assert night.record_id not in {f.record_id for f in before}


def test_codoon_sleep_and_body_log_dates(box: Sandbox) -> None:
    window = Window(date(2025, 5, 1), date(2025, 5, 20))
    sleeps = fetch(box, "codoon", "sleep", "alice", window)
    assert sleeps and all(r.source == f"/get_sleep_data?the_day={r.record_id}" for r in sleeps)
    assert all(r.local_date.isoformat() == r.record_id and r.content["total_minutes"] > 0 for r in sleeps)
    logs = fetch(box, "codoon", "body", "alice", window)
    assert logs
    for record in logs:  # "2025-5-07": the month is not zero-padded, as in the document
        day = record.local_date
        assert record.content[0] == f"{day.year}-{day.month}-{day.day:02d}" and record.record_id == day.isoformat()


# -- history start and today ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("vendor", "kind"), TYPES)
def test_a_window_before_the_users_history_yields_nothing(box: Sandbox, vendor: str, kind: str) -> None:
    box.set_member_since(vendor, "alice", date(2024, 1, 1))
    window = Window(date(2023, 10, 1), date(2023, 12, 31))
    fetched = fetch(box, vendor, kind, "alice", window)
    assert expected(box, vendor, kind, "alice", window) == []
    if vendor == "fitbit" and kind in FITBIT_SERIES:
        # Fitbit answers a time series with one entry per date asked; before the history they are "0"
        # placeholders that nothing tells apart from a day without data, so they are landed as sent.
        assert [f.content["value"] for f in fetched] == ["0"] * window.days
    else:
        assert fetched == []
    # and the first days of the history do come
    window = Window(date(2023, 12, 1), date(2024, 2, 29))
    want = expected(box, vendor, kind, "alice", window)
    assert want and min(day for _, day in want) >= date(2024, 1, 1)
    landed = [p for p in pairs(fetch(box, vendor, kind, "alice", window)) if p[1] >= date(2024, 1, 1)]
    assert landed == want


@pytest.mark.parametrize(("vendor", "kind"), TYPES)
def test_a_window_ending_today_never_asks_for_a_future_date(box: Sandbox, vendor: str, kind: str) -> None:
    box.set_data_now(EARLY)
    user = user_at(box, "fitbit", "-08:00")
    local_today = date(2025, 6, 14) if vendor == "fitbit" else date(2025, 6, 15)
    window = Window(TODAY - timedelta(days=40), TODAY)
    fetched = fetch(box, vendor, kind, user, window)
    assert pairs(fetched) == expected(box, vendor, kind, user, window)
    assert all(f.local_date <= local_today for f in fetched)
    recorded = box.requests(vendor)
    assert recorded and all(r.status == 200 for r in recorded)
    if vendor == "fitbit":
        if kind != "sleep":  # the sleep range takes dates only, and never has future sleeps
            assert all(d <= local_today for r in recorded for d in fitbit_dates(r, local_today))
        assert all(d <= TODAY for r in recorded for d in fitbit_dates(r, local_today))
    else:
        for request in recorded:
            body = codoon_body(request)
            for name in ("date_end", "the_day", "start_date", "end_date"):
                if name in body:
                    assert date.fromisoformat(body[name]) <= TODAY


@pytest.mark.parametrize(("vendor", "kind"), TYPES)
def test_a_window_of_days_the_user_has_not_reached_yields_nothing(box: Sandbox, vendor: str, kind: str) -> None:
    box.set_data_now(EARLY)
    user = user_at(box, "fitbit", "-08:00")  # Fitbit: today is 2025-06-14 for this user; Codoon: 2025-06-15
    window = Window(date(2025, 6, 16), TODAY) if vendor == "codoon" else Window(TODAY - timedelta(days=1), TODAY)
    assert fetch(box, vendor, kind, user, window) == []
    assert all(r.status == 200 for r in box.requests(vendor))


def test_a_window_after_today_asks_for_nothing(box: Sandbox) -> None:
    for vendor, kind in TYPES:
        window = Window(TODAY + timedelta(days=1), TODAY + timedelta(days=5))
        assert fetch(box, vendor, kind, "alice", window) == []
    assert box.requests("fitbit") == [] and box.requests("codoon") == []


# -- shapes ---------------------------------------------------------------------------------------------------------


class _Canned:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.answer

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("vendor", "kind", "answer"),
    [
        ("fitbit", "sleep", {"sleep": {"logId": 1}}),
        ("fitbit", "sleep", {"sleep": [{"logId": 1, "dateOfSleep": "yesterday"}]}),
        ("fitbit", "hrv", {"errors": [{"message": "secret-ish vendor text"}]}),
        ("fitbit", "spo2", {"dateTime": "2025-01-01", "value": {}}),
        ("fitbit", "steps", {"activities-steps": [{"value": "12"}]}),
        ("fitbit", "activities", {"activities": [], "pagination": {}}),
        ("fitbit", "activities", {"activities": [{"logId": 5, "startTime": 7}], "pagination": {"next": ""}}),
        ("codoon", "tracker", {"summaries": [{"the_day": "2025-01-01", "steps": 1}]}),
        ("codoon", "tracker", {"status": "OK", "data": ["yesterday"], "description": ""}),
        ("codoon", "sleep", {"status": "Error", "data": {"total_minutes": 9}, "description": "secret-ish"}),
        ("codoon", "sleep", {"status": "OK", "data": [], "description": ""}),
        ("codoon", "body", ["not an object"]),
        ("codoon", "body", {"status": "OK", "data": [["yesterday", 70.0, 170, None, None]]}),
    ],
)
def test_an_unexpected_shape_raises_without_echoing_the_vendor(vendor: str, kind: str, answer: Any) -> None:
    window = Window(date(2025, 1, 1), date(2025, 1, 1))
    with pytest.raises(ValueError) as raised:
        list(FETCHERS[vendor].fetch(_Canned(answer), kind, window, TODAY))
    assert vendor in str(raised.value) and kind in str(raised.value)
    assert "secret-ish" not in str(raised.value) and "yesterday" not in str(raised.value)


def test_unknown_types_are_refused() -> None:
    for fetcher in FETCHERS.values():
        with pytest.raises(ValueError):
            list(fetcher.fetch(_Canned({}), "nope", Window(TODAY, TODAY), TODAY))


def test_the_declared_types_and_limits() -> None:
    declared = {
        (vendor, name): (t.scope, t.max_days, t.chunk_days, t.snapshot)
        for vendor, fetcher in FETCHERS.items()
        for name, t in fetcher.data_types.items()
        if t.name == name
    }
    assert declared == {
        ("fitbit", "sleep"): ("sleep", 100, 100, False),
        ("fitbit", "activities"): ("activity", 0, 90, False),
        ("fitbit", "steps"): ("activity", 1095, 365, False),
        ("fitbit", "calories"): ("activity", 1095, 365, False),
        ("fitbit", "distance"): ("activity", 1095, 365, False),
        ("fitbit", "heart"): ("heartrate", 365, 365, False),
        ("fitbit", "hrv"): ("heartrate", 30, 30, False),
        ("fitbit", "spo2"): ("oxygen_saturation", 30, 30, False),
        ("fitbit", "br"): ("respiratory_rate", 30, 30, False),
        ("codoon", "tracker"): ("sports", 30, 90, False),
        ("codoon", "sleep"): ("sports", 1, 30, False),
        ("codoon", "body"): ("user", 0, 3660, False),
    }


def test_a_type_without_its_scope_is_refused_by_the_vendor(box: Sandbox) -> None:
    """The declared scope is the one the vendor checks: a grant with every other scope gets a 403."""
    window = Window(date(2025, 1, 1), date(2025, 1, 3))
    for vendor, fetcher in FETCHERS.items():
        for name, data_type in fetcher.data_types.items():
            scope = [s for s in vendor_named(vendor).default_scope if s != data_type.scope]
            api = SandboxApi(box, vendor, "scoped", scope=scope)
            with pytest.raises(requests.HTTPError) as refused:
                list(fetcher.fetch(api, name, window, TODAY))
            assert refused.value.response is not None and refused.value.response.status_code == 403
