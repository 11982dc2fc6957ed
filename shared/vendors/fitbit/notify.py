"""Fitbit subscriptions (``reference/vendors.md`` §1.4): how notifications are verified, parsed, and what each
one asks for.

Proof: ``X-Fitbit-Signature`` = base64(HMAC-SHA1(key = client_secret + "&", raw body)). Fitbit's convention: a
wrong or missing signature is answered 404. The subscriber is proven by a handshake: ``GET ?verify=<code>`` is
answered 204 when the code is the subscriber's verification code (setting ``FITBIT_SUBSCRIBER_VERIFY_CODE``),
404 otherwise (Fitbit sends a deliberately wrong code as well and expects 404 for it).

Body: a JSON array of ``{"collectionType", "date", "ownerId", "ownerType", "subscriptionId"}``, one
notification per element (at most ``MAX_ITEMS``). Fitbit's ids are signed and may hold any characters (an
``ownerId`` may end in ``/``). ``userRevokedAccess`` / ``deleteUser`` (no date) revoke the connection.

What each asks for: ``sleep`` / ``activities`` for a date -> the pull of that collection's data types
(``TYPES``) for that single date; ``body`` and ``foods`` have none here -> ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date

from shared.notify.model import (
    REVOKED,
    UPDATED,
    Handshake,
    Ignore,
    MalformedNotification,
    Notification,
    Notifications,
    Pull,
    SignatureRejected,
    SignedRequest,
    Step,
    WorkContext,
)
from shared.notify.parse import DAY, WORD, json_body, text, vendor_id
from shared.notify.verify import header, hmac_base64, same

SIGNATURE = "X-Fitbit-Signature"
MAX_ITEMS = 500
REVOKING = frozenset({"userRevokedAccess", "deleteUser"})
TYPES: Mapping[str, tuple[str, ...]] = {
    "sleep": ("sleep", "hrv", "br", "spo2"),
    "activities": ("activities", "steps", "calories", "distance", "heart"),
}
NOTIFIED_TYPES = frozenset(name for names in TYPES.values() for name in names)
"""Every type a subscribed collection's notification pulls."""


def signature(client_secret: str, body: bytes) -> str:
    return hmac_base64((client_secret + "&").encode("utf-8"), body, hashlib.sha1)


def check(client_secret: str, body: bytes, presented: str | None) -> None:
    if not same(signature(client_secret, body), header(presented, SIGNATURE)):
        raise SignatureRejected(f"{SIGNATURE} does not match")


def verify(request: SignedRequest) -> None:
    check(request.secret, request.body, request.headers.get(SIGNATURE.lower()))


def _item(item: object, received_at: str) -> Notification:
    if not isinstance(item, dict):
        raise MalformedNotification("each Fitbit notification must be a JSON object")
    kind = text(item.get("collectionType"), "collectionType", WORD)
    owner = vendor_id(item.get("ownerId"), "ownerId")
    if item.get("ownerType", "user") != "user":
        raise MalformedNotification("ownerType must be 'user'")
    subscription = vendor_id(item.get("subscriptionId"), "subscriptionId")
    day = item.get("date")
    if day is None and kind in REVOKING:
        parsed_day = None
    else:
        raw = text(day, "date", DAY)
        try:
            parsed_day = date.fromisoformat(raw).isoformat()
        except ValueError:
            raise MalformedNotification("date is not a calendar day") from None
    return Notification(
        vendor="fitbit",
        vendor_user_id=owner,
        kind=kind,
        collection=kind,
        action=REVOKED if kind in REVOKING else UPDATED,
        date=parsed_day,
        subscription_id=subscription,
        received_at=received_at,
    )


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    data = json_body(body)
    if not isinstance(data, list):
        raise MalformedNotification("Fitbit notifications must be a JSON array")
    if len(data) > MAX_ITEMS:
        raise MalformedNotification(f"more than {MAX_ITEMS} Fitbit notifications in one request")
    return [_item(item, received_at) for item in data]


def work(n: Notification, context: WorkContext) -> Step:
    types = TYPES.get(n.collection, ())
    if not types:
        return Ignore(f"no data types pulled for the {n.collection} collection")
    if not n.date:
        raise MalformedNotification("Fitbit notification message has no date")
    day = date.fromisoformat(n.date)
    return Pull(types, day, day)


NOTIFICATIONS = Notifications(
    parse=parse,
    work=work,
    verify=verify,
    refused=404,
    handshake=Handshake("GET", "verify", "SUBSCRIBER_VERIFY_CODE", refused=404),
)
