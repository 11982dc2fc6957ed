"""One-time OAuth ``state``: random, stored with the user, vendor, redirect URI and PKCE verifier,
valid for 15 minutes, consumed at most once (a conditional update on the row's ETag decides), and bound to
the browser that opened the link (RFC 6749 §10.12): our start route sets a cookie holding a random value
whose hash is stored with the state, and the callback refuses a state whose cookie is missing or different."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

STATE_TTL_SECONDS = 15 * 60
PARTITION = "state"
# ``__Host-``: Secure, Path=/, no Domain, so no sibling subdomain can plant one (cookie tossing would defeat
# the binding); one cookie per state, so two links opened in one browser do not overwrite each other
BINDING_COOKIE_PREFIX = "__Host-wearsync-connect-"


class StateProblem(StrEnum):
    UNKNOWN = "unknown"  # never issued, or already used
    EXPIRED = "expired"
    WRONG_VENDOR = "wrong_vendor"
    OTHER_BROWSER = "other_browser"  # the callback came without the cookie of the browser that opened the link


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


@dataclass(frozen=True)
class BrowserBinding:
    """The cookie that ties a state to the browser that opened the link."""

    cookie_name: str
    value: str = field(repr=False)
    max_age: int


def binding_cookie_name(state: str) -> str:
    return BINDING_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


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
                "browser": "",
            }
        )
        return pending

    def open(self, vendor: str, state: str) -> tuple[PendingConnect, BrowserBinding]:
        """The link reached our start route: bind the state to this browser. The latest browser to open the link
        is the one that may finish it (a mail scanner that fetched the link first does not lock the user out).
        Raises StateRejected."""
        try:
            entity = self.table.get_entity(PARTITION, state)
        except ResourceNotFoundError:
            raise StateRejected(StateProblem.UNKNOWN) from None
        pending = _pending(state, entity)
        if entity.get("used"):
            raise StateRejected(StateProblem.UNKNOWN)
        if pending.vendor != vendor:
            raise StateRejected(StateProblem.WRONG_VENDOR)
        if pending.expires_at < time.time():
            raise StateRejected(StateProblem.EXPIRED)
        value = secrets.token_urlsafe(32)
        try:
            self.table.update_entity(
                {"PartitionKey": PARTITION, "RowKey": state, "browser": _digest(value)},
                mode=UpdateMode.MERGE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            raise StateRejected(StateProblem.UNKNOWN) from None  # used (or reopened) meanwhile
        max_age = max(1, int(pending.expires_at - time.time()))
        return pending, BrowserBinding(binding_cookie_name(state), value, max_age)

    def consume(self, vendor: str, state: str, browser: str | None, *, require_browser: bool = True) -> PendingConnect:
        """Take the state out of the store (single use) and check it. ``browser`` is the value of the state's
        cookie; a missing or different one is refused before the state is spent, so the browser that opened
        the link can still finish. Raises StateRejected."""
        try:
            entity = self.table.get_entity(PARTITION, state)
            if entity.get("used"):
                raise StateRejected(StateProblem.UNKNOWN)
            if require_browser:
                bound = str(entity.get("browser") or "")
                if not bound or not browser or not hmac.compare_digest(_digest(browser), bound):
                    raise StateRejected(StateProblem.OTHER_BROWSER)
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
        pending = _pending(state, entity)
        if pending.vendor != vendor:
            raise StateRejected(StateProblem.WRONG_VENDOR)
        if pending.expires_at < time.time():
            raise StateRejected(StateProblem.EXPIRED)
        return pending


def _pending(state: str, entity: Mapping[str, Any]) -> PendingConnect:
    return PendingConnect(
        state=state,
        vendor=str(entity["vendor"]),
        user_id=str(entity["user_id"]),
        redirect_uri=str(entity["redirect_uri"]),
        code_verifier=str(entity.get("code_verifier") or "") or None,
        expires_at=float(entity["expires_at"]),
    )
