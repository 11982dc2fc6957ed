"""Connecting a vendor account: the link (with single-use state and PKCE), the callback that exchanges
the code, the health of a connection, and disconnecting it. Failures carry a status code and a message
fit to show the user; none carries a token."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shared.connections import store_connection
from shared.layout import DATA_CONTAINERS, user_segment
from shared.locks import ConnectionLocks
from shared.naming import InvalidUserId, log_id, validate_user_id
from shared.oauth_state import OAuthStateStore, StateProblem, StateRejected, pkce_challenge
from shared.registry import USABLE, Connection, ConnectionRegistry, Status
from shared.settings import Settings
from shared.telemetry import Operation, operation
from shared.token_service import TokenService, TokenUnavailable
from shared.vault import TokenVault, TransientStoreError, VaultWriteFailed
from shared.vendor_account import fetch_vendor_user_id, revoke
from shared.vendors import FailureKind, VendorError, spec_for

log = logging.getLogger(__name__)

STATE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")  # used with fullmatch: "$" would accept a trailing "\n"
MAX_CODE_LENGTH = 2048


class FlowError(Exception):
    """A request that cannot be served: the status code and a message safe to show the user."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class ConnectLink:
    url: str
    expires_at: float


STATE_MESSAGES = {
    StateProblem.UNKNOWN: "This connect link is not valid or has already been used. Please start again.",
    StateProblem.EXPIRED: "This connect link has expired (links are valid for 15 minutes). Please start again.",
    StateProblem.WRONG_VENDOR: "This connect link was made for another vendor. Please start again.",
}

EXCHANGE_FAILURES = {
    FailureKind.TRANSIENT: (502, "The vendor did not answer in time. Nothing was stored; please try again."),
    FailureKind.GRANT_REJECTED: (
        400,
        "The vendor did not accept the authorization (it may have expired). Nothing was stored; please try again.",
    ),
    FailureKind.CLIENT_MISCONFIGURED: (
        502,
        "The vendor rejected this service's credentials. Nothing was stored; the operator has been told.",
    ),
    FailureKind.VENDOR_RETIRED: (410, "The vendor has retired this API; the account cannot be connected."),
}


class ConnectFlow:
    def __init__(
        self,
        settings: Settings,
        states: OAuthStateStore,
        vault: TokenVault,
        registry: ConnectionRegistry,
        tokens: TokenService,
        locks: ConnectionLocks,
        blobs: BlobServiceClient,
        session: requests.Session,
    ) -> None:
        self.settings = settings
        self.states = states
        self.vault = vault
        self.registry = registry
        self.tokens = tokens
        self.locks = locks
        self.blobs = blobs
        self.session = session

    def _enabled(self, vendor: str) -> None:
        if vendor not in self.settings.vendors:
            raise FlowError(404, f"Unknown or disabled vendor: {vendor[:40]!r}.")

    @staticmethod
    def _user(user_id: Any) -> str:
        try:
            return validate_user_id(user_id)
        except InvalidUserId as error:
            raise FlowError(400, str(error)) from None

    # -- the link -----------------------------------------------------------------------------------
    def start(self, vendor: str, user_id: Any) -> ConnectLink:
        self._enabled(vendor)
        user = self._user(user_id)
        spec = spec_for(vendor)
        pending = self.states.issue(vendor, user, self.settings.redirect_uri(vendor), pkce=spec.supports_pkce)
        params = {
            "client_id": self.settings.vendor(vendor).client_id,
            "response_type": "code",
            "redirect_uri": pending.redirect_uri,
            "scope": spec.scope_separator.join(spec.default_scopes),
            "state": pending.state,
        }
        if pending.code_verifier:
            params.update(code_challenge=pkce_challenge(pending.code_verifier), code_challenge_method="S256")
        url = f"{self.settings.vendor(vendor).url('AUTH_URL')}?{urlencode(params)}"
        return ConnectLink(url, pending.expires_at)

    # -- the callback -------------------------------------------------------------------------------
    def callback(self, vendor: str, params: Mapping[str, str]) -> Connection:
        self._enabled(vendor)
        with operation("connect", vendor=vendor) as op:
            try:
                connection = self._callback(vendor, params, op)
            except FlowError as failure:
                op.outcome = "rejected" if failure.status < 500 else "failed"
                raise
            op.outcome = "connected"
            return connection

    def _callback(self, vendor: str, params: Mapping[str, str], op: Operation) -> Connection:
        state, code, error = params.get("state", ""), params.get("code", ""), params.get("error", "")
        if error:
            if STATE_PATTERN.fullmatch(state):
                with contextlib.suppress(StateRejected):
                    self.states.consume(vendor, state)  # the link is spent either way
            if error == "access_denied":
                raise FlowError(403, "You declined access, so nothing was connected. You can start again at any time.")
            raise FlowError(400, "The vendor reported an error, so nothing was connected. Please start again.")
        if not state or not code:
            raise FlowError(400, "The callback is missing its code or state parameter. Please start again.")
        if not STATE_PATTERN.fullmatch(state) or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise FlowError(400, "The callback parameters are malformed. Please start again.")
        try:
            pending = self.states.consume(vendor, state)
        except StateRejected as rejected:
            raise FlowError(400, STATE_MESSAGES[rejected.problem]) from None
        op.bind(user_id=pending.user_id)
        try:
            pair = self.tokens.endpoint(vendor).exchange_code(code, pending.redirect_uri, pending.code_verifier)
            if not pair.vendor_user_id:
                pair = pair.with_user(
                    fetch_vendor_user_id(
                        spec_for(vendor),
                        self.settings.vendor(vendor),
                        pair.access_token,
                        self.session,
                        self.settings.http_timeout_seconds,
                    )
                )
        except VendorError as failure:
            status, message = EXCHANGE_FAILURES[failure.kind]
            log.warning("callback failed vendor=%s outcome=%s code=%s", vendor, failure.kind.value, failure.code)
            raise FlowError(status, message) from None
        previous_owner = self.registry.user_for_vendor_user(vendor, pair.vendor_user_id or "")
        if previous_owner and previous_owner != pending.user_id:
            log.warning(
                "vendor account moves to another user vendor=%s connection=%s",
                vendor,
                log_id(vendor, pending.user_id),
            )
        try:
            return store_connection(self.vault, self.registry, vendor, pending.user_id, pair)
        except (VaultWriteFailed, TransientStoreError, AzureError) as failure:
            log.error("callback could not store the connection vendor=%s error=%s", vendor, type(failure).__name__)
            raise FlowError(503, "The account could not be saved just now. Please try again in a minute.") from None

    # -- health and disconnect ----------------------------------------------------------------------
    def describe(self, vendor: str, user_id: Any) -> dict[str, Any]:
        connection = self._existing(vendor, user_id)
        return {
            "vendor": vendor,
            "user_id": connection.user_id,
            "status": connection.status.value,
            "vendor_user_id": connection.vendor_user_id or None,
            "scopes": connection.scopes.split(),
            "connected_at": connection.connected_at or None,
            "last_refresh_at": connection.last_refresh_at or None,
            "last_rotation_at": connection.last_rotation_at or None,
            "last_pull_at": connection.last_pull_at or None,
            "last_error": connection.last_error or None,
            "last_error_at": connection.last_error_at or None,
            "consecutive_failures": connection.consecutive_failures,
        }

    def _existing(self, vendor: str, user_id: Any) -> Connection:
        self._enabled(vendor)
        connection = self.registry.get(vendor, self._user(user_id))
        if connection is None:
            raise FlowError(404, "No such connection.")
        return connection

    def disconnect(self, vendor: str, user_id: Any, purge: bool = False) -> dict[str, Any]:
        """Mark the connection disconnected (no refresh happens after this), revoke at the vendor where it
        can be, disable the secret, and with ``purge`` delete the user's landed data. Idempotent."""
        connection = self._existing(vendor, user_id)
        revoked = False
        if connection.status is not Status.DISCONNECTED:
            if spec_for(vendor).revoke_style == "bearer_delete" and connection.status in USABLE:
                with contextlib.suppress(TokenUnavailable, VendorError):  # a bearer revoke needs a live token
                    self.tokens.access_token_for(vendor, connection.user_id)
            with self.locks.hold(vendor, connection.user_id):
                self.registry.update(
                    vendor,
                    connection.user_id,
                    status=Status.DISCONNECTED,
                    refresh_started_at=None,
                    refresh_from_version=None,
                )
                stored = self.vault.read(vendor, connection.user_id)
                if stored is not None:
                    revoked = revoke(
                        spec_for(vendor),
                        self.settings.vendor(vendor),
                        stored.pair,
                        self.session,
                        self.settings.http_timeout_seconds,
                    )
                    self.vault.disable(vendor, connection.user_id)
            self.tokens.cache.put(vendor, connection.user_id, None)
        purged = self.purge_data(vendor, connection.user_id) if purge else 0
        log.info(
            "disconnected vendor=%s connection=%s revoked=%s purged=%d",
            vendor,
            log_id(vendor, connection.user_id),
            revoked,
            purged,
        )
        return {
            "vendor": vendor,
            "user_id": connection.user_id,
            "status": Status.DISCONNECTED.value,
            "revoked_at_vendor": revoked,
            "purged_blobs": purged,
        }

    def purge_data(self, vendor: str, user_id: str) -> int:
        """Delete every landed blob of the user for this vendor, raw and curated."""
        deleted = 0
        for name in DATA_CONTAINERS:
            container = self.blobs.get_container_client(name)
            try:
                data_types = [p.name for p in container.walk_blobs(name_starts_with=f"{vendor}/", delimiter="/")]
                for prefix in data_types:
                    for blob in container.list_blobs(name_starts_with=f"{prefix}{user_segment(user_id)}/"):
                        container.delete_blob(blob.name, delete_snapshots="include")
                        deleted += 1
            except ResourceNotFoundError:
                continue
        return deleted


def link_expiry_iso(link: ConnectLink) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(link.expires_at))
