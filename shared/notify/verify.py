"""Helpers for a vendor package's signature check (``Notifications.verify``): on the raw request body (never
on re-serialised JSON), compared in constant time. The schemes themselves live in the packages
(``shared/vendors/<name>/notify.py``).

Every check raises ``SignatureRejected`` with a short reason that is safe to log (it never holds the
signature, the body or the secret).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from typing import Any

from shared.notify.model import SignatureRejected

MAX_SIGNATURE_CHARS = 200  # a base64 SHA-256 MAC is 44 characters; anything far longer is not one


def hmac_base64(key: bytes, message: bytes, digest: Callable[..., Any]) -> str:
    """base64(HMAC-``digest``(key, message)) as text."""
    return base64.b64encode(hmac.new(key, message, digest).digest()).decode("ascii")


def same(expected: str, presented: str) -> bool:
    """Constant-time comparison of the expected text with the header as received (no decoding, no
    URL-unquoting: a '+' that became a space is a wrong signature)."""
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("utf-8", "replace"))


def header(value: str | None, name: str) -> str:
    """A signature header's value, stripped; SignatureRejected when it is missing, empty or far too long."""
    if value is None or not value.strip():
        raise SignatureRejected(f"missing {name} header")
    value = value.strip()
    if len(value) > MAX_SIGNATURE_CHARS:
        raise SignatureRejected(f"{name} header too long")
    return value


__all__ = ["MAX_SIGNATURE_CHARS", "SignatureRejected", "hmac_base64", "header", "same"]
