"""Names derived from a connection: validated user ids, digests, Key Vault secret names."""

from __future__ import annotations

import hashlib
import re

USER_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")  # used with fullmatch: "$" would accept "\n"


class InvalidUserId(ValueError):
    pass


def validate_user_id(user_id: str) -> str:
    """Our user ids: 1-128 characters of letters, digits and ``._@-``, starting with a letter or digit."""
    if not isinstance(user_id, str) or not USER_ID_PATTERN.fullmatch(user_id):
        raise InvalidUserId(
            "user_id must be 1-128 characters of letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    return user_id


def connection_digest(vendor: str, user_id: str) -> str:
    """A stable, non-reversible id of a connection, safe for logs, blob and secret names."""
    return hashlib.sha256(f"{vendor}\x00{user_id}".encode()).hexdigest()[:32]


def secret_name(vendor: str, user_id: str) -> str:
    """``tok-{vendor}-{digest}``: Key Vault names allow only ``0-9a-zA-Z-`` and are case-insensitive."""
    return f"tok-{vendor}-{connection_digest(vendor, user_id)}"


def log_id(vendor: str, user_id: str) -> str:
    """How log lines name a connection: a short digest, never the user id."""
    return connection_digest(vendor, user_id)[:12]
