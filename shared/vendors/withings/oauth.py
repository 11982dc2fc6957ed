"""Withings Public API OAuth (``reference/vendors.md`` §3.2, ``vendors-next.md`` §2, the spec
``reference/specs/withings-openapi.yml`` ``oauth2-getaccesstoken``, ``oauth2-revoke``, ``signaturev2-getnonce``).

- Token requests go to ``POST /v2/oauth2`` with ``action=requesttoken`` in both forms (the exchange and the refresh)
  and the client secret in the form ("Using client secret"; the signed variant is an alternative, not needed).
- Every answer is HTTP 200 with an envelope ``{"status": n, "body": {...}}``: ``status`` 0 is a success (the pair
  and the ``userid`` are in ``body``), anything else a refusal, often with an ``error`` text that is never kept.
  The spec groups the statuses in families (its "Response Status" section): "Authentication failed" (100-102,
  200, 401), "Invalid params" (201-213, 503, ...), "Too many request" (601), "Timeout" (522), "An error occurred"
  (the rest). Withings answers both a spent or unknown refresh token and an unknown code with 503 "Invalid Params:
  invalid refresh_token" / "invalid code" (third-party reports: home-assistant/home-assistant.io#34285,
  jaroslawhartman/withings-sync#41): the text names which parameter, and is read for that word only.
- Scopes are comma-separated (``user.info,user.metrics,user.activity,user.sleepevents``); a refresh names none.
- Refresh tokens rotate on every refresh, but the previous one stays valid for 8 hours after the new one is issued,
  or until the new access token is first used (the "no recover" token guide). Custody therefore holds as for WHOOP
  (one refresh at a time under the connection's lock, the new pair written before use), and a crash between
  Withings' answer and the vault write is survivable: the refresh-in-flight marker makes the next rotation send the
  stored (old) token again, which Withings still honours within the grace window, since nothing used the lost
  pair. Safer than WHOOP, whose spent token is dead at once.
- Revocation is a signed call: ``action=revoke`` with ``client_id``, a ``nonce`` from ``v2/signature``
  ``action=getnonce`` and an HMAC-SHA256 ``signature`` (the client secret as key, over the comma-joined values of
  the signed parameters sorted by name), plus the ``userid``. It also ends the user's notification subscriptions
  (the spec: "the data update notifications for this user will be automatically unsubscribed"). The data and
  notify calls we make take the access token and no signature (the spec's ``notify-subscribe``: "for the Health
  Data APIs: use a valid access_token ... but don't use signature and nonce"); ``heartv2-get`` with a signature is
  for partners' signal tokens, not used.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.tokens import TokenPair
from shared.vendors.base import FailureKind, VendorError, VendorSpec

SCOPES = ("user.info", "user.metrics", "user.activity", "user.sleepevents")
AUTHENTICATION_FAILED = frozenset({100, 101, 102, 200, 401})
TOO_MANY_REQUESTS = 601
TIMEOUT = 522
NOT_IMPLEMENTED = 2554
UNAUTHORIZED = frozenset({214, 277, 2553, 2555})
INVALID_PARAMS = frozenset(
    {
        *range(201, 214),
        *range(216, 219),
        220,
        221,
        223,
        225,
        *range(227, 231),
        *range(234, 237),
        238,
        *range(240, 253),
        254,
        *range(260, 268),
        271,
        272,
        275,
        276,
        *range(283, 289),
        290,
        *range(293, 296),
        297,
        *range(300, 305),
        321,
        *range(323, 354),
        *range(380, 383),
        400,
        *range(501, 512),
        523,
        532,
        *range(3017, 3020),
    }
)
"""The spec's "Invalid params" family (its Response Status table); the other non-zero statuses are "An error
occurred" (transient), except the families named above."""

Post = Callable[[str, Mapping[str, str]], Any]
"""``post(path under API_BASE_URL, form) -> the parsed JSON answer`` (None when it is not JSON)."""


def envelope_status(payload: Any) -> int | None:
    """The ``status`` of a Withings envelope, None when ``payload`` is not one."""
    if not isinstance(payload, dict):
        return None
    status = payload.get("status")
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def sign(secret: str, *values: str) -> str:
    """Withings' request signature: HMAC-SHA256 (key: the client secret) of the values of the signed parameters,
    sorted by parameter name, joined with commas, as hex (the spec's ``signaturev2-getnonce``)."""
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WithingsSpec(VendorSpec):
    """Withings' envelope, its status families and its signed revocation."""

    def token_fields(self, status: int, payload: Any) -> Mapping[str, Any] | None:
        if status != 200 or envelope_status(payload) != 0:
            return None
        body = payload.get("body")
        if not isinstance(body, dict):
            raise VendorError(self.name, FailureKind.TRANSIENT, "malformed_token_response", 200)
        return body

    def parse_token_response(
        self, body: Mapping[str, Any], previous: TokenPair | None = None, now: float | None = None
    ) -> TokenPair:
        """A pair from the token fields, or from a whole successful envelope."""
        inner = body.get("body")
        if envelope_status(body) == 0 and isinstance(inner, dict):
            body = inner
        return super().parse_token_response(body, previous, now)

    def vendor_user_id(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("userid")
        return None if value in (None, "") or isinstance(value, bool) else str(value)

    def classify(self, status: int, body: Any, retry_after: float | None = None) -> VendorError:
        code = envelope_status(body)
        if status != 200 or code is None:
            return super().classify(status, body, retry_after)
        word = str(body.get("error") or "").lower()  # read for one word, never kept
        if code in (TOO_MANY_REQUESTS, TIMEOUT):
            return VendorError(self.name, FailureKind.TRANSIENT, f"status_{code}", status, retry_after)
        if code in INVALID_PARAMS and ("refresh_token" in word or "invalid code" in word):
            return VendorError(self.name, FailureKind.GRANT_REJECTED, "invalid_grant", status)
        if code in INVALID_PARAMS or code in AUTHENTICATION_FAILED or code in UNAUTHORIZED:
            return VendorError(self.name, FailureKind.CLIENT_MISCONFIGURED, f"status_{code}", status)
        return VendorError(self.name, FailureKind.TRANSIENT, f"status_{code}", status, retry_after)

    def data_answer(self, payload: Any) -> tuple[int, Any]:
        code = envelope_status(payload)
        if code is None:
            return 502, None  # not Withings' envelope: transient
        if code == 0:
            return 200, payload.get("body")
        if code in AUTHENTICATION_FAILED:
            return 401, None
        if code == TOO_MANY_REQUESTS:
            return 429, None
        if code == NOT_IMPLEMENTED:
            return 404, None
        if code in UNAUTHORIZED:
            return 403, None
        if code in INVALID_PARAMS:
            return 400, None
        return 503, None  # "Timeout", "An error occurred": try again later

    def revoke_signed(self, pair: TokenPair, client_id: str, client_secret: str, post: Post) -> bool:
        """Revoke the grant (``oauth2-revoke``) with a fresh nonce; True when Withings answered status 0."""
        if not pair.vendor_user_id:
            return False
        timestamp = str(int(time.time()))
        nonce_answer = post(
            "/v2/signature",
            {
                "action": "getnonce",
                "client_id": client_id,
                "timestamp": timestamp,
                "signature": sign(client_secret, "getnonce", client_id, timestamp),
            },
        )
        nonce = nonce_answer.get("body", {}).get("nonce") if envelope_status(nonce_answer) == 0 else None
        if not isinstance(nonce, str) or not nonce:
            return False
        answer = post(
            "/v2/oauth2",
            {
                "action": "revoke",
                "client_id": client_id,
                "nonce": nonce,
                "signature": sign(client_secret, "revoke", client_id, nonce),
                "userid": pair.vendor_user_id,
            },
        )
        return envelope_status(answer) == 0


SPEC = WithingsSpec(
    name="withings",
    client_auth="body",
    default_scopes=SCOPES,
    scope_separator=",",
    exchange_extra={"action": "requesttoken"},
    refresh_extra={"action": "requesttoken"},
    default_expires_in=10_800,
    revoke_style="signed",
    rate_limit_scope="app",
)
