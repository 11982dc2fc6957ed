"""Fitbit Web API OAuth, as the twin imitates it (vendors.md 1.1): Basic client auth, PKCE, `{"errors": [...],
"success": false}` bodies that echo the offending token, the identical-request replay rule, and RFC 7009 revoke.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints, error_reply, missing_fields
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import OAuthError, TokenIssue, Vendor, ceil_seconds, digest
from sandbox.vendors.fitbit.retired import retiring

_FITBIT_HELP = (
    "Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process."
)
_FITBIT_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Fitbit(Vendor):
    """Fitbit Web API: Basic client auth, PKCE, `{"errors": [...], "success": false}` bodies, replay rule."""

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        return {
            "access_token": issue.access_token,
            "expires_in": issue.expires_in,
            "refresh_token": issue.refresh_token,
            "scope": " ".join(issue.scope),
            "token_type": "Bearer",
            "user_id": issue.vendor_user_id,
        }

    def error_body(self, error: OAuthError) -> dict[str, object]:
        detail = {"errorType": self._error_type(error), "message": self._message(error)}
        return {"errors": [detail], "success": False}

    def rate_limit_headers(self, reset_seconds: float) -> dict[str, str]:
        return {
            "Fitbit-Rate-Limit-Limit": "150",
            "Fitbit-Rate-Limit-Remaining": "0",
            "Fitbit-Rate-Limit-Reset": ceil_seconds(reset_seconds),
        }

    def user_id(self, user: str) -> str:
        number = int.from_bytes(digest(self.name, user)[:8], "big")
        chars = []
        for _ in range(6):
            number, index = divmod(number, len(_FITBIT_ALPHABET))
            chars.append(_FITBIT_ALPHABET[index])
        return "".join(chars)

    def forbidden(self, scope: str) -> tuple[OAuthError, dict[str, str]]:
        reason = f"This application does not have permission to access {scope} data."
        return OAuthError("insufficient_scope", reason), {}

    def bad_request_body(self, message: str, field: str | None) -> dict[str, object] | None:
        """Fitbit's `validation` error, naming the field when there is one."""
        detail: dict[str, object] = {"errorType": "validation"}
        if field is not None:
            detail["fieldName"] = field
        detail["message"] = message
        return {"errors": [detail], "success": False}

    def not_found_body(self, message: str) -> dict[str, object]:
        return {"errors": [{"errorType": "not_found", "message": message}], "success": False}

    @staticmethod
    def _error_type(error: OAuthError) -> str:
        if error.kind in ("rate_limited", "server_error", "unavailable"):
            return "system"
        return error.kind

    @staticmethod
    def _message(error: OAuthError) -> str:
        # Like the real Fitbit, echo the offending token: our app must never log vendor messages.
        token = error.presented
        if error.kind == "invalid_grant" and error.subject == "refresh_token":
            return f"Refresh token invalid: {token}. {_FITBIT_HELP}"
        if error.kind == "invalid_grant" and error.subject == "authorization_code":
            return f"Authorization code invalid: {token} {_FITBIT_HELP}"
        if error.kind == "expired_token":
            return f"Access token expired: {token}. {_FITBIT_HELP}"
        if error.kind == "invalid_token" and token:
            return f"Access token invalid: {token}. {_FITBIT_HELP}"
        if error.kind == "rate_limited":
            return "Too Many Requests"
        return f"{error.reason} {_FITBIT_HELP}"


FITBIT = Fitbit(
    name="fitbit",
    authorize_path="/oauth2/authorize",
    token_path="/oauth2/token",
    api_path="",
    revoke_path="/oauth2/revoke",
    default_scope=(
        "activity",
        "heartrate",
        "sleep",
        "profile",
        "weight",
        "oxygen_saturation",
        "respiratory_rate",
    ),
    access_ttl=28_800,
    client_auth="basic",
    replay_window=120.0,
    supports_pkce=True,
)


class FitbitRevoke:
    """POST /oauth2/revoke (RFC 7009): any token of a grant revokes the whole grant."""

    def __init__(self, oauth: OAuthEndpoints) -> None:
        self.oauth = oauth

    def revoke(self, request: Request) -> Reply:
        vendor = self.oauth.vendor
        try:
            self.oauth.authenticate_client(request)
            if (missing := missing_fields(request.form, "token")) is not None:
                raise missing
        except OAuthError as error:
            return error_reply(vendor, error)
        self.oauth.ctx.store.revoke_token(vendor.name, request.form["token"])
        return json_reply(200, {})


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    oauth = OAuthEndpoints(FITBIT, ctx)
    routes = [*oauth.routes(), Route("POST", FITBIT.revoke_path or "", "revoke", FitbitRevoke(oauth).revoke)]
    return retiring(ctx.store, routes)  # every route answers 410 once the twin is retired (retired.py)
