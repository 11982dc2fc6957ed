"""One-time OAuth ``state``: random, stored with the user, vendor, redirect URI and PKCE verifier,
valid for 15 minutes, and consumed at most once (a conditional delete on the row's ETag decides)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

STATE_TTL_SECONDS = 15 * 60
PARTITION = "state"


class StateProblem(StrEnum):
    UNKNOWN = "unknown"  # never issued, or already used
    EXPIRED = "expired"
    WRONG_VENDOR = "wrong_vendor"


class StateRejected(Exception):
    def __init__(self, problem: StateProblem) -> None:
        self.problem = problem
        super().__init__(f"OAuth state rejected: {problem.value}")


@dataclass(frozen=True)
class PendingConnect:
    state: str = field(repr=False)
    vendor: str
    user_id: str
    redirect_uri: str
    code_verifier: str | None = field(repr=False)
    expires_at: float


def pkce_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OAuthStateStore:
    def __init__(self, tables: TableServiceClient, table_name: str = "oauthstate") -> None:
        self.table: TableClient = tables.get_table_client(table_name)

    def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.table.create_table()

    def issue(self, vendor: str, user_id: str, redirect_uri: str, pkce: bool) -> PendingConnect:
        pending = PendingConnect(
            state=secrets.token_urlsafe(32),
            vendor=vendor,
            user_id=user_id,
            redirect_uri=redirect_uri,
            code_verifier=secrets.token_urlsafe(64) if pkce else None,
            expires_at=time.time() + STATE_TTL_SECONDS,
        )
        self.table.create_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": pending.state,
                "vendor": vendor,
                "user_id": user_id,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.code_verifier or "",
                "expires_at": pending.expires_at,
            }
        )
        return pending

    def consume(self, vendor: str, state: str) -> PendingConnect:
        """Take the state out of the store (single use) and check it. Raises StateRejected."""
        try:
            entity = self.table.get_entity(PARTITION, state)
            if entity.get("used"):
                raise StateRejected(StateProblem.UNKNOWN)
            # claim it: of two concurrent callbacks only one update matches the ETag (delete cannot
            # decide, since deleting a row that is already gone succeeds)
            self.table.update_entity(
                {"PartitionKey": PARTITION, "RowKey": state, "used": True},
                mode=UpdateMode.MERGE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            raise StateRejected(StateProblem.UNKNOWN) from None
        self.table.delete_entity(PARTITION, state)
        pending = PendingConnect(
            state=state,
            vendor=str(entity["vendor"]),
            user_id=str(entity["user_id"]),
            redirect_uri=str(entity["redirect_uri"]),
            code_verifier=str(entity.get("code_verifier") or "") or None,
            expires_at=float(entity["expires_at"]),
        )
        if pending.vendor != vendor:
            raise StateRejected(StateProblem.WRONG_VENDOR)
        if pending.expires_at < time.time():
            raise StateRejected(StateProblem.EXPIRED)
        return pending
