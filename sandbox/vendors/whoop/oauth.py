"""WHOOP v2 OAuth, as the twin imitates it (vendors.md 2.1): an Ory Hydra-like server, client_secret_post,
RFC 6749 errors, no user id in token answers (the basic profile has it), `DELETE /v2/user/access` revokes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints, authenticate_bearer
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import ErrorKind, OAuthError, TokenIssue, Vendor, ceil_seconds, digest

_WHOOP_ERRORS: dict[ErrorKind, tuple[str, str]] = {
    "invalid_request": (
        "invalid_request",
        "The request is missing a required parameter, includes an invalid parameter value, includes a "
        "parameter more than once, or is otherwise malformed.",
    ),
    "invalid_client": (
        "invalid_client",
        "Client authentication failed (e.g., unknown client, no client authentication included, or "
        "unsupported authentication method).",
    ),
    "invalid_grant": (
        "invalid_grant",
        "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh "
        "token is invalid, expired, revoked, does not match the redirection URI used in the authorization "
        "request, or was issued to another client.",
    ),
    "unsupported_grant_type": (
        "unsupported_grant_type",
        "The authorization grant type is not supported by the authorization server.",
    ),
    "invalid_scope": ("invalid_scope", "The requested scope is invalid, unknown, or malformed."),
    "invalid_token": ("invalid_token", "The access token is invalid, expired or revoked."),
    "expired_token": ("invalid_token", "The access token is invalid, expired or revoked."),
    "insufficient_scope": ("insufficient_scope", "The access token lacks a required scope."),
    "rate_limited": ("too_many_requests", "Rate limit exceeded."),
    "server_error": ("server_error", "The authorization server encountered an unexpected condition."),
    "unavailable": ("temporarily_unavailable", "The authorization server is temporarily unavailable."),
}


@dataclass(frozen=True)
class Whoop(Vendor):
    """WHOOP v2 (an Ory Hydra-like server): client_secret_post, RFC 6749 errors, no user id in tokens."""

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        body: dict[str, object] = {"access_token": issue.access_token, "expires_in": issue.expires_in}
        if issue.refresh_token is not None:
            body["refresh_token"] = issue.refresh_token
        body["scope"] = " ".join(issue.scope)
        body["token_type"] = "bearer"
        return body

    def error_body(self, error: OAuthError) -> dict[str, object]:
        code, text = _WHOOP_ERRORS[error.kind]
        return {"error": code, "error_description": f"{text} {error.reason}"}

    def rate_limit_headers(self, reset_seconds: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "100, 100;window=60, 10000;window=86400",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": ceil_seconds(reset_seconds),
        }

    def user_id(self, user: str) -> str:
        return str(10_000 + int.from_bytes(digest(self.name, user)[:8], "big") % 90_000_000)

    def profile(self, user: str) -> dict[str, object]:
        """The body of GET /v2/user/profile/basic."""
        local = re.sub(r"[^a-z0-9._-]+", "-", user.lower()).strip("-.") or "user"
        return {
            "user_id": int(self.user_id(user)),
            "email": f"{local}@example.com",
            "first_name": user,
            "last_name": "Sandbox",
        }


WHOOP = Whoop(
    name="whoop",
    authorize_path="/oauth/oauth2/auth",
    token_path="/oauth/oauth2/token",
    api_path="/developer",
    revoke_path=None,
    default_scope=(
        "offline",
        "read:recovery",
        "read:cycles",
        "read:workout",
        "read:sleep",
        "read:profile",
        "read:body_measurement",
    ),
    access_ttl=3_600,
    client_auth="post",
    refresh_scope_required="offline",
    refresh_token_scope="offline",
    min_state_length=8,
)


class WhoopUser:
    """WHOOP user endpoints needed by the OAuth flow: the basic profile and revoking access."""

    def __init__(self, vendor: Whoop, ctx: EndpointContext) -> None:
        self.vendor = vendor
        self.ctx = ctx

    def profile(self, request: Request) -> Reply:
        user = authenticate_bearer(self.ctx, self.vendor, request)
        if isinstance(user, Reply):
            return user
        return json_reply(200, self.vendor.profile(user))

    def revoke_access(self, request: Request) -> Reply:
        user = authenticate_bearer(self.ctx, self.vendor, request)
        if isinstance(user, Reply):
            return user
        self.ctx.store.revoke_user(self.vendor.name, user)
        return Reply(204)


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    user = WhoopUser(WHOOP, ctx)
    return [
        *OAuthEndpoints(WHOOP, ctx).routes(),
        Route("GET", "/developer/v2/user/profile/basic", "profile", user.profile),
        Route("DELETE", "/developer/v2/user/access", "revoke", user.revoke_access),
    ]
