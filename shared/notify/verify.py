"""Vendor signature checks on the raw request body (never on re-serialised JSON), in constant time.

Fitbit (vendors.md 1.4): ``X-Fitbit-Signature`` = base64(HMAC-SHA1(key = client_secret + "&", raw body)).
WHOOP v2 (vendors.md 2.4): ``X-WHOOP-Signature`` = base64(HMAC-SHA256(key = client_secret,
timestamp header + raw body)), plain concatenation; ``X-WHOOP-Signature-Timestamp`` is epoch milliseconds
(documented, confirmed). WHOOP documents no replay window: we reject timestamps more than
``WHOOP_MAX_SKEW_SECONDS`` from our clock, either way. A timestamp in seconds is not tolerated: the
documentation is unambiguous, and read as milliseconds it is in 1970, so it is rejected as stale.

Every check raises ``SignatureRejected`` with a short reason that is safe to log (it never holds the
signature, the body or the secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

WHOOP_MAX_SKEW_SECONDS = 300.0
_MAX_SIGNATURE_CHARS = 200  # a base64 SHA-256 MAC is 44 characters; anything far longer is not one
_MAX_TIMESTAMP_DIGITS = 16


class SignatureRejected(Exception):
    """The request does not carry the vendor's proof. ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fitbit_signature(client_secret: str, body: bytes) -> str:
    key = (client_secret + "&").encode("utf-8")
    return base64.b64encode(hmac.new(key, body, hashlib.sha1).digest()).decode("ascii")


def whoop_signature(client_secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("utf-8") + body
    return base64.b64encode(hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def _same(expected: str, presented: str) -> bool:
    """Constant-time comparison of the expected base64 text with the header as received (no decoding, no
    URL-unquoting: a '+' that became a space is a wrong signature)."""
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("utf-8", "replace"))


def _header(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise SignatureRejected(f"missing {name} header")
    value = value.strip()
    if len(value) > _MAX_SIGNATURE_CHARS:
        raise SignatureRejected(f"{name} header too long")
    return value


def check_fitbit(client_secret: str, body: bytes, signature: str | None) -> None:
    presented = _header(signature, "X-Fitbit-Signature")
    if not _same(fitbit_signature(client_secret, body), presented):
        raise SignatureRejected("X-Fitbit-Signature does not match")


def whoop_timestamp_seconds(raw: str) -> float:
    """The timestamp header (epoch milliseconds) in epoch seconds; SignatureRejected when malformed."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureRejected("X-WHOOP-Signature-Timestamp is not epoch milliseconds")
    return int(raw) / 1000.0


def check_whoop(
    client_secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
    max_skew: float = WHOOP_MAX_SKEW_SECONDS,
) -> None:
    """``now`` is epoch seconds. The MAC is checked before the timestamp's age, so a stale but genuine
    request and a forged one are told apart in the logs."""
    presented = _header(signature, "X-WHOOP-Signature")
    raw_ts = _header(timestamp, "X-WHOOP-Signature-Timestamp")
    sent_at = whoop_timestamp_seconds(raw_ts)
    if not _same(whoop_signature(client_secret, raw_ts, body), presented):
        raise SignatureRejected("X-WHOOP-Signature does not match")
    if abs(now - sent_at) > max_skew:
        raise SignatureRejected(f"stale X-WHOOP-Signature-Timestamp ({now - sent_at:.0f} s off)")
