"""WHOOP v2 notifications (vendors.md 2.4), as the twin sends them: one JSON event ``{"user_id", "id", "type",
"trace_id"}``, ``X-WHOOP-Signature`` = base64(HMAC-SHA256(client_secret, timestamp + raw body)) with
``X-WHOOP-Signature-Timestamp`` in epoch milliseconds; or wrong in one chosen way (``wrong=``).
``notification`` is the acceptance kit's hook.

    headers, body = signed_whoop(secret, whoop_event(10129, "sleep.updated"))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from sandbox.notify import JSON, WRONG_KEY, NotificationRequest, b64
from sandbox.vendors.whoop.data import main_sleep_id

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = True
STALE_SECONDS = 600
EVENTS: dict[str, str] = {"sleep": "sleep", "workout": "workout", "recovery": "recovery", "cycle": "recovery"}
"""The event type (``<collection>.updated``) that makes the app fetch each data type. WHOOP sends no cycle
events: a ``recovery.updated`` lands the day's cycle too."""

WhoopWrong = Literal[
    "wrong_key",
    "reserialised",
    "hex",
    "missing_header",
    "missing_timestamp",
    "stale",
    "future",
    "seconds_timestamp",
    "dot_separator",
    "timestamp_mismatch",
    "plus_as_space",
]
WHOOP_WRONG: tuple[WhoopWrong, ...] = (
    "wrong_key",
    "reserialised",
    "hex",
    "missing_header",  # no X-WHOOP-Signature
    "missing_timestamp",  # no X-WHOOP-Signature-Timestamp
    "stale",  # correctly signed ten minutes ago
    "future",  # correctly signed, timestamp ten minutes ahead
    "seconds_timestamp",  # correctly signed over an epoch-seconds timestamp
    "dot_separator",  # timestamp + "." + body (a public sample's mistake)
    "timestamp_mismatch",  # signed over one timestamp, another one sent
    "plus_as_space",
)


def whoop_mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def whoop_event(
    user_id: int, type_: str = "sleep.updated", record_id: str | None = None, trace_id: str | None = None
) -> dict[str, Any]:
    """A WHOOP v2 event body; ``recovery.*`` ids are the sleep's UUID."""
    return {
        "user_id": user_id,
        "id": record_id or str(uuid.uuid4()),
        "type": type_,
        "trace_id": trace_id or str(uuid.uuid4()),
    }


def signed_whoop(
    client_secret: str,
    event: dict[str, Any],
    timestamp_ms: int | None = None,
    wrong: WhoopWrong | None = None,
    want_plus: bool = False,
) -> tuple[dict[str, str], bytes]:
    """WHOOP's POST: ``X-WHOOP-Signature`` = base64(HMAC-SHA256(client_secret, timestamp + raw body)),
    ``X-WHOOP-Signature-Timestamp`` = epoch milliseconds. ``want_plus`` moves the timestamp by a few ms until
    the (correct) signature holds a '+'."""
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    now_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    if wrong in ("stale", "future"):
        now_ms += (-1 if wrong == "stale" else 1) * STALE_SECONDS * 1000
    for shift in range(400):
        stamp = str(now_ms // 1000 if wrong == "seconds_timestamp" else now_ms + shift)
        signature = b64(whoop_mac(client_secret, stamp.encode("ascii") + body))
        if not (want_plus or wrong == "plus_as_space") or "+" in signature:
            break
    else:  # pragma: no cover
        raise RuntimeError("no signature with '+' found")
    headers = {"Content-Type": JSON, "X-WHOOP-Signature": signature, "X-WHOOP-Signature-Timestamp": stamp}
    message = stamp.encode("ascii") + body
    if wrong == "wrong_key":
        headers["X-WHOOP-Signature"] = b64(whoop_mac(WRONG_KEY, message))
    elif wrong == "reserialised":
        headers["X-WHOOP-Signature"] = b64(
            whoop_mac(client_secret, stamp.encode("ascii") + json.dumps(json.loads(body)).encode("utf-8"))
        )
    elif wrong == "hex":
        headers["X-WHOOP-Signature"] = whoop_mac(client_secret, message).hex()
    elif wrong == "missing_header":
        del headers["X-WHOOP-Signature"]
    elif wrong == "missing_timestamp":
        del headers["X-WHOOP-Signature-Timestamp"]
    elif wrong == "dot_separator":
        headers["X-WHOOP-Signature"] = b64(whoop_mac(client_secret, stamp.encode("ascii") + b"." + body))
    elif wrong == "timestamp_mismatch":
        headers["X-WHOOP-Signature-Timestamp"] = str(int(stamp) + 1)
    elif wrong == "plus_as_space":
        headers["X-WHOOP-Signature"] = signature.replace("+", " ")
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
    """The event WHOOP sends when `user`'s `data_type` record `record_id` (None: the day's first one) of local
    `day` was updated; ``recovery`` and ``cycle`` events name the day's main sleep, as WHOOP's do. Signed now
    with `client_secret`, or with another app's key when `forged`."""
    collection = EVENTS.get(data_type)
    if collection is None:
        raise ValueError(f"whoop sends no notification for {data_type!r}; known: {sorted(EVENTS)}")
    if collection == "recovery":
        event_id = main_sleep_id(user, day)
    elif record_id is not None:
        event_id = str(record_id)
    else:
        records = box.expected_records("whoop", data_type, user, day, day)
        if not records:
            raise ValueError(f"whoop has no {data_type} record of {user} on {day}")
        event_id = str(records[0][0])
    event = whoop_event(int(box.vendor_user_id("whoop", user)), f"{collection}.updated", event_id)
    headers, body = signed_whoop(client_secret, event, wrong="wrong_key" if forged else None)
    return NotificationRequest("POST", headers, {}, body)
