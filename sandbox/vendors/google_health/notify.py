"""Google Health API webhooks as the twin sends them (discovery `EndpointAuthorization`, `CreateSubscriber`;
reference/vendors-next.md §1.2 "Webhooks").

The twin owns an EC P-256 key pair (made when the module is imported): the app is given its public key
(`GOOGLE_HEALTH_NOTIFY_PUBLIC_KEY`, PEM) and the subscriber's `Authorization` value
(`GOOGLE_HEALTH_SUBSCRIBER_SECRET`, derived from the client secret) through `notify_settings`. Each notification
carries that `Authorization` value and `GOOGLE-HEALTH-API-SIGNATURE` = base64(DER(ECDSA-P256-SHA256(raw body)));
`forged=True` signs with another key. The payload (third-party, Open Wearables' schema): a JSON array of
`{"data": {"healthUserId", "operation", "dataType", "intervals": [{"physicalTimeInterval": {...}}],
"clientProvidedSubscriptionName", "version"}}`.

    notice = notification(box, "alice", "sleep", record_id, day, client_secret=secret)
    verification(client_secret, with_authorization=True)   # the subscriber check Google sends
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.data import at_local
from sandbox.notify import JSON, NotificationRequest
from sandbox.vendors.google_health.data import GOOGLE_HEALTH_DATA, health_user_id, rfc3339

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = True
SIGNATURE = "GOOGLE-HEALTH-API-SIGNATURE"
SUBSCRIPTION = "wearsync"
_KEY = ec.generate_private_key(ec.SECP256R1())
_OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def public_key_pem() -> str:
    """The twin's public key, PEM (what Google publishes for its notifications)."""
    raw = _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return raw.decode("ascii")


def subscriber_secret(client_secret: str) -> str:
    """The `Authorization` value the subscriber was created with (a bearer derived from the client secret)."""
    digest = hmac.new(client_secret.encode(), b"google-health-subscriber", hashlib.sha256).hexdigest()
    return f"Bearer {digest[:40]}"


def notify_settings(client_secret: str) -> dict[str, str]:
    return {
        "GOOGLE_HEALTH_SUBSCRIBER_SECRET": subscriber_secret(client_secret),
        "GOOGLE_HEALTH_NOTIFY_PUBLIC_KEY": public_key_pem().strip().replace("\n", "\\n"),  # one line: KEY=value
    }


def sign(body: bytes, *, forged: bool = False) -> str:
    key = _OTHER_KEY if forged else _KEY
    return base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def payload(health_user: str, data_type: str, start: str, end: str, operation: str = "UPSERT") -> bytes:
    item: dict[str, Any] = {
        "data": {
            "clientProvidedSubscriptionName": SUBSCRIPTION,
            "dataType": data_type,
            "healthUserId": health_user,
            "intervals": [{"physicalTimeInterval": {"endTime": end, "startTime": start}}],
            "operation": operation,
            "version": "1",
        }
    }
    return json.dumps([item], separators=(",", ":")).encode()


def signed(client_secret: str, body: bytes, *, forged: bool = False, unsigned: bool = False) -> NotificationRequest:
    headers = {"Content-Type": JSON, "Authorization": subscriber_secret(client_secret)}
    if not unsigned:
        headers[SIGNATURE] = sign(body, forged=forged)
    return NotificationRequest("POST", headers, {}, body)


def verification(client_secret: str, *, with_authorization: bool) -> NotificationRequest:
    """One of the two verification POSTs Google sends when a subscriber is created or updated."""
    headers = {"Content-Type": JSON}
    if with_authorization:
        headers["Authorization"] = subscriber_secret(client_secret)
    return NotificationRequest("POST", headers, {}, b'{"type":"verification"}')


def notification(
    box: Sandbox,
    user: str,
    data_type: str,
    record_id: str | None,
    day: date,
    *,
    client_secret: str,
    forged: bool = False,
    operation: str = "UPSERT",
) -> NotificationRequest:
    """The notification Google sends when `user`'s `data_type` changed on local `day`: Google names the changed
    span of physical time, never a record (`record_id` is not used), here the local day's; signed with the twin's
    key, or with another key when `forged`."""
    if data_type not in GOOGLE_HEALTH_DATA.kinds:
        raise ValueError(f"google_health sends no notification for {data_type!r}")
    offset = GOOGLE_HEALTH_DATA.offset(user)
    start, end = at_local(day, offset, 0), at_local(day, offset, 24 * 60)
    body = payload(health_user_id(user), data_type, rfc3339(start), rfc3339(end), operation)
    return signed(client_secret, body, forged=forged)
