"""WHOOP API v2: client_secret_post, ``scope=offline`` on refresh, 1-hour access tokens, no user id in the
token response (it comes from ``/v2/user/profile/basic``), RFC 6749 error bodies."""

from shared.vendors.base import VendorSpec

SPEC = VendorSpec(
    name="whoop",
    client_auth="body",
    default_scopes=(
        "offline",
        "read:recovery",
        "read:cycles",
        "read:workout",
        "read:sleep",
        "read:profile",
        "read:body_measurement",
    ),
    refresh_extra={"scope": "offline"},
    default_expires_in=3600,
    revoke_style="bearer_delete",
    revoke_path="/v2/user/access",
    profile_path="/v2/user/profile/basic",
    rate_limit_scope="app",
)
