"""Fitbit Web API, as ``../shared/reference/vendors.md`` §1 and
``../shared/reference/specs/fitbit-web-api-swagger.json`` give it: HTTP Basic client authentication, PKCE (S256),
a refresh without scope, its own error shape ``{"errors": [{"errorType": ...}], "success": false}`` (whose
message echoes the refresh token), activity time series with an entry for every date asked (``"0"`` on a day without
data), ``Fitbit-Rate-Limit-Reset``, HTTP 410 since Google turned the API off,
RFC 7009 revocation, and subscriber notifications signed with the client secret, a bad signature answered 404."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts


def _errors(error_type: str, message: str = "x") -> dict[str, object]:
    return {"errors": [{"errorType": error_type, "message": message}], "success": False}


FACTS = VendorFacts(
    source="../shared/reference/vendors.md §1; ../shared/reference/specs/fitbit-web-api-swagger.json",
    client_auth="basic",
    exchange_fields=frozenset({"grant_type", "code", "redirect_uri", "code_verifier"}),
    refresh_fields=frozenset({"grant_type", "refresh_token"}),
    scope_separator=" ",
    pkce=True,
    errors=(
        ErrorRow(
            400,
            _errors("invalid_grant", "Refresh token invalid: old-refresh-token-5d8e2a. Visit https://dev.fitbit.com"),
            FailureKind.GRANT_REJECTED,
            "invalid_grant",
        ),
        ErrorRow(401, _errors("invalid_client"), FailureKind.CLIENT_MISCONFIGURED, "invalid_client"),
        ErrorRow(
            400, _errors("invalid_request", "Missing parameters"), FailureKind.CLIENT_MISCONFIGURED, "invalid_request"
        ),
        ErrorRow(
            429,
            _errors("system", "Too Many Requests"),
            FailureKind.TRANSIENT,
            "http_429",
            {"Fitbit-Rate-Limit-Reset": "120"},
            120,
        ),
        ErrorRow(503, _errors("system"), FailureKind.TRANSIENT, "http_503"),
        ErrorRow(410, _errors("gone"), FailureKind.VENDOR_RETIRED, "gone"),
    ),
    placeholder_types=frozenset({"steps", "calories", "distance"}),  # activity time series: "0" for a day without data
    revokes=True,
    notified_types=("sleep", "activities"),
    refused_status=404,
)
