"""Codoon OpenAPI (closed in 2018; exercised against the sandbox): HTTP Basic client auth with
``client_id`` also in the body, ``expire_in`` (sic) in the token response, ``user_id`` (UUID), and
numeric error codes.

Error codes, from the table of its document (``reference/specs/codoon-openapi.md``, "返回错误码"): 1001
invalid_request (no credentials in the header), 1002 invalid_token (the token is no longer valid: a spent or
revoked refresh token), 1003 insufficient_scope, 2001 invalid_request (a parameter missing or wrong), 2003
unauthorized_client (not a valid client_id), 2004 access_denied (authorization failed), 2005
unsupported_responseType. It documents no code for throttling or server errors: those are read from the HTTP
status (429, 5xx) before any code.
"""

from collections.abc import Mapping
from typing import Any

from shared.vendors.base import FailureKind, VendorSpec

ERROR_KINDS: Mapping[int, FailureKind] = {
    1001: FailureKind.CLIENT_MISCONFIGURED,
    1002: FailureKind.GRANT_REJECTED,
    1003: FailureKind.CLIENT_MISCONFIGURED,  # a scope beyond the grant: our request is wrong
    2001: FailureKind.CLIENT_MISCONFIGURED,
    2003: FailureKind.CLIENT_MISCONFIGURED,
    2004: FailureKind.GRANT_REJECTED,  # access_denied, as RFC 6749 reads it
    2005: FailureKind.CLIENT_MISCONFIGURED,
}


class CodoonSpec(VendorSpec):
    def expires_in(self, body: Mapping[str, Any]) -> float:
        return float(body.get("expire_in") or body.get("expires_in") or self.default_expires_in)

    def error_code(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("error_code"), int):
            return str(body["error_code"])
        return super().error_code(body)

    def kind_of(self, code: str) -> FailureKind | None:
        if code.isdigit():
            return ERROR_KINDS.get(int(code))
        return super().kind_of(code)


SPEC = CodoonSpec(
    name="codoon",
    client_auth="basic",
    send_client_id_in_body=True,
    default_scopes=("user", "sports"),
    scope_separator=",",  # in the authorize request and the refresh's scope (the whole grant)
    refresh_sends_scope=True,
    default_expires_in=93312000,
)
