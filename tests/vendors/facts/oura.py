"""Oura API v2, as ``../shared/reference/vendors-next.md`` §2 and ``../shared/reference/specs/oura-openapi-v2.yml``
give it: client id and secret in the token request's form (the spec's JavaScript sample; open-wearables), a refresh
of ``grant_type``, ``refresh_token`` and the client fields (no scope: the spec's Python sample), no PKCE, space-joined
scopes, RFC 6749 error bodies, revocation (``GET /oauth/revoke?access_token=``, third-party), webhooks signed with
uppercase hex HMAC-SHA256 of ``x-oura-timestamp`` + body and refused with 401 (the spec's sample), for the data
types of ``ExtApiV2DataType`` this app pulls."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts

FACTS = VendorFacts(
    source="../shared/reference/vendors-next.md §2; ../shared/reference/specs/oura-openapi-v2.yml",
    client_auth="body",
    exchange_fields=frozenset({"grant_type", "code", "redirect_uri", "client_id", "client_secret"}),
    refresh_fields=frozenset({"grant_type", "refresh_token", "client_id", "client_secret"}),
    scope_separator=" ",
    pkce=False,
    errors=(
        ErrorRow(400, {"error": "invalid_grant"}, FailureKind.GRANT_REJECTED, "invalid_grant"),
        ErrorRow(401, {"error": "invalid_client"}, FailureKind.CLIENT_MISCONFIGURED, "invalid_client"),
        ErrorRow(400, {"error": "invalid_request"}, FailureKind.CLIENT_MISCONFIGURED, "invalid_request"),
        ErrorRow(
            429,
            {"detail": "Too Many Requests"},
            FailureKind.TRANSIENT,
            "http_429",
            {"Retry-After": "42", "X-RateLimit-Reset": "1893456000", "X-RateLimit-Tier": "app"},
            42,
        ),
        ErrorRow(500, {"error": "server_error"}, FailureKind.TRANSIENT, "http_500"),
        ErrorRow(503, "<html>upstream</html>", FailureKind.TRANSIENT, "http_503", {"Retry-After": "7"}, 7),
        ErrorRow(400, "<html>proxy</html>", FailureKind.TRANSIENT, "unrecognised_400"),
        ErrorRow(410, {"error": "gone"}, FailureKind.VENDOR_RETIRED, "gone"),
    ),
    revokes=True,
    notified_types=(
        "daily_activity",
        "daily_sleep",
        "sleep",
        "daily_readiness",
        "daily_spo2",
        "daily_stress",
        "daily_resilience",
        "workout",
        "session",
        "vo2_max",
    ),
    refused_status=401,
)
