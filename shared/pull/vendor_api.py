"""Calls to one connection's vendor data API: a fresh access token, a slot of the shared rate budget before
every request, the vendor's rate-limit headers read after every answer, and retries for what is transient.

No token ever leaves this module except in the ``Authorization`` header; errors name the vendor, the path
and the status, never a token or the vendor's message.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from shared.naming import connection_digest
from shared.pull.rate_budget import Priority, RateBudget
from shared.settings import Settings
from shared.token_service import TokenService
from shared.vendors import spec_for

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)
APP_KEY = "app"  # the budget key of an app-wide limit layer


class DataCallFailed(Exception):
    """A data request that did not succeed. ``status`` is the HTTP status (None: no answer); ``transient``
    says whether trying again later may help."""

    def __init__(self, vendor: str, path: str, status: int | None, reason: str, *, transient: bool) -> None:
        self.vendor, self.path, self.status, self.transient = vendor, path, status, transient
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{vendor} {path}: {reason} ({where})")


class NotFound(DataCallFailed):
    def __init__(self, vendor: str, path: str) -> None:
        super().__init__(vendor, path, 404, "not found", transient=False)


def _number(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return float(str(raw).split(",")[0].strip())
        except ValueError:
            continue
    return None


class ConnectionApi:
    """The ``VendorApi`` of one connection (see ``shared.pull.model``)."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenService,
        budget: RateBudget,
        session: requests.Session,
        vendor: str,
        user_id: str,
        *,
        priority: Priority = Priority.LIVE,
        deadline: float = math.inf,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor, self.user_id = vendor, user_id
        self.settings = settings
        self.tokens = tokens
        self.budget = budget
        self.session = session
        self.priority = priority
        self.deadline = deadline
        self.sleep = sleep
        self.base = settings.vendor(vendor).url("API_BASE_URL").rstrip("/")
        self.limits = settings.vendor(vendor).rate_limits
        spec = self.spec = spec_for(vendor)
        self.remaining_headers, self.reset_headers = spec.rate_limit_remaining_headers, spec.rate_limit_reset_headers
        scope = spec.rate_limit_scope
        self.budget_key = APP_KEY if scope == "app" else connection_digest(vendor, user_id)
        # a vendor with two layers (each user and the app): the app's, under the key "app" (None: one layer)
        self.app_limits = settings.vendor(vendor).app_rate_limits if scope == "user" else None
        self.requests_sent = 0
        self.waited_seconds = 0.0

    # -- VendorApi --------------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", path, json_body=body)

    # -- one call, with its retries ------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if not (path == self.base or path.startswith(self.base + "/")):
                raise DataCallFailed(self.vendor, urlsplit(path).path, None, "link outside the API", transient=False)
            return path
        return self.base + (path if path.startswith("/") else "/" + path)

    def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None, json_body: Any = None) -> Any:
        url = self._url(path)
        shown = urlsplit(url).path
        renewed = False
        failure: DataCallFailed | None = None
        for attempt in range(MAX_ATTEMPTS):
            if self.app_limits:
                self.waited_seconds += self.budget.acquire(
                    self.vendor, APP_KEY, self.app_limits, self.priority, self.deadline
                )
            elif self.app_limits is not None:  # no number published: only the app layer's 429s pause
                self.waited_seconds += self.budget.wait_out_pause(self.vendor, APP_KEY, self.deadline)
            self.waited_seconds += self.budget.acquire(
                self.vendor, self.budget_key, self.limits, self.priority, self.deadline
            )
            token = self.tokens.access_token_for(self.vendor, self.user_id)
            self.requests_sent += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    timeout=self.settings.http_timeout_seconds,
                )
            except requests.RequestException as error:
                failure = DataCallFailed(self.vendor, shown, None, type(error).__name__, transient=True)
                self._back_off(attempt)
                continue
            status = response.status_code
            if status == 200:
                try:
                    payload = response.json()
                except ValueError:
                    failure = DataCallFailed(self.vendor, shown, status, "answer is not JSON", transient=True)
                    self._back_off(attempt)
                    continue
                # a vendor that answers every call with HTTP 200 says its own status in the answer
                status, payload = self.spec.data_answer(payload)
                self._observe(response, status)
                if status == 200:
                    return payload
            else:
                self._observe(response, status)
            if status == 401 and not renewed:
                renewed = True  # the access token was refused: renew it once (under the connection's lock)
                self.tokens.renew_access_token(self.vendor, self.user_id, rejected=token)
                continue
            if status == 404:
                raise NotFound(self.vendor, shown)
            if status == 429:
                failure = DataCallFailed(self.vendor, shown, status, "rate limited", transient=True)
                continue  # observe() paused the shared budget until the vendor's reset
            if status >= 500:
                failure = DataCallFailed(self.vendor, shown, status, "vendor error", transient=True)
                self._back_off(attempt)
                continue
            reasons = {401: "access refused", 403: "insufficient scope", 410: "API retired"}
            raise DataCallFailed(self.vendor, shown, status, reasons.get(status, "request refused"), transient=False)
        assert failure is not None
        raise failure

    def _observe(self, response: requests.Response, status: int) -> None:
        """``status``: the answer's, or the one the vendor's own envelope says (``VendorSpec.data_answer``)."""
        headers = response.headers
        remaining = _number(headers, *self.remaining_headers)
        reset = _number(headers, *self.reset_headers)
        retry_after = _number(headers, "Retry-After")
        if status == 429 or (remaining is not None and remaining <= 0):
            layer = self.spec.rate_limit_layer(headers) if self.app_limits is not None else None
            self.budget.observe(
                self.vendor,
                APP_KEY if layer == "app" else self.budget_key,
                status=status,
                remaining=None if remaining is None else int(remaining),
                reset_seconds=reset,
                retry_after=retry_after,
            )

    def _back_off(self, attempt: int) -> None:
        if attempt + 1 < MAX_ATTEMPTS:
            self.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
