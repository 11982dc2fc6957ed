"""What the endpoints of every twin share: the OAuth state, the client credentials, the data state, the rate
limiter and the test quirks. The dicts are the live `Sandbox` attributes (tests may edit them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sandbox.data import DataState
from sandbox.oauth import OAuthStore
from sandbox.ratelimit import RateLimiter

AuthorizeMode = Literal["consent", "deny"]


@dataclass(frozen=True)
class EndpointContext:
    """State shared by the OAuth endpoints of all twins."""

    store: OAuthStore
    clients: dict[str, tuple[str, str]]
    authorize_mode: dict[str, AuthorizeMode]


@dataclass(frozen=True)
class DataContext:
    """What the data endpoints share: the OAuth side, the data state, the limiter and test quirks."""

    endpoints: EndpointContext
    store: OAuthStore
    state: DataState
    limiter: RateLimiter
    quirks: dict[str, dict[str, int]]
