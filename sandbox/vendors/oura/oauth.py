"""Oura API v2 OAuth, as the twin imitates it (vendors-next.md §2; spec securitySchemes.OAuth2): authorize at
/oauth/authorize, token at /oauth/token with the client id and secret in the form (the spec's JavaScript sample),
RFC 6749 error bodies, 24-hour access tokens, refresh tokens that rotate (each single use here: the strictest
reading of an UNCONFIRMED fact), no user id in token answers (``id`` of personal info has it), and
``GET /oauth/revoke?access_token=`` (third-party) revoking the grant.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import OAuthError, TokenIssue, Vendor, ceil_seconds, digest

_CODES = {
    "expired_token": "invalid_grant",
    "rate_limited": "too_many_requests",
    "unavailable": "temporarily_unavailable",
}


@dataclass(frozen=True)
class Oura(Vendor):
    """Oura v2: client_secret_post, RFC 6749 errors, user id from personal info."""

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        body: dict[str, object] = {
            "token_type": "bearer",
            "access_token": issue.access_token,
            "expires_in": issue.expires_in,
            "scope": " ".join(issue.scope),
        }
        if issue.refresh_token is not None:
            body["refresh_token"] = issue.refresh_token
        return body

    def error_body(self, error: OAuthError) -> dict[str, object]:
        return {"error": _CODES.get(error.kind, error.kind), "error_description": error.reason}

    def rate_limit_headers(self, reset_seconds: float) -> dict[str, str]:
        return {
            "Retry-After": ceil_seconds(reset_seconds),
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Window": "300",
            "X-RateLimit-Reset": str(int(time.time() + reset_seconds)),
            "X-RateLimit-Tier": "token",
        }

    def user_id(self, user: str) -> str:
        return str(uuid.UUID(bytes=digest(self.name, user)[:16], version=4))

    def not_found_body(self, message: str) -> dict[str, object]:
        return {"detail": message}

    def bad_request_body(self, message: str, field: str | None) -> dict[str, object] | None:
        return {"detail": [{"loc": ["query", field or "query"], "msg": message, "type": "value_error"}]}


OURA = Oura(
    name="oura",
    authorize_path="/oauth/authorize",
    token_path="/oauth/token",
    api_path="",
    revoke_path="/oauth/revoke",
    default_scope=("email", "personal", "daily", "heartrate", "workout", "tag", "session", "spo2Daily"),
    access_ttl=86_400,
    client_auth="post",
)


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    def revoke(request: Request) -> Reply:
        token = request.query.get("access_token")
        if not token or not ctx.store.revoke_token(OURA.name, token):
            return json_reply(400, {"error": "invalid_token", "error_description": "Unknown access token."})
        return json_reply(200, {})

    return [*OAuthEndpoints(OURA, ctx).routes(), Route("GET", "/oauth/revoke", "revoke", revoke)]
