"""Google's OAuth 2.0 web-server flow and the Google Health identity, as the twin imitates them
(reference/vendors-next.md §1.2; discovery `users.getIdentity`, `Identity`).

- authorize: the consent page; it records `access_type` and `prompt` (the app must send `offline` and `consent`) and,
  like Google, issues a refresh token only for `access_type=offline`; PKCE S256; the user may untick scopes
  (`sandbox_grant_scope`), and the token answer's `scope` says what was granted.
- token: client id and secret in the form body; RFC 6749 error bodies `{"error", "error_description"}`; a refresh
  answers a new access token *without* `refresh_token`: Google does not rotate refresh tokens.
- revoke: `POST /revoke` with `token=` revokes the grant.
- `GET /v4/users/me/identity`: `{"name", "healthUserId", "legacyUserId"?}`; `healthUserId` is numeric text, and a
  test makes a user someone who had a Fitbit account with `set_legacy_user_id(user, fitbit_user_id)` (then
  `legacyUserId` is that id), e.g. `set_legacy_user_id("alice", sandbox.vendor_user_id("fitbit", "alice"))`.
- data errors in Google's API shape: `{"error": {"code", "message", "status"}}` (401 UNAUTHENTICATED, 403
  PERMISSION_DENIED, 400 INVALID_ARGUMENT, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints, authenticate_bearer, error_reply, missing_fields
from sandbox.server import Reply, Request, Route, json_reply, redirect_reply
from sandbox.vendors import OAuthError, TokenIssue, Vendor, digest

SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth."
ACTIVITY = SCOPE_PREFIX + "activity_and_fitness.readonly"
METRICS = SCOPE_PREFIX + "health_metrics_and_measurements.readonly"
SLEEP = SCOPE_PREFIX + "sleep.readonly"
PROFILE = SCOPE_PREFIX + "profile.readonly"
SETTINGS = SCOPE_PREFIX + "settings.readonly"
IDENTITY_PATH = "/v4/users/me/identity"

_API_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_API_STATUS |= {409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_LEGACY: dict[str, str] = {}
_LEGACY_LOCK = threading.Lock()


def set_legacy_user_id(user: str, legacy_user_id: str | None) -> None:
    """Make `user` someone whose Fitbit user id was `legacy_user_id` (None: a Google-only account)."""
    with _LEGACY_LOCK:
        if legacy_user_id is None:
            _LEGACY.pop(user, None)
        else:
            _LEGACY[user] = legacy_user_id


def legacy_user_id(user: str) -> str | None:
    with _LEGACY_LOCK:
        return _LEGACY.get(user)


def api_error(status: int, message: str) -> dict[str, object]:
    """Google's API error body."""
    return {"error": {"code": status, "message": message, "status": _API_STATUS.get(status, "UNKNOWN")}}


@dataclass(frozen=True)
class GoogleHealth(Vendor):
    """Google OAuth plus the Google Health API's error shape."""

    def settings(self, base_url: str, client_id: str, client_secret: str) -> dict[str, str]:
        from sandbox.vendors.google_health.notify import notify_settings

        return {**super().settings(base_url, client_id, client_secret), **notify_settings(client_secret)}

    def issues_refresh_token(self, scope: tuple[str, ...]) -> bool:
        return True  # the authorize route refuses a consent without access_type=offline (see `authorize`)

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": issue.access_token,
            "expires_in": issue.expires_in,
            "scope": " ".join(issue.scope),
            "token_type": "Bearer",
        }
        if issue.refresh_token is not None:
            body["refresh_token"] = issue.refresh_token
        return body

    def error_body(self, error: OAuthError) -> dict[str, object]:
        if error.subject == "access_token" or error.kind in ("insufficient_scope",):
            return api_error(error.status, error.reason)
        return {
            "error": error.kind if error.kind != "rate_limited" else "rate_limit_exceeded",
            "error_description": error.reason,
        }

    def user_id(self, user: str) -> str:
        return str(int.from_bytes(digest(self.name, user)[:8], "big"))

    def forbidden(self, scope: str) -> tuple[OAuthError, dict[str, str]]:
        return OAuthError("insufficient_scope", "Request had insufficient authentication scopes."), {}

    def bad_request_body(self, message: str, field: str | None) -> dict[str, object] | None:
        return api_error(400, message)

    def not_found_body(self, message: str) -> dict[str, object]:
        return api_error(404, message)


GOOGLE_HEALTH = GoogleHealth(
    name="google_health",
    authorize_path="/o/oauth2/v2/auth",
    token_path="/token",
    api_path="",
    revoke_path="/revoke",
    default_scope=(ACTIVITY, METRICS, SLEEP, PROFILE, SETTINGS),
    access_ttl=3599,
    client_auth="post",
    supports_pkce=True,
    rotates_refresh_token=False,
)


class GoogleRoutes:
    """Authorize (with Google's `access_type`), revoke and identity."""

    def __init__(self, oauth: OAuthEndpoints) -> None:
        self.oauth = oauth

    def authorize(self, request: Request) -> Reply:
        if request.query.get("access_type") != "offline":  # Google would issue no refresh token: refuse outright
            redirect_uri = request.query.get("redirect_uri", "")
            if redirect_uri.startswith(("http://", "https://")):
                params = f"error=invalid_request&state={request.query.get('state', '')}"
                return redirect_reply(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{params}")
        return self.oauth.authorize(request)

    def revoke(self, request: Request) -> Reply:
        if (missing := missing_fields(request.form, "token")) is not None:
            return error_reply(GOOGLE_HEALTH, missing)
        self.oauth.ctx.store.revoke_token(GOOGLE_HEALTH.name, request.form["token"])
        return json_reply(200, {})

    def identity(self, request: Request) -> Reply:
        user = authenticate_bearer(self.oauth.ctx, GOOGLE_HEALTH, request)
        if isinstance(user, Reply):
            return user
        body: dict[str, object] = {"name": "users/me/identity", "healthUserId": GOOGLE_HEALTH.user_id(user)}
        legacy = legacy_user_id(user)
        if legacy is not None:
            body["legacyUserId"] = legacy
        return json_reply(200, body)


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    oauth = OAuthEndpoints(GOOGLE_HEALTH, ctx)
    routes = GoogleRoutes(oauth)
    return [
        Route("GET", GOOGLE_HEALTH.authorize_path, "authorize", routes.authorize),
        Route("POST", GOOGLE_HEALTH.token_path, "token", oauth.token),
        Route("POST", GOOGLE_HEALTH.revoke_path or "", "revoke", routes.revoke),
        Route("GET", IDENTITY_PATH, "identity", routes.identity),
    ]
