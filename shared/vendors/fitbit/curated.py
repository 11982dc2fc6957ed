"""Fitbit Web API records -> measurements.

Data types and what one record is: ``sleep`` a v1.2 sleep log; ``activities`` an exercise log of the activity
log list; ``steps``/``calories``/``distance`` one day of the activity time series ``{"dateTime", "value": "<string>"}``;
``heart``/``hrv``/``spo2``/``br`` one day of those summaries ``{"dateTime", "value": {...}}``. Fitbit times are
the user's local time and are kept as sent (sleep ``startTime``/``endTime`` without offset, an exercise log's
``startTime`` with one); daily values span their ``dateTime`` date. Units as Fitbit sends them to a metric
account: sleep minutes, durations in ms, calories in kcal, the distance series in km, an exercise log's
distance in its ``distanceUnit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, number, slug, table, text

SLEEP = (
    Field("timeInBed", "sleep_in_bed", "min"),
    Field("minutesAsleep", "sleep_asleep", "min"),
    Field("minutesAwake", "sleep_awake", "min"),
    Field("minutesToFallAsleep", "sleep_latency", "min"),
    Field("efficiency", "sleep_efficiency", "%"),
)

SLEEP_STAGES: Mapping[str, str] = {
    "light": "sleep_light",
    "deep": "sleep_deep",
    "rem": "sleep_rem",
    "restless": "sleep_restless",
}
"""``levels.summary`` entries with a stage of their own; "wake"/"awake" minutes are ``minutesAwake`` and
classic "asleep" minutes are ``minutesAsleep`` already, so only their ``count`` is read (as awakenings)."""
WAKE_LEVELS = ("wake", "awake")

EXERCISE = (
    Field("activityName", "workout_sport", "", text=True),
    Field("duration", "workout_duration", "ms"),
    Field("activeDuration", "workout_active_duration", "ms"),
    Field("calories", "energy_expended", "kcal"),
    Field("steps", "steps", "count"),
    Field("averageHeartRate", "average_heart_rate", "bpm"),
)

ACTIVITY_LEVELS: Mapping[str, str] = {
    "sedentary": "minutes_sedentary",
    "lightly": "minutes_lightly_active",
    "fairly": "minutes_fairly_active",
    "very": "minutes_very_active",
}

DISTANCE_UNITS: Mapping[str, str] = {"Kilometer": "km", "Mile": "mi", "Meter": "m"}

DAILY: Mapping[str, tuple[Field, ...]] = {
    "steps": (Field("value", "steps", "count"),),
    "calories": (Field("value", "energy_expended", "kcal"),),
    "distance": (Field("value", "distance", "km"),),
    "heart": (Field("value.restingHeartRate", "resting_heart_rate", "bpm"),),
    "hrv": (Field("value.dailyRmssd", "hrv_rmssd", "ms"), Field("value.deepRmssd", "hrv_rmssd_deep", "ms")),
    "spo2": (
        Field("value.avg", "spo2", "%"),
        Field("value.min", "spo2_min", "%"),
        Field("value.max", "spo2_max", "%"),
    ),
    "br": (Field("value.breathingRate", "respiratory_rate", "breaths/min"),),
}


def sleep(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = text(record.get("startTime")), text(record.get("endTime"))
    found = []
    main = record.get("isMainSleep")
    if isinstance(main, bool):
        found.append(Measurement("sleep_kind", "main" if main else "nap", "", start, end))
    found += table(record, SLEEP, start, end)
    levels = record.get("levels")
    summary = levels.get("summary") if isinstance(levels, Mapping) else None
    if isinstance(summary, Mapping):
        found += _stages(summary, start, end)
    return found


def _stages(summary: Mapping[str, Any], start: str | None, end: str | None) -> list[Measurement]:
    """Minutes per stage of ``levels.summary`` ("stages" logs: deep/light/rem/wake; "classic": asleep/restless/
    awake), and the number of times awake."""
    found = []
    for level, indicator in SLEEP_STAGES.items():
        minutes = number(_get(summary.get(level), "minutes"))
        if minutes is not None:
            found.append(Measurement(indicator, minutes, "min", start, end))
    for level in WAKE_LEVELS:
        count = number(_get(summary.get(level), "count"))
        if count is not None:
            found.append(Measurement("sleep_awakenings", count, "count", start, end))
            break
    return found


def exercise(record: Mapping[str, Any]) -> list[Measurement]:
    start = text(record.get("startTime"))
    found = table(record, EXERCISE, start, None)
    distance, unit = number(record.get("distance")), DISTANCE_UNITS.get(str(record.get("distanceUnit")))
    if distance is not None and unit is not None:
        found.append(Measurement("distance", distance, unit, start, None))
    for level in _objects(record.get("activityLevel")):
        name, minutes = text(level.get("name")), number(level.get("minutes"))
        if name is not None and minutes is not None:
            found.append(Measurement(ACTIVITY_LEVELS.get(name, f"minutes_{slug(name)}"), minutes, "min", start, None))
    return found + heart_rate_zones(record.get("heartRateZones"), start, None)


def heart_rate_zones(zones: Any, start: str | None, end: str | None) -> list[Measurement]:
    """Minutes (and, in the daily summary, kcal ``caloriesOut``) per Fitbit heart-rate zone, by zone name:
    heart_rate_zone_out_of_range, _fat_burn, _cardio, _peak."""
    found = []
    for zone in _objects(zones):
        name = text(zone.get("name"))
        if name is None:
            continue
        indicator = f"heart_rate_zone_{slug(name)}"
        minutes, calories = number(zone.get("minutes")), number(zone.get("caloriesOut"))
        if minutes is not None:
            found.append(Measurement(indicator, minutes, "min", start, end))
        if calories is not None:
            found.append(Measurement(f"{indicator}_energy", calories, "kcal", start, end))
    return found


def daily(data_type: str) -> Mapper:
    fields = DAILY[data_type]

    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        day = text(record.get("dateTime"))
        found = table(record, fields, day, day)
        if data_type == "heart":
            found += heart_rate_zones(_get(record.get("value"), "heartRateZones"), day, day)
        return found

    return measure


def _get(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, Mapping) else None


def _objects(items: Any) -> list[Mapping[str, Any]]:
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


MAPPERS: Mapping[str, Mapper] = {"sleep": sleep, "activities": exercise, **{kind: daily(kind) for kind in DAILY}}
