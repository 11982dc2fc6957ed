"""Oura webhook deliveries as the twin sends them (vendors-next.md §2; the spec's webhook sample): a JSON event
``{"event_type", "data_type", "object_id", "event_time", "user_id"}`` POSTed to the callback, with
``x-oura-timestamp`` and ``x-oura-signature`` = uppercase hex HMAC-SHA256(key = client secret, timestamp + raw
body); or wrong in one chosen way (``wrong=``). ``challenge_request`` is Oura's GET verification of a new
subscription. ``notification`` is the acceptance kit's hook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sandbox.notify import JSON, WRONG_KEY, NotificationRequest

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = True
WEBHOOK_TYPES: dict[str, str] = {
    "daily_activity": "daily_activity",
    "daily_sleep": "daily_sleep",
    "sleep": "sleep",
    "daily_readiness": "daily_readiness",
    "daily_spo2": "daily_spo2",
    "daily_stress": "daily_stress",
    "daily_resilience": "daily_resilience",
    "workout": "workout",
    "session": "session",
    "vo2_max": "vo2_max",
}
"""The twin's kind -> the webhook ``data_type`` (ExtApiV2DataType) that names it; heart rate has no events."""

OuraWrong = Literal["wrong_key", "lowercase", "reserialised", "no_timestamp_in_mac", "missing_header", "base64"]
OURA_WRONG: tuple[OuraWrong, ...] = (
    "wrong_key",
    "lowercase",  # the right MAC in lower-case hex
    "reserialised",  # over json.dumps(json.loads(body)) (spaces after separators), not the bytes sent
    "no_timestamp_in_mac",  # HMAC of the body alone
    "missing_header",
    "base64",
)


def oura_mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def oura_event(user_id: str, data_type: str, object_id: str, event_type: str = "update") -> dict[str, Any]:
    return {
        "event_type": event_type,
        "data_type": data_type,
        "object_id": object_id,
        "event_time": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "user_id": user_id,
    }


def signed_oura(
    client_secret: str, event: dict[str, Any], wrong: OuraWrong | None = None, timestamp: str | None = None
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    stamp = timestamp or str(int(time.time()))
    mac = oura_mac(client_secret, stamp.encode() + body)
    headers = {"Content-Type": JSON, "x-oura-timestamp": stamp, "x-oura-signature": mac.hex().upper()}
    if wrong == "wrong_key":
        headers["x-oura-signature"] = oura_mac(WRONG_KEY, stamp.encode() + body).hex().upper()
    elif wrong == "lowercase":
        headers["x-oura-signature"] = mac.hex()
    elif wrong == "reserialised":
        headers["x-oura-signature"] = oura_mac(client_secret, stamp.encode() + json.dumps(event).encode()).hex().upper()
    elif wrong == "no_timestamp_in_mac":
        headers["x-oura-signature"] = oura_mac(client_secret, body).hex().upper()
    elif wrong == "missing_header":
        del headers["x-oura-signature"]
    elif wrong == "base64":
        headers["x-oura-signature"] = base64.b64encode(mac).decode()
    return headers, body


def challenge_request(verification_token: str, challenge: str) -> NotificationRequest:
    """Oura's verification of a new subscription's callback."""
    return NotificationRequest("GET", {}, {"verification_token": verification_token, "challenge": challenge})


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
    """The event Oura sends when `user`'s `data_type` document `record_id` (None: the day's first) of local `day`
    was updated; signed now with `client_secret`, or with another app's key when `forged`."""
    webhook_type = WEBHOOK_TYPES.get(data_type)
    if webhook_type is None:
        raise ValueError(f"oura sends no notification for {data_type!r}; known: {sorted(WEBHOOK_TYPES)}")
    object_id = record_id
    if object_id is None:
        records = box.expected_records("oura", data_type, user, day, day)
        if not records:
            raise ValueError(f"oura has no {data_type} document of {user} on {day}")
        object_id = str(records[0][0])
    event = oura_event(box.vendor_user_id("oura", user), webhook_type, str(object_id))
    headers, body = signed_oura(client_secret, event, wrong="wrong_key" if forged else None)
    return NotificationRequest("POST", headers, {}, body)
