"""Calls to a vendor's token endpoint: refresh a pair, exchange an authorization code.

Every failure comes back as a classified ``VendorError``; no vendor message, token or secret is
ever put into an exception or a log line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from shared.settings import VendorSettings
from shared.tokens import TokenPair
from shared.vendors import FailureKind, VendorError, VendorSpec

log = logging.getLogger(__name__)


def _retry_after(headers: Any, spec: VendorSpec) -> float | None:
    for name in ("Retry-After", *spec.rate_limit_reset_headers):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(str(value).split(",")[0].strip()))
        except ValueError:
            continue
    return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class TokenEndpoint:
    """The token endpoint of one vendor, with that vendor's client authentication."""

    def __init__(self, spec: VendorSpec, settings: VendorSettings, session: requests.Session, timeout: float) -> None:
        self.spec = spec
        self.settings = settings
        self.session = session
        self.timeout = timeout

    def _post(self, form: dict[str, str], previous: TokenPair | None) -> tuple[TokenPair, dict[str, Any]]:
        body, auth_headers = self.spec.token_request(form, self.settings.client_id, self.settings.client_secret)
        grant = form.get("grant_type", "?")
        started = time.monotonic()
        try:
            response = self.session.post(
                self.settings.url("TOKEN_URL"),
                data=body,
                headers={"Accept": "application/json", **auth_headers},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise VendorError(self.spec.name, FailureKind.TRANSIENT, "timeout", outcome_unknown=True) from None
        except requests.ConnectionError:
            raise VendorError(
                self.spec.name, FailureKind.TRANSIENT, "connection_failed", outcome_unknown=True
            ) from None
        elapsed = time.monotonic() - started
        payload = _json_or_none(response)
        fields = self.spec.token_fields(response.status_code, payload)
        if fields is None:
            error = self.spec.classify(response.status_code, payload, _retry_after(response.headers, self.spec))
            log.warning(
                "token request failed vendor=%s grant=%s status=%s outcome=%s code=%s duration_ms=%d",
                self.spec.name,
                grant,
                response.status_code,
                error.kind.value,
                error.code,
                elapsed * 1000,
            )
            raise error
        pair = self.spec.parse_token_response(fields, previous)
        log.info("token request ok vendor=%s grant=%s duration_ms=%d", self.spec.name, grant, elapsed * 1000)
        return pair, dict(fields)

    def refresh(self, pair: TokenPair, granted: tuple[str, ...] = ()) -> TokenPair:
        """Spend ``pair.refresh_token`` for a new pair; ``granted``: the scopes granted at consent, which a vendor
        that names scopes on refresh is sent whole. Raises VendorError."""
        new_pair, _ = self._post(self.spec.refresh_form(pair, granted), pair)
        return new_pair

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None = None) -> TokenPair:
        """Exchange an authorization code (with the PKCE verifier where one was sent). Raises VendorError."""
        new_pair, _ = self._post(self.spec.exchange_form(code, redirect_uri, code_verifier), None)
        return new_pair
