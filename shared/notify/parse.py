"""Per-vendor notification parsers: raw body bytes -> ``Notification`` records, or ``MalformedNotification``.

Nothing else escapes a parser, whatever the input (property-tested). Every value that ends up in a queue
message is bounded in size, so a message is small. The vendors' ids (WHOOP ``user_id``, ``id``, ``trace_id``;
Fitbit ``ownerId``, ``subscriptionId``) are signed by the vendor and taken as they come, whatever characters
they hold (Fitbit's may end in ``/``): only their type and length are checked. Where an id becomes a Table
key it is encoded there (``shared.table_keys``); in a URL it is quoted. Vocabulary words (types, collections)
and dates keep their shapes.

- WHOOP v2 (vendors.md 2.4): one JSON object ``{"user_id": 10129, "id": "<uuid>", "type": "sleep.updated",
  "trace_id": "<uuid>"}``; ``recovery.*`` ids are the *sleep* UUID.
- Fitbit (vendors.md 1.4): a JSON array of ``{"collectionType", "date", "ownerId", "ownerType",
  "subscriptionId"}``; one notification per element.
- Codoon (its document, "通知接口"): a form POST with ``user_id``, ``catalog`` (``activities`` from a tracker,
  ``gps_sports`` from the GPS app), ``resource_id`` (the device id, or the route id for ``gps_sports``),
  ``start_time``, ``end_time`` (tracker times; empty for ``gps_sports``: kept as None).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import date as Date
from typing import Any
from urllib.parse import parse_qs

MESSAGE_VERSION = 1
MAX_FITBIT_ITEMS = 500
MAX_ID_CHARS = 128  # a signed vendor id: any characters, at most this many

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_WHOOP_TYPE = re.compile(r"([a-z][a-z_]{0,31})\.([a-z][a-z_]{0,31})")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODOON_TIME = re.compile(r"[0-9A-Za-z:+. -]{0,40}")  # empty for gps_sports (the document: tracker times only)
CODOON_FIELDS = ("user_id", "catalog", "resource_id", "start_time", "end_time")
_REQUIRED = frozenset({"vendor", "vendor_user_id", "kind", "collection", "action"})


class MalformedNotification(ValueError):
    """The body is not a notification of this vendor's shape. The message is safe to log (no body text)."""


@dataclass(frozen=True)
class Notification:
    """One vendor notification: "something changed for this vendor user"; the worker fetches the data.

    ``kind`` is the vendor's own word (WHOOP ``type``, Fitbit ``collectionType``, Codoon ``catalog``);
    ``collection`` and ``action`` are the same, split uniformly: WHOOP ``sleep``/``updated``, Fitbit
    ``sleep``/``updated`` (``userRevokedAccess``/``deleteUser`` -> ``revoked``), Codoon ``activities``/``updated``.
    """

    vendor: str
    vendor_user_id: str
    kind: str
    collection: str
    action: str
    record_id: str | None = None  # WHOOP id (recovery: the sleep UUID), Codoon resource_id
    date: str | None = None  # Fitbit's day, YYYY-MM-DD
    trace_id: str | None = None  # WHOOP
    subscription_id: str | None = None  # Fitbit
    start_time: str | None = None  # Codoon, as sent
    end_time: str | None = None  # Codoon, as sent
    received_at: str = ""  # ISO-8601 UTC, set by the intake

    def to_message(self) -> dict[str, Any]:
        return {"v": MESSAGE_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_message(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_message(cls, body: str | bytes) -> Notification:
        """A queue message back into a Notification (for the worker); MalformedNotification if it is not one."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise MalformedNotification("notification message is not JSON") from None
        if not isinstance(data, dict) or data.get("v") != MESSAGE_VERSION:
            raise MalformedNotification(f"notification message must be a JSON object with v={MESSAGE_VERSION}")
        values: dict[str, str] = {}
        for item in fields(cls):
            value = data.get(item.name)
            if value is None and item.name not in _REQUIRED:
                continue
            if not isinstance(value, str) or (item.name in _REQUIRED and not value):
                raise MalformedNotification(f"notification message field {item.name} is missing or malformed")
            values[item.name] = value
        return cls(**values)


def _text(value: object, name: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedNotification(f"{name} is missing or malformed")
    return value


def _vendor_id(value: object, name: str) -> str:
    """A signed vendor id: any non-empty string of at most ``MAX_ID_CHARS`` characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise MalformedNotification(f"{name} is missing, not a string, or longer than {MAX_ID_CHARS} characters")
    return value


def _json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNotification("body is not UTF-8") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedNotification("body is not JSON") from None


def parse_whoop(body: bytes, received_at: str = "") -> list[Notification]:
    data = _json(body)
    if not isinstance(data, dict):
        raise MalformedNotification("WHOOP notification must be a JSON object")
    user = data.get("user_id")
    if isinstance(user, bool) or not isinstance(user, int | str):
        raise MalformedNotification("user_id is missing or malformed")
    user_id = _vendor_id(str(user), "user_id")
    kind = _text(data.get("type"), "type", _WHOOP_TYPE)
    collection, action = kind.split(".", 1)
    record = data.get("id")
    if isinstance(record, int) and not isinstance(record, bool):  # v1 used integer ids; v2 sends UUIDs
        record = str(record)
    return [
        Notification(
            vendor="whoop",
            vendor_user_id=user_id,
            kind=kind,
            collection=collection,
            action=action,
            record_id=_vendor_id(record, "id"),
            trace_id=_vendor_id(data.get("trace_id"), "trace_id"),
            received_at=received_at,
        )
    ]


_FITBIT_REVOKED = {"userRevokedAccess", "deleteUser"}


def _fitbit_item(item: object, received_at: str) -> Notification:
    if not isinstance(item, dict):
        raise MalformedNotification("each Fitbit notification must be a JSON object")
    kind = _text(item.get("collectionType"), "collectionType", _WORD)
    owner = _vendor_id(item.get("ownerId"), "ownerId")
    owner_type = item.get("ownerType", "user")
    if owner_type != "user":
        raise MalformedNotification("ownerType must be 'user'")
    subscription = _vendor_id(item.get("subscriptionId"), "subscriptionId")
    day = item.get("date")
    if day is None and kind in _FITBIT_REVOKED:
        parsed_day = None
    else:
        raw = _text(day, "date", _DAY)
        try:
            parsed_day = Date.fromisoformat(raw).isoformat()
        except ValueError:
            raise MalformedNotification("date is not a calendar day") from None
    return Notification(
        vendor="fitbit",
        vendor_user_id=owner,
        kind=kind,
        collection=kind,
        action="revoked" if kind in _FITBIT_REVOKED else "updated",
        date=parsed_day,
        subscription_id=subscription,
        received_at=received_at,
    )


def parse_fitbit(body: bytes, received_at: str = "") -> list[Notification]:
    data = _json(body)
    if not isinstance(data, list):
        raise MalformedNotification("Fitbit notifications must be a JSON array")
    if len(data) > MAX_FITBIT_ITEMS:
        raise MalformedNotification(f"more than {MAX_FITBIT_ITEMS} Fitbit notifications in one request")
    return [_fitbit_item(item, received_at) for item in data]


def parse_codoon(body: bytes, received_at: str = "") -> list[Notification]:
    try:
        text = body.decode("ascii")
        form = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise MalformedNotification("body is not an ASCII form") from None
    values: dict[str, str] = {}
    for name in CODOON_FIELDS:
        found = form.get(name, [])
        if len(found) != 1:
            raise MalformedNotification(f"{name} must appear exactly once")
        values[name] = found[0]
    catalog = _text(values["catalog"], "catalog", _WORD)
    return [
        Notification(
            vendor="codoon",
            vendor_user_id=_text(values["user_id"], "user_id", _ID),
            kind=catalog,
            collection=catalog,
            action="updated",
            record_id=_text(values["resource_id"], "resource_id", _ID),
            start_time=_text(values["start_time"], "start_time", _CODOON_TIME) or None,
            end_time=_text(values["end_time"], "end_time", _CODOON_TIME) or None,
            received_at=received_at,
        )
    ]


PARSERS = {"whoop": parse_whoop, "fitbit": parse_fitbit, "codoon": parse_codoon}
