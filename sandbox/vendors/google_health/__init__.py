"""The Google Health API twin (Fitbit's successor), built from reference/specs/google-health-v4-discovery.json:
Google OAuth with PKCE, `access_type=offline` and refresh tokens that are not rotated, the identity with a
settable legacy Fitbit id (`oauth`), synthetic data (`data`) served by list, reconcile and daily roll-up (`api`),
and notifications signed with the twin's EC P-256 key (`notify`). Facts: reference/vendors-next.md §1."""

from sandbox.vendors import Twin
from sandbox.vendors.google_health.api import RATE, data_routes
from sandbox.vendors.google_health.data import GOOGLE_HEALTH_DATA
from sandbox.vendors.google_health.notify import SIGNED, notification, verification
from sandbox.vendors.google_health.oauth import GOOGLE_HEALTH, oauth_routes, set_legacy_user_id

TWIN = Twin(
    vendor=GOOGLE_HEALTH, data=GOOGLE_HEALTH_DATA, oauth_routes=oauth_routes, data_routes=data_routes, rate=RATE
)

__all__ = ["SIGNED", "TWIN", "notification", "set_legacy_user_id", "verification"]
