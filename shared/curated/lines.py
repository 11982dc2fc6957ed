"""Curated measurements: the standard indicators in one raw vendor record, and their JSON lines.

``measurements(vendor, data_type, content)`` maps a record as the vendor sent it (parsed JSON) to
`Measurement`s through the vendor package's mapping (``Vendor.curated``);
``curated_lines`` serialises them, one JSON object per line, for a ``curated/...`` blob next to the raw one.
Nothing is converted: each value keeps the vendor's unit, and the unit is named.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.curated.base import Measurement
from shared.vendors.registry import vendors

__all__ = ["Measurement", "curated_lines", "measurements"]


def measurements(vendor: str, data_type: str, content: Any) -> list[Measurement]:
    """The measurements in one raw vendor record (``content``: the record as the vendor sent it, parsed JSON).
    Unknown vendor or data type, or a record that is not a JSON object -> []. A record the vendor has not scored yet
    -> only what it states outside the score (maybe [])."""
    found = vendors().get(vendor)
    if found is None:
        return []
    mapper = found.curated.get(data_type)
    names = found.positional.get(data_type)
    if names is not None and isinstance(content, list):  # a record the vendor sends as an array
        content = dict(zip(names, content, strict=False))
    if mapper is None or not isinstance(content, Mapping):
        return []
    return mapper(content)


def curated_lines(
    vendor: str, data_type: str, user_id: str, local_date: str, record_id: str, raw_blob: str, content: Any
) -> bytes:
    """JSON lines (UTF-8, one object per measurement, each ending in "\\n") with the keys user, vendor,
    indicator, value, unit, start, end, date (``local_date``), source_record (``raw_blob``), data_type in that
    order. Empty bytes when the record has no measurements. Same input -> same bytes. (``record_id`` is not
    written: ``raw_blob`` names the record.)"""
    lines = []
    for found in measurements(vendor, data_type, content):
        line = {
            "user": user_id,
            "vendor": vendor,
            "indicator": found.indicator,
            "value": found.value,
            "unit": found.unit,
            "start": found.start,
            "end": found.end,
            "date": local_date,
            "source_record": raw_blob,
            "data_type": data_type,
        }
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n")
    return "".join(lines).encode("utf-8")
