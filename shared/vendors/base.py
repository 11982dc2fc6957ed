"""What every vendor module declares, and the failure classes shared by all vendors.

A vendor module is mostly declarative: how its token endpoint authenticates the client, which fields a
refresh sends, how its token response reads, and how its error bodies map onto four classes of failure.
Vendor error *messages* are never kept: a vendor's message may echo the refresh token it refuses.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote_plus

from shared.tokens import TokenPair


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # network, timeout, 5xx, 429: keep the pair and try again later
    GRANT_REJECTED = "grant_rejected"  # invalid_grant: the refresh token is no longer accepted
    CLIENT_MISCONFIGURED = "client_misconfigured"  # our client id/secret/request is wrong
    VENDOR_RETIRED = "vendor_retired"  # HTTP 410: the API is gone


class VendorError(Exception):
    """A failed call to a vendor, classified. Carries the vendor's error code, never its message."""

    def __init__(
        self,
        vendor: str,
        kind: FailureKind,
        code: str,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.vendor = vendor
        self.kind = kind
        self.code = code
        self.status = status
        self.retry_after = retry_after
        # True when the request may have taken effect at the vendor (timeout, connection lost)
        self.outcome_unknown = outcome_unknown
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{vendor} token endpoint: {kind.value} ({code}, {where})")


ClientAuth = Literal["basic", "body"]
# how a grant is revoked: RFC 7009 POST of the token, DELETE of a path with the bearer token, GET of REVOKE_URL with
# ``?access_token=`` (the access token in the query: the log filter of ``shared.vendor_account`` keeps it out of
# urllib3's request lines), by the package's ``revoke_signed`` (a signed request), or not at all
RevokeStyle = Literal["rfc7009", "bearer_delete", "access_token_query", "signed", "none"]

RFC6749_KINDS: Mapping[str, FailureKind] = {
    "invalid_grant": FailureKind.GRANT_REJECTED,
    "invalid_token": FailureKind.GRANT_REJECTED,
    "expired_token": FailureKind.GRANT_REJECTED,
    "access_denied": FailureKind.GRANT_REJECTED,
    "invalid_client": FailureKind.CLIENT_MISCONFIGURED,
    "unauthorized_client": FailureKind.CLIENT_MISCONFIGURED,
    "invalid_request": FailureKind.CLIENT_MISCONFIGURED,
    "invalid_scope": FailureKind.CLIENT_MISCONFIGURED,
    "unsupported_grant_type": FailureKind.CLIENT_MISCONFIGURED,
    "server_error": FailureKind.TRANSIENT,
    "temporarily_unavailable": FailureKind.TRANSIENT,
    "system": FailureKind.TRANSIENT,
}


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value of HTTP Basic client authentication as RFC 6749 §2.3.1 defines it: id and
    secret each form-urlencoded before ``id:secret`` is base64-encoded, so a secret holding ``+ / = % :`` (or
    an id holding ``:``) reaches the vendor intact. ``requests``' ``auth=(id, secret)`` skips the encoding."""
    raw = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


@dataclass(frozen=True)
class VendorSpec:
    """Declarative facts about one vendor's OAuth 2.0 implementation."""

    name: str
    client_auth: ClientAuth
    default_scopes: tuple[str, ...]
    scope_separator: str = " "  # in the authorize request
    supports_pkce: bool = False
    refresh_extra: Mapping[str, str] = field(default_factory=dict)
    exchange_extra: Mapping[str, str] = field(default_factory=dict)  # further fields of a code exchange
    # a refresh names the scope: the whole grant, never a part of it, since a server following
    # RFC 6749 §6 gives the new access token exactly the scopes a refresh names
    refresh_sends_scope: bool = False
    send_client_id_in_body: bool = False
    default_expires_in: int = 3600
    revoke_style: RevokeStyle = "none"
    revoke_path: str = ""  # under API_BASE_URL, for bearer_delete
    profile_path: str = ""  # under API_BASE_URL: where the vendor user id is, when the token response lacks it
    rate_limit_scope: Literal["app", "user"] = "user"  # whom the data-API rate limit counts: the app, or each user
    # the answer headers that say how many requests the window has left and in how many seconds it resets (the
    # first present one counts): read after every data call, and the reset one also when a token request is refused
    rate_limit_remaining_headers: tuple[str, ...] = ("X-RateLimit-Remaining",)
    rate_limit_reset_headers: tuple[str, ...] = ("X-RateLimit-Reset",)
    # further parameters of the authorize request (e.g. a vendor that gives a refresh token only when asked)
    authorize_extra: Mapping[str, str] = field(default_factory=dict)

    # -- the consent ------------------------------------------------------------------------------
    def authorize_scopes(self, extra: Mapping[str, str]) -> tuple[str, ...]:
        """The scopes the authorize request asks for; ``extra``: the vendor's own settings (a vendor whose
        operator chooses the scopes reads them there)."""
        return self.default_scopes

    def grant_rejected_reason(self, connected_at: datetime | None, now: datetime) -> str | None:
        """Why the vendor may have rejected a grant consented at ``connected_at``, when something the vendor
        documents explains it (shown as the connection's last error); None: the generic reason."""
        return None

    # -- requests ---------------------------------------------------------------------------------
    def token_request(
        self, form: dict[str, str], client_id: str, client_secret: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The form body and the client-authentication headers (empty for ``body``) of a token request."""
        body = dict(form)
        if self.client_auth == "body":
            body["client_id"] = client_id
            body["client_secret"] = client_secret
            return body, {}
        if self.send_client_id_in_body:
            body["client_id"] = client_id
        return body, {"Authorization": basic_authorization(client_id, client_secret)}

    def refresh_form(self, pair: TokenPair, granted: tuple[str, ...] = ()) -> dict[str, str]:
        """The refresh request's form; ``granted``: the scopes the user granted at consent."""
        form = {"grant_type": "refresh_token", "refresh_token": pair.refresh_token, **self.refresh_extra}
        if self.refresh_sends_scope:
            form["scope"] = self.scope_separator.join(granted or pair.scope or self.default_scopes)
        return form

    def exchange_form(self, code: str, redirect_uri: str, code_verifier: str | None = None) -> dict[str, str]:
        """The code exchange's form (``exchange_extra`` included; the client's fields come from ``token_request``)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **self.exchange_extra}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return form

    # -- responses --------------------------------------------------------------------------------
    def token_fields(self, status: int, payload: Any) -> Mapping[str, Any] | None:
        """The token fields of a token-endpoint answer (HTTP ``status``, parsed JSON ``payload``, None when it is
        not JSON); None when the answer is a refusal, which ``classify`` then reads. By default a 200 is a success
        and its JSON object holds the fields; a vendor that wraps its answers (or answers a refusal with a 200)
        says otherwise."""
        if status != 200:
            return None
        if not isinstance(payload, dict):
            raise VendorError(self.name, FailureKind.TRANSIENT, "malformed_token_response", 200)
        return payload

    def data_answer(self, payload: Any) -> tuple[int, Any]:
        """A data API's HTTP 200 answer (parsed JSON) as (the status it stands for, the content): by default
        ``(200, payload)``. A vendor that answers every call with HTTP 200 and an envelope holding its own status
        maps that status onto HTTP's (401: the access token was refused, 403: a scope is missing, 404, 429,
        5xx: transient, another 4xx: refused), so the data engine renews, backs off or stops as for any vendor."""
        return 200, payload

    def revoke_signed(
        self, pair: TokenPair, client_id: str, client_secret: str, post: Callable[[str, Mapping[str, str]], Any]
    ) -> bool:
        """For ``revoke_style="signed"``: revoke ``pair``'s grant with ``post(path under API_BASE_URL, form) ->
        parsed JSON answer`` (None when not JSON; may raise ``requests.RequestException``); True when the vendor
        confirmed."""
        return False

    def vendor_user_id(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("user_id")
        return None if value in (None, "") else str(value)

    def profile_user_id(self, body: Mapping[str, Any]) -> str | None:
        """The vendor's id of the user in the answer of ``profile_path``."""
        value = body.get("user_id")
        return None if value in (None, "") else str(value)

    def rate_limit_layer(self, headers: Mapping[str, str]) -> Literal["app", "user"] | None:
        """For a vendor with two limit layers (``Vendor.app_rate_limits``): which one a 429 came from, from its
        headers (None: not said; the vendor's ``rate_limit_scope`` is paused)."""
        return None

    def legacy_user_id(self, body: Mapping[str, Any]) -> str | None:
        """The id the same person had at the vendor this one succeeds (``Vendor.succeeds``), in the answer of
        ``profile_path``; None when the vendor gives none."""
        return None

    def expires_in(self, body: Mapping[str, Any]) -> float:
        return float(body.get("expires_in") or self.default_expires_in)

    def parse_token_response(
        self, body: Mapping[str, Any], previous: TokenPair | None = None, now: float | None = None
    ) -> TokenPair:
        """A TokenPair from a successful token response; missing fields fall back to the previous pair."""
        now = time.time() if now is None else now
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise VendorError(self.name, FailureKind.TRANSIENT, "malformed_token_response")
        refresh = body.get("refresh_token") or (previous.refresh_token if previous else None)
        if not isinstance(refresh, str) or not refresh:
            raise VendorError(self.name, FailureKind.CLIENT_MISCONFIGURED, "no_refresh_token")
        scope_raw = body.get("scope")
        scope = tuple(str(scope_raw).replace(",", " ").split()) if scope_raw else (previous.scope if previous else ())
        vendor_user = self.vendor_user_id(body) or (previous.vendor_user_id if previous else None)
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_at=now + self.expires_in(body),
            scope=scope,
            token_type=str(body.get("token_type") or "Bearer"),
            vendor_user_id=vendor_user,
            obtained_at=now,
        )

    # -- errors -----------------------------------------------------------------------------------
    def error_code(self, body: Any) -> str | None:
        """The vendor's machine-readable error code in an error body (RFC 6749 shape by default)."""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
        return None

    def kind_of(self, code: str) -> FailureKind | None:
        return RFC6749_KINDS.get(code)

    def classify(self, status: int, body: Any, retry_after: float | None = None) -> VendorError:
        """Map an unsuccessful token-endpoint answer to one of the four failure classes."""
        if status == 410:
            return VendorError(self.name, FailureKind.VENDOR_RETIRED, "gone", status)
        if status == 429 or status >= 500:
            return VendorError(self.name, FailureKind.TRANSIENT, f"http_{status}", status, retry_after)
        code = self.error_code(body)
        kind = self.kind_of(code) if code else None
        if kind is None:
            # An unrecognised answer is never taken for a revocation: keep the pair, retry, degrade.
            return VendorError(self.name, FailureKind.TRANSIENT, code or f"unrecognised_{status}", status, retry_after)
        return VendorError(self.name, kind, code or "", status, retry_after)
