"""Fitbit Web API: HTTP Basic client auth, PKCE (S256), 8-hour access tokens, single-use refresh tokens
with the identical-request grace, ``user_id`` in the token response, and its own error shape
``{"errors":[{"errorType": ...}], "success": false}``. (Retired by Google in November 2026: HTTP 410.)"""

from typing import Any

from shared.vendors.base import VendorSpec


class FitbitSpec(VendorSpec):
    def error_code(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            if isinstance(first, dict) and isinstance(first.get("errorType"), str):
                return str(first["errorType"])
        return super().error_code(body)


SPEC = FitbitSpec(
    name="fitbit",
    client_auth="basic",
    default_scopes=("activity", "heartrate", "sleep", "profile", "weight", "oxygen_saturation", "respiratory_rate"),
    supports_pkce=True,
    default_expires_in=28800,
    revoke_style="rfc7009",
    rate_limit_remaining_headers=("X-RateLimit-Remaining", "Fitbit-Rate-Limit-Remaining"),
    rate_limit_reset_headers=("X-RateLimit-Reset", "Fitbit-Rate-Limit-Reset"),
)
