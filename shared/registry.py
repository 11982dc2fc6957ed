"""The connection registry in Table storage: one row per (vendor, user) with health, scopes, the secret's
name, the last rotation/pull/error and watermarks; a lookup row per (vendor, vendor user id).

Never holds a token. Timestamps are ISO-8601 UTC strings so the table reads well in Storage Explorer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.naming import secret_name
from shared.table_keys import table_key


class Status(StrEnum):
    ACTIVE = "active"
    DEGRADED = "degraded"  # repeated transient failures; still retried
    REAUTH_REQUIRED = "reauth_required"  # the vendor rejected the stored grant: the user must reconnect
    DISCONNECTED = "disconnected"
    VENDOR_RETIRED = "vendor_retired"  # the vendor's API answers 410 Gone
    # the vendor rejects our client (invalid_client, a wrong secret): an operator's fix, not the user's; still
    # retried with backoff, so fixing the setting heals the connection at its next refresh
    CLIENT_MISCONFIGURED = "client_misconfigured"
    # the user connected the vendor that succeeds this one (``Vendor.succeeds``): this connection's landed history
    # stays where it is, its secret is disabled, and the successor's connection carries on from ``data_until``
    MOVED = "moved"


class MoveState(StrEnum):
    """Where the move of a successor's connection stands (``shared.moves``); "" for a vendor that succeeds none."""

    PENDING = "pending"  # the identity (the id at the predecessor) is not read yet: the pull waits
    MOVING = "moving"  # the history's start is known; the predecessor's connection is still to be marked moved
    DONE = "done"  # moved, or nothing to move
    HELD = "held"  # the predecessor's account is connected to another user here: nothing was moved


# connections that are refreshed, rotated, pulled and notified; a client_misconfigured one stays usable: its
# access token may still be valid, and the rotation's retries are what notice the fixed setting
USABLE = (Status.ACTIVE, Status.DEGRADED, Status.CLIENT_MISCONFIGURED)

# one column per data type the vendor refused with a 401/403 on its data call (value: when), so concurrent pulls
# of different types never overwrite each other's mark
REFUSED_PREFIX = "refused_type_"


def now_iso(after_seconds: float = 0.0) -> str:
    """UTC now (plus ``after_seconds``) as ISO-8601 with a Z, to the second: how the registry stores time."""
    moment = datetime.now(UTC) + timedelta(seconds=after_seconds)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Connection:
    vendor: str
    user_id: str
    status: Status = Status.ACTIVE
    vendor_user_id: str = ""
    scopes: str = ""  # the current access token's scopes (a refresh may narrow them)
    granted_scopes: str = ""  # what the user granted at consent: what the pull asks for
    secret_name: str = ""
    created_at: str = ""
    connected_at: str = ""
    last_refresh_at: str = ""
    last_rotation_at: str = ""
    last_pull_at: str = ""
    last_error: str = ""
    last_error_at: str = ""
    consecutive_failures: int = 0
    next_attempt_at: str = ""
    # set before a refresh is sent, cleared once the new pair is in the vault: a marker left behind
    # means a refresh whose outcome never reached the vault (process killed, response lost)
    refresh_started_at: str = ""
    refresh_from_version: str = ""
    watermarks: dict[str, str] = field(default_factory=dict)
    refused_types: dict[str, str] = field(default_factory=dict)  # data type -> when its data call got 401/403
    # a move onto a successor vendor (shared.moves). On the predecessor's row: the successor's connection, when,
    # and the last local day (YYYY-MM-DD) its data landed. On the successor's row: the predecessor's connection, the
    # first local day this one lands (the day after ``data_until``: no day comes from both), the user's id at the
    # predecessor, and how far the move is
    moved_to: str = ""
    moved_at: str = ""
    data_until: str = ""
    moved_from: str = ""
    history_from: str = ""
    legacy_user_id: str = ""
    move_state: str = ""
    # per-user notification subscription (``shared.notify.user_subscriptions``): "subscribed <when>" or
    # "failed <when>: <reason>"; "" when the vendor needs none
    notify_subscription: str = ""

    @property
    def label(self) -> str:
        return f"{self.vendor}/{self.user_id}"

    @property
    def granted(self) -> tuple[str, ...]:
        """The scopes granted at consent (rows from before that was kept: the current token's)."""
        return tuple((self.granted_scopes or self.scopes).split())

    def to_entity(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["watermarks"] = json.dumps(self.watermarks)
        refused = data.pop("refused_types")
        data.update({REFUSED_PREFIX + name: when for name, when in refused.items() if when})
        return {"PartitionKey": self.vendor, "RowKey": self.user_id, **data}

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> Connection:
        known = {f.name for f in fields(cls)} - {"refused_types"}
        data = {k: v for k, v in entity.items() if k in known}
        data["status"] = Status(data.get("status", "active"))
        data["watermarks"] = json.loads(data.get("watermarks") or "{}")
        data["consecutive_failures"] = int(data.get("consecutive_failures") or 0)
        data["refused_types"] = {
            k[len(REFUSED_PREFIX) :]: str(v) for k, v in entity.items() if k.startswith(REFUSED_PREFIX) and v
        }
        return cls(**data)


class ConnectionRegistry:
    def __init__(
        self, tables: TableServiceClient, table_name: str = "connections", lookup_table_name: str = "vendorusers"
    ) -> None:
        self.table: TableClient = tables.get_table_client(table_name)
        self.lookup: TableClient = tables.get_table_client(lookup_table_name)

    def ensure(self) -> None:
        for table in (self.table, self.lookup):
            with contextlib.suppress(ResourceExistsError):
                table.create_table()

    def get(self, vendor: str, user_id: str) -> Connection | None:
        try:
            return Connection.from_entity(self.table.get_entity(vendor, user_id))
        except ResourceNotFoundError:
            return None

    def save(self, connection: Connection) -> Connection:
        """Create or replace the whole row."""
        if not connection.secret_name:
            connection.secret_name = secret_name(connection.vendor, connection.user_id)
        if not connection.created_at:
            connection.created_at = now_iso()
        self.table.upsert_entity(connection.to_entity(), mode=UpdateMode.REPLACE)
        if connection.vendor_user_id:
            self.lookup.upsert_entity(
                {
                    "PartitionKey": connection.vendor,
                    "RowKey": table_key(connection.vendor_user_id),  # the vendor's id may hold '/' and the like
                    "user_id": connection.user_id,
                },
                mode=UpdateMode.REPLACE,
            )
        return connection

    def update(self, vendor: str, user_id: str, **changes: Any) -> None:
        """Merge the given fields into an existing row."""
        entity: dict[str, Any] = {"PartitionKey": vendor, "RowKey": user_id}
        for key, value in changes.items():
            if isinstance(value, StrEnum):
                value = value.value
            elif key == "watermarks":
                value = json.dumps(value)
            entity[key] = "" if value is None else value
        self.table.update_entity(entity, mode=UpdateMode.MERGE)

    def mark_refused(self, vendor: str, user_id: str, data_type: str, refused: bool) -> None:
        """Record (or clear) that the vendor refused one data type's calls with 401/403 (health shows it)."""
        self.update(vendor, user_id, **{REFUSED_PREFIX + data_type: now_iso() if refused else None})

    def user_for_vendor_user(self, vendor: str, vendor_user_id: str) -> str | None:
        try:
            return str(self.lookup.get_entity(vendor, table_key(vendor_user_id))["user_id"])
        except ResourceNotFoundError:
            return None

    def list(self, vendor: str | None = None, user_id: str | None = None) -> Iterator[Connection]:
        clauses, params = [], {}
        if vendor:
            clauses.append("PartitionKey eq @vendor")
            params["vendor"] = vendor
        if user_id:
            clauses.append("RowKey eq @user")
            params["user"] = user_id
        if clauses:
            entities = self.table.query_entities(" and ".join(clauses), parameters=params)
        else:
            entities = self.table.list_entities()
        for entity in entities:
            yield Connection.from_entity(entity)
