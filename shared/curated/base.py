"""What a curated measurement is, and the small declarative machinery the vendor mappings are written in.

A vendor mapping is a table of `Field`s (a dotted path into the record, the standard indicator name, the unit the
vendor measures it in) plus a few functions for what does not fit a table (lists of zones, per-stage summaries).
Values are taken as the vendor sent them: numbers stay numbers (numeric strings, as some vendors' time series send,
are parsed, never rescaled), units name what the vendor uses. A missing, null, boolean or non-finite value gives no
measurement rather than a made-up one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Value = float | int | str


@dataclass(frozen=True)
class Measurement:
    """One measured value of one record.

    ``indicator``: snake_case standard name ("sleep_deep", "hrv_rmssd", "resting_heart_rate"); ``unit``: the
    vendor's unit ("ms", "%", "bpm", "count", "m", "km", "kcal", "kJ", "min", "s", "kg", "breaths/min",
    "celsius", ...), "" for text and for unitless scores (a strain score); ``start``/``end``: the measured span as
    the record states it (an ISO-8601 instant or local time, or the local date "YYYY-MM-DD" of a daily value),
    None when the record has none."""

    indicator: str
    value: Value
    unit: str
    start: str | None
    end: str | None


UNITS: frozenset[str] = frozenset(
    {
        "",  # text values (a sport's name) and unitless scores (a strain)
        "ms",
        "s",
        "min",
        "%",
        "bpm",
        "count",
        "m",
        "km",
        "mi",
        "cm",
        "kcal",
        "kJ",
        "kg",
        "kg/m2",
        "km/h",
        "kcal/kg",
        "breaths/min",
        "celsius",
        "mmHg",  # blood pressure
        "m/s",  # pulse wave velocity
        "mL/kg/min",  # VO2 max
        "mm",  # distances in millimetres
        "g",  # weights in grams
    }
)
"""Every unit a curated mapping may emit: the one list analysts can rely on (a mapping that needs another adds it
here, in review; the acceptance kit holds every vendor's mapping to it)."""

Mapper = Callable[[Mapping[str, Any]], list[Measurement]]
"""Turns one vendor record (a JSON object) into its measurements."""


@dataclass(frozen=True)
class Field:
    """``path`` (dotted keys into the record) -> ``indicator`` in ``unit``; ``text`` fields keep a string value."""

    path: str
    indicator: str
    unit: str
    text: bool = False


_INTEGER = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def lookup(content: Any, path: str) -> Any:
    """The value at dotted ``path`` in nested objects, or None when any step is missing or not an object."""
    node = content
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def number(raw: Any) -> int | float | None:
    """``raw`` as a number: ints and finite floats as they are, numeric strings ("123", "4.56") parsed;
    anything else (None, booleans, text, NaN) is None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            value = float(text)
            return value if math.isfinite(value) else None
    return None


def text(raw: Any) -> str | None:
    """A non-empty string, else None."""
    return raw if isinstance(raw, str) and raw.strip() else None


def slug(name: str) -> str:
    """ "Fat Burn" -> "fat_burn"."""
    return _NOT_SLUG.sub("_", name.lower()).strip("_")


def table(content: Mapping[str, Any], fields: Iterable[Field], start: str | None, end: str | None) -> list[Measurement]:
    """The measurements of ``fields`` that ``content`` has, in table order, all over the span (start, end)."""
    found: list[Measurement] = []
    for field in fields:
        raw = lookup(content, field.path)
        value = text(raw) if field.text else number(raw)
        if value is not None:
            found.append(Measurement(field.indicator, value, field.unit, start, end))
    return found


MAPPING_VERSION = "1"
"""The version of the vendor mappings' output. Bump it when a mapping changes what it writes: every curated blob
carries the version it was made with, and a record whose curated blob has another version gets its curated lines
rewritten the next time the record is pulled, even when the raw record itself is unchanged."""
