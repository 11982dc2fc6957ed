"""Vendor notifications as each vendor sends them (vendors.md 1.4, 2.4, 5), correctly signed, or wrong in
one chosen way (``wrong=``) to prove the receiving side rejects it.

    headers, body = signed_whoop(secret, whoop_event(10129, "sleep.updated"))
    headers, body = signed_fitbit(secret, [fitbit_item("ABC123", "sleep", "2026-11-20")], wrong="hex")
    send(f"{app}/api/notify/whoop", headers, body)

The signatures are computed here independently of ``shared.notify.verify`` (same documented formulas).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Literal
from urllib.parse import urlencode

import requests

FitbitWrong = Literal["wrong_key", "no_ampersand", "reserialised", "hex", "sha256", "missing_header", "plus_as_space"]
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
FITBIT_WRONG: tuple[FitbitWrong, ...] = (
    "wrong_key",  # another app's secret
    "no_ampersand",  # the key is the client secret without the trailing '&'
    "reserialised",  # MAC over json.dumps(json.loads(body)), not over the bytes sent
    "hex",  # hex digest instead of base64
    "sha256",  # HMAC-SHA256 (a public sample's mistake)
    "missing_header",
    "plus_as_space",  # a correct signature holding '+', whose '+' became a space (form/URL decoding)
)
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
WRONG_KEY = "some-other-apps-client-secret-0123456789"
STALE_SECONDS = 600
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def fitbit_mac(key: str, body: bytes, algorithm: str = "sha1") -> bytes:
    return hmac.new(key.encode("utf-8"), body, getattr(hashlib, algorithm)).digest()


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
        signature = _b64(fitbit_mac(key, body))
        if not (want_plus or wrong == "plus_as_space") or "+" in signature:
            break
    else:  # pragma: no cover - the chance of 400 misses is far below 1e-50
        raise RuntimeError("no signature with '+' found")
    headers = {"Content-Type": JSON, "X-Fitbit-Signature": signature}
    if wrong == "wrong_key":
        headers["X-Fitbit-Signature"] = _b64(fitbit_mac(WRONG_KEY + "&", body))
    elif wrong == "no_ampersand":
        headers["X-Fitbit-Signature"] = _b64(fitbit_mac(client_secret, body))
    elif wrong == "reserialised":
        headers["X-Fitbit-Signature"] = _b64(fitbit_mac(key, json.dumps(json.loads(body)).encode("utf-8")))
    elif wrong == "hex":
        headers["X-Fitbit-Signature"] = fitbit_mac(key, body).hex()
    elif wrong == "sha256":
        headers["X-Fitbit-Signature"] = _b64(fitbit_mac(key, body, "sha256"))
    elif wrong == "missing_header":
        del headers["X-Fitbit-Signature"]
    elif wrong == "plus_as_space":
        headers["X-Fitbit-Signature"] = signature.replace("+", " ")
    return headers, body


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
        signature = _b64(whoop_mac(client_secret, stamp.encode("ascii") + body))
        if not (want_plus or wrong == "plus_as_space") or "+" in signature:
            break
    else:  # pragma: no cover
        raise RuntimeError("no signature with '+' found")
    headers = {"Content-Type": JSON, "X-WHOOP-Signature": signature, "X-WHOOP-Signature-Timestamp": stamp}
    message = stamp.encode("ascii") + body
    if wrong == "wrong_key":
        headers["X-WHOOP-Signature"] = _b64(whoop_mac(WRONG_KEY, message))
    elif wrong == "reserialised":
        headers["X-WHOOP-Signature"] = _b64(
            whoop_mac(client_secret, stamp.encode("ascii") + json.dumps(json.loads(body)).encode("utf-8"))
        )
    elif wrong == "hex":
        headers["X-WHOOP-Signature"] = whoop_mac(client_secret, message).hex()
    elif wrong == "missing_header":
        del headers["X-WHOOP-Signature"]
    elif wrong == "missing_timestamp":
        del headers["X-WHOOP-Signature-Timestamp"]
    elif wrong == "dot_separator":
        headers["X-WHOOP-Signature"] = _b64(whoop_mac(client_secret, stamp.encode("ascii") + b"." + body))
    elif wrong == "timestamp_mismatch":
        headers["X-WHOOP-Signature-Timestamp"] = str(int(stamp) + 1)
    elif wrong == "plus_as_space":
        headers["X-WHOOP-Signature"] = signature.replace("+", " ")
    return headers, body


def codoon_form(
    user_id: str, catalog: str, resource_id: str, start_time: str, end_time: str
) -> tuple[dict[str, str], bytes]:
    """Codoon's callback: a form POST (no signature documented)."""
    fields = {
        "user_id": user_id,
        "catalog": catalog,
        "resource_id": resource_id,
        "start_time": start_time,
        "end_time": end_time,
    }
    return {"Content-Type": FORM}, urlencode(fields).encode("ascii")


def send(
    url: str,
    headers: dict[str, str],
    body: bytes,
    method: str = "POST",
    session: requests.Session | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """Deliver one notification the way the vendor does (raw bytes, the headers as given)."""
    return (session or requests).request(method, url, headers=headers, data=body, timeout=timeout)
