"""Codoon OpenAPI records -> measurements (the record shapes are the sandbox's, see ``sandbox.data_codoon``:
Codoon's data methods were never published).

Data types: ``tracker`` one day's summary, ``route`` a GPS sport, ``sleep`` a night, ``body`` a weigh-in. Times
are Codoon's local "YYYY-MM-DD HH:MM:SS" strings, kept as sent; a tracker day spans its ``the_day`` date. Units
as the records name them: ``meters``/``total_length`` in m, ``total_time`` in seconds, calories in kcal,
``*_minutes`` in minutes, weight in kg, ``body_fat_rate`` in %, ``average_speed`` in km/h.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, table, text

TRACKER = (
    Field("steps", "steps", "count"),
    Field("meters", "distance", "m"),
    Field("calories", "energy_expended", "kcal"),
    Field("active_minutes", "active_minutes", "min"),
)

ROUTE = (
    Field("sports_type", "workout_sport", "", text=True),
    Field("total_time", "workout_duration", "s"),
    Field("total_length", "distance", "m"),
    Field("total_calories", "energy_expended", "kcal"),
    Field("average_speed", "average_speed", "km/h"),
)

SLEEP = (
    Field("total_minutes", "sleep_in_bed", "min"),
    Field("deep_minutes", "sleep_deep", "min"),
    Field("light_minutes", "sleep_light", "min"),
    Field("awake_minutes", "sleep_awake", "min"),
    Field("awake_count", "sleep_awakenings", "count"),
)

BODY = (
    Field("weight", "weight", "kg"),
    Field("bmi", "bmi", "kg/m2"),
    Field("body_fat_rate", "body_fat", "%"),
)

Span = Callable[[Mapping[str, Any]], tuple[str | None, str | None]]


def _mapper(fields: tuple[Field, ...], span: Span) -> Mapper:
    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        return table(record, fields, *span(record))

    return measure


def _day(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    day = text(record.get("the_day"))
    return day, day


def _start_end(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return text(record.get("start_time")), text(record.get("end_time"))


def _moment(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    at = text(record.get("time"))
    return at, at


MAPPERS: Mapping[str, Mapper] = {
    "tracker": _mapper(TRACKER, _day),
    "route": _mapper(ROUTE, _start_end),
    "sleep": _mapper(SLEEP, _start_end),
    "body": _mapper(BODY, _moment),
}
