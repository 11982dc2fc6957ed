"""The generic OAuth endpoints of a twin: authorize and token (`OAuthEndpoints`), shaped by its `Vendor`.

Every twin serves these two; a twin adds what else its vendor has (a revoke endpoint, a profile) in its own
package, reusing `authenticate_bearer`, `error_reply` and `missing_fields`. Data endpoints are behind
`sandbox.data_guard`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from sandbox.context import EndpointContext
from sandbox.server import Reply, Request, Route, html_reply, json_reply, redirect_reply
from sandbox.vendors import ErrorKind, OAuthError, TokenIssue, Vendor, parse_scope

DEFAULT_SANDBOX_USER = "sandbox-user"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_reply(vendor: Vendor, error: OAuthError, headers: dict[str, str] | None = None) -> Reply:
    """`error` in the vendor's own body shape and status."""
    return json_reply(error.status, vendor.error_body(error), headers)


def rate_limited_reply(vendor: Vendor, retry_after: float) -> Reply:
    headers = {**vendor.rate_limit_headers(retry_after), "Retry-After": str(max(0, math.ceil(retry_after)))}
    return error_reply(vendor, OAuthError("rate_limited", "Too many requests."), headers)


def authenticate_bearer(ctx: EndpointContext, vendor: Vendor, request: Request) -> str | Reply:
    """The user behind the request's Bearer token, or the vendor's 401 reply."""
    check = ctx.store.check_bearer(vendor.name, request.header("Authorization"))
    if check.user is not None:
        return check.user
    kind: ErrorKind = "expired_token" if check.problem == "expired" else "invalid_token"
    reason = "The access token is missing, invalid or expired."
    error = OAuthError(kind, reason, subject="access_token", presented=check.token)
    return error_reply(vendor, error, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def with_query(url: str, params: dict[str, str | None]) -> str:
    """`url` with `params` (None values dropped) appended to its query string."""
    parts = urlsplit(url)
    extra = urlencode({key: value for key, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret of an HTTP Basic header, read as RFC 6749 §2.3.1 says: base64, split at the first
    ':', then each part form-urldecoded (so a secret with '+', '/', '=', '%' or ':' must arrive encoded)."""
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def missing_fields(form: dict[str, str], *names: str) -> OAuthError | None:
    absent = [name for name in names if not form.get(name)]
    return OAuthError("invalid_request", f"Missing parameters: {', '.join(absent)}.") if absent else None


class OAuthEndpoints:
    """Authorize and token endpoints of one vendor."""

    def __init__(self, vendor: Vendor, ctx: EndpointContext) -> None:
        self.vendor = vendor
        self.ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route("GET", self.vendor.authorize_path, "authorize", self.authorize),
            Route("POST", self.vendor.token_path, "token", self.token),
        ]

    # -- authorize -----------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Reply:
        """The consent page, already answered: 302 back to redirect_uri with a code or an error."""
        query = request.query
        client_id, _ = self.ctx.clients[self.vendor.name]
        if query.get("client_id") != client_id:
            return html_reply(400, "Unknown or missing client_id.")
        redirect_uri = query.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return html_reply(400, "Missing or invalid redirect_uri.")
        state = query.get("state")
        error = self._authorize_error(query)
        if error is None and self.ctx.authorize_mode[self.vendor.name] == "deny":
            error = "access_denied"
        if error is not None:
            return redirect_reply(with_query(redirect_uri, {"error": error, "state": state}))
        code = self._issue_code(query, redirect_uri)
        return redirect_reply(with_query(redirect_uri, {"code": code, "state": state}))

    def _authorize_error(self, query: dict[str, str]) -> str | None:
        if query.get("response_type") != "code":
            return "unsupported_response_type"
        if len(query.get("state", "")) < self.vendor.min_state_length:
            return "invalid_state"
        pkce = self.vendor.supports_pkce and bool(query.get("code_challenge"))
        if pkce and query.get("code_challenge_method") != "S256":
            return "invalid_request"
        return None

    def _issue_code(self, query: dict[str, str], redirect_uri: str) -> str:
        scope = parse_scope(query.get("scope")) or self.vendor.default_scope
        # The user may untick scopes on the consent page: `sandbox_grant_scope` says which remain.
        scope = parse_scope(query.get("sandbox_grant_scope")) or scope
        challenge = query.get("code_challenge") if self.vendor.supports_pkce else None
        user = query.get("sandbox_user") or DEFAULT_SANDBOX_USER
        return self.ctx.store.issue_code(self.vendor.name, user, scope, redirect_uri, challenge or None)

    # -- token ---------------------------------------------------------------------------------------------

    def token(self, request: Request) -> Reply:
        try:
            self.authenticate_client(request)
            issue = self._grant(request.form)
        except OAuthError as error:
            return error_reply(self.vendor, error, _NO_STORE)
        return json_reply(200, self.vendor.token_body(issue), _NO_STORE)

    def _grant(self, form: dict[str, str]) -> TokenIssue:
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        if not grant_type:
            raise OAuthError("invalid_request", "Missing parameters: grant_type.")
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type[:40]}.")

    def _exchange_code(self, form: dict[str, str]) -> TokenIssue:
        if (missing := missing_fields(form, "code", "redirect_uri")) is not None:
            raise missing
        return self.ctx.store.exchange_code(
            self.vendor.name, form["code"], form["redirect_uri"], form.get("code_verifier")
        )

    def _refresh(self, form: dict[str, str]) -> TokenIssue:
        if (missing := missing_fields(form, "refresh_token")) is not None:
            raise missing
        required = self.vendor.refresh_scope_required
        scope = parse_scope(form.get("scope"))
        if required is not None and required not in scope:
            raise OAuthError("invalid_request", f"The scope parameter must include {required}.")
        return self.ctx.store.refresh(self.vendor.name, form["refresh_token"], scope).issue

    # -- client authentication -----------------------------------------------------------------------------

    def authenticate_client(self, request: Request) -> None:
        """Raise the vendor's invalid_client (or invalid_request) unless the client authenticated its way."""
        client_id, secret = self.ctx.clients[self.vendor.name]
        if self.vendor.client_auth == "basic":
            self._check_basic(request, client_id, secret)
        else:
            self._check_post(request, client_id, secret)

    def _check_basic(self, request: Request, client_id: str, secret: str) -> None:
        credentials = _basic_credentials(request.header("Authorization"))
        if credentials is None:
            raise OAuthError("invalid_client", "Authorization header required (HTTP Basic).")
        if not (_same(credentials[0], client_id) and _same(credentials[1], secret)):
            raise OAuthError("invalid_client", "Invalid authorization header: client id or secret mismatch.")
        body_client_id = request.form.get("client_id")
        if self.vendor.body_client_id_required and not body_client_id:
            raise OAuthError("invalid_request", "Missing parameters: client_id.")
        if body_client_id is not None and body_client_id != client_id:
            raise OAuthError("invalid_client", "The client_id in the body does not match the credentials.")

    def _check_post(self, request: Request, client_id: str, secret: str) -> None:
        if _basic_credentials(request.header("Authorization")) is not None:
            raise OAuthError("invalid_client", "This client must send its credentials in the request body.")
        form = request.form
        if not (_same(form.get("client_id"), client_id) and _same(form.get("client_secret"), secret)):
            raise OAuthError("invalid_client", "Unknown client or wrong client_secret.")
