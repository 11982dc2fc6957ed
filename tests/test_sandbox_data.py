"""The vendor sandbox's data side: WHOOP v2 paging, Fitbit date ranges and activity-log pagination, Codoon
methods; deterministic synthetic data, midnight-crossing sleeps, revisions and deletions, window limits,
rate limits with their headers, token and scope checks, faults, and the ground truth `expected_records`."""

from __future__ import annotations

import re
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox import Sandbox
from sandbox.data import DataState, newest_first
from sandbox.vendors.whoop.data import WHOOP_DATA
from tests.conftest import FakeClock

NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
WHOOP_KINDS = {"cycle": "cycle", "recovery": "recovery", "sleep": "activity/sleep", "workout": "activity/workout"}


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        yield box


def bearer(sb: Sandbox, vendor: str, user: str = "alice", scope: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {sb.grant(vendor, user, scope=scope)['access_token']}"}


def whoop_get(sb: Sandbox, path: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{sb.base_url}/whoop/developer/v2/{path}", headers=headers, params=params, timeout=10)


def fitbit_get(sb: Sandbox, path: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{sb.base_url}/fitbit/{path}", headers=headers, params=params, timeout=10)


def codoon_post(sb: Sandbox, method: str, headers: dict[str, str], body: object) -> requests.Response:
    return requests.post(f"{sb.base_url}/codoon/api/{method}", headers=headers, json=body, timeout=10)


def whoop_all(sb: Sandbox, kind: str, headers: dict[str, str], **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every record of a WHOOP collection, following next_token; and the number of pages."""
    records: list[dict[str, Any]] = []
    pages, token = 0, None
    while True:
        query = {**params, **({"nextToken": token} if token else {})}
        body = whoop_get(sb, WHOOP_KINDS[kind], headers, **query).json()
        records += body["records"]
        pages += 1
        token = body.get("next_token")
        if token is None:
            return records, pages


def record_id(kind: str, record: dict[str, Any]) -> object:
    return record["cycle_id"] if kind == "recovery" else record["id"]


def local(text: str, offset: str) -> datetime:
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    sign = -1 if offset[0] == "-" else 1
    return datetime.fromisoformat(text).astimezone(UTC) + sign * timedelta(hours=hours, minutes=minutes)


# -- WHOOP --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(WHOOP_KINDS))
def test_whoop_pages_land_every_record_once_newest_first(sb: Sandbox, kind: str) -> None:
    headers = bearer(sb, "whoop")
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    records, pages = whoop_all(
        sb, kind, headers, start="2025-01-01T00:00:00.000Z", end="2025-03-01T00:00:00Z", limit=25
    )
    ids = [record_id(kind, r) for r in records]
    assert len(ids) == len(set(ids)) and pages == -(-len(ids) // 25)
    expected = sb.expected_records("whoop", kind, "alice", start, end)
    assert sorted(map(str, ids)) == sorted(str(i) for i, _ in expected)
    if kind != "recovery":
        starts = [r["start"] for r in records]
        assert starts == sorted(starts, reverse=True)
        assert all(r["start"] < "2025-03-01" and r.get("end", "9") > "2025-01-01" for r in records)
    if kind != "workout":  # a record every day
        assert {day for _, day in expected} >= {date(2025, 1, 2) + timedelta(days=n) for n in range(58)}


def test_whoop_last_page_has_no_token_and_default_limit_is_ten(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    first = whoop_get(sb, "cycle", headers, start="2025-03-01T00:00:00Z").json()
    assert len(first["records"]) == 10 and "next_token" in first
    second = whoop_get(sb, "cycle", headers, start="2025-03-01T00:00:00Z", nextToken=first["next_token"]).json()
    assert 0 < len(second["records"]) < 10 and "next_token" not in second
    assert first["records"][-1]["start"] > second["records"][0]["start"]


def test_whoop_empty_page_that_still_has_a_next_token(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    plain, _ = whoop_all(sb, "sleep", headers, start="2025-02-01T00:00:00Z", limit=5)
    sb.data_quirks["whoop"]["empty_page_every"] = 2
    seen: list[int] = []
    token = None
    while True:
        query = {"start": "2025-02-01T00:00:00Z", "limit": 5, **({"nextToken": token} if token else {})}
        body = whoop_get(sb, "activity/sleep", headers, **query).json()
        seen.append(len(body["records"]))
        token = body.get("next_token")
        if token is None:
            break
    assert 0 in seen[:-1], "an empty page in the middle, with a token"
    quirky, _ = whoop_all(sb, "sleep", headers, start="2025-02-01T00:00:00Z", limit=5)
    assert [r["id"] for r in quirky] == [r["id"] for r in plain]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 26},
        {"limit": 0},
        {"limit": "ten"},
        {"start": "yesterday"},
        {"start": "2025-03-01"},
        {"start": "2025-03-02T00:00:00Z", "end": "2025-03-01T00:00:00Z"},
        {"nextToken": "%%%"},
    ],
)
def test_whoop_refuses_bad_parameters(sb: Sandbox, params: dict[str, object]) -> None:
    response = whoop_get(sb, "cycle", bearer(sb, "whoop"), **params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_whoop_data_is_a_deterministic_function_of_user_and_day(sb: Sandbox, clock: FakeClock) -> None:
    query = {"start": "2024-06-01T00:00:00Z", "end": "2024-06-20T00:00:00Z", "limit": 25}
    first = whoop_get(sb, "activity/workout", bearer(sb, "whoop"), **query).json()
    clock.advance(3600)
    with Sandbox() as other:
        other.set_data_now(NOW + timedelta(days=30))
        again = whoop_get(other, "activity/workout", bearer(other, "whoop"), **query).json()
        bob = whoop_get(other, "activity/workout", bearer(other, "whoop", "bob"), **query).json()
    assert first == again and first["records"]
    assert {r["id"] for r in bob["records"]}.isdisjoint(r["id"] for r in first["records"])


def test_whoop_main_sleep_starts_in_the_evening_and_crosses_local_midnight(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    offset = sb.timezone_offset("whoop", "alice")
    query = {"start": "2025-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z", "limit": 25}
    sleeps = [r for r in whoop_all(sb, "sleep", headers, **query)[0] if not r["nap"]]
    cycles = {r["id"]: r for r in whoop_all(sb, "cycle", headers, **query)[0]}
    recoveries = {r["cycle_id"]: r for r in whoop_all(sb, "recovery", headers, **query)[0]}
    assert len(sleeps) >= 55
    for sleep in sleeps:
        assert sleep["timezone_offset"] == offset
        start, end = local(sleep["start"], offset), local(sleep["end"], offset)
        assert start.hour >= 21 and end.date() == start.date() + timedelta(days=1) and end.hour < 9
        assert sleep["start"].endswith("Z") and len(sleep["start"]) == len("2022-04-24T11:25:44.774Z")
        cycle = cycles.get(sleep["cycle_id"])
        if cycle is not None:
            assert cycle["start"] == sleep["start"]
            assert recoveries[sleep["cycle_id"]]["sleep_id"] == sleep["id"]
    assert re.fullmatch(r"[+-]\d\d:\d\d", offset)


def test_whoop_score_fields_follow_the_spec(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    query = {"start": "2025-02-01T00:00:00Z", "end": "2025-02-10T00:00:00Z", "limit": 25}
    sleep = next(r for r in whoop_all(sb, "sleep", headers, **query)[0] if not r["nap"])
    stages = sleep["score"]["stage_summary"]
    assert stages["total_in_bed_time_milli"] == sum(
        stages[f"total_{part}_time_milli"]
        for part in ("awake", "no_data", "light_sleep", "slow_wave_sleep", "rem_sleep")
    )
    assert set(sleep["score"]) >= {"stage_summary", "sleep_needed", "respiratory_rate", "sleep_efficiency_percentage"}
    assert {"disturbance_count", "sleep_cycle_count"} <= set(stages)
    recovery = whoop_get(sb, "recovery", headers, **query).json()["records"][0]["score"]
    assert set(recovery) == {
        "user_calibrating",
        "recovery_score",
        "resting_heart_rate",
        "hrv_rmssd_milli",
        "spo2_percentage",
        "skin_temp_celsius",
    }
    cycle = whoop_get(sb, "cycle", headers, **query).json()["records"][0]
    assert isinstance(cycle["id"], int) and set(cycle["score"]) == {
        "strain",
        "kilojoule",
        "average_heart_rate",
        "max_heart_rate",
    }
    workout = whoop_get(sb, "activity/workout", headers, **query).json()["records"][0]
    zones = workout["score"]["zone_durations"]
    span = datetime.fromisoformat(workout["end"]) - datetime.fromisoformat(workout["start"])
    assert sum(zones.values()) == span // timedelta(milliseconds=1)
    assert set(zones) == {f"zone_{n}_milli" for n in ("zero", "one", "two", "three", "four", "five")}
    assert "sport_name" in workout and "sport_id" not in workout and "v1_id" not in workout
    body = whoop_get(sb, "user/measurement/body", bearer(sb, "whoop")).json()
    assert set(body) == {"height_meter", "weight_kilogram", "max_heart_rate"}


def test_whoop_latest_day_is_pending_until_revised_or_scored(sb: Sandbox, clock: FakeClock) -> None:
    headers = bearer(sb, "whoop")
    today = (NOW - timedelta(hours=5)).date()  # alice is at -05:00
    newest = whoop_get(sb, "activity/sleep", headers, limit=1).json()["records"][0]
    assert newest["score_state"] == "PENDING_SCORE" and "score" not in newest
    older = whoop_get(sb, "activity/sleep", headers, end="2025-03-14T12:00:00Z", limit=1).json()["records"][0]
    assert older["score_state"] == "SCORED" and "score" in older
    cycle = whoop_get(sb, "cycle", headers, limit=1).json()["records"][0]
    assert cycle["score_state"] == "PENDING_SCORE" and "end" not in cycle, "the ongoing cycle"

    clock.advance(60)
    assert sb.revise("whoop", "sleep", "alice", today) == 1
    revised = whoop_get(sb, f"activity/sleep/{newest['id']}", headers).json()
    assert revised["score_state"] == "SCORED" and revised["updated_at"] > newest["updated_at"]
    assert revised["start"] == newest["start"] and revised["id"] == newest["id"]
    clock.advance(60)
    sb.revise("whoop", "sleep", "alice", today)
    again = whoop_get(sb, f"activity/sleep/{newest['id']}", headers).json()
    assert again["score"] != revised["score"] and again["updated_at"] > revised["updated_at"]

    clock.advance(12 * 3600)  # past local midnight: the day is scored without any revision
    recovery = whoop_get(sb, f"cycle/{cycle['id']}/recovery", bearer(sb, "whoop")).json()
    assert recovery["score_state"] == "SCORED" and recovery["updated_at"] > recovery["created_at"]


def test_whoop_single_records_and_deletion(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    sleep = whoop_get(sb, "activity/sleep", headers, end="2025-03-10T00:00:00Z", limit=1).json()["records"][0]
    assert whoop_get(sb, f"activity/sleep/{sleep['id']}", headers).json() == sleep
    assert whoop_get(sb, f"cycle/{sleep['cycle_id']}/sleep", headers).json()["cycle_id"] == sleep["cycle_id"]
    assert whoop_get(sb, f"cycle/{sleep['cycle_id']}", headers).json()["id"] == sleep["cycle_id"]
    assert whoop_get(sb, f"activity/sleep/{sleep['id']}", bearer(sb, "whoop", "bob")).status_code == 404
    assert whoop_get(sb, "activity/workout/00000000-0000-4000-8000-000000000000", headers).status_code == 404
    assert whoop_get(sb, "cycle/12/recovery", headers).status_code == 404
    assert whoop_get(sb, "cycle/abc", headers).status_code == 400

    day = date(2025, 3, 9)
    assert sb.delete_record("whoop", "sleep", "alice", day, sleep["id"]) == [sleep["id"]]
    assert whoop_get(sb, f"activity/sleep/{sleep['id']}", headers).status_code == 404
    window = {"start": "2025-03-08T00:00:00Z", "end": "2025-03-10T00:00:00Z"}
    assert sleep["id"] not in {r["id"] for r in whoop_get(sb, "activity/sleep", headers, **window).json()["records"]}
    assert sleep["id"] not in {i for i, _ in sb.expected_records("whoop", "sleep", "alice", day, day)}


def test_whoop_five_years_are_generated_lazily() -> None:
    state = DataState(threading.RLock(), time.monotonic)
    state.set_now(NOW)
    snap = state.snapshot("whoop", "alice")
    low = NOW - timedelta(days=5 * 365)
    tracemalloc.start()
    started = time.monotonic()
    count = sum(1 for _ in newest_first(WHOOP_DATA, "cycle", snap, low, NOW))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 1820 <= count <= 1830
    assert peak < 2_000_000, f"peak {peak} bytes: history was built in memory"
    assert time.monotonic() - started < 5
    assert next(islice(newest_first(WHOOP_DATA, "cycle", snap, low, NOW), 0, 1)).local_date == NOW.date()


# -- Fitbit -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "days"),
    [
        ("1.2/user/-/sleep", 100),
        ("1/user/-/activities/steps", 1095),
        ("1/user/-/activities/distance", 1095),
        ("1/user/-/activities/heart", 365),
        ("1/user/-/hrv", 30),
        ("1/user/-/spo2", 30),
        ("1/user/-/br", 30),
    ],
)
def test_fitbit_range_limits(sb: Sandbox, path: str, days: int) -> None:
    headers = bearer(sb, "fitbit")
    end = date(2025, 3, 14)
    ok = fitbit_get(sb, f"{path}/date/{end - timedelta(days=days - 1)}/{end}.json", headers)
    assert ok.status_code == 200
    refused = fitbit_get(sb, f"{path}/date/{end - timedelta(days=days)}/{end}.json", headers)
    assert refused.status_code == 400
    error = refused.json()
    assert error["success"] is False and error["errors"][0]["errorType"] == "validation"
    assert str(days) in error["errors"][0]["message"]
    backwards = fitbit_get(sb, f"{path}/date/{end}/{end - timedelta(days=1)}.json", headers)
    assert backwards.status_code == 400


def test_fitbit_sleep_is_local_time_with_64_bit_log_ids_and_revisions(sb: Sandbox, clock: FakeClock) -> None:
    headers = bearer(sb, "fitbit")
    body = fitbit_get(sb, "1.2/user/-/sleep/date/2025-02-01/2025-02-28.json", headers).json()
    main = [s for s in body["sleep"] if s["isMainSleep"]]
    assert 20 <= len(main) <= 28 and all(s["type"] == "stages" for s in main)
    first = main[0]
    assert first["dateOfSleep"] == first["endTime"][:10] and first["startTime"] < first["endTime"]
    assert "Z" not in first["startTime"] and "+" not in first["startTime"]
    assert first["logId"] > 2**32 and first["timeInBed"] == first["duration"] // 60_000
    assert sum(d["seconds"] for d in first["levels"]["data"]) * 1000 == first["duration"]
    assert first["minutesAsleep"] + first["minutesAwake"] == first["timeInBed"]
    ids = [i for i, _ in sb.expected_records("fitbit", "sleep", "alice", date(2025, 2, 1), date(2025, 2, 28))]
    assert sorted(ids) == sorted(s["logId"] for s in body["sleep"])

    day = date.fromisoformat(first["dateOfSleep"])
    clock.advance(30)
    sb.revise("fitbit", "sleep", "alice", day)
    url = f"1.2/user/-/sleep/date/{day}/{day}.json"
    revised = next(s for s in fitbit_get(sb, url, headers).json()["sleep"] if s["isMainSleep"])
    assert revised["logId"] == first["logId"] and revised["duration"] > first["duration"]
    assert revised["endTime"] > first["endTime"] and revised["startTime"] == first["startTime"]


def test_fitbit_series_cover_each_date_and_today_is_partial(sb: Sandbox, clock: FakeClock) -> None:
    headers = bearer(sb, "fitbit")
    offset = sb.timezone_offset("fitbit", "alice")
    today = local(NOW.isoformat(), offset).date()
    steps = fitbit_get(sb, "1/user/-/activities/steps/date/2025-03-01/today.json", headers).json()["activities-steps"]
    assert [s["dateTime"] for s in steps] == [
        str(date(2025, 3, 1) + timedelta(days=n)) for n in range((today - date(2025, 3, 1)).days + 1)
    ]
    assert all(isinstance(s["value"], str) for s in steps)
    partial = int(steps[-1]["value"])
    clock.advance(3 * 3600)
    later = fitbit_get(sb, "1/user/-/activities/steps/date/today/today.json", headers).json()["activities-steps"]
    assert int(later[0]["value"]) > partial
    future = fitbit_get(sb, f"1/user/-/activities/calories/date/{today}/{today + timedelta(days=2)}.json", headers)
    assert future.json()["activities-calories"][-1]["value"] == "0"
    heart = fitbit_get(sb, "1/user/-/activities/heart/date/2025-03-01/2025-03-02.json", headers).json()
    value = heart["activities-heart"][0]["value"]
    assert "restingHeartRate" in value and [z["name"] for z in value["heartRateZones"]] == [
        "Out of Range",
        "Fat Burn",
        "Cardio",
        "Peak",
    ]
    hrv = fitbit_get(sb, "1/user/-/hrv/date/2025-03-01/2025-03-10.json", headers).json()["hrv"]
    assert hrv and set(hrv[0]["value"]) == {"dailyRmssd", "deepRmssd"}
    spo2 = fitbit_get(sb, "1/user/-/spo2/date/2025-03-01/2025-03-10.json", headers).json()
    assert isinstance(spo2, list) and set(spo2[0]["value"]) == {"avg", "min", "max"}
    br = fitbit_get(sb, "1/user/-/br/date/2025-03-01/2025-03-10.json", headers).json()["br"]
    assert br[0]["value"]["breathingRate"] > 0
    assert (
        len(hrv)
        == len(br)
        == len(spo2)
        == len(sb.expected_records("fitbit", "hrv", "alice", date(2025, 3, 1), date(2025, 3, 10)))
    )


def test_fitbit_activity_list_follows_pagination_next(sb: Sandbox, clock: FakeClock) -> None:
    headers = bearer(sb, "fitbit")
    url: str = f"{sb.base_url}/fitbit/1/user/-/activities/list.json?afterDate=2024-12-01&sort=asc&limit=20&offset=0"
    logs: list[dict[str, Any]] = []
    while url:
        body = requests.get(url, headers=headers, timeout=10).json()
        logs += body["activities"]
        url = body["pagination"]["next"]
        assert body["pagination"]["sort"] == "asc" and body["pagination"]["limit"] == 20
    expected = sb.expected_records("fitbit", "activities", "alice", date(2024, 12, 1), date(2025, 3, 20))
    assert [a["logId"] for a in logs] == [i for i, _ in expected] and len(logs) > 40
    assert [a["startTime"] for a in logs] == sorted(a["startTime"] for a in logs)
    assert all(a["startTime"].endswith(sb.timezone_offset("fitbit", "alice")) for a in logs)

    before = fitbit_get(
        sb, "1/user/-/activities/list.json", headers, beforeDate="2025-01-01", sort="desc", limit=5, offset=0
    )
    page = before.json()
    assert [a["startTime"][:10] < "2025-01-01" for a in page["activities"]] == [True] * 5
    assert page["pagination"]["beforeDate"] == "2025-01-01" and page["pagination"]["previous"] == ""

    day = date.fromisoformat(logs[0]["startTime"][:10])
    clock.advance(30)
    sb.revise("fitbit", "activities", "alice", day)
    again = fitbit_get(
        sb, "1/user/-/activities/list.json", headers, afterDate="2024-12-01", sort="asc", limit=1, offset=0
    )
    assert again.json()["activities"][0]["lastModified"] > logs[0]["lastModified"]
    for bad in ({"sort": "desc"}, {"limit": 101}, {"offset": "x"}, {"beforeDate": "2025-01-01"}):
        params = {"afterDate": "2024-12-01", "sort": "asc", "limit": 10, "offset": 0, **bad}
        response = fitbit_get(sb, "1/user/-/activities/list.json", headers, **params)
        assert response.status_code == 400 and response.json()["errors"][0]["errorType"] == "validation"


# -- Codoon -------------------------------------------------------------------------------------------------
# The shapes of Codoon's own document (reference/specs/codoon-openapi.md, "API详细说明"), method by method:
# (request body, envelope keys, envelope status, what `data` is). The twin must answer exactly these.
TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
SUMMARY = {"status", "calories", "meters", "activity", "steps", "minutes"}
TRACKER_DATA = {"meters", "sports_duration", "steps", "calories", "sports_complete"}
NIGHT = {"deep_minutes", "sleep_complete", "total_minutes", "light_minutes", "detail"}
ROUTE = {
    "total_time", "upload_time", "total_calories", "start_time", "sports_type", "route_image",
    "activity_result", "end_time", "total_length", "activity_type", "goal_type", "goal_value",
}  # fmt: skip
NUMBER = (int, float)


def number(value: object) -> bool:
    return isinstance(value, NUMBER) and not isinstance(value, bool)


def summary_ok(entry: Any) -> bool:
    return (
        set(entry) == SUMMARY
        and entry["status"] in {"null", "low", "proper", "over"}
        and all(number(entry[k]) for k in SUMMARY - {"status"})
    )


def body_log_ok(entry: Any) -> bool:
    day, *values = entry
    return (
        len(entry) == 5
        and re.fullmatch(r"\d{4}-[1-9]\d?-\d{2}", day) is not None
        and number(values[0])
        and all(v is None or number(v) for v in values[1:])
    )


def route_ok(data: Any) -> bool:
    return (
        set(data) == ROUTE
        and all(TIME.fullmatch(data[k]) for k in ("upload_time", "start_time", "end_time"))
        and all(isinstance(data[k], str) for k in ("sports_type", "route_image", "activity_type", "goal_type"))
        and isinstance(data["total_time"], int)
        and data["activity_result"] in (0, 1)
        and all(number(data[k]) for k in ("total_calories", "total_length", "goal_value"))
    )


CODOON_SHAPES: dict[str, tuple[dict[str, object], set[str], object, Any]] = {
    "get_tracker_summary": (
        {"date_end": "2025-3-10", "days_back": 30},
        {"status", "data", "description"},
        "OK",
        lambda data: len(data) == 30 and all(summary_ok(e) for e in data),
    ),
    "get_tracker_data": (
        {"the_day": "2025-03-02"},
        {"status", "data"},
        True,
        lambda data: (
            set(data) == TRACKER_DATA
            and all(len(data[k]) == 72 and all(number(v) for v in data[k]) for k in ("meters", "steps", "calories"))
            and all(isinstance(data[k], int) for k in ("sports_duration", "sports_complete"))
        ),
    ),
    "get_sleep_data": (
        {"the_day": "2025-03-02"},
        {"status", "data", "description"},
        "OK",
        lambda data: (
            set(data) == NIGHT
            and all(number(data[k]) for k in NIGHT - {"detail"})
            and all(v == -1 or number(v) for v in data["detail"])
        ),
    ),
    "get_body_log": ({}, {"status", "data"}, "OK", lambda data: data and all(body_log_ok(e) for e in data)),
    "get_route_by_id": ({"route_id": "?"}, {"status", "data", "description"}, "OK", route_ok),
}


def app_codoon_methods() -> set[str]:
    """Every Codoon method the app calls (the method paths written in its Codoon code)."""
    from shared.vendors.codoon import data as codoon
    from shared.vendors.codoon import notify

    sources = "".join(Path(module.__file__ or "").read_text(encoding="utf-8") for module in (codoon, notify))
    return set(re.findall(r"api\.post\(\"/(\w+)\"", sources))


def test_every_codoon_method_the_app_calls_answers_the_documents_shape(sb: Sandbox) -> None:
    called = app_codoon_methods()
    assert called == {"get_tracker_summary", "get_sleep_data", "get_body_log", "get_route_by_id"}
    headers = bearer(sb, "codoon")
    route_id = str(sb.expected_records("codoon", "route", "alice", date(2025, 2, 1), date(2025, 3, 10))[0][0])
    for method in sorted(called | {"get_tracker_data"}):
        body, keys, status, data_ok = CODOON_SHAPES[method]
        body = {k: route_id if v == "?" else v for k, v in body.items()}
        answer = codoon_post(sb, method, headers, body)
        assert answer.status_code == 200, method
        envelope = answer.json()
        assert set(envelope) == keys and envelope["status"] == status, method
        assert "description" not in keys or envelope["description"] == ""
        assert data_ok(envelope["data"]), (method, envelope["data"])


def test_codoon_methods(sb: Sandbox) -> None:
    headers = bearer(sb, "codoon")
    summary = codoon_post(sb, "get_tracker_summary", headers, {"date_end": "2025-03-10", "days_back": 7}).json()
    days = [date(2025, 3, d) for d in range(4, 11)]  # oldest first, the last one is date_end
    for entry, day in zip(summary["data"], days, strict=True):
        detail = codoon_post(sb, "get_tracker_data", headers, {"the_day": day.isoformat()}).json()["data"]
        assert entry["steps"] == sum(detail["steps"]) and entry["minutes"] == detail["sports_duration"]
    future = codoon_post(sb, "get_tracker_summary", headers, {"date_end": "2025-03-20", "days_back": 3}).json()
    assert [e["steps"] for e in future["data"]] == [0, 0, 0] and {e["status"] for e in future["data"]} == {"null"}
    for bad in ({"date_end": "2025-03-10", "days_back": 31}, {"date_end": "10/03/2025", "days_back": 3}, {}):
        refused = codoon_post(sb, "get_tracker_summary", headers, bad)
        assert refused.status_code == 400 and refused.json()["error_code"] == 2001

    oneday = codoon_post(sb, "api_tracker_oneday", headers, {"the_day": "2025-03-02"}).json()["data"]
    twenty = codoon_post(sb, "get_tracker_data", headers, {"the_day": "2025-03-02"}).json()["data"]
    assert len(oneday["steps"]) == 144 and sum(oneday["steps"]) == sum(twenty["steps"])

    nights = sb.expected_records("codoon", "sleep", "alice", date(2025, 2, 1), date(2025, 2, 28))
    night = codoon_post(sb, "get_sleep_data", headers, {"the_day": str(nights[0][0])}).json()["data"]
    assert night["total_minutes"] == night["deep_minutes"] + night["light_minutes"] > 0
    nights_days = {d for _, d in nights}
    none = next(date(2025, 2, d) for d in range(1, 29) if date(2025, 2, d) not in nights_days)
    empty = codoon_post(sb, "get_sleep_data", headers, {"the_day": none.isoformat()}).json()["data"]
    assert empty["total_minutes"] == 0 and set(empty["detail"]) == {-1}

    logs = codoon_post(sb, "get_body_log", headers, {}).json()["data"]
    expected = sb.expected_records("codoon", "body", "alice", date(2016, 1, 1), NOW.date())
    assert [e[0] for e in logs] == [f"{d.year}-{d.month}-{d.day:02d}" for _, d in expected]
    broken = requests.post(f"{sb.base_url}/codoon/api/get_body_log", headers=headers, data=b"{", timeout=5)
    assert broken.status_code == 400 and broken.json()["error_code"] == 2001

    route_id, _ = sb.expected_records("codoon", "route", "alice", date(2025, 2, 1), date(2025, 2, 28))[0]
    route = codoon_post(sb, "get_route_by_id", headers, {"route_id": route_id}).json()["data"]
    assert route["total_length"] > 0 and route["sports_type"] in {"跑步", "走路", "骑行"}
    missing = codoon_post(sb, "get_route_by_id", headers, {"route_id": "0" * 32})
    assert missing.status_code == 404 and missing.json()["error_code"] == 2001


# -- tokens, scopes, faults ---------------------------------------------------------------------------------
DATA_URLS = {
    "whoop": ("GET", "/whoop/developer/v2/activity/sleep"),
    "fitbit": ("GET", "/fitbit/1.2/user/-/sleep/date/2025-03-01/2025-03-02.json"),
    "codoon": ("POST", "/codoon/api/get_sleep_data"),
}
NARROW_SCOPE = {"whoop": "offline read:cycles", "fitbit": "heartrate", "codoon": "user"}


@pytest.mark.parametrize("vendor", list(DATA_URLS))
def test_data_routes_need_a_valid_token_and_the_scope(sb: Sandbox, vendor: str) -> None:
    method, path = DATA_URLS[vendor]
    body = {"the_day": "2025-03-01"}

    def call(headers: dict[str, str]) -> requests.Response:
        return requests.request(method, sb.base_url + path, headers=headers, json=body, timeout=5)

    missing, wrong = call({}), call({"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
    if vendor == "codoon":
        assert missing.json()["error_code"] == 1002  # invalid_token in Codoon's table
    headers = bearer(sb, vendor)
    assert call(headers).status_code == 200
    sb.expire_access_tokens(vendor, "alice")
    assert call(headers).status_code == 401

    forbidden = call(bearer(sb, vendor, "bob", scope=NARROW_SCOPE[vendor]))
    assert forbidden.status_code == 403
    error = forbidden.json()
    if vendor == "fitbit":
        assert error["success"] is False and error["errors"][0]["errorType"] == "insufficient_scope"
    elif vendor == "whoop":
        assert error["error"] == "insufficient_scope" and "insufficient_scope" in forbidden.headers["WWW-Authenticate"]
    else:
        assert error["error_code"] == 1003  # insufficient_scope in Codoon's table


def test_faults_target_data_endpoints_by_route_name(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    sb.inject("whoop", "error_503", times=2, endpoint="sleep")
    assert [whoop_get(sb, "activity/sleep", headers).status_code for _ in range(3)] == [503, 503, 200]
    assert whoop_get(sb, "cycle", headers).status_code == 200
    sb.inject("fitbit", "rate_limited", endpoint="activities_list")
    response = fitbit_get(
        sb, "1/user/-/activities/list.json", bearer(sb, "fitbit"), afterDate="2025-01-01", sort="asc", limit=1, offset=0
    )
    assert response.status_code == 429
    sb.inject("codoon", "error_500", endpoint="get_route_by_id")
    assert codoon_post(sb, "get_route_by_id", bearer(sb, "codoon"), {"route_id": "x"}).status_code == 500
    assert len(sb.requests("whoop", "sleep")) == 3
    with pytest.raises(ValueError, match="endpoint"):
        sb.inject("whoop", "error_500", endpoint="sleeps")


# -- rate limits --------------------------------------------------------------------------------------------
def test_whoop_rate_limit_is_per_client_with_headers_and_429(sb: Sandbox, clock: FakeClock) -> None:
    sb.rate_limits["whoop"] = (3, 100)
    alice, bob = bearer(sb, "whoop"), bearer(sb, "whoop", "bob")
    first = whoop_get(sb, "cycle", alice, limit=1)
    assert first.headers["X-RateLimit-Limit"] == "3, 3;window=60, 100;window=86400"
    assert first.headers["X-RateLimit-Remaining"] == "2" and first.headers["X-RateLimit-Reset"] == "60"
    assert whoop_get(sb, "cycle", bob, limit=1).status_code == 200
    assert whoop_get(sb, "recovery", alice, limit=1).headers["X-RateLimit-Remaining"] == "0"
    refused = whoop_get(sb, "cycle", bob, limit=1)
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert refused.headers["X-RateLimit-Remaining"] == "0" and "Retry-After" not in refused.headers
    assert sb.limit_exceeded("whoop") == 1 and sb.max_window_usage("whoop") == 4
    clock.advance(60)
    again = whoop_get(sb, "cycle", alice, limit=1)
    assert again.status_code == 200 and again.headers["X-RateLimit-Remaining"] == "2"

    sb.rate_limits["whoop"] = (100, 6)  # now the day window is the one closest to being hit
    tight = whoop_get(sb, "cycle", alice, limit=1)
    assert tight.headers["X-RateLimit-Limit"] == "6, 100;window=60, 6;window=86400"
    assert tight.headers["X-RateLimit-Remaining"] == "0"
    assert int(tight.headers["X-RateLimit-Reset"]) > 60
    assert sb.max_window_usage("whoop", window=86400) == 6


def test_fitbit_rate_limit_is_per_user_and_resets_at_the_top_of_the_hour(sb: Sandbox, clock: FakeClock) -> None:
    sb.rate_limits["fitbit"] = (2,)
    sb.set_data_now(datetime(2025, 3, 15, 18, 59, 30, tzinfo=UTC))
    alice, bob = bearer(sb, "fitbit"), bearer(sb, "fitbit", "bob")
    path = "1/user/-/br/date/2025-03-01/2025-03-02.json"
    ok = fitbit_get(sb, path, alice)
    assert ok.headers["Fitbit-Rate-Limit-Limit"] == "2" and ok.headers["Fitbit-Rate-Limit-Remaining"] == "1"
    assert ok.headers["Fitbit-Rate-Limit-Reset"] == "30"
    fitbit_get(sb, path, alice)
    refused = fitbit_get(sb, path, alice)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.json()["errors"][0]["errorType"] == "system"
    assert fitbit_get(sb, path, bob).status_code == 200, "another user has his own budget"
    clock.advance(30)
    assert fitbit_get(sb, path, alice).status_code == 200
    assert sb.limit_exceeded("fitbit") == 1
    assert sb.max_window_usage("fitbit") == 3 and sb.max_window_usage("fitbit", user="bob") == 1


def test_limits_are_off_by_default_but_usage_is_counted_across_threads(sb: Sandbox) -> None:
    headers = bearer(sb, "whoop")
    statuses: list[int] = []
    lock = threading.Lock()

    def pull() -> None:
        for _ in range(5):
            response = whoop_get(sb, "activity/workout", headers, limit=2)
            assert "X-RateLimit-Limit" not in response.headers
            with lock:
                statuses.append(response.status_code)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 30
    assert sb.max_window_usage("whoop") == 30 and sb.limit_exceeded("whoop") == 0
    sb.reset()
    assert sb.max_window_usage("whoop") == 0 and sb.rate_limits["whoop"] is None


def test_expected_records_by_date_and_validation(sb: Sandbox) -> None:
    days = sb.expected_records("whoop", "cycle", "alice", date(2025, 3, 1), date(2025, 3, 10))
    assert [day for _, day in days] == [date(2025, 3, d) for d in range(1, 11)]
    assert all(isinstance(i, int) for i, _ in days)
    sb.set_member_since("whoop", "alice", date(2025, 3, 5))
    assert len(sb.expected_records("whoop", "cycle", "alice", date(2025, 3, 1), date(2025, 3, 10))) == 6
    steps = sb.expected_records("fitbit", "steps", "alice", date(2025, 3, 1), date(2025, 4, 1))
    assert steps[-1] == ("2025-03-15", date(2025, 3, 15))
    with pytest.raises(ValueError, match="data type"):
        sb.expected_records("whoop", "steps", "alice", date(2025, 3, 1), date(2025, 3, 2))
    with pytest.raises(TypeError):
        sb.expected_records("whoop", "cycle", "alice", date(2025, 3, 1), NOW)
