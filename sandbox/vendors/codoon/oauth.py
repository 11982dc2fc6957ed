"""Codoon OpenAPI OAuth (closed 2018), as the twin imitates it (vendors.md 5 and its document): Basic client
auth plus client_id in the body, numeric error codes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints
from sandbox.server import Route
from sandbox.vendors import ErrorKind, OAuthError, TokenIssue, Vendor

# The table of Codoon's document ("返回错误码"); it names no code for throttling or server errors, so those
# answers carry only their HTTP status and a message.
_CODOON_CODES: dict[ErrorKind, int] = {
    "invalid_client": 2003,  # unauthorized_client: not a valid client_id
    "invalid_grant": 1002,  # invalid_token: a spent, expired or revoked refresh token or code
    "invalid_request": 2001,
    "unsupported_grant_type": 2001,
    "invalid_scope": 1003,  # insufficient_scope
    "invalid_token": 1002,
    "expired_token": 1002,
    "insufficient_scope": 1003,
}
_CODOON_USER_NAMESPACE = uuid.UUID("6f1c7a52-5d1e-4c35-9a43-0c0d0e0f1a2b")


@dataclass(frozen=True)
class Codoon(Vendor):
    """Codoon OpenAPI (closed 2018): Basic client auth plus client_id in the body, numeric error codes."""

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        return {
            "user_id": issue.vendor_user_id,
            "access_token": issue.access_token,
            "token_type": "bearer",
            "scope": " ".join(issue.scope),
            "expire_in": issue.expires_in,
            "refresh_token": issue.refresh_token,
        }

    def error_body(self, error: OAuthError) -> dict[str, object]:
        code = _CODOON_CODES.get(error.kind)
        body: dict[str, object] = {"error": self._message(error)}
        return body if code is None else {"error_code": code, **body}

    def not_found_body(self, message: str) -> dict[str, object]:
        return {"error_code": 2001, "error": message}  # the document's "parameter wrong"

    def user_id(self, user: str) -> str:
        return str(uuid.uuid5(_CODOON_USER_NAMESPACE, user))

    @staticmethod
    def _message(error: OAuthError) -> str:
        if error.kind == "invalid_grant":
            code = error.subject == "authorization_code"
            return "invalid authorization code" if code else "invalid refresh_token"
        messages: dict[ErrorKind, str] = {
            "invalid_client": "invalid client credentials",
            "unsupported_grant_type": "invalid grant_type",
            "invalid_token": "invalid or expired access token",
            "expired_token": "invalid or expired access token",
            "insufficient_scope": "scope not granted",
            "rate_limited": "rate limit exceeded",
            "server_error": "internal error",
            "unavailable": "internal error",
        }
        return messages.get(error.kind, error.reason)


CODOON = Codoon(
    name="codoon",
    authorize_path="/authorize",
    token_path="/token",
    api_path="/api",
    revoke_path=None,
    default_scope=("user", "sports"),
    access_ttl=93_312_000,
    client_auth="basic",
    body_client_id_required=True,
)


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    return OAuthEndpoints(CODOON, ctx).routes()
