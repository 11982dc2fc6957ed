"""Oura v2 documents (spec schemas PublicDailyActivity, PublicDailySleep, PublicModifiedSleepModel,
PublicDailyReadiness, PublicDailySpO2, PublicDailyStress, DailyResilienceModel, PublicWorkout, PublicSession,
PublicVO2Max, PublicHeartRateRow, PersonalInfoResponse) -> measurements, on the indicators WHOOP and Fitbit use
where the meaning is the same (sleep stages, ``hrv_rmssd``, ``resting_heart_rate``, ``respiratory_rate``, ``spo2``,
``steps``, ``energy_expended``, ``workout_sport``...).

Units as Oura sends them: durations of a sleep or a day in seconds ("s"), energy in kcal, distances in metres,
scores unitless (""). A daily document spans its ``day``; a sleep period and a workout their own times. Oura's
``lowest_heart_rate`` of a sleep period is its resting heart rate (Oura's app calls it so), ``average_hrv`` the
night's RMSSD.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, number, table, text

DAILY_ACTIVITY = (
    Field("score", "activity_score", ""),
    Field("steps", "steps", "count"),
    Field("active_calories", "active_energy", "kcal"),
    Field("total_calories", "energy_expended", "kcal"),
    Field("equivalent_walking_distance", "equivalent_walking_distance", "m"),
    Field("high_activity_time", "active_time_high", "s"),
    Field("medium_activity_time", "active_time_medium", "s"),
    Field("low_activity_time", "active_time_low", "s"),
    Field("sedentary_time", "sedentary_time", "s"),
    Field("resting_time", "resting_time", "s"),
    Field("non_wear_time", "non_wear_time", "s"),
    Field("inactivity_alerts", "inactivity_alerts", "count"),
)
DAILY_SLEEP = (Field("score", "sleep_score", ""),)
SLEEP = (
    Field("time_in_bed", "sleep_in_bed", "s"),
    Field("total_sleep_duration", "sleep_asleep", "s"),
    Field("awake_time", "sleep_awake", "s"),
    Field("light_sleep_duration", "sleep_light", "s"),
    Field("deep_sleep_duration", "sleep_deep", "s"),
    Field("rem_sleep_duration", "sleep_rem", "s"),
    Field("latency", "sleep_latency", "s"),
    Field("efficiency", "sleep_efficiency", "%"),
    Field("restless_periods", "sleep_disturbances", "count"),
    Field("average_breath", "respiratory_rate", "breaths/min"),
    Field("average_heart_rate", "average_heart_rate", "bpm"),
    Field("lowest_heart_rate", "resting_heart_rate", "bpm"),
    Field("average_hrv", "hrv_rmssd", "ms"),
)
READINESS = (
    Field("score", "readiness_score", ""),
    Field("temperature_deviation", "skin_temperature_deviation", "celsius"),
    Field("temperature_trend_deviation", "skin_temperature_trend_deviation", "celsius"),
)
SPO2 = (
    Field("spo2_percentage.average", "spo2", "%"),
    Field("breathing_disturbance_index", "breathing_disturbance_index", ""),
)
STRESS = (
    Field("stress_high", "stress_high", "s"),
    Field("recovery_high", "recovery_high", "s"),
    Field("day_summary", "stress_day_summary", "", text=True),
)
RESILIENCE = (
    Field("level", "resilience_level", "", text=True),
    Field("contributors.sleep_recovery", "resilience_sleep_recovery", ""),
    Field("contributors.daytime_recovery", "resilience_daytime_recovery", ""),
    Field("contributors.stress", "resilience_stress", ""),
)
WORKOUT = (
    Field("activity", "workout_sport", "", text=True),
    Field("intensity", "workout_intensity", "", text=True),
    Field("calories", "energy_expended", "kcal"),
    Field("distance", "distance", "m"),
)
SESSION = (Field("type", "session_kind", "", text=True),)
VO2_MAX = (Field("vo2_max", "vo2_max", "mL/kg/min"),)
PERSONAL_INFO = (Field("weight", "weight", "kg"), Field("height", "height", "m"))
MAIN_SLEEP = "long_sleep"


def _day(fields: tuple[Field, ...]) -> Mapper:
    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        day = text(record.get("day"))
        return table(record, fields, day, day)

    return measure


def _milliseconds(start: str | None, end: str | None) -> int | None:
    if start is None or end is None:
        return None
    try:
        span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except (ValueError, TypeError):
        return None
    millis = span // timedelta(milliseconds=1)
    return millis if millis >= 0 else None


def sleep(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = text(record.get("bedtime_start")), text(record.get("bedtime_end"))
    found = []
    kind = text(record.get("type"))
    if kind is not None and kind != "deleted":
        found.append(Measurement("sleep_kind", "main" if kind == MAIN_SLEEP else "nap", "", start, end))
    return found + table(record, SLEEP, start, end)


def _span_mapper(fields: tuple[Field, ...], duration: str) -> Mapper:
    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        start, end = text(record.get("start_datetime")), text(record.get("end_datetime"))
        found = table(record, fields, start, end)
        millis = _milliseconds(start, end)
        if millis is not None:
            found.append(Measurement(duration, millis, "ms", start, end))
        return found

    return measure


def heartrate(record: Mapping[str, Any]) -> list[Measurement]:
    """One line per sample of the day (``{"day", "data": [rows]}``), at its instant."""
    rows = record.get("data")
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping):
            continue
        bpm, at = number(row.get("bpm")), text(row.get("timestamp"))
        if bpm is not None and at is not None:
            found.append(Measurement("heart_rate", bpm, "bpm", at, at))
    return found


def personal_info(record: Mapping[str, Any]) -> list[Measurement]:
    return table(record, PERSONAL_INFO, None, None)


MAPPERS: Mapping[str, Mapper] = {
    "daily_activity": _day(DAILY_ACTIVITY),
    "daily_sleep": _day(DAILY_SLEEP),
    "sleep": sleep,
    "daily_readiness": _day(READINESS),
    "daily_spo2": _day(SPO2),
    "daily_stress": _day(STRESS),
    "daily_resilience": _day(RESILIENCE),
    "workout": _span_mapper(WORKOUT, "workout_duration"),
    "session": _span_mapper(SESSION, "session_duration"),
    "vo2_max": _day(VO2_MAX),
    "heartrate": heartrate,
    "personal_info": personal_info,
}
