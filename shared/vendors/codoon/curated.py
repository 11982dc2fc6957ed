"""Codoon OpenAPI records -> measurements, reading the field names of Codoon's own document
(``reference/specs/codoon-openapi.md``; the records are what ``shared.vendors.codoon.data`` and the notification worker
land).

- ``tracker``: one ``get_tracker_summary`` entry {status, calories, meters, activity, steps, minutes}. It carries
  no date (the landed record's date is the day): start and end are None.
- ``sleep``: one ``get_sleep_data`` night {deep_minutes, light_minutes, total_minutes (总睡眠时间: asleep, deep +
  light), sleep_complete (a fraction of the sleep goal), detail}; no times of its own.
- ``body``: one ``get_body_log`` positional array, read through ``POSITIONAL`` with the names the document's
  ``post_body_data`` gives the same values: [date, weight kg, height cm, fatrate %, weight_goal kg]; the span is
  the entry's date, as ``YYYY-MM-DD``.
- ``route``: a ``get_route_by_id`` route: ``total_time`` in minutes (单位分钟), times local
  "YYYY-MM-DD HH:MM:SS" as sent, ``sports_type`` a word ("跑步").

Units the document does not state are the sandbox's reading, named here: ``meters``/``total_length`` in m,
calories in kcal, ``activity`` (卡路里/体重) in kcal/kg.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.curated.base import Field, Mapper, Measurement, table, text

TRACKER = (
    Field("steps", "steps", "count"),
    Field("meters", "distance", "m"),
    Field("calories", "energy_expended", "kcal"),
    Field("minutes", "active_minutes", "min"),
    Field("activity", "activity_energy_per_weight", "kcal/kg"),
    Field("status", "activity_level", "", text=True),
)

ROUTE = (
    Field("sports_type", "workout_sport", "", text=True),
    Field("total_time", "workout_duration", "min"),
    Field("total_length", "distance", "m"),
    Field("total_calories", "energy_expended", "kcal"),
)

SLEEP = (
    Field("total_minutes", "sleep_asleep", "min"),
    Field("deep_minutes", "sleep_deep", "min"),
    Field("light_minutes", "sleep_light", "min"),
    Field("sleep_complete", "sleep_goal_fraction", ""),
)

BODY = (
    Field("weight", "weight", "kg"),
    Field("height", "height", "cm"),
    Field("fatrate", "body_fat", "%"),
    Field("weight_goal", "weight_goal", "kg"),
)

POSITIONAL: Mapping[str, tuple[str, ...]] = {"body": ("date", "weight", "height", "fatrate", "weight_goal")}
"""Data types whose records are positional arrays -> the names of their positions (``shared.curated`` reads
such a record as the object these names make)."""

Span = Callable[[Mapping[str, Any]], tuple[str | None, str | None]]


def _mapper(fields: tuple[Field, ...], span: Span) -> Mapper:
    def measure(record: Mapping[str, Any]) -> list[Measurement]:
        return table(record, fields, *span(record))

    return measure


def _none(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return None, None


def _start_end(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return text(record.get("start_time")), text(record.get("end_time"))


def _date(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    raw = text(record.get("date"))
    parts = raw.split("-") if raw else []
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None, None
    day = f"{int(parts[0]):04d}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return day, day


MAPPERS: Mapping[str, Mapper] = {
    "tracker": _mapper(TRACKER, _none),
    "route": _mapper(ROUTE, _start_end),
    "sleep": _mapper(SLEEP, _none),
    "body": _mapper(BODY, _date),
}
