"""Creating and ending connections: the pair goes to the vault first, then the registry row, so a
connection never exists in the registry without its tokens."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.naming import log_id, secret_name, validate_user_id
from shared.registry import Connection, ConnectionRegistry, Status, now_iso
from shared.tokens import TokenPair
from shared.vault import TokenVault

log = logging.getLogger(__name__)


def store_connection(
    vault: TokenVault,
    registry: ConnectionRegistry,
    vendor: str,
    user_id: str,
    pair: TokenPair,
    fields: Mapping[str, str] | None = None,
) -> Connection:
    """Store a freshly obtained pair and (re)activate the connection. A reconnect keeps the same row:
    its history and watermarks stay; the new pair replaces the old one. ``fields``: further columns of the row,
    written with it (a move's, ``shared.moves``)."""
    validate_user_id(user_id)
    vault.write(vendor, user_id, pair)
    existing = registry.get(vendor, user_id)
    stamp = now_iso()
    connection = existing or Connection(vendor=vendor, user_id=user_id, created_at=stamp)
    connection.status = Status.ACTIVE
    connection.vendor_user_id = pair.vendor_user_id or connection.vendor_user_id
    connection.scopes = " ".join(pair.scope)
    connection.granted_scopes = connection.scopes  # what the user consented to: what the pull asks for
    connection.refused_types = {}
    connection.secret_name = secret_name(vendor, user_id)
    connection.connected_at = stamp
    connection.last_refresh_at = stamp
    connection.consecutive_failures = 0
    connection.last_error = connection.last_error_at = ""  # the old error no longer describes the new grant
    connection.next_attempt_at = ""
    connection.refresh_started_at = ""
    connection.refresh_from_version = ""
    for name, value in (fields or {}).items():
        setattr(connection, name, value)
    registry.save(connection)
    log.info(
        "connection stored vendor=%s connection=%s reconnect=%s",
        vendor,
        log_id(vendor, user_id),
        existing is not None,
    )
    return connection
