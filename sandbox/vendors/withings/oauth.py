"""Withings OAuth, as the twin imitates it (``reference/vendors.md`` §3.2; the spec
``reference/specs/withings-openapi.yml``: ``oauth2-authorize``, ``oauth2-getaccesstoken``, ``oauth2-revoke``,
``signaturev2-getnonce``).

- Authorize ``GET /oauth2_user/authorize2`` (comma-separated scopes); token ``POST /v2/oauth2`` with
  ``action=requesttoken`` and the client id and secret in the form, both grants.
- Every answer is HTTP 200 with Withings' envelope: ``{"status": 0, "body": {userid, access_token, refresh_token,
  expires_in, scope, csrf_token, token_type}}``, or ``{"status": n, "error": "..."}`` with a status of the spec's
  families: 503 "Invalid Params: invalid refresh_token" / "invalid code" / others, 401 a client that does not
  authenticate, 601 too many requests. Faults injected by tests (500, 503, 429, a timeout) stay HTTP errors: a
  proxy's answer, not Withings'.
- Access tokens live 3 hours; refresh tokens rotate, and the previous one stays valid until the new access token is
  first used or for 8 hours (``replay_window``: presented again meanwhile, it gives the same new pair).
- ``POST /v2/signature`` ``action=getnonce`` (``client_id``, ``timestamp``, ``signature``) gives a nonce valid 30
  minutes, once; ``POST /v2/oauth2`` ``action=revoke`` (``client_id``, ``nonce``, ``signature``, ``userid``)
  revokes the user's grant. Signatures: HMAC-SHA256 with the client secret over the comma-joined values of
  ``action``, ``client_id`` and ``timestamp`` (getnonce) or ``nonce`` (revoke), hex.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace

from sandbox.context import EndpointContext
from sandbox.endpoints import OAuthEndpoints
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import ErrorKind, OAuthError, TokenIssue, Vendor, digest
from sandbox.vendors.withings.subscriptions import end_all

NONCE_SECONDS = 30 * 60
TIMESTAMP_SKEW = 600

_STATUS: dict[ErrorKind, tuple[int, str]] = {
    "invalid_request": (503, "Invalid Params"),
    "invalid_client": (401, "Authentication failed"),
    "invalid_grant": (503, "Invalid Params"),
    "unsupported_grant_type": (503, "Invalid Params: invalid grant_type"),
    "invalid_scope": (503, "Invalid Params: invalid scope"),
    "invalid_token": (401, "Invalid token"),
    "expired_token": (401, "Invalid token"),
    "insufficient_scope": (214, "Unauthorized"),
    "rate_limited": (601, "Too many request"),
    "server_error": (2556, "An error occurred"),
    "unavailable": (522, "Timeout"),
}


_USERS: dict[str, str] = {}
"""userid -> the twin's user, for every pair the twin issued (``revoke`` names the user by userid)."""
_USERS_LOCK = threading.Lock()


def envelope(status: int, body: object = None, error: str | None = None) -> dict[str, object]:
    """Withings' answer: ``{"status": n, "body": {...}}`` (or ``"error"`` for a refusal)."""
    answer: dict[str, object] = {"status": status}
    if error is not None:
        answer["error"] = error
    else:
        answer["body"] = body if body is not None else {}
    return answer


def as_http_200(reply: Reply) -> Reply:
    """Withings answers its refusals with HTTP 200 and the status in the envelope."""
    return reply if reply.status == 200 else replace(reply, status=200)


def signature(secret: str, *values: str) -> str:
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Withings(Vendor):
    """Withings: client secret in the form, ``action=requesttoken``, envelopes, integer user ids."""

    def token_body(self, issue: TokenIssue) -> dict[str, object]:
        with _USERS_LOCK:
            _USERS[issue.vendor_user_id] = issue.user  # whose userid this is, for ``revoke``
        body: dict[str, object] = {
            "userid": int(issue.vendor_user_id),
            "access_token": issue.access_token,
            "expires_in": issue.expires_in,
            "scope": ",".join(issue.scope),
            "csrf_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
        }
        if issue.refresh_token is not None:
            body["refresh_token"] = issue.refresh_token
        return envelope(0, body)

    def error_body(self, error: OAuthError) -> dict[str, object]:
        status, text = _STATUS[error.kind]
        if error.kind == "invalid_grant":
            text += ": invalid code" if error.subject == "authorization_code" else ": invalid refresh_token"
        elif error.kind == "invalid_request":
            text += f": {error.reason}"
        return envelope(status, error=text)

    def user_id(self, user: str) -> str:
        return str(10_000_000 + int.from_bytes(digest(self.name, user)[:8], "big") % 90_000_000)

    def bad_request_body(self, message: str, field: str | None) -> dict[str, object] | None:
        return envelope(503, error=f"Invalid Params: {message}")

    def not_found_body(self, message: str) -> dict[str, object]:
        return envelope(2554, error="Not implemented")


WITHINGS = Withings(
    name="withings",
    authorize_path="/oauth2_user/authorize2",
    token_path="/v2/oauth2",
    api_path="",
    revoke_path=None,
    default_scope=("user.info", "user.metrics", "user.activity", "user.sleepevents"),
    access_ttl=10_800,
    client_auth="post",
    replay_window=8 * 3600.0,
)


class WithingsOAuth(OAuthEndpoints):
    """``/v2/oauth2`` (``requesttoken``, ``revoke``) and ``/v2/signature`` (``getnonce``)."""

    def __init__(self, vendor: Withings, ctx: EndpointContext) -> None:
        super().__init__(vendor, ctx)
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("GET", self.vendor.authorize_path, "authorize", self.authorize),
            Route("POST", self.vendor.token_path, "token", self.oauth2),
            Route("POST", "/v2/signature", "signature", self.getnonce),
        ]

    def oauth2(self, request: Request) -> Reply:
        action = request.form.get("action") or request.query.get("action")
        if action == "requesttoken":
            return as_http_200(self.token(request))
        if action == "revoke":
            return self.revoke(request)
        return json_reply(200, envelope(503, error="Invalid Params: action"))

    def _client(self, form: dict[str, str], *values: str) -> bool:
        client_id, secret = self.ctx.clients[self.vendor.name]
        given = form.get("signature", "")
        expected = signature(secret, *values)
        return form.get("client_id") == client_id and hmac.compare_digest(given.encode(), expected.encode())

    def getnonce(self, request: Request) -> Reply:
        form = {**request.query, **request.form}
        if form.get("action") != "getnonce":
            return json_reply(200, envelope(503, error="Invalid Params: action"))
        timestamp = form.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - time.time()) > TIMESTAMP_SKEW:
            return json_reply(200, envelope(503, error="Invalid Params: timestamp"))
        if not self._client(form, "getnonce", form.get("client_id", ""), timestamp):
            return json_reply(200, envelope(401, error="Authentication failed: invalid signature"))
        nonce = secrets.token_hex(20)
        with self._lock:
            self._nonces[nonce] = time.time() + NONCE_SECONDS
        return json_reply(200, envelope(0, {"nonce": nonce}))

    def revoke(self, request: Request) -> Reply:
        form = {**request.query, **request.form}
        nonce = form.get("nonce", "")
        with self._lock:
            valid = self._nonces.pop(nonce, 0.0) > time.time()
            user = _USERS.get(form.get("userid", ""))
        if not valid:
            return json_reply(200, envelope(503, error="Invalid Params: invalid nonce"))
        if not self._client(form, "revoke", form.get("client_id", ""), nonce):
            return json_reply(200, envelope(401, error="Authentication failed: invalid signature"))
        if user is None:
            return json_reply(200, envelope(503, error="Invalid Params: invalid userid"))
        self.ctx.store.revoke_user(self.vendor.name, user)
        end_all(user)  # "the data update notifications for this user will be automatically unsubscribed"
        return json_reply(200, envelope(0, {}))


def oauth_routes(ctx: EndpointContext) -> list[Route]:
    return WithingsOAuth(WITHINGS, ctx).routes()
