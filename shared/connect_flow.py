"""Connecting a vendor account: the link (with single-use state and PKCE), the callback that exchanges
the code, the health of a connection, and disconnecting it. Failures carry a status code and a message
fit to show the user; none carries a token."""

from __future__ import annotations

import contextlib
import hmac
import itertools
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shared.connections import store_connection
from shared.layout import DATA_CONTAINERS, user_segment
from shared.locks import ConnectionLocks, LockTimeout
from shared.moves import MOVE_FAILURES, Moves, move_fields
from shared.naming import InvalidUserId, log_id, validate_user_id
from shared.notify.user_subscriptions import UserSubscriptions
from shared.oauth_state import (
    BrowserBinding,
    OAuthStateStore,
    PendingConnect,
    StateProblem,
    StateRejected,
    pkce_challenge,
)
from shared.pending import CODE_PATTERN, PendingConnection, PendingStore
from shared.pull.planner import freshness
from shared.pull.pull_state import PullStateStore
from shared.pull.puller import types_not_granted
from shared.registry import USABLE, Connection, ConnectionRegistry, MoveState, Status, now_iso
from shared.settings import Settings
from shared.telemetry import Operation, operation
from shared.token_service import TokenService, TokenUnavailable
from shared.tokens import TokenPair
from shared.vault import TokenVault, TransientStoreError, VaultWriteFailed
from shared.vendor_account import fetch_vendor_user_id, revoke
from shared.vendors import FailureKind, VendorError, spec_for
from shared.vendors.registry import vendor_for

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


@dataclass(frozen=True)
class OpenedLink:
    """The start route's answer: send the browser to ``authorize_url`` with ``binding`` set as a cookie."""

    authorize_url: str
    binding: BrowserBinding


@dataclass(frozen=True)
class CallbackResult:
    """What the callback did: stored the connection (confirmation off), or kept a pending one whose one-time
    code goes to the product."""

    vendor: str
    connection: Connection | None = None
    confirm_code: str | None = field(default=None, repr=False)
    confirm_expires_at: float = 0.0


class _AccountHeld(Exception):
    """The vendor account is connected to another user and ALLOW_ACCOUNT_MOVE is off."""


SPENT = "This link has been used: please start again with a new link."


STATE_MESSAGES = {
    StateProblem.UNKNOWN: "This connect link is not valid or has already been used. Please start again.",
    StateProblem.EXPIRED: "This connect link has expired (links are valid for 15 minutes). Please start again.",
    StateProblem.WRONG_VENDOR: "This connect link was made for another vendor. Please start again.",
    StateProblem.OTHER_BROWSER: (
        "This page was not opened in the browser that started connecting (or the browser refused our cookie), "
        "so for your safety nothing was connected. Please start again from your connect link in one browser."
    ),
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
        pending: PendingStore,
        pull_state: PullStateStore | None = None,
        subscriptions: UserSubscriptions | None = None,
    ) -> None:
        self.settings = settings
        self.pull_state = pull_state  # for the freshness ``describe`` shows
        self.states = states
        self.vault = vault
        self.registry = registry
        self.tokens = tokens
        self.locks = locks
        self.blobs = blobs
        self.session = session
        self.pending = pending
        self.subscriptions = subscriptions  # per-user notification subscriptions, once a connection is final
        # moving a connection of a retired vendor onto its successor when the user connects that (shared.moves)
        self.moves = Moves(settings, registry, vault, locks, tokens, session, blobs)

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
    def _within_user_cap(self, vendor: str, user: str) -> None:
        """A vendor that lets an app connect only so many users until it approves the app (the package's
        ``user_cap_setting``; 0 or empty: no cap): a link for one user more is refused, before anyone consents,
        with a message that says why and what to do."""
        key = vendor_for(vendor).user_cap_setting
        raw = self.settings.vendor(vendor).extra.get(key, "") if key else ""
        cap = int(raw) if raw.strip().isdigit() else 0
        if cap <= 0:
            return
        held = {c.user_id for c in self.registry.list(vendor) if c.status is not Status.DISCONNECTED}
        if len(held) >= cap and user not in held:
            title = vendor_for(vendor).title
            raise FlowError(
                403,
                f"{title} lets this app connect at most {cap} users until {title} approves it, and {len(held)} are "
                f"connected: ask {title} to approve the app, then set {vendor.upper()}_{key} to 0.",
            )

    def start(self, vendor: str, user_id: Any) -> ConnectLink:
        """A connect link for the user: our start route, which binds the state to the browser that opens it
        and sends that browser on to the vendor."""
        self._enabled(vendor)
        user = self._user(user_id)
        self._within_user_cap(vendor, user)
        spec = spec_for(vendor)
        pending = self.states.issue(vendor, user, self.settings.redirect_uri(vendor), pkce=spec.supports_pkce)
        url = f"{self.settings.public_base_url}/api/connect/{vendor}/start?{urlencode({'state': pending.state})}"
        return ConnectLink(url, pending.expires_at)

    def open_link(self, vendor: str, state: str) -> OpenedLink:
        """The start route: bind the state to this browser (a cookie) and answer the vendor's consent URL."""
        self._enabled(vendor)
        if not STATE_PATTERN.fullmatch(state):
            raise FlowError(400, "This connect link is malformed. Please ask for a new one.")
        try:
            pending, binding = self.states.open(vendor, state)
        except StateRejected as rejected:
            raise FlowError(400, STATE_MESSAGES[rejected.problem]) from None
        except AzureError as failure:
            log.error("connect link not opened vendor=%s error=%s", vendor, type(failure).__name__)
            raise FlowError(
                503, "The service is unavailable just now. Please open the link again in a minute."
            ) from None
        spec = spec_for(vendor)
        params = {
            "client_id": self.settings.vendor(vendor).client_id,
            "response_type": "code",
            "redirect_uri": pending.redirect_uri,
            "scope": spec.scope_separator.join(spec.authorize_scopes(self.settings.vendor(vendor).extra)),
            "state": pending.state,
            **spec.authorize_extra,
        }
        if pending.code_verifier:
            params.update(code_challenge=pkce_challenge(pending.code_verifier), code_challenge_method="S256")
        return OpenedLink(f"{self.settings.vendor(vendor).url('AUTH_URL')}?{urlencode(params)}", binding)

    # -- the callback -------------------------------------------------------------------------------
    def callback(self, vendor: str, params: Mapping[str, str], browser: str | None = None) -> CallbackResult:
        """Exchange the code. ``browser`` is the value of the state's cookie. With confirmation on, the pair is
        kept as a pending connection and the result carries the one-time code for the product."""
        self._enabled(vendor)
        with operation("connect", vendor=vendor) as op:
            try:
                result = self._callback(vendor, params, browser, op)
            except FlowError as failure:
                op.outcome = "rejected" if failure.status < 500 else "failed"
                raise
            op.outcome = "connected" if result.connection is not None else "pending"
            return result

    def _callback(self, vendor: str, params: Mapping[str, str], browser: str | None, op: Operation) -> CallbackResult:
        state, code, error = params.get("state", ""), params.get("code", ""), params.get("error", "")
        if error:
            if STATE_PATTERN.fullmatch(state):
                with contextlib.suppress(StateRejected, AzureError):
                    self.states.consume(vendor, state, browser, require_browser=False)  # the link is spent either way
            if error == "access_denied":
                raise FlowError(403, "You declined access, so nothing was connected. You can start again at any time.")
            raise FlowError(400, "The vendor reported an error, so nothing was connected. Please start again.")
        if not state or not code:
            raise FlowError(400, "The callback is missing its code or state parameter. Please start again.")
        if not STATE_PATTERN.fullmatch(state) or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise FlowError(400, "The callback parameters are malformed. Please start again.")
        try:
            pending = self.states.consume(vendor, state, browser)
        except StateRejected as rejected:
            raise FlowError(400, STATE_MESSAGES[rejected.problem]) from None
        except AzureError as failure:
            log.error("callback could not read its state vendor=%s error=%s", vendor, type(failure).__name__)
            raise FlowError(503, "The service is unavailable just now, so nothing was connected. " + SPENT) from None
        op.bind(user_id=pending.user_id)
        result: CallbackResult | None = None
        try:
            # one exchange at a time per connection, so the pair exchanged last is the one kept: a vendor that
            # replaces a grant on a new consent accepts only that one
            with self.locks.hold(vendor, pending.user_id):
                result = self._exchange_and_keep(vendor, code, pending)
        except (LockTimeout, AzureError) as failure:
            if result is not None:  # only releasing the lease failed: it lapses by itself, the result stands
                log.warning("callback could not release the lock vendor=%s error=%s", vendor, type(failure).__name__)
                return result
            log.error("callback could not take the lock vendor=%s error=%s", vendor, type(failure).__name__)
            # before the exchange: the code was never used
            raise FlowError(503, "The service is busy or unavailable, so nothing was connected. " + SPENT) from None
        return result

    def _exchange_and_keep(self, vendor: str, code: str, state: PendingConnect) -> CallbackResult:
        try:
            pair = self.tokens.endpoint(vendor).exchange_code(code, state.redirect_uri, state.code_verifier)
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
        # from here on we hold a live grant: every failure withdraws it (or keeps it consistently stored)
        try:
            previous_owner = self._owner_to_replace(vendor, state.user_id, pair)
            if self.settings.connect_confirmation:
                confirm_code, kept = self.pending.create(
                    vendor, state.user_id, pair, self.settings.connect_confirm_seconds
                )
                log.info(
                    "connection pending confirmation vendor=%s connection=%s", vendor, log_id(vendor, state.user_id)
                )
                return CallbackResult(vendor, None, confirm_code, kept.expires_at)
            connection, _ = self._store(vendor, state.user_id, pair, previous_owner)
            self._subscribe(vendor, state.user_id)
            return CallbackResult(vendor, connection)
        except _AccountHeld:
            self._withdraw(vendor, pair)
            raise FlowError(409, _held_message(vendor)) from None
        except Exception as failure:  # any failure after the exchange must withdraw the grant
            log.error("callback could not store the connection vendor=%s error=%s", vendor, type(failure).__name__)
            revoked = self._withdraw(vendor, pair)
            log.warning("callback withdrew the new grant vendor=%s revoked=%s", vendor, revoked)
            raise FlowError(503, "The account could not be saved just now, so it was not connected. " + SPENT) from None

    # -- confirmation (login CSRF: only the product knows who is logged in) -------------------------
    def confirm(self, code: Any, user_id: Any) -> dict[str, Any]:
        """The product confirms a pending connection with the user id of its own session. The right user makes
        it final; another user, or a code confirmed too late, discards it and revokes its grant."""
        if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
            raise FlowError(400, "code must be the connect_code the callback gave the product")
        user = self._user(user_id)
        try:
            found = self.pending.get(code)
        except AzureError as failure:
            log.error("confirm could not read the pending connection error=%s", type(failure).__name__)
            raise FlowError(503, "storage is unavailable; confirm again in a minute") from None
        if found is None:
            raise FlowError(404, "unknown or already used connect code")
        self._enabled(found.vendor)
        with operation("confirm", vendor=found.vendor, user_id=found.user_id) as op:
            try:
                self._confirm(found, user)
            except FlowError as failure:
                op.outcome = "rejected" if failure.status < 500 else "failed"
                raise
            op.outcome = "connected"
        self._subscribe(found.vendor, user)
        return self.describe(found.vendor, user)

    def _confirm(self, found: PendingConnection, user: str) -> None:
        vendor = found.vendor
        try:
            with self.locks.hold(vendor, found.user_id):
                current = self.pending.get_by_key(found.key)  # re-read under the lock: single use
                if current is None:
                    raise FlowError(404, "unknown or already used connect code")
                if not hmac.compare_digest(current.user_id.encode(), user.encode()):
                    self._discard(current, "confirmed for another user")
                    raise FlowError(
                        403,
                        "this connect code was issued for another user: the pending connection was discarded and "
                        "its grant revoked",
                    )
                if current.expired():
                    self._discard(current, "confirmed too late")
                    raise FlowError(
                        410, "this connect code has expired: the pending connection was discarded; connect again"
                    )
                pair = self.pending.pair(current)
                if pair is None:
                    self.pending.remove(current)
                    raise FlowError(410, "this pending connection is gone; connect again")
                try:
                    previous_owner = self._owner_to_replace(vendor, user, pair)
                except _AccountHeld:
                    self._discard(current, "vendor account held by another user")
                    raise FlowError(409, _held_message(vendor)) from None
                self._store(vendor, user, pair, previous_owner)
                self.pending.remove(current)
        except (LockTimeout, AzureError, VaultWriteFailed, TransientStoreError) as failure:
            log.error("confirm could not finish vendor=%s error=%s", vendor, type(failure).__name__)
            raise FlowError(
                503,
                f"storage is unavailable; the pending connection is kept until {_iso(found.expires_at)}: "
                "confirm again in a minute",
            ) from None

    def _subscribe(self, vendor: str, user_id: str) -> None:
        """Subscribe the new connection's user to the vendor's notifications where the vendor wants it per user;
        a failure is noted on the connection and retried later, never undoes the connection."""
        if self.subscriptions is not None:
            self.subscriptions.subscribe(vendor, user_id)

    def expire_pending(self) -> int:
        """Discard every pending connection that was not confirmed in time, revoking its grant. Returns how many
        were discarded; one that fails now is left for the next run."""
        discarded = 0
        for found in list(self.pending.expired()):
            try:
                with self.locks.hold(found.vendor, found.user_id):
                    current = self.pending.get_by_key(found.key)
                    if current is None or not current.expired():
                        continue
                    self._discard(current, "not confirmed in time")
                    discarded += 1
            except (LockTimeout, AzureError, VaultWriteFailed, TransientStoreError) as failure:
                log.warning(
                    "pending connection not expired yet vendor=%s error=%s", found.vendor, type(failure).__name__
                )
        return discarded

    # -- keeping and withdrawing pairs (the caller holds the connection's lock) ---------------------
    def _store(self, vendor: str, user_id: str, pair: TokenPair, previous_owner: str | None) -> tuple[Connection, bool]:
        """Store the pair as the connection's, unless a pair exchanged later is already stored (two links
        completed at once and confirmed in the other order). Returns the connection and whether it was stored."""
        existing = self.registry.get(vendor, user_id)
        stored = self.vault.read(vendor, user_id)
        if (
            existing is not None
            and existing.status in USABLE
            and stored is not None
            and stored.pair.obtained_at > pair.obtained_at
        ):
            return existing, False
        # a vendor that succeeds another: where this connection's history starts, written with its row
        moving = self.moves.prepare(vendor, user_id, pair)
        try:
            connection = store_connection(self.vault, self.registry, vendor, user_id, pair, moving)
        except BaseException:
            if existing is None:  # no row: a secret alone would be an orphan
                with contextlib.suppress(Exception):
                    self.vault.disable(vendor, user_id)
            raise
        self.tokens.cache.put(vendor, user_id, pair)
        if previous_owner:
            self._end_moved(vendor, previous_owner)
        if moving.get("move_state") == MoveState.MOVING:
            self._finish_move(vendor, user_id)
        return connection, True

    def _finish_move(self, vendor: str, user_id: str) -> None:
        """Mark the predecessor's connection moved and disable its secret. The new connection is stored already
        and stays whatever happens here: a failure is left to the next connect or the hourly sweep."""
        try:
            self.moves.finish(vendor, user_id)
        except MOVE_FAILURES as failure:
            log.warning(
                "move left for the sweep vendor=%s connection=%s error=%s",
                vendor,
                log_id(vendor, user_id),
                type(failure).__name__,
            )

    def _owner_to_replace(self, vendor: str, user_id: str, pair: TokenPair) -> str | None:
        """Another user whose live connection holds this vendor account: refused (_AccountHeld) unless
        ALLOW_ACCOUNT_MOVE, then returned so that their connection is ended once this one is stored."""
        owner = self._holder(vendor, pair.vendor_user_id)
        if owner is None or owner == user_id:
            return None
        if not self.settings.allow_account_move:
            log.warning(
                "vendor account held by another user: refused vendor=%s connection=%s", vendor, log_id(vendor, user_id)
            )
            raise _AccountHeld
        log.warning("vendor account moves to another user vendor=%s connection=%s", vendor, log_id(vendor, user_id))
        return owner

    def _holder(self, vendor: str, vendor_user_id: str | None) -> str | None:
        """The user whose usable connection holds this vendor account, if any."""
        if not vendor_user_id:
            return None
        owner = self.registry.user_for_vendor_user(vendor, vendor_user_id)
        if owner is None:
            return None
        connection = self.registry.get(vendor, owner)
        if connection is None or connection.status not in USABLE or connection.vendor_user_id != vendor_user_id:
            return None
        return owner

    def _end_moved(self, vendor: str, owner: str) -> None:
        with self.locks.hold(vendor, owner):
            self.registry.update(
                vendor,
                owner,
                status=Status.DISCONNECTED,
                last_error="the vendor account was connected to another user",
                last_error_at=now_iso(),
                refresh_started_at=None,
                refresh_from_version=None,
            )
            self.vault.disable(vendor, owner)
        self.tokens.cache.put(vendor, owner, None)
        log.warning("connection ended: its vendor account moved vendor=%s connection=%s", vendor, log_id(vendor, owner))

    def _withdraw(self, vendor: str, pair: TokenPair) -> bool:
        """Revoke a grant we do not keep. Not when a live connection holds the same vendor account: a vendor may
        revoke every token of the account for the app, which would end that connection too."""
        try:
            holder = self._holder(vendor, pair.vendor_user_id)
        except AzureError:
            holder = None  # cannot tell: revoke rather than leave a grant nobody holds
        if holder is not None or vendor not in self.settings.vendors:
            return False
        return revoke(
            spec_for(vendor), self.settings.vendor(vendor), pair, self.session, self.settings.http_timeout_seconds
        )

    def _discard(self, pending: PendingConnection, reason: str) -> None:
        pair = self.pending.pair(pending)
        revoked = self._withdraw(pending.vendor, pair) if pair is not None else False
        self.pending.remove(pending)
        log.warning(
            "pending connection discarded vendor=%s connection=%s reason=%s revoked=%s",
            pending.vendor,
            log_id(pending.vendor, pending.user_id),
            reason,
            revoked,
        )

    # -- health and disconnect ----------------------------------------------------------------------
    def describe(self, vendor: str, user_id: Any) -> dict[str, Any]:
        connection = self._existing(vendor, user_id)
        return {
            "vendor": vendor,
            "user_id": connection.user_id,
            "status": connection.status.value,
            "vendor_user_id": connection.vendor_user_id or None,
            "scopes": connection.scopes.split(),  # the current access token's
            "granted_scopes": list(connection.granted),  # at consent: what the pull asks for
            # granted types the connection cannot pull now (a narrowed refresh, or a 401/403 on their data call)
            "types_not_granted": types_not_granted(connection),
            "connected_at": connection.connected_at or None,
            "last_refresh_at": connection.last_refresh_at or None,
            "last_rotation_at": connection.last_rotation_at or None,
            "last_pull_at": connection.last_pull_at or None,
            "last_error": connection.last_error or None,
            "last_error_at": connection.last_error_at or None,
            "consecutive_failures": connection.consecutive_failures,
            # per-user notification subscription ("subscribed <when>" or "failed <when>: <reason>")
            "notify_subscription": connection.notify_subscription or None,
            # per granted type: age of the last successful pull, its freshness, whether the next run pulls it; and
            # the age of the last notification
            "freshness": freshness(self.settings, self.pull_state, connection) if self.pull_state else None,
            # a move onto the vendor that succeeds this one (shared.moves): where each part of the history came from
            **move_fields(connection),
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
            if spec_for(vendor).revoke_style in ("bearer_delete", "access_token_query") and connection.status in USABLE:
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
        """Delete every landed blob of the user for this vendor, raw and curated, with all its versions and
        snapshots; returns how many blobs (names) were deleted.

        The account keeps versions: deleting a blob by name only turns its current version into a previous
        one. So each blob is listed with its versions, deleted by name (the current version, with its
        snapshots), then each version is deleted by id. Where the service keeps no versions (Azurite) the
        listing has none and the delete by name is all. Deleted blobs and versions stay soft-deleted for the
        account's retention (infra: softDeleteDays, 14) and are unrecoverable after it."""
        deleted = 0
        for name in DATA_CONTAINERS:
            container = self.blobs.get_container_client(name)
            try:
                data_types = [p.name for p in container.walk_blobs(name_starts_with=f"{vendor}/", delimiter="/")]
                for prefix in data_types:
                    listing = container.list_blobs(
                        name_starts_with=f"{prefix}{user_segment(user_id)}/", include=["versions"]
                    )
                    for blob_name, items in itertools.groupby(listing, key=lambda item: str(item.name)):
                        versions = [str(item.version_id) for item in items if item.version_id]
                        with contextlib.suppress(ResourceNotFoundError):  # no current version left
                            container.delete_blob(blob_name, delete_snapshots="include")
                        for version_id in versions:
                            with contextlib.suppress(ResourceNotFoundError):
                                container.delete_blob(blob_name, version_id=version_id)
                        deleted += 1
            except ResourceNotFoundError:
                continue
        return deleted


def link_expiry_iso(link: ConnectLink) -> str:
    return _iso(link.expires_at)


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def vendor_title(vendor: str) -> str:
    """How a page names the vendor to a person: its package's ``title``."""
    try:
        return vendor_for(vendor).title
    except KeyError:
        return vendor.capitalize()


def _held_message(vendor: str) -> str:
    return (
        f"This {vendor_title(vendor)} account is already connected to another user of this service, so nothing "
        "was connected or changed. It can be connected here once it is disconnected there."
    )
