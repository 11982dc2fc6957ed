"""What every data endpoint of the sandbox does before its handler: Bearer token, rate limit, scope.

`Guard.route` wraps a handler `(request, snapshot) -> Reply` into a `Route`. Order of checks: a missing,
invalid or expired token -> the vendor's 401 (`authenticate_bearer`); over the rate limit -> 429 with the
vendor's headers; a grant without the endpoint's scope -> 403 in the vendor's shape (`Vendor.forbidden`).
Handlers raise `Refusal` for a bad request (`bad_request`, `not_found`: the vendor's bodies); successful
answers carry the rate-limit headers when limits are on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from sandbox.context import DataContext
from sandbox.data import Snapshot
from sandbox.endpoints import authenticate_bearer, error_reply
from sandbox.ratelimit import Admission
from sandbox.server import Reply, Request, Route, json_reply
from sandbox.vendors import OAuthError, Vendor

DataHandler = Callable[[Request, Snapshot], Reply]
RateKey = Literal["client", "user", "none"]


class Refusal(Exception):
    """A request the handler refuses; `reply` is the vendor's answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


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
        error, headers = self.vendor.forbidden(scope)
        return error_reply(self.vendor, error, headers)


# -- refusals in each vendor's shape ----------------------------------------------------------------------------


def bad_request(vendor: Vendor, message: str, field: str | None = None) -> Refusal:
    """400 in the vendor's shape (`Vendor.bad_request_body`, else its `invalid_request` error body)."""
    body = vendor.bad_request_body(message, field)
    if body is not None:
        return Refusal(json_reply(400, body))
    return Refusal(error_reply(vendor, OAuthError("invalid_request", message)))


def not_found(vendor: Vendor, message: str) -> Refusal:
    """404 in the vendor's shape (`Vendor.not_found_body`)."""
    return Refusal(json_reply(404, vendor.not_found_body(message)))


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
