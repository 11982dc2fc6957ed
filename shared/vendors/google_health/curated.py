"""Google Health API points -> measurements, named as WHOOP's and Fitbit's are.

Values as Google sends them (int64 fields come as strings and are parsed, never rescaled), units Google's: distances
in mm, weights in g, energy in kcal, durations as "123s" (read as seconds), VO2 max in mL/kg/min. Spans: a session's
or sample's UTC time (``startTime``/``endTime``, ``physicalTime``), a daily value's local date.

- sleep: sleep_kind (main/nap), sleep_in_bed (``minutesInSleepPeriod``), sleep_asleep, sleep_awake, sleep_latency
  (``minutesToFallAsleep``), minutes per stage (sleep_light, sleep_deep, sleep_rem, sleep_restless) and
  sleep_awakenings (the AWAKE stage's count), as Fitbit's sleep logs give them.
- exercise: workout_sport, workout_duration (s, from the interval), workout_active_duration (s), energy_expended
  (kcal), distance (mm), steps, average_heart_rate, heart_rate_zone_light/_moderate/_vigorous/_peak (s).
- daily totals: steps, distance (mm), active_energy_expended (kcal: active energy only, not Fitbit's total
  ``energy_expended``), average_heart_rate / min_heart_rate / max_heart_rate.
- daily values: resting_heart_rate, hrv_rmssd and hrv_rmssd_deep (ms), spo2 / spo2_min / spo2_max (%),
  respiratory_rate, vo2_max; samples: weight (g), body_fat (%).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, lookup, number, table, text

_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")

SLEEP_SUMMARY = (
    Field("sleep.summary.minutesInSleepPeriod", "sleep_in_bed", "min"),
    Field("sleep.summary.minutesAsleep", "sleep_asleep", "min"),
    Field("sleep.summary.minutesAwake", "sleep_awake", "min"),
    Field("sleep.summary.minutesToFallAsleep", "sleep_latency", "min"),
)
STAGES: Mapping[str, str] = {
    "LIGHT": "sleep_light",
    "DEEP": "sleep_deep",
    "REM": "sleep_rem",
    "RESTLESS": "sleep_restless",
}
ZONES: Mapping[str, str] = {
    "lightTime": "heart_rate_zone_light",
    "moderateTime": "heart_rate_zone_moderate",
    "vigorousTime": "heart_rate_zone_vigorous",
    "peakTime": "heart_rate_zone_peak",
}
EXERCISE = (
    Field("exercise.displayName", "workout_sport", "", text=True),
    Field("exercise.metricsSummary.caloriesKcal", "energy_expended", "kcal"),
    Field("exercise.metricsSummary.distanceMillimeters", "distance", "mm"),
    Field("exercise.metricsSummary.steps", "steps", "count"),
    Field("exercise.metricsSummary.averageHeartRateBeatsPerMinute", "average_heart_rate", "bpm"),
)
ROLLUPS: Mapping[str, tuple[Field, ...]] = {
    "steps": (Field("steps.countSum", "steps", "count"),),
    "distance": (Field("distance.millimetersSum", "distance", "mm"),),
    "active-energy-burned": (Field("activeEnergyBurned.kcalSum", "active_energy_expended", "kcal"),),
    "heart-rate": (
        Field("heartRate.beatsPerMinuteAvg", "average_heart_rate", "bpm"),
        Field("heartRate.beatsPerMinuteMin", "min_heart_rate", "bpm"),
        Field("heartRate.beatsPerMinuteMax", "max_heart_rate", "bpm"),
    ),
}
DAILY: Mapping[str, tuple[str, tuple[Field, ...]]] = {
    "daily-resting-heart-rate": (
        "dailyRestingHeartRate",
        (Field("dailyRestingHeartRate.beatsPerMinute", "resting_heart_rate", "bpm"),),
    ),
    "daily-heart-rate-variability": (
        "dailyHeartRateVariability",
        (
            Field("dailyHeartRateVariability.averageHeartRateVariabilityMilliseconds", "hrv_rmssd", "ms"),
            Field(
                "dailyHeartRateVariability.deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds",
                "hrv_rmssd_deep",
                "ms",
            ),
        ),
    ),
    "daily-oxygen-saturation": (
        "dailyOxygenSaturation",
        (
            Field("dailyOxygenSaturation.averagePercentage", "spo2", "%"),
            Field("dailyOxygenSaturation.lowerBoundPercentage", "spo2_min", "%"),
            Field("dailyOxygenSaturation.upperBoundPercentage", "spo2_max", "%"),
        ),
    ),
    "daily-respiratory-rate": (
        "dailyRespiratoryRate",
        (Field("dailyRespiratoryRate.breathsPerMinute", "respiratory_rate", "breaths/min"),),
    ),
    "daily-vo2-max": ("dailyVo2Max", (Field("dailyVo2Max.vo2Max", "vo2_max", "mL/kg/min"),)),
}
SAMPLES: Mapping[str, tuple[str, tuple[Field, ...]]] = {
    "weight": ("weight", (Field("weight.weightGrams", "weight", "g"),)),
    "body-fat": ("bodyFat", (Field("bodyFat.percentage", "body_fat", "%"),)),
}


def seconds(raw: Any) -> float | int | None:
    """A google-duration ("3600s", "12.5s") in seconds."""
    found = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    if found is None:
        return None
    value = float(found.group(1))
    return int(value) if value.is_integer() else value


def _span(record: Mapping[str, Any], member: str) -> tuple[str | None, str | None]:
    return text(lookup(record, f"{member}.interval.startTime")), text(lookup(record, f"{member}.interval.endTime"))


def sleep(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = _span(record, "sleep")
    found = []
    main, nap = lookup(record, "sleep.metadata.mainSleep"), lookup(record, "sleep.metadata.nap")
    if isinstance(main, bool) or isinstance(nap, bool):
        found.append(Measurement("sleep_kind", "main" if main is True else "nap", "", start, end))
    found += table(record, SLEEP_SUMMARY, start, end)
    stages = lookup(record, "sleep.summary.stagesSummary")
    for stage in stages if isinstance(stages, list) else []:
        if not isinstance(stage, Mapping):
            continue
        kind, minutes, count = stage.get("type"), number(stage.get("minutes")), number(stage.get("count"))
        if kind in STAGES and minutes is not None:
            found.append(Measurement(STAGES[str(kind)], minutes, "min", start, end))
        elif kind == "AWAKE" and count is not None:
            found.append(Measurement("sleep_awakenings", count, "count", start, end))
    return found


def exercise(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = _span(record, "exercise")
    found = table(record, EXERCISE, start, end)
    if not any(m.indicator == "workout_sport" for m in found):
        sport = text(lookup(record, "exercise.exerciseType"))
        if sport is not None:
            found.insert(0, Measurement("workout_sport", sport, "", start, end))
    if start and end:
        try:
            span = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        except ValueError:
            span = None
        if span is not None:
            found.append(Measurement("workout_duration", int(span) if span.is_integer() else span, "s", start, end))
    active = seconds(lookup(record, "exercise.activeDuration"))
    if active is not None:
        found.append(Measurement("workout_active_duration", active, "s", start, end))
    zones = lookup(record, "exercise.metricsSummary.heartRateZoneDurations")
    for key, indicator in ZONES.items():
        value = seconds(zones.get(key)) if isinstance(zones, Mapping) else None
        if value is not None:
            found.append(Measurement(indicator, value, "s", start, end))
    return found


def rollup(data_type: str) -> Mapper:
    fields = ROLLUPS[data_type]

    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        day = _civil(record.get("civilStartTime"))
        return table(record, fields, day, day)

    return measure


def daily(data_type: str) -> Mapper:
    member, fields = DAILY[data_type]

    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        day = _civil(lookup(record, f"{member}.date"))
        return table(record, fields, day, day)

    return measure


def sample(data_type: str) -> Mapper:
    member, fields = SAMPLES[data_type]

    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        at = text(lookup(record, f"{member}.sampleTime.physicalTime"))
        return table(record, fields, at, at)

    return measure


def _civil(value: Any) -> str | None:
    node = value.get("date", value) if isinstance(value, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    try:
        return f"{int(node['year']):04d}-{int(node['month']):02d}-{int(node['day']):02d}"
    except (KeyError, TypeError, ValueError):
        return None


MAPPERS: Mapping[str, Mapper] = {
    "sleep": sleep,
    "exercise": exercise,
    **{name: rollup(name) for name in ROLLUPS},
    **{name: daily(name) for name in DAILY},
    **{name: sample(name) for name in SAMPLES},
}
