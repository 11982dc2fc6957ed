"""Withings records -> measurements (the spec's ``measuregrp_object``/``measure_object``, ``sleep_summary_object``,
``heart_measurement_object``).

- ``measure``: one measurement per measure of the group, its real value ``value * 10^unit`` (the spec: "Value
  should be multiplied by 10 to the power of units to get the real value"), rounded to the digits the exponent
  gives, so a weight ``65750, -3`` is ``65.75`` kg; at the group's ``date``. Indicators and units from the
  spec's ``meastype`` table, named as WHOOP and Fitbit name the same things (``weight``, ``height``,
  ``spo2``, ``skin_temperature``...).
- ``sleep``: the summary's ``data`` over its span; durations in Withings' seconds, ``sleep_efficiency`` (a ratio,
  0-1) as a percentage like WHOOP's and Fitbit's.
- ``heart``: an ECG recording's average heart rate, its Afib classification (a class, unitless) and, from a BPM
  Core, its blood pressure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, lookup, number, table

MEASURE_TYPES: Mapping[int, tuple[str, str]] = {
    1: ("weight", "kg"),
    4: ("height", "m"),
    5: ("fat_free_mass", "kg"),
    6: ("body_fat", "%"),
    8: ("fat_mass", "kg"),
    9: ("blood_pressure_diastolic", "mmHg"),
    10: ("blood_pressure_systolic", "mmHg"),
    11: ("heart_rate", "bpm"),
    12: ("temperature", "celsius"),
    54: ("spo2", "%"),
    71: ("body_temperature", "celsius"),
    73: ("skin_temperature", "celsius"),
    76: ("muscle_mass", "kg"),
    77: ("hydration", "kg"),
    88: ("bone_mass", "kg"),
    91: ("pulse_wave_velocity", "m/s"),
    123: ("vo2_max", "mL/kg/min"),
}

SLEEP = (
    Field("data.total_timeinbed", "sleep_in_bed", "s"),
    Field("data.total_sleep_time", "sleep_asleep", "s"),
    Field("data.lightsleepduration", "sleep_light", "s"),
    Field("data.deepsleepduration", "sleep_deep", "s"),
    Field("data.remsleepduration", "sleep_rem", "s"),
    Field("data.wakeupduration", "sleep_awake", "s"),
    Field("data.sleep_latency", "sleep_latency", "s"),
    Field("data.wakeupcount", "sleep_awakenings", "count"),
    Field("data.hr_average", "average_heart_rate", "bpm"),
    Field("data.hr_min", "min_heart_rate", "bpm"),
    Field("data.hr_max", "max_heart_rate", "bpm"),
    Field("data.rr_average", "respiratory_rate", "breaths/min"),
    Field("data.snoring", "sleep_snoring", "s"),
    Field("data.sleep_score", "sleep_score", ""),
)

HEART = (
    Field("heart_rate", "average_heart_rate", "bpm"),
    Field("ecg.afib", "afib_classification", ""),
    Field("bloodpressure.systole", "blood_pressure_systolic", "mmHg"),
    Field("bloodpressure.diastole", "blood_pressure_diastolic", "mmHg"),
)


def _iso(raw: Any) -> str | None:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    try:
        return datetime.fromtimestamp(raw, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def real_value(value: Any, unit: Any) -> float | int | None:
    """``value * 10^unit``, rounded to the decimals the exponent gives (None unless both are integers)."""
    if isinstance(value, bool) or isinstance(unit, bool) or not isinstance(value, int) or not isinstance(unit, int):
        return None
    if unit >= 0:
        return int(value * 10**unit)
    return round(value * 10.0**unit, -unit)


def measure(record: Mapping[str, Any]) -> list[Measurement]:
    when = _iso(record.get("date"))
    found: list[Measurement] = []
    measures = record.get("measures")
    for item in measures if isinstance(measures, list) else []:
        if not isinstance(item, dict) or isinstance(item.get("type"), bool):
            continue
        mapped = MEASURE_TYPES.get(item.get("type"))  # type: ignore[arg-type]
        value = real_value(item.get("value"), item.get("unit"))
        if mapped is not None and value is not None:
            found.append(Measurement(mapped[0], value, mapped[1], when, None))
    return found


def sleep(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = _iso(record.get("startdate")), _iso(record.get("enddate"))
    found = table(record, SLEEP, start, end)
    efficiency = number(lookup(record, "data.sleep_efficiency"))
    if efficiency is not None:
        found.append(Measurement("sleep_efficiency", round(efficiency * 100, 2), "%", start, end))
    return found


def heart(record: Mapping[str, Any]) -> list[Measurement]:
    return table(record, HEART, _iso(record.get("timestamp")), None)


MAPPERS: Mapping[str, Mapper] = {"measure": measure, "sleep": sleep, "heart": heart}
