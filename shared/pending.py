"""Pending connections: a token pair obtained at the callback that waits for the product to confirm it with
the user id of its own session, so that a connect link sent to someone else cannot bind their vendor account
to the sender (login CSRF). The pair waits in the secret store, as a secret of its own; the row in Table
``pendingconnections`` holds no token: the hash of the one-time code, the vendor and user, the vendor
account, the scopes and the expiry. The pair is written before the row, and the row is deleted after the
secret is disabled, so a row never names a pair that is not in the vault, and the sweep finds every pair."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient

from shared.registry import now_iso
from shared.tokens import TokenPair
from shared.vault import TokenVault

PENDING_TABLE = "pendingconnections"
PARTITION = "pending"
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,128}")  # used with fullmatch
VAULT_KEY_PREFIX = "pending:"  # ':' is never in a user id, so a pending secret never shares a connection's name


@dataclass(frozen=True)
class PendingConnection:
    key: str  # sha256 of the one-time code: the code itself is never stored
    vendor: str
    user_id: str
    vendor_user_id: str
    scopes: str
    created_at: str
    expires_at: float
    obtained_at: float
    etag: str = field(default="", compare=False, repr=False)

    @property
    def vault_key(self) -> str:
        """The key the pair is stored under in the token vault, in place of a user id."""
        return VAULT_KEY_PREFIX + self.key

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> PendingConnection:
        return cls(
            key=str(entity["RowKey"]),
            vendor=str(entity["vendor"]),
            user_id=str(entity["user_id"]),
            vendor_user_id=str(entity.get("vendor_user_id") or ""),
            scopes=str(entity.get("scopes") or ""),
            created_at=str(entity.get("created_at") or ""),
            expires_at=float(entity["expires_at"]),
            obtained_at=float(entity.get("obtained_at") or 0.0),
            etag=str(getattr(entity, "metadata", {}).get("etag", "")),
        )


def code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class PendingStore:
    def __init__(self, tables: TableServiceClient, vault: TokenVault, table_name: str = PENDING_TABLE) -> None:
        self.table: TableClient = tables.get_table_client(table_name)
        self.vault = vault

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def create(self, vendor: str, user_id: str, pair: TokenPair, ttl_seconds: float) -> tuple[str, PendingConnection]:
        """Keep the pair as a pending connection; return the one-time code (given to the product) and the row.
        Raises the vault's or the table's error; on a table error the pair's secret is disabled again."""
        code = secrets.token_urlsafe(32)
        pending = PendingConnection(
            key=code_key(code),
            vendor=vendor,
            user_id=user_id,
            vendor_user_id=pair.vendor_user_id or "",
            scopes=" ".join(pair.scope),
            created_at=now_iso(),
            expires_at=time.time() + ttl_seconds,
            obtained_at=pair.obtained_at,
        )
        self.vault.write(vendor, pending.vault_key, pair)
        try:
            self.table.create_entity(
                {
                    "PartitionKey": PARTITION,
                    "RowKey": pending.key,
                    "vendor": vendor,
                    "user_id": user_id,
                    "vendor_user_id": pending.vendor_user_id,
                    "scopes": pending.scopes,
                    "created_at": pending.created_at,
                    "expires_at": pending.expires_at,
                    "obtained_at": pending.obtained_at,
                }
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.vault.disable(vendor, pending.vault_key)
            raise
        return code, pending

    def get(self, code: str) -> PendingConnection | None:
        return self.get_by_key(code_key(code))

    def get_by_key(self, key: str) -> PendingConnection | None:
        try:
            return PendingConnection.from_entity(self.table.get_entity(PARTITION, key))
        except ResourceNotFoundError:
            return None

    def pair(self, pending: PendingConnection) -> TokenPair | None:
        stored = self.vault.read(pending.vendor, pending.vault_key)
        return None if stored is None else stored.pair

    def remove(self, pending: PendingConnection) -> None:
        """Disable the pair's secret (kept for audit, never deleted), then delete the row."""
        self.vault.disable(pending.vendor, pending.vault_key)
        with contextlib.suppress(ResourceNotFoundError):
            self.table.delete_entity(PARTITION, pending.key)

    def expired(self, now: float | None = None) -> Iterator[PendingConnection]:
        moment = time.time() if now is None else now
        for entity in self.table.query_entities(
            "PartitionKey eq @p and expires_at lt @now", parameters={"p": PARTITION, "now": moment}
        ):
            yield PendingConnection.from_entity(entity)
