"""What differs between the imitated vendors (Fitbit, WHOOP v2, Codoon): URLs, OAuth quirks, bodies, ids.

Everything vendor-specific lives here, as data on a `Vendor` or as one of its small methods, so that the
OAuth state machine (`sandbox.oauth`) and the HTTP endpoints (`sandbox.endpoints`) stay vendor-neutral.
Facts come from /work/shared/reference/vendors.md sections 1.1 (Fitbit), 2.1 (WHOOP) and 5 (Codoon).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_token",
    "expired_token",
    "insufficient_scope",
    "rate_limited",
    "server_error",
    "unavailable",
]
"""Vendor-neutral error kinds; each vendor renders them in its own body shape."""

Subject = Literal["refresh_token", "authorization_code", "access_token"]
ClientAuth = Literal["basic", "post"]

_STATUS: dict[ErrorKind, int] = {
    "invalid_client": 401,
    "invalid_token": 401,
    "expired_token": 401,
    "insufficient_scope": 403,
    "rate_limited": 429,
    "server_error": 500,
    "unavailable": 503,
}


class OAuthError(Exception):
    """A refused OAuth request. `presented` is the offending token; it never appears in str(self)."""

    def __init__(
        self, kind: ErrorKind, reason: str, *, subject: Subject | None = None, presented: str | None = None
    ) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind: ErrorKind = kind
        self.reason = reason
        self.subject = subject
        self.presented = presented

    @property
    def status(self) -> int:
        """The HTTP status all three vendors use for this kind of error."""
        return _STATUS.get(self.kind, 400)


@dataclass(frozen=True)
class TokenIssue:
    """One issued token pair, as a token endpoint reports it (rendered per vendor by `Vendor.token_body`)."""

    vendor: str
    user: str
    vendor_user_id: str
    access_token: str
    refresh_token: str | None
    scope: tuple[str, ...]
    expires_in: int


@dataclass(frozen=True)
class Vendor:
    """Data of one vendor; subclasses render bodies and ids. Paths are relative to `prefix`."""

    name: str
    authorize_path: str
    token_path: str
    api_path: str
    revoke_path: str | None
    default_scope: tuple[str, ...]
    access_ttl: int
    client_auth: ClientAuth
    body_client_id_required: bool = False
    refresh_scope_required: str | None = None
    refresh_token_scope: str | None = None
    replay_window: float | None = None
    supports_pkce: bool = False
    min_state_length: int = 0

    @property
    def prefix(self) -> str:
        return f"/{self.name}"

    @property
    def default_client_id(self) -> str:
        return f"{self.name}-client"

    def issues_refresh_token(self, scope: tuple[str, ...]) -> bool:
        """WHOOP only hands out a refresh token when the `offline` scope was granted."""
        return self.refresh_token_scope is None or self.refresh_token_scope in scope

    def settings(self, base_url: str, client_id: str, client_secret: str) -> dict[str, str]:
        """The app settings that point our function app at this vendor on `base_url`."""
        key = self.name.upper()
        root = base_url + self.prefix
        env = {
            f"{key}_CLIENT_ID": client_id,
            f"{key}_CLIENT_SECRET": client_secret,
            f"{key}_AUTH_URL": root + self.authorize_path,
            f"{key}_TOKEN_URL": root + self.token_path,
        }
        if self.revoke_path is not None:
            env[f"{key}_REVOKE_URL"] = root + self.revoke_path
        env[f"{key}_API_BASE_URL"] = root + self.api_path
        return env

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        raise NotImplementedError

    def error_body(self, error: OAuthError) -> dict[str, object]:
        raise NotImplementedError

    def rate_limit_headers(self, reset_seconds: float) -> dict[str, str]:
        return {}

    def user_id(self, user: str) -> str:
        raise NotImplementedError


def _digest(vendor: str, user: str) -> bytes:
    return hashlib.sha256(f"{vendor}\0{user}".encode()).digest()


def _seconds(value: float) -> str:
    return str(max(0, math.ceil(value)))


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
            "Fitbit-Rate-Limit-Reset": _seconds(reset_seconds),
        }

    def user_id(self, user: str) -> str:
        number = int.from_bytes(_digest(self.name, user)[:8], "big")
        chars = []
        for _ in range(6):
            number, index = divmod(number, len(_FITBIT_ALPHABET))
            chars.append(_FITBIT_ALPHABET[index])
        return "".join(chars)

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
            "X-RateLimit-Reset": _seconds(reset_seconds),
        }

    def user_id(self, user: str) -> str:
        return str(10_000 + int.from_bytes(_digest(self.name, user)[:8], "big") % 90_000_000)

    def profile(self, user: str) -> dict[str, object]:
        """The body of GET /v2/user/profile/basic."""
        local = re.sub(r"[^a-z0-9._-]+", "-", user.lower()).strip("-.") or "user"
        return {
            "user_id": int(self.user_id(user)),
            "email": f"{local}@example.com",
            "first_name": user,
            "last_name": "Sandbox",
        }


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

VENDORS: dict[str, Vendor] = {vendor.name: vendor for vendor in (WHOOP, FITBIT, CODOON)}


def vendor_named(name: str) -> Vendor:
    """The profile of `name`; ValueError for a vendor the sandbox does not imitate."""
    try:
        return VENDORS[name]
    except KeyError:
        raise ValueError(f"unknown vendor {name!r}; expected one of {sorted(VENDORS)}") from None


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a scope parameter: space-separated (Fitbit, WHOOP) or comma-separated (Codoon authorize)."""
    if not raw:
        return ()
    return tuple(dict.fromkeys(part for part in re.split(r"[\s,]+", raw) if part))
