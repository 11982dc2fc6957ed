"""Oura API v2 OAuth (``reference/vendors-next.md`` §2; ``reference/specs/oura-openapi-v2.yml`` securitySchemes):
authorization code at ``cloud.ouraring.com/oauth/authorize``, token at ``api.ouraring.com/oauth/token`` with the
client id and secret in the form (the spec's own JavaScript sample; open-wearables does the same), scopes joined
by spaces, no PKCE (UNCONFIRMED at Oura: not used). Refresh tokens rotate (third-party sources); whether the old
one stays valid is UNCONFIRMED, so they are kept under the same custody as WHOOP's single-use ones (lock, re-read,
vault first). Access tokens: ``expires_in`` of the answer, 86,400 s when absent (pypi ``oura`` example). The token
answer has no user id: it is ``id`` of ``/v2/usercollection/personal_info``.

Revocation: ``GET /oauth/revoke?access_token=`` (third-party). Rate limits (spec ``info.description``): two
layers, per access token and per application, numbers unpublished; a 429 carries ``Retry-After`` (seconds) and
``X-RateLimit-{Limit,Window,Reset,Tier}``, where ``X-RateLimit-Reset`` is a Unix epoch, not a count of seconds:
it is not read as one (``Retry-After`` is). No ``Remaining`` header is documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.vendors.base import VendorSpec

SCOPES = ("email", "personal", "daily", "heartrate", "workout", "tag", "session", "spo2Daily")


@dataclass(frozen=True)
class OuraSpec(VendorSpec):
    def profile_user_id(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("id")
        return None if value in (None, "") else str(value)

    def rate_limit_layer(self, headers: Mapping[str, str]) -> Literal["app", "user"] | None:
        """``X-RateLimit-Tier`` "identifies which limit was exceeded" (spec ``info.description``); its values are
        not listed, so any naming the application is the app layer, any naming the token (or user) the user's."""
        tier = (headers.get("X-RateLimit-Tier") or "").strip().lower()
        if "app" in tier:
            return "app"
        if "token" in tier or "user" in tier:
            return "user"
        return None


SPEC = OuraSpec(
    name="oura",
    client_auth="body",
    default_scopes=SCOPES,
    scope_separator=" ",
    default_expires_in=86_400,
    revoke_style="access_token_query",
    profile_path="/v2/usercollection/personal_info",
    rate_limit_scope="user",
    rate_limit_remaining_headers=(),
    rate_limit_reset_headers=(),
)
