"""Per connection and data type: the watermark (every record dated up to it has landed) and the last pull.

Table ``pullstate``, partition ``{vendor}|{user_id}``, row = data type. A watermark only moves forward, with
an ETag-conditional update, so two pulls finishing out of order never move it back; it is written only after
the records of the window it covers have landed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.registry import now_iso

PULL_STATE_TABLE = "pullstate"
ACTIVITY_TABLE = "notifyactivity"
"""Kept by the notification worker (``shared.notify.worker.NOTIFY_ACTIVITY_TABLE``): when each connection's last
notification came (``last_at``, epoch seconds). Read here so the planner knows whose notifications flow."""


@dataclass(frozen=True)
class TypeState:
    vendor: str
    user_id: str
    data_type: str
    watermark: date | None = None
    last_pull_at: str = ""
    last_error: str = ""
    records_landed: int = 0

    @property
    def pulled_at(self) -> datetime | None:
        """When the last successful pull of this type ended (None: never)."""
        if not self.last_pull_at:
            return None
        return datetime.fromisoformat(self.last_pull_at.replace("Z", "+00:00"))

    @classmethod
    def of(cls, entity: Any) -> TypeState:
        vendor, _, user_id = str(entity["PartitionKey"]).partition("|")
        raw = entity.get("watermark") or ""
        return cls(
            vendor,
            user_id,
            str(entity["RowKey"]),
            date.fromisoformat(raw) if raw else None,
            entity.get("last_pull_at") or "",
            entity.get("last_error") or "",
            int(entity.get("records_landed") or 0),
        )


def _partition(vendor: str, user_id: str) -> str:
    return f"{vendor}|{user_id}"


class PullStateStore:
    def __init__(self, tables: TableServiceClient, table_name: str = PULL_STATE_TABLE) -> None:
        self.tables = tables
        self.table: TableClient = tables.get_table_client(table_name)

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def get(self, vendor: str, user_id: str, data_type: str) -> TypeState | None:
        try:
            return TypeState.of(self.table.get_entity(_partition(vendor, user_id), data_type))
        except ResourceNotFoundError:
            return None

    def list(self, vendor: str, user_id: str) -> Iterator[TypeState]:
        query = self.table.query_entities("PartitionKey eq @p", parameters={"p": _partition(vendor, user_id)})
        for entity in query:
            yield TypeState.of(entity)

    def last_notified_at(self, vendor: str, user_id: str) -> datetime | None:
        """When the connection's last notification came (None: never, or no notifications table yet)."""
        try:
            entity = self.tables.get_table_client(ACTIVITY_TABLE).get_entity(vendor, user_id)
        except ResourceNotFoundError:
            return None
        last = float(entity.get("last_at") or 0.0)
        return datetime.fromtimestamp(last, UTC) if last > 0 else None

    def advance(
        self, vendor: str, user_id: str, data_type: str, watermark: date | None, landed: int, at: str | None = None
    ) -> None:
        """Record a finished pull: the watermark moves to ``watermark`` unless it is already later; ``at``: when
        (ISO-8601; default now)."""
        for _ in range(20):
            try:
                entity = self.table.get_entity(_partition(vendor, user_id), data_type)
            except ResourceNotFoundError:
                entity = None
            current = TypeState.of(entity) if entity is not None else None
            mark = current.watermark if current else None
            if watermark is not None and (mark is None or watermark > mark):
                mark = watermark
            row = {
                "PartitionKey": _partition(vendor, user_id),
                "RowKey": data_type,
                "watermark": mark.isoformat() if mark else "",
                "last_pull_at": at or now_iso(),
                "last_error": "",
                "records_landed": (current.records_landed if current else 0) + landed,
            }
            try:
                if entity is None:
                    self.table.create_entity(row)
                else:
                    self.table.update_entity(
                        row,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return
            except (ResourceExistsError, ResourceModifiedError):
                continue
        raise RuntimeError(f"could not record the pull of {vendor} {data_type}: too many concurrent updates")

    def record_error(self, vendor: str, user_id: str, data_type: str, error: str) -> None:
        self.table.upsert_entity(
            {"PartitionKey": _partition(vendor, user_id), "RowKey": data_type, "last_error": error[:1000]},
            mode=UpdateMode.MERGE,
        )

    def clear(self, vendor: str, user_id: str) -> int:
        """Forget every watermark of the connection (its data was purged): the next pull starts afresh."""
        removed = 0
        for state in list(self.list(vendor, user_id)):
            with contextlib.suppress(ResourceNotFoundError):
                self.table.delete_entity(_partition(vendor, user_id), state.data_type)
                removed += 1
        return removed
