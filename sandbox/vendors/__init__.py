"""The twins: one package per imitated vendor, `sandbox/vendors/<name>/`, on the generic sandbox core.

This module holds what every twin is made of and nothing about any one vendor: the `Vendor` base (OAuth
URLs, quirks and body shapes as data and small methods, subclassed by each twin), the `Twin` contract (the
parts the core serves) and the registry that finds the twin packages. A twin package defines `TWIN =
Twin(...)` in its `__init__.py`, plus `SIGNED` and `notification(...)` for the acceptance kit; a new vendor
is a new package and nothing here or in the core changes. Facts come from /work/shared/reference/vendors.md
and the specs under /work/shared/reference/specs/.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Literal

from sandbox.context import DataContext, EndpointContext
from sandbox.data import DayGenerator
from sandbox.oauth import ErrorKind, OAuthError, Subject, TokenIssue
from sandbox.ratelimit import RateRule
from sandbox.server import Route

__all__ = [
    "ClientAuth",
    "ErrorKind",
    "OAuthError",
    "Subject",
    "TokenIssue",
    "Twin",
    "Vendor",
    "ceil_seconds",
    "digest",
    "parse_scope",
    "twin_named",
    "twins",
    "vendor_named",
]

ClientAuth = Literal["basic", "post"]


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
    rotates_refresh_token: bool = True  # False: a refresh answers a new access token and the refresh token lives on

    @property
    def prefix(self) -> str:
        return f"/{self.name}"

    @property
    def default_client_id(self) -> str:
        return f"{self.name}-client"

    def issues_refresh_token(self, scope: tuple[str, ...]) -> bool:
        """A vendor with `refresh_token_scope` hands out a refresh token only when that scope was granted."""
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

    def forbidden(self, scope: str) -> tuple[OAuthError, dict[str, str]]:
        """A data request outside the granted scope: the error and headers (RFC 6750 `insufficient_scope`)."""
        headers = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}
        return OAuthError("insufficient_scope", f"Scope {scope} is required."), headers

    def bad_request_body(self, message: str, field: str | None) -> dict[str, object] | None:
        """The 400 body of a bad data request; None: the vendor's `invalid_request` error body."""
        return None

    def not_found_body(self, message: str) -> dict[str, object]:
        """The 404 body of a data request for a record that does not exist."""
        return {"error": "not_found", "error_description": message}


def digest(vendor: str, user: str) -> bytes:
    """A stable digest of (vendor, user), for a twin's user ids."""
    return hashlib.sha256(f"{vendor}\0{user}".encode()).digest()


def ceil_seconds(value: float) -> str:
    """Whole seconds, rounded up, never negative (rate-limit reset headers)."""
    return str(max(0, math.ceil(value)))


@dataclass(frozen=True)
class Twin:
    """One vendor's twin: the parts the generic core serves.

    - ``vendor``: OAuth URLs, quirks and body shapes (a `Vendor` subclass).
    - ``data``: the generator of the vendor's records, one local day at a time (`sandbox.data.DayGenerator`).
    - ``oauth_routes``: the OAuth routes (authorize, token, and whatever else the vendor has: revoke, profile).
    - ``data_routes``: the data routes, each behind `sandbox.data_guard.Guard`.
    - ``rate``: the published rate limits (None: the vendor published none).
    - ``quirks``: test switches of this twin and their defaults (`Sandbox.data_quirks[name]`).
    """

    vendor: Vendor
    data: DayGenerator
    oauth_routes: Callable[[EndpointContext], list[Route]]
    data_routes: Callable[[DataContext], list[Route]]
    rate: RateRule | None = None
    quirks: Mapping[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.vendor.name


@cache
def twins() -> Mapping[str, Twin]:
    """Every twin by name, in name order: each sub-package of `sandbox.vendors` that defines `TWIN` (and the
    acceptance kit's `SIGNED` and `notification`)."""
    found: dict[str, Twin] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        twin = getattr(module, "TWIN", None)
        if not isinstance(twin, Twin):
            raise TypeError(f"sandbox/vendors/{info.name}/ does not define TWIN = Twin(...)")
        if twin.name != info.name:
            raise ValueError(f"sandbox/vendors/{info.name}/ names itself {twin.name!r}: the package name is the name")
        if not isinstance(getattr(module, "SIGNED", None), bool) or not callable(getattr(module, "notification", None)):
            raise TypeError(f"sandbox/vendors/{info.name}/ does not expose SIGNED and notification(...)")
        found[twin.name] = twin
    return MappingProxyType(found)


def twin_named(name: str) -> Twin:
    """The twin of `name`; ValueError for a vendor the sandbox does not imitate."""
    try:
        return twins()[name]
    except KeyError:
        raise ValueError(f"unknown vendor {name!r}; expected one of {sorted(twins())}") from None


def vendor_named(name: str) -> Vendor:
    """The `Vendor` of the twin `name`; ValueError for a vendor the sandbox does not imitate."""
    return twin_named(name).vendor


def parse_scope(raw: str | None) -> tuple[str, ...]:
    """Split a scope parameter: space- or comma-separated (vendors differ; some authorize pages use commas)."""
    if not raw:
        return ()
    return tuple(dict.fromkeys(part for part in re.split(r"[\s,]+", raw) if part))
