"""Google Health API OAuth (``reference/vendors-next.md`` §1.2): Google's web-server flow.

- authorize ``https://accounts.google.com/o/oauth2/v2/auth`` with ``access_type=offline`` (else no refresh token)
  and ``prompt=consent`` (Google returns a refresh token only on a consent it shows), PKCE S256; the scopes are the
  ``googlehealth.*.readonly`` ones the operator enabled on the consent screen (setting ``GOOGLE_HEALTH_SCOPES``,
  default ``DEFAULT_SCOPES``);
- token ``https://oauth2.googleapis.com/token`` with the client id and secret in the form body; RFC 6749 error
  bodies (``{"error": "invalid_grant", "error_description": ...}``);
- refresh tokens are not rotated: a refresh answers without ``refresh_token`` and the stored one is kept
  (``VendorSpec.parse_token_response`` falls back to the previous pair); a refresh names no scope (the grant's
  scope stays whole);
- no user id in the token answer: ``GET /v4/users/me/identity`` gives ``healthUserId`` and, for a person who had
  a Fitbit account, ``legacyUserId`` (the Fitbit user id; discovery ``Identity``);
- an app left in the "Testing" publishing status gets refresh tokens that die after 7 days: an ``invalid_grant``
  about that long after consent says so (``grant_rejected_reason``);
- revocation ``https://oauth2.googleapis.com/revoke`` (``token=`` in the form).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.vendors.base import VendorSpec

SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth."
ACTIVITY = SCOPE_PREFIX + "activity_and_fitness.readonly"
METRICS = SCOPE_PREFIX + "health_metrics_and_measurements.readonly"
SLEEP = SCOPE_PREFIX + "sleep.readonly"
PROFILE = SCOPE_PREFIX + "profile.readonly"
SETTINGS = SCOPE_PREFIX + "settings.readonly"
DEFAULT_SCOPES = (ACTIVITY, METRICS, SLEEP, PROFILE, SETTINGS)

TESTING_REFRESH_DAYS = 7
"""Refresh tokens of an app in "Testing" status with external users expire this many days after consent."""


class GoogleHealthSpec(VendorSpec):
    def profile_user_id(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("healthUserId")
        return value if isinstance(value, str) and value else None

    def legacy_user_id(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("legacyUserId")
        return value if isinstance(value, str) and value else None

    def authorize_scopes(self, extra: Mapping[str, str]) -> tuple[str, ...]:
        """The scopes the operator enabled (``GOOGLE_HEALTH_SCOPES``: full URLs or the part after
        ``googlehealth.``, separated by spaces or commas), else the defaults."""
        raw = extra.get("SCOPES", "").replace(",", " ").split()
        if not raw:
            return self.default_scopes
        return tuple(dict.fromkeys(s if s.startswith("https://") else SCOPE_PREFIX + s for s in raw))

    def grant_rejected_reason(self, connected_at: datetime | None, now: datetime) -> str | None:
        if connected_at is None:
            return None
        age = now - connected_at
        if timedelta(days=TESTING_REFRESH_DAYS - 1) <= age <= timedelta(days=TESTING_REFRESH_DAYS + 1):
            return (
                f"Google refused the refresh token {age.days} days after consent: the OAuth consent screen of "
                "this Google Cloud project is probably still in 'Testing' status, where refresh tokens expire "
                "after 7 days; publish the app ('In production') and ask the user to reconnect"
            )
        return None


SPEC = GoogleHealthSpec(
    name="google_health",
    client_auth="body",
    default_scopes=DEFAULT_SCOPES,
    supports_pkce=True,
    authorize_extra={"access_type": "offline", "prompt": "consent"},
    default_expires_in=3599,
    revoke_style="rfc7009",
    profile_path="/v4/users/me/identity",
    rate_limit_scope="user",
)
