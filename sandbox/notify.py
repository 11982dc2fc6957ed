"""Vendor notifications (webhooks) as the twins send them: the generic part.

Each twin's `notify` module (sandbox/vendors/<name>/notify.py) builds its vendor's notification, correctly
signed with the app's client secret, or wrong in one chosen way to prove the receiving side rejects it; its
package exposes `notification(box, user, data_type, record_id, day, *, client_secret, forged=False)` and
`SIGNED` for the acceptance kit. A notification is a `NotificationRequest`; `send` delivers one.
The signatures are computed in the twins independently of the app's verifiers (the same documented formulas).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import requests

WRONG_KEY = "some-other-apps-client-secret-0123456789"
"""The key a forged notification is signed with: another app's secret."""
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class NotificationRequest:
    """One notification as the vendor sends it to `/api/notify/<name>`: the method, headers, query parameters
    and the raw body bytes (signatures are over exactly these bytes)."""

    method: str
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


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


def deliver(
    url: str, notification: NotificationRequest, session: requests.Session | None = None, timeout: float = 10.0
) -> requests.Response:
    """Deliver a `NotificationRequest` to `url` (the app's `/api/notify/<name>`)."""
    return (session or requests).request(
        notification.method,
        url,
        headers=notification.headers,
        params=notification.params or None,
        data=notification.body,
        timeout=timeout,
    )
