"""Helpers for a vendor package's parser (``Notifications.parse``: raw body bytes -> ``Notification`` records,
or ``MalformedNotification``). Nothing else may escape a parser, whatever the input (property-tested). Every
value that ends up in a queue message is bounded in size, so a message is small.

A vendor's ids, when the vendor signs them, are taken as they come, whatever characters they hold (``vendor_id``:
only their type and length are checked); where an id becomes a Table key it is encoded there
(``shared.table_keys``), in a URL it is quoted. Ids of unsigned notifications, vocabulary words (types,
collections) and dates keep their shapes (``text`` with ``ID``, ``WORD``, ``DAY``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.notify.model import MalformedNotification, Notification

MAX_ID_CHARS = 128  # a signed vendor id: any characters, at most this many

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def text(value: object, name: str, pattern: re.Pattern[str]) -> str:
    """``value`` when it is a string of ``pattern``'s shape; MalformedNotification naming ``name`` otherwise."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedNotification(f"{name} is missing or malformed")
    return value


def vendor_id(value: object, name: str) -> str:
    """A signed vendor id: any non-empty string of at most ``MAX_ID_CHARS`` characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise MalformedNotification(f"{name} is missing, not a string, or longer than {MAX_ID_CHARS} characters")
    return value


def json_body(body: bytes) -> Any:
    """The body as JSON (UTF-8); MalformedNotification when it is not."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNotification("body is not UTF-8") from None
    try:
        return json.loads(decoded)
    except (ValueError, RecursionError):
        raise MalformedNotification("body is not JSON") from None


__all__ = [
    "DAY",
    "ID",
    "MAX_ID_CHARS",
    "WORD",
    "MalformedNotification",
    "Notification",
    "json_body",
    "text",
    "vendor_id",
]
