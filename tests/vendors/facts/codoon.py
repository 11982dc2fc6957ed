"""Codoon OpenAPI (closed in 2018), as its document ``../shared/reference/specs/codoon-openapi.md`` gives it:
HTTP Basic client authentication with ``client_id`` also in the form, scopes joined by commas (a refresh names
them), numeric error codes ("返回错误码": 1001 and 2001 invalid_request, 1002 invalid_token, 1003
insufficient_scope, 2003 unauthorized_client, 2004 access_denied, 2005 unsupported_responseType; none for throttling
or server errors, which are read from the status), no revocation, and unsigned notifications."""

from shared.vendors import FailureKind
from tests.vendors.facts import ErrorRow, VendorFacts


def _error(code: int, text: str) -> dict[str, object]:
    return {"error_code": code, "error": text}


FACTS = VendorFacts(
    source="../shared/reference/specs/codoon-openapi.md",
    client_auth="basic",
    exchange_fields=frozenset({"grant_type", "code", "redirect_uri", "client_id"}),
    refresh_fields=frozenset({"grant_type", "refresh_token", "scope", "client_id"}),
    scope_separator=",",
    pkce=False,
    errors=(
        ErrorRow(400, _error(1001, "invalid_request"), FailureKind.CLIENT_MISCONFIGURED, "1001"),
        ErrorRow(401, _error(1002, "invalid_token"), FailureKind.GRANT_REJECTED, "1002"),
        ErrorRow(403, _error(1003, "insufficient_scope"), FailureKind.CLIENT_MISCONFIGURED, "1003"),
        ErrorRow(400, _error(2001, "invalid_request"), FailureKind.CLIENT_MISCONFIGURED, "2001"),
        ErrorRow(400, _error(2003, "unauthorized_client"), FailureKind.CLIENT_MISCONFIGURED, "2003"),
        ErrorRow(400, _error(2004, "access_denied"), FailureKind.GRANT_REJECTED, "2004"),
        ErrorRow(400, _error(2005, "unsupported_responseType"), FailureKind.CLIENT_MISCONFIGURED, "2005"),
        ErrorRow(429, {"error": "rate limit"}, FailureKind.TRANSIENT, "http_429"),
        ErrorRow(500, {"error": "internal"}, FailureKind.TRANSIENT, "http_500"),
    ),
    revokes=False,
    notified_types=("tracker", "route"),
    refused_status=None,
)
