"""Google Health API, as ``../shared/reference/vendors-next.md`` §1.2 and
``../shared/reference/specs/google-health-v4-discovery.json`` give it: Google's web-server flow with the client
credentials in the form body, PKCE (S256), a refresh without scope (Google keeps the grant's scope and does not rotate
the refresh token), RFC 6749 error bodies (``invalid_grant`` for an expired or revoked token, the 7-day expiry of an
app in "Testing" among them), 429 and 5xx transient, revocation at ``oauth2.googleapis.com/revoke``, and webhooks
authenticated by the subscriber's ``Authorization`` secret and an ECDSA P-256 signature, refused with 401."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts

FACTS = VendorFacts(
    source="../shared/reference/vendors-next.md §1.2; ../shared/reference/specs/google-health-v4-discovery.json",
    client_auth="body",
    exchange_fields=frozenset({"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret"}),
    refresh_fields=frozenset({"grant_type", "refresh_token", "client_id", "client_secret"}),
    scope_separator=" ",
    pkce=True,
    errors=(
        ErrorRow(
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            FailureKind.GRANT_REJECTED,
            "invalid_grant",
        ),
        ErrorRow(
            401,
            {"error": "invalid_client", "error_description": "The OAuth client was not found."},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_client",
        ),
        ErrorRow(
            401,
            {"error": "unauthorized_client", "error_description": "Unauthorized"},
            FailureKind.CLIENT_MISCONFIGURED,
            "unauthorized_client",
        ),
        ErrorRow(
            400,
            {"error": "invalid_request", "error_description": "Missing required parameter: code_verifier"},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_request",
        ),
        ErrorRow(
            429,
            {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
            FailureKind.TRANSIENT,
            "http_429",
            {"Retry-After": "30"},
            30,
        ),
        ErrorRow(503, "<html>Service Unavailable</html>", FailureKind.TRANSIENT, "http_503"),
        ErrorRow(500, {"error": "internal_failure"}, FailureKind.TRANSIENT, "http_500"),
    ),
    revokes=True,
    notified_types=("sleep", "steps", "weight"),
    refused_status=401,
)
