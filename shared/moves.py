"""Moving a connection onto the vendor that succeeds its vendor (``Vendor.succeeds``), when the same user connects
the successor. Names no vendor: it reads the packages.

The successor's identity (``VendorSpec.legacy_user_id``) names the id the same person had at the predecessor. The
predecessor's connection holding that vendor user id, for the same wearsync user, is moved:

1. ``prepare``, before the successor's connection is stored, reads the identity and the predecessor's pull state and
   returns the successor row's move fields, written with the row itself (one write): ``moved_from``,
   ``legacy_user_id`` and ``history_from``, the day after the last local day any of the predecessor's records
   landed on. The pull never lands a day before ``history_from`` (``shared.pull.puller``), so no day
   comes from both vendors, and the two rows say which range came from which.
2. ``finish``, under the predecessor's lock: its row becomes ``moved`` (``moved_to``, ``moved_at``,
   ``data_until``); its landed history stays where it is; then its secret is disabled (after a best-effort revoke
   where the connection was still usable). Last, the successor's ``move_state`` becomes ``done``.

Every step is idempotent and the successor's ``move_state`` says what is left (``pending``: the identity could not
be read, and the successor's pull waits; ``moving``: step 2 is left), so a crash or a storage failure at any point
is repaired by the next connect of the user or by ``sweep`` (run by the hourly clean-up). The successor's connection
is never lost to a failed move: it is stored first, and a move that fails is only logged.

A predecessor account connected here to another wearsync user is not moved (a vendor account is never moved to
another user silently): its connection stays as it is, listed as still to move, and the successor's row says
``held``. A disconnected predecessor is left as it is, but its landed days still set ``history_from``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import requests
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from shared.layout import RAW_CONTAINER, user_segment
from shared.locks import ConnectionLocks, LockTimeout
from shared.naming import log_id
from shared.registry import USABLE, Connection, ConnectionRegistry, MoveState, Status, now_iso
from shared.retirement import successor_of
from shared.settings import Settings
from shared.token_service import TokenService, TokenUnavailable
from shared.tokens import TokenPair
from shared.vault import TokenVault, TransientStoreError, VaultWriteFailed
from shared.vendor_account import fetch_identity, revoke
from shared.vendors import VendorError, spec_for
from shared.vendors.registry import vendor_for, vendors

log = logging.getLogger(__name__)

# what a move step may meet: storage, the vault, a lock or the vendor not answering; all are retried later
MOVE_FAILURES = (AzureError, LockTimeout, VendorError, TokenUnavailable, TransientStoreError, VaultWriteFailed)


class Moves:
    def __init__(
        self,
        settings: Settings,
        registry: ConnectionRegistry,
        vault: TokenVault,
        locks: ConnectionLocks,
        tokens: TokenService,
        session: requests.Session,
        blobs: BlobServiceClient,
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.registry = registry
        self.vault = vault
        self.locks = locks
        self.tokens = tokens
        self.session = session

    # -- step 1: the successor's row ----------------------------------------------------------------
    def prepare(self, vendor: str, user_id: str, pair: TokenPair) -> dict[str, str]:
        """The move fields of the successor's row, to be written with it ({} for a vendor that succeeds none).
        Never raises: what cannot be read now leaves the move ``pending``."""
        if not vendor_for(vendor).succeeds:
            return {}
        try:
            return self._plan(vendor, user_id, pair.access_token)
        except MOVE_FAILURES as failure:
            log.warning(
                "move not prepared, left pending vendor=%s connection=%s error=%s",
                vendor,
                log_id(vendor, user_id),
                type(failure).__name__,
            )
            return {"move_state": MoveState.PENDING.value}

    def _plan(self, vendor: str, user_id: str, access_token: str) -> dict[str, str]:
        predecessor = vendor_for(vendor).succeeds or ""
        identity = fetch_identity(
            spec_for(vendor),
            self.settings.vendor(vendor),
            access_token,
            self.session,
            self.settings.http_timeout_seconds,
        )
        legacy = identity.legacy_user_id if identity else None
        fields = {"legacy_user_id": legacy or "", "moved_from": "", "history_from": "", "move_state": "done"}
        if not legacy:
            return fields  # the user had no account at the predecessor: nothing to move
        owner = self.registry.user_for_vendor_user(predecessor, legacy)
        old = self.registry.get(predecessor, owner) if owner else None
        if old is None or old.vendor_user_id != legacy:
            return fields
        if old.user_id != user_id:
            log.warning(
                "move refused: the %s account is connected to another user vendor=%s connection=%s",
                predecessor,
                vendor,
                log_id(vendor, user_id),
            )
            return {**fields, "move_state": MoveState.HELD.value}
        until = old.data_until if old.status is Status.MOVED and old.data_until else self.data_until(old)
        first = (date.fromisoformat(until) + timedelta(days=1)).isoformat() if until else ""
        state = MoveState.DONE if old.status is Status.DISCONNECTED else MoveState.MOVING
        return {**fields, "moved_from": old.label, "history_from": first, "move_state": state.value}

    def data_until(self, old: Connection) -> str:
        """The last local day any record of the connection landed on ("" when none did), over its data types with
        a history (raw blobs, listed by day): the successor starts the day after, so no day has records of both.
        Not its watermarks: a live pull's reaches the latest local date anywhere (UTC today + 1), a day the user
        may not have lived when the predecessor was last pulled, which would leave a day of nobody's records."""
        parts = vendors().get(old.vendor)
        kinds = parts.data.data_types if parts is not None else {}
        container = self.blobs.get_container_client(RAW_CONTAINER)
        last = ""
        try:
            for prefix in container.walk_blobs(name_starts_with=f"{old.vendor}/", delimiter="/"):
                kind = kinds.get(str(prefix.name).split("/")[1])
                if kind is not None and kind.snapshot:
                    continue
                user = f"{prefix.name}{user_segment(old.user_id)}/"
                for day in container.walk_blobs(name_starts_with=user, delimiter="/"):
                    last = max(last, str(day.name).rstrip("/").rpartition("date=")[2])
        except ResourceNotFoundError:  # nothing ever landed
            return ""
        return last

    # -- step 2: the predecessor's row and secret -----------------------------------------------------
    def finish(self, vendor: str, user_id: str) -> str:
        """Run what is left of the move of the successor's connection ``vendor``/``user_id``; returns its
        ``move_state`` after. Idempotent; raises one of ``MOVE_FAILURES`` when a step fails (retry later)."""
        connection = self.registry.get(vendor, user_id)
        if connection is None or connection.status not in USABLE or not vendor_for(vendor).succeeds:
            return connection.move_state if connection else ""
        if connection.move_state == MoveState.PENDING:
            fields = self._plan(vendor, user_id, self.tokens.access_token_for(vendor, user_id))
            self.registry.update(vendor, user_id, **fields)
            connection = self.registry.get(vendor, user_id) or connection
        if connection.move_state != MoveState.MOVING:
            return connection.move_state
        old_vendor, _, owner = connection.moved_from.partition("/")
        self._mark_moved(old_vendor, owner, connection)
        self.registry.update(vendor, user_id, move_state=MoveState.DONE)
        return MoveState.DONE.value

    def _mark_moved(self, old_vendor: str, owner: str, successor: Connection) -> None:
        until = ""
        if successor.history_from:
            until = (date.fromisoformat(successor.history_from) - timedelta(days=1)).isoformat()
        with self.locks.hold(old_vendor, owner):
            old = self.registry.get(old_vendor, owner)
            if old is None:
                return
            if old.status is not Status.MOVED:
                revoked = self._revoke(old) if old.status in USABLE else False
                self.registry.update(
                    old_vendor,
                    owner,
                    status=Status.MOVED,
                    moved_to=successor.label,
                    moved_at=now_iso(),
                    data_until=until,
                    last_error=None,  # the retirement is no longer anything to act on: the move says what happened
                    last_error_at=None,
                    refresh_started_at=None,
                    refresh_from_version=None,
                    next_attempt_at=None,
                )
                log.info(
                    "connection moved vendor=%s connection=%s to=%s revoked=%s",
                    old_vendor,
                    log_id(old_vendor, owner),
                    successor.vendor,
                    revoked,
                )
            self.vault.disable(old_vendor, owner)  # again on a re-run: a crash may have come before it
        self.tokens.cache.put(old_vendor, owner, None)

    def _revoke(self, old: Connection) -> bool:
        """Withdraw the predecessor's grant where it still works (the vendor not yet turned off); best effort."""
        if old.vendor not in self.settings.vendors:
            return False
        with contextlib.suppress(*MOVE_FAILURES):
            stored = self.vault.read(old.vendor, old.user_id)
            if stored is not None:
                return revoke(
                    spec_for(old.vendor),
                    self.settings.vendor(old.vendor),
                    stored.pair,
                    self.session,
                    self.settings.http_timeout_seconds,
                )
        return False

    # -- the sweep and the listing ----------------------------------------------------------------------
    def sweep(self) -> int:
        """Finish every move left ``pending`` or ``moving`` (a crash, a failed write, an identity that did not
        answer). Returns how many finished now; one that fails is logged and left for the next run."""
        finished = 0
        for name, parts in vendors().items():
            if not parts.succeeds or name not in self.settings.vendors:
                continue
            # filtered in the table service (the SDK finds @names between spaces): only the rows with a move left
            left = self.registry.table.query_entities(
                "PartitionKey eq @vendor and ( move_state eq @pending or move_state eq @moving )",
                parameters={"vendor": name, "pending": MoveState.PENDING.value, "moving": MoveState.MOVING.value},
            )
            for connection in [Connection.from_entity(entity) for entity in left]:
                if connection.status not in USABLE:
                    continue
                try:
                    if self.finish(name, connection.user_id) == MoveState.DONE:
                        finished += 1
                except MOVE_FAILURES as failure:
                    log.warning(
                        "move not finished vendor=%s connection=%s error=%s",
                        name,
                        log_id(name, connection.user_id),
                        type(failure).__name__,
                    )
        return finished


def to_move(connection: Connection) -> str | None:
    """The successor vendor a connection is still to move to (None: it has none, or it moved or ended)."""
    if connection.status in (Status.MOVED, Status.DISCONNECTED):
        return None
    return successor_of(connection.vendor)


def move_fields(connection: Connection) -> Mapping[str, Any]:
    """What a connection's health shows of a move (empty for a connection that has none)."""
    shown = {
        "moved_to": connection.moved_to,
        "moved_at": connection.moved_at,
        "data_until": connection.data_until,
        "moved_from": connection.moved_from,
        "history_from": connection.history_from,
        "legacy_user_id": connection.legacy_user_id,
        "move_state": connection.move_state,
        "to_move_to": to_move(connection) or "",
    }
    return {key: value for key, value in shown.items() if value}
