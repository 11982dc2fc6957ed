"""WHOOP v2 records (OpenAPI 2.0.0 schemas Cycle, Sleep, Recovery, WorkoutV2, UserBodyMeasurement) -> measurements.

Score values are read only when ``score_state`` is "SCORED" (PENDING_SCORE and UNSCORABLE records carry no
score, or one that is not final); what the record states outside ``score`` (sleep kind, workout sport and span)
is always read, and ``body`` (the user's body measurement) has no score. Durations stay in WHOOP's milliseconds
("ms"), energy in kilojoules ("kJ"). A recovery and the body measurement have no span of their own: their
measurements have no start or end.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, table, text

CYCLE_SCORE = (
    Field("score.strain", "strain", ""),
    Field("score.kilojoule", "energy_expended", "kJ"),
    Field("score.average_heart_rate", "average_heart_rate", "bpm"),
    Field("score.max_heart_rate", "max_heart_rate", "bpm"),
)

SLEEP_SCORE = (
    Field("score.stage_summary.total_in_bed_time_milli", "sleep_in_bed", "ms"),
    Field("score.stage_summary.total_awake_time_milli", "sleep_awake", "ms"),
    Field("score.stage_summary.total_no_data_time_milli", "sleep_no_data", "ms"),
    Field("score.stage_summary.total_light_sleep_time_milli", "sleep_light", "ms"),
    Field("score.stage_summary.total_slow_wave_sleep_time_milli", "sleep_deep", "ms"),
    Field("score.stage_summary.total_rem_sleep_time_milli", "sleep_rem", "ms"),
    Field("score.stage_summary.sleep_cycle_count", "sleep_cycles", "count"),
    Field("score.stage_summary.disturbance_count", "sleep_disturbances", "count"),
    Field("score.sleep_needed.baseline_milli", "sleep_need_baseline", "ms"),
    Field("score.sleep_needed.need_from_sleep_debt_milli", "sleep_need_from_sleep_debt", "ms"),
    Field("score.sleep_needed.need_from_recent_strain_milli", "sleep_need_from_recent_strain", "ms"),
    Field("score.sleep_needed.need_from_recent_nap_milli", "sleep_need_from_recent_nap", "ms"),
    Field("score.respiratory_rate", "respiratory_rate", "breaths/min"),
    Field("score.sleep_performance_percentage", "sleep_performance", "%"),
    Field("score.sleep_consistency_percentage", "sleep_consistency", "%"),
    Field("score.sleep_efficiency_percentage", "sleep_efficiency", "%"),
)

RECOVERY_SCORE = (
    Field("score.recovery_score", "recovery_score", "%"),
    Field("score.resting_heart_rate", "resting_heart_rate", "bpm"),
    Field("score.hrv_rmssd_milli", "hrv_rmssd", "ms"),
    Field("score.spo2_percentage", "spo2", "%"),
    Field("score.skin_temp_celsius", "skin_temperature", "celsius"),
)

ZONES = ("zero", "one", "two", "three", "four", "five")

WORKOUT_SCORE = (
    Field("score.strain", "strain", ""),
    Field("score.kilojoule", "energy_expended", "kJ"),
    Field("score.average_heart_rate", "average_heart_rate", "bpm"),
    Field("score.max_heart_rate", "max_heart_rate", "bpm"),
    Field("score.percent_recorded", "heart_rate_recorded", "%"),
    Field("score.distance_meter", "distance", "m"),
    Field("score.altitude_gain_meter", "altitude_gain", "m"),
    Field("score.altitude_change_meter", "altitude_change", "m"),
    *(Field(f"score.zone_durations.zone_{name}_milli", f"heart_rate_zone_{n}", "ms") for n, name in enumerate(ZONES)),
)


BODY = (
    Field("weight_kilogram", "weight", "kg"),
    Field("height_meter", "height", "m"),
    Field("max_heart_rate", "user_max_heart_rate", "bpm"),
)
"""``/v2/user/measurement/body`` (a snapshot without a time of its own; ``max_heart_rate`` is the user's
calculated maximum, not a measured one, hence its own indicator)."""


def _span(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return text(record.get("start")), text(record.get("end"))


def _scored(
    record: Mapping[str, Any], fields: tuple[Field, ...], start: str | None, end: str | None
) -> list[Measurement]:
    return table(record, fields, start, end) if record.get("score_state") == "SCORED" else []


def cycle(record: Mapping[str, Any]) -> list[Measurement]:
    return _scored(record, CYCLE_SCORE, *_span(record))


def sleep(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = _span(record)
    found = []
    nap = record.get("nap")
    if isinstance(nap, bool):
        found.append(Measurement("sleep_kind", "nap" if nap else "main", "", start, end))
    return found + _scored(record, SLEEP_SCORE, start, end)


def recovery(record: Mapping[str, Any]) -> list[Measurement]:
    return _scored(record, RECOVERY_SCORE, None, None)


def workout(record: Mapping[str, Any]) -> list[Measurement]:
    start, end = _span(record)
    found = table(record, (Field("sport_name", "workout_sport", "", text=True),), start, end)
    duration = _milliseconds(start, end)
    if duration is not None:
        found.append(Measurement("workout_duration", duration, "ms", start, end))
    return found + _scored(record, WORKOUT_SCORE, start, end)


def _milliseconds(start: str | None, end: str | None) -> int | None:
    """``end - start`` in whole milliseconds (WHOOP states a workout's span, not its duration)."""
    if start is None or end is None:
        return None
    try:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
        span = last - first
    except (ValueError, TypeError):  # unparseable, or one aware and one naive
        return None
    millis = span // timedelta(milliseconds=1)
    return millis if millis >= 0 else None


def body(record: Mapping[str, Any]) -> list[Measurement]:
    return table(record, BODY, None, None)


MAPPERS: Mapping[str, Mapper] = {
    "cycle": cycle,
    "sleep": sleep,
    "recovery": recovery,
    "workout": workout,
    "body": body,
}
