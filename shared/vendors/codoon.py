"""Codoon OpenAPI (closed in 2018; exercised against the sandbox): HTTP Basic client auth with
``client_id`` also in the body, ``expire_in`` (sic) in the token response, ``user_id`` (UUID), and
numeric error codes.

Our reading of the error codes (the public text is not retrievable): 1001 invalid client credentials,
1002 invalid/expired/revoked refresh token or code, 1003 invalid grant type or missing parameter,
2001 invalid or expired access token, 2003 scope not granted, 2004 rate limit, 2005 internal error.
"""

from collections.abc import Mapping
from typing import Any

from shared.vendors.base import FailureKind, VendorSpec

ERROR_KINDS: Mapping[int, FailureKind] = {
    1001: FailureKind.CLIENT_MISCONFIGURED,
    1002: FailureKind.GRANT_REJECTED,
    1003: FailureKind.CLIENT_MISCONFIGURED,
    2001: FailureKind.GRANT_REJECTED,
    2003: FailureKind.GRANT_REJECTED,
    2004: FailureKind.TRANSIENT,
    2005: FailureKind.TRANSIENT,
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
