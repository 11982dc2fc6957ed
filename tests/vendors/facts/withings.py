"""Withings Public API, as ``../shared/reference/vendors.md`` §3.2, ``vendors-next.md`` §2 and
``../shared/reference/specs/withings-openapi.yml`` give it: ``POST /v2/oauth2`` with ``action=requesttoken`` and the
client id and secret in the form for both grants, no PKCE, comma-separated scopes; every answer HTTP 200 with
``{"status", "body"}`` (the spec's Response Status families; 503 "Invalid Params" naming the refresh token or the
code for a rejected grant, per third-party reports); revocation by a signed ``action=revoke``; unsigned
notifications."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts

FACTS = VendorFacts(
    source=(
        "../shared/reference/vendors.md §3.2; ../shared/reference/vendors-next.md §2; "
        "../shared/reference/specs/withings-openapi.yml (oauth2-getaccesstoken, Response Status, oauth2-revoke)"
    ),
    client_auth="body",
    exchange_fields=frozenset({"action", "grant_type", "code", "redirect_uri", "client_id", "client_secret"}),
    refresh_fields=frozenset({"action", "grant_type", "refresh_token", "client_id", "client_secret"}),
    fixed_values={"action": "requesttoken"},
    scope_separator=",",
    pkce=False,
    errors=(
        ErrorRow(
            200,
            {"status": 503, "error": "Invalid Params: invalid refresh_token"},
            FailureKind.GRANT_REJECTED,
            "invalid_grant",
        ),
        ErrorRow(
            200, {"status": 503, "error": "Invalid Params: invalid code"}, FailureKind.GRANT_REJECTED, "invalid_grant"
        ),
        ErrorRow(
            200,
            {"status": 503, "error": "Invalid Params: invalid client_id"},
            FailureKind.CLIENT_MISCONFIGURED,
            "status_503",
        ),
        ErrorRow(
            200, {"status": 401, "error": "Authentication failed"}, FailureKind.CLIENT_MISCONFIGURED, "status_401"
        ),
        ErrorRow(200, {"status": 601, "error": "Too many request"}, FailureKind.TRANSIENT, "status_601"),
        ErrorRow(200, {"status": 522, "error": "Timeout"}, FailureKind.TRANSIENT, "status_522"),
        ErrorRow(200, {"status": 2556, "error": "An error occurred"}, FailureKind.TRANSIENT, "status_2556"),
        ErrorRow(200, "<html>proxy</html>", FailureKind.TRANSIENT, "unrecognised_200"),
        ErrorRow(503, "<html>upstream</html>", FailureKind.TRANSIENT, "http_503", {"Retry-After": "7"}, 7),
        ErrorRow(429, "<html>slow down</html>", FailureKind.TRANSIENT, "http_429", {"Retry-After": "30"}, 30),
        ErrorRow(410, {"status": 0}, FailureKind.VENDOR_RETIRED, "gone"),
    ),
    revokes=True,
    notified_types=("measure", "sleep", "heart"),
    refused_status=None,
)
