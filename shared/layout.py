"""Where landed data lives in Blob Storage:
``raw/{vendor}/{data_type}/user={user_id}/date={YYYY-MM-DD}/{record_id}.json`` and the same partitioning
under ``curated/``. The container is the first path segment."""

from __future__ import annotations

RAW_CONTAINER = "raw"
CURATED_CONTAINER = "curated"
DATA_CONTAINERS = (RAW_CONTAINER, CURATED_CONTAINER)


def user_segment(user_id: str) -> str:
    return f"user={user_id}"


def record_blob_name(vendor: str, data_type: str, user_id: str, date: str, record_id: str) -> str:
    """The blob name (within the raw container) of one vendor record."""
    return f"{vendor}/{data_type}/{user_segment(user_id)}/date={date}/{record_id}.json"


def curated_blob_name(vendor: str, data_type: str, user_id: str, date: str, record_id: str) -> str:
    """The blob name (within the curated container) of one record's measurements, as JSON lines."""
    return f"{vendor}/{data_type}/{user_segment(user_id)}/date={date}/{record_id}.jsonl"
