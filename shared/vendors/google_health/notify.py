"""Google Health API webhooks (discovery ``CreateSubscriberPayload``, ``EndpointAuthorization``;
``reference/vendors-next.md`` §1.2 "Webhooks").

The subscriber is proven by two ``POST {"type": "verification"}`` requests when it is created or updated: one
with the ``Authorization`` value configured on the subscriber (``GOOGLE_HEALTH_SUBSCRIBER_SECRET``, the whole header
value, e.g. "Bearer ...") answered 201, one without it answered 401 (``challenge``).

Every notification carries that same ``Authorization`` value (compared in constant time) and an ECDSA P-256
signature of the JSON payload in ``GOOGLE-HEALTH-API-SIGNATURE`` (``X-HEALTHAPI-SIGNATURE`` in the .NET client's
docs: both are read), verified with ``cryptography`` against Google Health API's public key
(``GOOGLE_HEALTH_NOTIFY_PUBLIC_KEY``, PEM; a value with literal ``\\n`` is read as lines). The signature's encoding is
UNCONFIRMED: base64 (standard or URL-safe) of a DER signature, or of the 64-byte ``r || s`` form, is accepted,
SHA-256 over the raw body. Either check failing -> 401.

Payload (third-party: Open Wearables' schema; no data is carried): a JSON array (or one object) of
``{"data": {"healthUserId", "operation": "UPSERT"|"DELETE", "dataType", "intervals": [{"physicalTimeInterval":
{"startTime", "endTime"}}], "clientProvidedSubscriptionName", "version"}}``; one notification per interval.

What each asks for: UPSERT -> the pull of that data type over the UTC days of the interval, one day either side (the
user's offset is not in the payload; landing is idempotent), at most ``MAX_PULL_DAYS``. DELETE -> the landed session
or sample whose UTC time falls in the interval is removed (among the ``DELETE_SCAN`` most recent); for daily values
the days are pulled again.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from shared.notify.model import (
    DELETED,
    UPDATED,
    ChallengeAnswer,
    ChallengeRequest,
    Delete,
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
from shared.notify.parse import json_body, vendor_id
from shared.vendors.google_health.data import DATA_TYPES, KINDS, sample_id

SIGNATURE_HEADERS = ("google-health-api-signature", "x-healthapi-signature")
SECRET_SETTING, KEY_SETTING = "SUBSCRIBER_SECRET", "NOTIFY_PUBLIC_KEY"
MAX_ITEMS = 500
MAX_PULL_DAYS = 31
DELETE_SCAN = 400
MAX_SIGNATURE_CHARS = 200
_TYPE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_OPERATIONS = {"UPSERT": UPDATED, "DELETE": DELETED}
NOTIFIED_TYPES = frozenset(DATA_TYPES)


# -- the subscriber's verification -----------------------------------------------------------------------------


def _authorized(headers: Any, settings: Any) -> bool:
    expected = settings.get(SECRET_SETTING, "")
    presented = headers.get("authorization")
    if not expected or presented is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8", "replace"))


def challenge(request: ChallengeRequest) -> ChallengeAnswer | None:
    """Google's verification POST: 201 with the configured Authorization value, 401 without it or with another."""
    if request.method != "POST" or b"verification" not in request.body[:200]:
        return None
    try:
        data = json_body(request.body)
    except MalformedNotification:
        return None
    if not isinstance(data, dict) or data.get("type") != "verification":
        return None
    if _authorized(request.headers, request.settings):
        return ChallengeAnswer(201, None, "subscriber verification: Authorization matches")
    return ChallengeAnswer(
        401, {"error": "unauthorized"}, "subscriber verification without the configured Authorization"
    )


# -- each notification's proof ----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The configured P-256 public key; ValueError when it is not one."""
    text = pem.replace("\\n", "\n").strip()
    key = serialization.load_pem_public_key(text.encode("ascii"))
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an EC P-256 public key")
    return key


def _signature(raw: str) -> bytes:
    padded = raw + "=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        try:
            decoded = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise SignatureRejected("signature header is not base64") from None
    if len(decoded) == 64:  # r || s (IEEE P1363) -> DER
        decoded = encode_dss_signature(int.from_bytes(decoded[:32], "big"), int.from_bytes(decoded[32:], "big"))
    return decoded


def verify(request: SignedRequest) -> None:
    if not _authorized(request.headers, request.settings):
        raise SignatureRejected("Authorization is not the subscriber's configured secret")
    raw = next((request.headers[name] for name in SIGNATURE_HEADERS if request.headers.get(name)), None)
    if raw is None or not raw.strip():
        raise SignatureRejected("missing GOOGLE-HEALTH-API-SIGNATURE header")
    if len(raw) > MAX_SIGNATURE_CHARS:
        raise SignatureRejected("signature header too long")
    pem = request.settings.get(KEY_SETTING, "")
    if not pem:
        raise SignatureRejected(f"no public key configured (GOOGLE_HEALTH_{KEY_SETTING})")
    try:
        key = public_key(pem)
    except ValueError:
        raise SignatureRejected(f"GOOGLE_HEALTH_{KEY_SETTING} is not an EC P-256 public key in PEM") from None
    try:
        key.verify(_signature(raw.strip()), request.body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureRejected("ECDSA signature does not match the payload") from None


# -- parsing ------------------------------------------------------------------------------------------------------


def _instant(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 40:
        raise MalformedNotification(f"{name} is missing or malformed")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedNotification(f"{name} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise MalformedNotification(f"{name} has no offset")
    return value


def _item(item: Any, received_at: str) -> list[Notification]:
    data = item.get("data", item) if isinstance(item, dict) else None
    if not isinstance(data, dict):
        raise MalformedNotification("each Google Health notification must be a JSON object")
    user = vendor_id(data.get("healthUserId"), "healthUserId")
    operation = data.get("operation")
    if operation not in _OPERATIONS:
        raise MalformedNotification("operation must be UPSERT or DELETE")
    kind = data.get("dataType")
    if not isinstance(kind, str) or not _TYPE.fullmatch(kind):
        raise MalformedNotification("dataType is missing or malformed")
    name = data.get("clientProvidedSubscriptionName")
    subscription = vendor_id(name, "clientProvidedSubscriptionName") if name is not None else None
    intervals = data.get("intervals") or []
    if not isinstance(intervals, list):
        raise MalformedNotification("intervals must be an array")
    spans: list[tuple[str | None, str | None]] = []
    for interval in intervals:
        physical = interval.get("physicalTimeInterval") if isinstance(interval, dict) else None
        if not isinstance(physical, dict):
            raise MalformedNotification("an interval has no physicalTimeInterval")
        spans.append((_instant(physical.get("startTime"), "startTime"), _instant(physical.get("endTime"), "endTime")))
    return [
        Notification(
            vendor="google_health",
            vendor_user_id=user,
            kind=str(operation).lower(),
            collection=kind,
            action=_OPERATIONS[str(operation)],
            subscription_id=subscription,
            start_time=start,
            end_time=end,
            received_at=received_at,
        )
        for start, end in spans or [(None, None)]
    ]


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    data = json_body(body)
    items = data if isinstance(data, list) else [data]
    found = [notification for item in items for notification in _item(item, received_at)]
    if len(found) > MAX_ITEMS:
        raise MalformedNotification(f"more than {MAX_ITEMS} Google Health notifications in one request")
    return found


# -- the work -----------------------------------------------------------------------------------------------------


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _pull(n: Notification, start: datetime, end: datetime) -> Step:
    first, last = start.date() - timedelta(days=1), max(end, start).date() + timedelta(days=1)
    note = ""
    if (last - first).days >= MAX_PULL_DAYS:
        first, note = last - timedelta(days=MAX_PULL_DAYS - 1), f"interval cut to its last {MAX_PULL_DAYS} days"
    return Pull((n.collection,), first, last, note)


def _physical_start(data_type: str, content: Any) -> str | None:
    member = content.get(KINDS[data_type].field) if isinstance(content, dict) else None
    if not isinstance(member, dict):
        return None
    interval, sample = member.get("interval"), member.get("sampleTime")
    value = interval.get("startTime") if isinstance(interval, dict) else None
    value = value or (sample.get("physicalTime") if isinstance(sample, dict) else None)
    return value if isinstance(value, str) else None


def work(n: Notification, context: WorkContext) -> Step:
    if n.collection not in DATA_TYPES:
        return Ignore(f"google_health data type {n.collection} is not pulled")
    if not n.start_time or not n.end_time:
        return Ignore("notification names no interval")
    start, end = _utc(n.start_time), _utc(n.end_time)
    kind = KINDS[n.collection]
    if n.action != DELETED or kind.when in ("date",) or kind.method == "rollup":
        return _pull(n, start, end)
    for record_id, content in context.landed.newest(n.collection, DELETE_SCAN):
        at = _physical_start(n.collection, content)
        if at is not None and start <= _utc(at) <= end:
            return Delete(n.collection, record_id)
    return Delete(n.collection, None, f"no landed {n.collection} at {sample_id(n.start_time)}")


NOTIFICATIONS = Notifications(
    parse=parse,
    work=work,
    verify=verify,
    refused=401,
    challenge=challenge,
    challenge_methods=frozenset({"POST"}),
)
