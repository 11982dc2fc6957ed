"""Curated measurements from vendor records, built with the sandbox generators (no HTTP)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sandbox.data import DayGenerator, Snapshot, at_local
from sandbox.vendors.codoon.data import CODOON_DATA
from sandbox.vendors.fitbit.data import FITBIT_DATA
from sandbox.vendors.whoop.data import WHOOP_DATA
from shared.curated.base import UNITS, number
from shared.curated.lines import Measurement, curated_lines, measurements

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST_DAY = date(2026, 1, 1)
DAYS = 50
USERS = ("u1", "u2")
GENERATORS: dict[str, DayGenerator] = {"whoop": WHOOP_DATA, "fitbit": FITBIT_DATA, "codoon": CODOON_DATA}
LINE_KEYS = ["user", "vendor", "indicator", "value", "unit", "start", "end", "date", "source_record", "data_type"]
NUMERIC_UNITS = UNITS - {""}
TEXT_INDICATORS = {"sleep_kind", "workout_sport", "activity_level"}
UNITLESS_SCORES = {"strain", "sleep_goal_fraction"}

Body = dict[str, Any]


def snapshot(vendor: str, user: str = "u1", now: datetime = NOW) -> Snapshot:
    return Snapshot(vendor, user, now, date(2016, 1, 1), {}, frozenset())


def bodies(vendor: str, kind: str, user: str = "u1") -> Iterator[Body]:
    generator, snap = GENERATORS[vendor], snapshot(vendor, user)
    for offset in range(DAYS):
        for record in generator.day_records(kind, snap, FIRST_DAY + timedelta(days=offset)):
            yield record.body


def first(vendor: str, kind: str, wanted: Callable[[Body], bool] = lambda body: True) -> Body:
    found = next((body for body in bodies(vendor, kind) if wanted(body)), None)
    assert found is not None, f"no {vendor} {kind} record in {DAYS} days matches"
    return found


def dig(body: Any, path: str) -> Any:
    for key in path.split("."):
        body = body[key]
    return body


def has(path: str) -> Callable[[Body], bool]:
    def check(body: Body) -> bool:
        try:
            dig(body, path)
        except (KeyError, TypeError):
            return False
        return True

    return check


def by_indicator(found: list[Measurement]) -> dict[str, Measurement]:
    names = [m.indicator for m in found]
    assert len(names) == len(set(names)), f"an indicator appears twice: {names}"
    return {m.indicator: m for m in found}


def assert_value(found: Measurement, expected: object) -> None:
    assert found.value == expected
    assert type(found.value) is type(expected)


# -- WHOOP -----------------------------------------------------------------------------------------------------

WHOOP_FIELDS = [
    ("cycle", "strain", "", "score.strain"),
    ("cycle", "energy_expended", "kJ", "score.kilojoule"),
    ("cycle", "average_heart_rate", "bpm", "score.average_heart_rate"),
    ("cycle", "max_heart_rate", "bpm", "score.max_heart_rate"),
    ("sleep", "sleep_in_bed", "ms", "score.stage_summary.total_in_bed_time_milli"),
    ("sleep", "sleep_light", "ms", "score.stage_summary.total_light_sleep_time_milli"),
    ("sleep", "sleep_deep", "ms", "score.stage_summary.total_slow_wave_sleep_time_milli"),
    ("sleep", "sleep_rem", "ms", "score.stage_summary.total_rem_sleep_time_milli"),
    ("sleep", "sleep_awake", "ms", "score.stage_summary.total_awake_time_milli"),
    ("sleep", "sleep_no_data", "ms", "score.stage_summary.total_no_data_time_milli"),
    ("sleep", "sleep_cycles", "count", "score.stage_summary.sleep_cycle_count"),
    ("sleep", "sleep_disturbances", "count", "score.stage_summary.disturbance_count"),
    ("sleep", "sleep_need_baseline", "ms", "score.sleep_needed.baseline_milli"),
    ("sleep", "sleep_need_from_sleep_debt", "ms", "score.sleep_needed.need_from_sleep_debt_milli"),
    ("sleep", "sleep_need_from_recent_strain", "ms", "score.sleep_needed.need_from_recent_strain_milli"),
    ("sleep", "sleep_need_from_recent_nap", "ms", "score.sleep_needed.need_from_recent_nap_milli"),
    ("sleep", "respiratory_rate", "breaths/min", "score.respiratory_rate"),
    ("sleep", "sleep_efficiency", "%", "score.sleep_efficiency_percentage"),
    ("sleep", "sleep_performance", "%", "score.sleep_performance_percentage"),
    ("sleep", "sleep_consistency", "%", "score.sleep_consistency_percentage"),
    ("recovery", "recovery_score", "%", "score.recovery_score"),
    ("recovery", "resting_heart_rate", "bpm", "score.resting_heart_rate"),
    ("recovery", "hrv_rmssd", "ms", "score.hrv_rmssd_milli"),
    ("recovery", "spo2", "%", "score.spo2_percentage"),
    ("recovery", "skin_temperature", "celsius", "score.skin_temp_celsius"),
    ("workout", "strain", "", "score.strain"),
    ("workout", "energy_expended", "kJ", "score.kilojoule"),
    ("workout", "average_heart_rate", "bpm", "score.average_heart_rate"),
    ("workout", "max_heart_rate", "bpm", "score.max_heart_rate"),
    ("workout", "heart_rate_recorded", "%", "score.percent_recorded"),
    ("workout", "distance", "m", "score.distance_meter"),
    ("workout", "altitude_gain", "m", "score.altitude_gain_meter"),
    ("workout", "altitude_change", "m", "score.altitude_change_meter"),
    *(
        ("workout", f"heart_rate_zone_{n}", "ms", f"score.zone_durations.zone_{name}_milli")
        for n, name in enumerate(("zero", "one", "two", "three", "four", "five"))
    ),
]


@pytest.mark.parametrize(("kind", "indicator", "unit", "path"), WHOOP_FIELDS, ids=lambda v: str(v))
def test_whoop_score_fields_become_their_indicator_with_the_record_value(
    kind: str, indicator: str, unit: str, path: str
) -> None:
    body = first("whoop", kind, has(path))
    assert body["score_state"] == "SCORED"
    found = by_indicator(measurements("whoop", kind, body))[indicator]
    assert_value(found, dig(body, path))
    assert found.unit == unit
    if kind == "recovery":  # a recovery states no span of its own
        assert (found.start, found.end) == (None, None)
    else:
        assert (found.start, found.end) == (body["start"], body.get("end"))


def test_whoop_workout_sport_and_duration_come_from_the_record_span() -> None:
    body = first("whoop", "workout")
    found = by_indicator(measurements("whoop", "workout", body))
    assert found["workout_sport"].value == body["sport_name"] and found["workout_sport"].unit == ""
    span = datetime.fromisoformat(body["end"]) - datetime.fromisoformat(body["start"])
    assert_value(found["workout_duration"], span // timedelta(milliseconds=1))
    assert found["workout_duration"].unit == "ms"
    zones = sum(int(found[f"heart_rate_zone_{n}"].value) for n in range(6))
    assert zones == found["workout_duration"].value  # the sandbox splits the whole span over the zones


def test_whoop_sleep_says_whether_it_was_a_nap() -> None:
    main = first("whoop", "sleep", lambda body: body["nap"] is False)
    nap = first("whoop", "sleep", lambda body: body["nap"] is True)
    assert by_indicator(measurements("whoop", "sleep", main))["sleep_kind"].value == "main"
    nap_found = by_indicator(measurements("whoop", "sleep", nap))
    assert nap_found["sleep_kind"].value == "nap"
    assert "sleep_performance" not in nap_found  # WHOOP does not report it for naps: no line is made up


def pending_day(user: str) -> tuple[date, Snapshot]:
    """A day with a workout, and a snapshot late that evening: every record of the day exists, none is scored."""
    offset = WHOOP_DATA.offset(user)
    for n in range(DAYS):
        day = FIRST_DAY + timedelta(days=n)
        snap = snapshot("whoop", user, at_local(day, offset, 23 * 60))
        if WHOOP_DATA.day_records("workout", snap, day):
            return day, snap
    raise AssertionError("no day with a workout")


def test_pending_whoop_records_yield_no_score_lines() -> None:
    day, snap = pending_day("u1")
    allowed = {
        "cycle": set(),
        "recovery": set(),
        "sleep": {"sleep_kind"},
        "workout": {"workout_sport", "workout_duration"},
    }
    for kind, unscored in allowed.items():
        records = WHOOP_DATA.day_records(kind, snap, day)
        assert records, kind
        for record in records:
            assert record.body["score_state"] == "PENDING_SCORE" and "score" not in record.body
            assert {m.indicator for m in measurements("whoop", kind, record.body)} == unscored, kind
        data = curated_lines("whoop", kind, "u1", day.isoformat(), "id", "raw/x.json", records[0].body)
        assert data.count(b"\n") == len(unscored) and (data == b"") == (not unscored)


@pytest.mark.parametrize("state", ["PENDING_SCORE", "UNSCORABLE", None])
def test_a_score_is_read_only_from_a_scored_record(state: str | None) -> None:
    body = dict(first("whoop", "recovery"))
    assert measurements("whoop", "recovery", body)
    if state is None:
        del body["score_state"]
    else:
        body["score_state"] = state
    assert measurements("whoop", "recovery", body) == []  # a score that is not final is not landed as curated


def test_whoop_body_measurement() -> None:
    body = {"height_meter": 1.8312, "weight_kilogram": 80.2101, "max_heart_rate": 191}  # as the WHOOP twin answers
    assert measurements("whoop", "body", body) == [
        Measurement("weight", 80.2101, "kg", None, None),
        Measurement("height", 1.8312, "m", None, None),
        Measurement("user_max_heart_rate", 191, "bpm", None, None),
    ]


# -- Fitbit ----------------------------------------------------------------------------------------------------


def test_fitbit_stages_sleep_minutes_by_stage() -> None:
    body = first("fitbit", "sleep", lambda b: b["type"] == "stages")
    found = by_indicator(measurements("fitbit", "sleep", body))
    summary = body["levels"]["summary"]
    expected = {
        "sleep_kind": ("main", ""),
        "sleep_in_bed": (body["timeInBed"], "min"),
        "sleep_asleep": (body["minutesAsleep"], "min"),
        "sleep_awake": (body["minutesAwake"], "min"),
        "sleep_latency": (body["minutesToFallAsleep"], "min"),
        "sleep_efficiency": (body["efficiency"], "%"),
        "sleep_deep": (summary["deep"]["minutes"], "min"),
        "sleep_light": (summary["light"]["minutes"], "min"),
        "sleep_rem": (summary["rem"]["minutes"], "min"),
        "sleep_awakenings": (summary["wake"]["count"], "count"),
    }
    assert {name: (m.value, m.unit) for name, m in found.items()} == expected
    assert all((m.start, m.end) == (body["startTime"], body["endTime"]) for m in found.values())


def test_fitbit_classic_sleep_has_restless_minutes_and_no_stages() -> None:
    body = first("fitbit", "sleep", lambda b: b["type"] == "classic")
    found = by_indicator(measurements("fitbit", "sleep", body))
    summary = body["levels"]["summary"]
    assert found["sleep_kind"].value == "nap"
    assert found["sleep_restless"].value == summary["restless"]["minutes"]
    assert found["sleep_awakenings"].value == summary["awake"]["count"]
    assert found["sleep_asleep"].value == body["minutesAsleep"]
    assert not {"sleep_deep", "sleep_light", "sleep_rem"} & found.keys()


def test_fitbit_exercise_log() -> None:
    body = first("fitbit", "activities", lambda b: "steps" in b and "distance" in b)
    found = by_indicator(measurements("fitbit", "activities", body))
    assert body["distanceUnit"] == "Kilometer"
    expected: dict[str, tuple[object, str]] = {
        "workout_sport": (body["activityName"], ""),
        "workout_duration": (body["duration"], "ms"),
        "workout_active_duration": (body["activeDuration"], "ms"),
        "energy_expended": (body["calories"], "kcal"),
        "steps": (body["steps"], "count"),
        "average_heart_rate": (body["averageHeartRate"], "bpm"),
        "distance": (body["distance"], "km"),
    }
    levels = {"sedentary": "sedentary", "lightly": "lightly_active", "fairly": "fairly_active", "very": "very_active"}
    for level in body["activityLevel"]:
        expected[f"minutes_{levels[level['name']]}"] = (level["minutes"], "min")
    zones = {"Out of Range": "out_of_range", "Fat Burn": "fat_burn", "Cardio": "cardio", "Peak": "peak"}
    for zone in body["heartRateZones"]:
        expected[f"heart_rate_zone_{zones[zone['name']]}"] = (zone["minutes"], "min")
    assert {name: (m.value, m.unit) for name, m in found.items()} == expected
    assert all((m.start, m.end) == (body["startTime"], None) for m in found.values())


def test_fitbit_distance_in_an_unknown_unit_is_left_out() -> None:
    body = dict(first("fitbit", "activities", lambda b: "distance" in b))
    body["distanceUnit"] = "Furlong"
    assert "distance" not in by_indicator(measurements("fitbit", "activities", body))


FITBIT_DAILY: list[tuple[str, str, str, Callable[[Body], object]]] = [
    ("steps", "steps", "count", lambda b: int(b["value"])),
    ("calories", "energy_expended", "kcal", lambda b: int(b["value"])),
    ("distance", "distance", "km", lambda b: float(b["value"])),
    ("heart", "resting_heart_rate", "bpm", lambda b: b["value"]["restingHeartRate"]),
    ("hrv", "hrv_rmssd", "ms", lambda b: b["value"]["dailyRmssd"]),
    ("hrv", "hrv_rmssd_deep", "ms", lambda b: b["value"]["deepRmssd"]),
    ("spo2", "spo2", "%", lambda b: b["value"]["avg"]),
    ("spo2", "spo2_min", "%", lambda b: b["value"]["min"]),
    ("spo2", "spo2_max", "%", lambda b: b["value"]["max"]),
    ("br", "respiratory_rate", "breaths/min", lambda b: b["value"]["breathingRate"]),
]


@pytest.mark.parametrize(("kind", "indicator", "unit", "value"), FITBIT_DAILY, ids=lambda v: str(v))
def test_fitbit_daily_values(kind: str, indicator: str, unit: str, value: Callable[[Body], object]) -> None:
    body = first("fitbit", kind)
    found = by_indicator(measurements("fitbit", kind, body))[indicator]
    assert_value(found, value(body))
    assert found.unit == unit
    assert found.start == found.end == body["dateTime"]


def test_fitbit_series_strings_are_parsed_not_rescaled() -> None:
    assert measurements("fitbit", "steps", {"dateTime": "2026-01-02", "value": "8123"})[0].value == 8123
    assert measurements("fitbit", "distance", {"dateTime": "2026-01-02", "value": "6.27281"})[0].value == 6.27281
    assert measurements("fitbit", "steps", {"dateTime": "2026-01-02", "value": "n/a"}) == []
    assert [number(raw) for raw in ("12", " 7 ", "-3", "1.5", "1e3")] == [12, 7, -3, 1.5, 1000.0]
    assert [number(raw) for raw in ("1_000", "nan", "inf", "", True, None, [1], float("nan"), float("inf"))] == [
        None
    ] * 9


def test_fitbit_daily_heart_rate_zones_have_minutes_and_calories() -> None:
    body = first("fitbit", "heart")
    found = by_indicator(measurements("fitbit", "heart", body))
    zones = {"Out of Range": "out_of_range", "Fat Burn": "fat_burn", "Cardio": "cardio", "Peak": "peak"}
    for zone in body["value"]["heartRateZones"]:
        name = f"heart_rate_zone_{zones[zone['name']]}"
        assert (found[name].value, found[name].unit) == (zone["minutes"], "min")
        assert (found[f"{name}_energy"].value, found[f"{name}_energy"].unit) == (zone["caloriesOut"], "kcal")


# -- Codoon ----------------------------------------------------------------------------------------------------

CODOON_FIELDS = [
    ("tracker", "steps", "count", "steps"),
    ("tracker", "distance", "m", "meters"),
    ("tracker", "energy_expended", "kcal", "calories"),
    ("tracker", "active_minutes", "min", "minutes"),
    ("tracker", "activity_energy_per_weight", "kcal/kg", "activity"),
    ("tracker", "activity_level", "", "status"),
    ("route", "workout_sport", "", "sports_type"),
    ("route", "workout_duration", "min", "total_time"),
    ("route", "distance", "m", "total_length"),
    ("route", "energy_expended", "kcal", "total_calories"),
    ("sleep", "sleep_asleep", "min", "total_minutes"),
    ("sleep", "sleep_deep", "min", "deep_minutes"),
    ("sleep", "sleep_light", "min", "light_minutes"),
    ("sleep", "sleep_goal_fraction", "", "sleep_complete"),
    ("body", "weight", "kg", 1),
    ("body", "height", "cm", 2),
    ("body", "body_fat", "%", 3),
    ("body", "weight_goal", "kg", 4),
]


def codoon_span(kind: str, body: Any) -> tuple[str | None, str | None]:
    if kind == "route":
        return body["start_time"], body["end_time"]
    if kind == "body":
        year, month, day = body[0].split("-")
        iso = f"{year}-{int(month):02d}-{day}"
        return iso, iso
    return None, None  # a tracker day and a night carry no date or time of their own


@pytest.mark.parametrize(("kind", "indicator", "unit", "field"), CODOON_FIELDS, ids=lambda v: str(v))
def test_codoon_fields_read_the_documents_names(kind: str, indicator: str, unit: str, field: str | int) -> None:
    body: Any = next(b for u in USERS for b in bodies("codoon", kind, u) if kind != "body" or b[field] is not None)  # type: ignore[index]
    found = by_indicator(measurements("codoon", kind, body))[indicator]
    assert_value(found, body[field])
    assert found.unit == unit
    assert (found.start, found.end) == codoon_span(kind, body)


def test_a_codoon_body_log_entry_is_positional_and_nulls_give_nothing() -> None:
    entry = ["2012-3-07", "70.5", 172, None, None]  # numbers may come as text; null where absent
    found = measurements("codoon", "body", entry)
    assert [(m.indicator, m.value, m.start) for m in found] == [
        ("weight", 70.5, "2012-03-07"),
        ("height", 172, "2012-03-07"),
    ]
    assert measurements("codoon", "sleep", [1, 2]) == []  # only the body log is positional


# -- every record, every vendor --------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", sorted(GENERATORS))
def test_every_sandbox_record_maps_to_well_formed_measurements(vendor: str) -> None:
    seen: set[str] = set()
    for kind in GENERATORS[vendor].kinds:
        count = 0
        for user in USERS:
            for body in bodies(vendor, kind, user):
                found = measurements(vendor, kind, body)
                assert found, f"{vendor} {kind} record without measurements"
                by_indicator(found)
                for m in found:
                    assert re.fullmatch(r"[a-z][a-z0-9_]*", m.indicator), m
                    assert not isinstance(m.value, bool), m
                    if m.indicator in TEXT_INDICATORS:
                        assert isinstance(m.value, str) and m.value and m.unit == "", m
                    elif m.indicator in UNITLESS_SCORES:
                        assert isinstance(m.value, int | float) and m.unit == "", m
                    else:
                        assert isinstance(m.value, int | float) and m.unit in NUMERIC_UNITS, m
                    seen.add(m.indicator)
                count += 1
        assert count > 0, f"no {vendor} {kind} records generated"
    required = {
        "whoop": {"sleep_deep", "hrv_rmssd", "resting_heart_rate", "spo2", "skin_temperature", "recovery_score"},
        "fitbit": {"steps", "distance", "energy_expended", "minutes_very_active", "sleep_deep", "hrv_rmssd", "spo2"},
        "codoon": {"steps", "distance", "energy_expended", "active_minutes", "sleep_deep", "weight", "body_fat"},
    }
    assert required[vendor] <= seen


# -- JSON lines ------------------------------------------------------------------------------------------------

RAW_BLOB = "raw/whoop/sleep/user=u1/date=2026-01-02/0d4c.json"


def test_curated_lines_one_object_per_measurement_in_the_documented_key_order() -> None:
    body = first("whoop", "sleep", lambda b: b["nap"] is False)
    data = curated_lines("whoop", "sleep", "u1", "2026-01-02", body["id"], RAW_BLOB, body)
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")
    assert lines.pop() == ""
    found = measurements("whoop", "sleep", body)
    assert len(lines) == len(found)
    for line, m in zip(lines, found, strict=True):
        obj = json.loads(line)
        assert list(obj) == LINE_KEYS
        assert obj == {
            "user": "u1",
            "vendor": "whoop",
            "indicator": m.indicator,
            "value": m.value,
            "unit": m.unit,
            "start": m.start,
            "end": m.end,
            "date": "2026-01-02",
            "source_record": RAW_BLOB,
            "data_type": "sleep",
        }
    data = curated_lines("whoop", "recovery", "u1", "2026-01-02", "1", RAW_BLOB, first("whoop", "recovery"))
    recovery = json.loads(data.split(b"\n")[0])
    assert recovery["indicator"] == "recovery_score" and recovery["start"] is None  # JSON null: no span


def test_curated_lines_are_deterministic() -> None:
    body = first("fitbit", "activities")
    args = ("fitbit", "activities", "u1", "2026-01-02", str(body["logId"]), RAW_BLOB)
    once = curated_lines(*args, body)
    reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))
    assert once == curated_lines(*args, body) == curated_lines(*args, reordered)
    assert once


def test_curated_lines_keep_text_in_utf8() -> None:
    body = {**first("whoop", "workout"), "sport_name": "laufen \u00e9t\u00e9 \u6b65"}
    data = curated_lines("whoop", "workout", "u1", "2026-01-02", body["id"], RAW_BLOB, body)
    assert "\u6b65".encode() in data  # UTF-8 text, not \\u escapes
    first_line = json.loads(data.decode("utf-8").split("\n")[0])
    assert first_line["indicator"] == "workout_sport" and first_line["value"] == "laufen \u00e9t\u00e9 \u6b65"


def test_no_measurements_give_empty_bytes() -> None:
    body = first("whoop", "cycle")
    assert curated_lines("whoop", "cycle", "u1", "2026-01-02", "1", RAW_BLOB, body)
    assert curated_lines("polar", "cycle", "u1", "2026-01-02", "1", RAW_BLOB, body) == b""
    assert curated_lines("whoop", "cycle", "u1", "2026-01-02", "1", RAW_BLOB, {**body, "score_state": "PENDING"}) == b""


@pytest.mark.parametrize(
    ("vendor", "kind", "content"),
    [
        ("polar", "sleep", {"score_state": "SCORED", "score": {"hrv_rmssd_milli": 40}}),
        ("whoop", "profile", {"user_id": 1, "email": "a@example.com", "first_name": "A", "last_name": "B"}),
        ("fitbit", "weight", {"weight": 80.0}),
        ("codoon", "cycle", {"steps": 10}),
        ("WHOOP", "recovery", {"score_state": "SCORED", "score": {"hrv_rmssd_milli": 40}}),
        ("whoop", "recovery", [{"score_state": "SCORED", "score": {"hrv_rmssd_milli": 40}}]),
        ("whoop", "recovery", None),
    ],
)
def test_unknown_vendor_type_or_shape_gives_nothing(vendor: str, kind: str, content: Any) -> None:
    assert measurements(vendor, kind, content) == []


def test_known_type_reads_its_field() -> None:  # the positive twin of the test above
    content = {"score_state": "SCORED", "score": {"hrv_rmssd_milli": 40}}
    assert measurements("whoop", "recovery", content) == [Measurement("hrv_rmssd", 40, "ms", None, None)]
