"""Fitbit notifications (vendors.md 1.4), as the twin sends them: a JSON array of changed collections, signed
with ``X-Fitbit-Signature`` = base64(HMAC-SHA1(client_secret + "&", body)); or wrong in one chosen way
(``wrong=``). ``notification`` is the acceptance kit's hook.

    headers, body = signed_fitbit(secret, [fitbit_item("ABC123", "sleep", "2026-11-20")], wrong="hex")
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from sandbox.notify import JSON, WRONG_KEY, NotificationRequest, b64

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = True
COLLECTIONS: dict[str, str] = {
    "sleep": "sleep",
    "hrv": "sleep",
    "br": "sleep",
    "spo2": "sleep",
    "activities": "activities",
    "steps": "activities",
    "calories": "activities",
    "distance": "activities",
    "heart": "activities",
}
"""The collection whose notification makes the app pull each data type (Fitbit notifies per collection)."""

FitbitWrong = Literal["wrong_key", "no_ampersand", "reserialised", "hex", "sha256", "missing_header", "plus_as_space"]
FITBIT_WRONG: tuple[FitbitWrong, ...] = (
    "wrong_key",  # another app's secret
    "no_ampersand",  # the key is the client secret without the trailing '&'
    "reserialised",  # MAC over json.dumps(json.loads(body)), not over the bytes sent
    "hex",  # hex digest instead of base64
    "sha256",  # HMAC-SHA256 (a public sample's mistake)
    "missing_header",
    "plus_as_space",  # a correct signature holding '+', whose '+' became a space (form/URL decoding)
)


def fitbit_mac(key: str, body: bytes, algorithm: str = "sha1") -> bytes:
    return hmac.new(key.encode("utf-8"), body, getattr(hashlib, algorithm)).digest()


def fitbit_item(owner_id: str, collection: str, day: str, subscription_id: str = "wearsync-1") -> dict[str, Any]:
    return {
        "collectionType": collection,
        "date": day,
        "ownerId": owner_id,
        "ownerType": "user",
        "subscriptionId": subscription_id,
    }


def signed_fitbit(
    client_secret: str, items: list[dict[str, Any]], wrong: FitbitWrong | None = None, want_plus: bool = False
) -> tuple[dict[str, str], bytes]:
    """Fitbit's POST: a JSON array, ``X-Fitbit-Signature`` = base64(HMAC-SHA1(client_secret + "&", body)).
    ``want_plus`` pads the body with JSON whitespace until the (correct) signature holds a '+'."""
    base = json.dumps(items, separators=(",", ":")).encode("utf-8")
    key = client_secret + "&"
    for pad in range(400):
        body = base + b" " * pad
        signature = b64(fitbit_mac(key, body))
        if not (want_plus or wrong == "plus_as_space") or "+" in signature:
            break
    else:  # pragma: no cover - the chance of 400 misses is far below 1e-50
        raise RuntimeError("no signature with '+' found")
    headers = {"Content-Type": JSON, "X-Fitbit-Signature": signature}
    if wrong == "wrong_key":
        headers["X-Fitbit-Signature"] = b64(fitbit_mac(WRONG_KEY + "&", body))
    elif wrong == "no_ampersand":
        headers["X-Fitbit-Signature"] = b64(fitbit_mac(client_secret, body))
    elif wrong == "reserialised":
        headers["X-Fitbit-Signature"] = b64(fitbit_mac(key, json.dumps(json.loads(body)).encode("utf-8")))
    elif wrong == "hex":
        headers["X-Fitbit-Signature"] = fitbit_mac(key, body).hex()
    elif wrong == "sha256":
        headers["X-Fitbit-Signature"] = b64(fitbit_mac(key, body, "sha256"))
    elif wrong == "missing_header":
        del headers["X-Fitbit-Signature"]
    elif wrong == "plus_as_space":
        headers["X-Fitbit-Signature"] = signature.replace("+", " ")
    return headers, body


def notification(
    box: Sandbox,
    user: str,
    data_type: str,
    record_id: str | None,
    day: date,
    *,
    client_secret: str,
    forged: bool = False,
) -> NotificationRequest:
    """The notification Fitbit sends when `user`'s `data_type` changed on local `day` (Fitbit names the
    collection and the date, never a record: `record_id` is not used); signed with another app's key when
    `forged`."""
    collection = COLLECTIONS.get(data_type)
    if collection is None:
        raise ValueError(f"fitbit sends no notification for {data_type!r}; known: {sorted(COLLECTIONS)}")
    item = fitbit_item(box.vendor_user_id("fitbit", user), collection, day.isoformat())
    headers, body = signed_fitbit(client_secret, [item], wrong="wrong_key" if forged else None)
    return NotificationRequest("POST", headers, {}, body)
