"""WHOOP API v2, as ``../shared/reference/vendors.md`` §2 and ``../shared/reference/specs/whoop-openapi-v2.json``
give it: client credentials in the form body (client_secret_post), RFC 6749 error bodies, a refresh that names
the whole granted scope (``offline`` among it), revocation by ``DELETE /v2/user/access``, signed webhooks
(HMAC-SHA256 of timestamp + body) refused with 401."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts

FACTS = VendorFacts(
    source="../shared/reference/vendors.md §2; ../shared/reference/specs/whoop-openapi-v2.json",
    client_auth="body",
    exchange_fields=frozenset({"grant_type", "code", "redirect_uri", "client_id", "client_secret"}),
    refresh_fields=frozenset({"grant_type", "refresh_token", "scope", "client_id", "client_secret"}),
    scope_separator=" ",
    pkce=False,
    errors=(
        ErrorRow(
            400,
            {"error": "invalid_grant", "error_description": "The refresh token is invalid or was revoked"},
            FailureKind.GRANT_REJECTED,
            "invalid_grant",
        ),
        ErrorRow(
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_client",
        ),
        ErrorRow(
            400,
            {"error": "invalid_request", "error_description": 'The "redirect_uri" parameter does not match'},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_request",
        ),
        ErrorRow(
            400, {"error": "invalid_scope", "error_description": "x"}, FailureKind.CLIENT_MISCONFIGURED, "invalid_scope"
        ),
        ErrorRow(429, {"error": "rate_limited"}, FailureKind.TRANSIENT, "http_429", {"Retry-After": "30"}, 30),
        ErrorRow(503, "<html>upstream</html>", FailureKind.TRANSIENT, "http_503", {"Retry-After": "7"}, 7),
        ErrorRow(500, {"error": "server_error"}, FailureKind.TRANSIENT, "http_500"),
        ErrorRow(400, "<html>proxy</html>", FailureKind.TRANSIENT, "unrecognised_400"),
        ErrorRow(410, {"error": "gone"}, FailureKind.VENDOR_RETIRED, "gone"),
    ),
    revokes=True,
    notified_types=("sleep", "workout", "recovery"),
    refused_status=401,
)
