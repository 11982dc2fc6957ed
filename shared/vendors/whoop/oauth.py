"""WHOOP API v2: client_secret_post, 1-hour access tokens, no user id in the token response (it comes from
``/v2/user/profile/basic``), RFC 6749 error bodies.

A refresh sends the whole granted scope string (it includes ``offline``). WHOOP's tutorials send
``scope=offline`` alone, but a server that follows RFC 6749 §6 would then narrow the new access token to
``offline`` and every data call would answer 403."""

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
    refresh_sends_scope=True,
    default_expires_in=3600,
    revoke_style="bearer_delete",
    revoke_path="/v2/user/access",
    profile_path="/v2/user/profile/basic",
    rate_limit_scope="app",
)
