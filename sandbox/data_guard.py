"""What every data endpoint of the sandbox does before its handler: Bearer token, rate limit, scope.

`Guard.route` wraps a handler `(request, snapshot) -> Reply` into a `Route`. Order of checks: a missing,
invalid or expired token -> the vendor's 401 (`authenticate_bearer`); over the rate limit -> 429 with the
vendor's headers; a grant without the endpoint's scope -> 403 (Fitbit `insufficient_scope` errors body,
WHOOP RFC 6750 `insufficient_scope` with `WWW-Authenticate`, Codoon error_code 2003). Handlers raise
`Refusal` for a bad request; successful answers carry the rate-limit headers when limits are on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from sandbox.data import DataState, Snapshot
from sandbox.endpoints import EndpointContext, authenticate_bearer, error_reply
from sandbox.oauth import OAuthStore
from sandbox.ratelimit import Admission, RateLimiter
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import OAuthError, Vendor

DataHandler = Callable[[Request, Snapshot], Reply]
RateKey = Literal["client", "user", "none"]


class Refusal(Exception):
    """A request the handler refuses; `reply` is the vendor's answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass(frozen=True)
class DataContext:
    """What the data endpoints share: the OAuth side, the data state, the limiter and test quirks."""

    endpoints: EndpointContext
    store: OAuthStore
    state: DataState
    limiter: RateLimiter
    quirks: dict[str, dict[str, int]]


class Guard:
    """Wraps one vendor's data handlers with the token, rate-limit and scope checks."""

    def __init__(self, vendor: Vendor, ctx: DataContext, rate_key: RateKey) -> None:
        self.vendor = vendor
        self.ctx = ctx
        self.rate_key = rate_key

    def route(self, method: str, pattern: str, endpoint: str, scope: str, handler: DataHandler) -> Route:
        def serve(request: Request) -> Reply:
            return self.serve(request, scope, handler)

        return Route(method, pattern, endpoint, serve)

    def serve(self, request: Request, scope: str, handler: DataHandler) -> Reply:
        user = authenticate_bearer(self.ctx.endpoints, self.vendor, request)
        if isinstance(user, Reply):
            return user
        admission = self._admit(user)
        if not admission.allowed:
            return error_reply(self.vendor, OAuthError("rate_limited", "Too many requests."), admission.headers)
        reply = self._authorized(request, user, scope, handler)
        return replace(reply, headers={**reply.headers, **admission.headers})

    def _admit(self, user: str) -> Admission:
        if self.rate_key == "none":
            return Admission(True, {})
        return self.ctx.limiter.admit(self.vendor.name, "client" if self.rate_key == "client" else user)

    def _authorized(self, request: Request, user: str, scope: str, handler: DataHandler) -> Reply:
        if scope not in self.ctx.store.granted_scope(self.vendor.name, request.header("Authorization")):
            return self._forbidden(scope)
        try:
            return handler(request, self.ctx.state.snapshot(self.vendor.name, user))
        except Refusal as refusal:
            return refusal.reply

    def _forbidden(self, scope: str) -> Reply:
        if self.vendor.name == "fitbit":
            reason = f"This application does not have permission to access {scope} data."
            return error_reply(self.vendor, OAuthError("insufficient_scope", reason))
        headers = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}
        return error_reply(self.vendor, OAuthError("insufficient_scope", f"Scope {scope} is required."), headers)


# -- refusals in each vendor's shape ----------------------------------------------------------------------------


def bad_request(vendor: Vendor, message: str, field: str | None = None) -> Refusal:
    """400: Fitbit's `validation` error (with `fieldName`), WHOOP's invalid_request, Codoon's 2001."""
    if vendor.name == "fitbit":
        detail: dict[str, object] = {"errorType": "validation"}
        if field is not None:
            detail["fieldName"] = field
        detail["message"] = message
        return Refusal(json_reply(400, {"errors": [detail], "success": False}))
    return Refusal(error_reply(vendor, OAuthError("invalid_request", message)))


def not_found(vendor: Vendor, message: str) -> Refusal:
    if vendor.name == "codoon":
        return Refusal(json_reply(404, {"error_code": 2001, "error": message}))  # the document's "parameter wrong"
    if vendor.name == "fitbit":
        return Refusal(json_reply(404, {"errors": [{"errorType": "not_found", "message": message}], "success": False}))
    return Refusal(json_reply(404, {"error": "not_found", "error_description": message}))


def json_object(vendor: Vendor, request: Request) -> dict[str, object]:
    """The request's JSON body as an object (an empty body counts as {})."""
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request(vendor, "invalid params: the body is not JSON") from None
    if not isinstance(body, dict):
        raise bad_request(vendor, "invalid params: the body must be a JSON object")
    return body


def bounded_int(vendor: Vendor, raw: object, name: str, low: int, high: int, default: int | None = None) -> int:
    """`raw` as an int in [low, high]; `default` when absent, else a 400."""
    if raw is None or raw == "":
        if default is None:
            raise bad_request(vendor, f"{name} is required", name)
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise bad_request(vendor, f"{name} must be an integer", name) from None
    if not low <= value <= high:
        raise bad_request(vendor, f"{name} must be between {low} and {high}", name)
    return value
