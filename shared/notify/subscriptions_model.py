"""What a vendor's webhook subscriptions are, as the engine sees them: the ``subscriptions`` part of a vendor
package (``Subscriptions``, on ``shared.vendors.contract.Vendor``) for a vendor whose webhooks are subscriptions
the app itself creates through an API and which expire unless renewed.

A lower layer: it imports nothing of the engine. The engine (``shared.subscriptions``) gives the package an
``AppHttp`` (calls to the vendor's API with the app's own credentials, no user token) and ``AppCredentials``
(the client id and secret, the package's own settings, the callback URL); the package says which subscriptions
the app wants, and lists, creates, renews and deletes them. Errors: ``SubscriptionError`` (the vendor's message is
never kept: only the status and a short reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol


class SubscriptionError(Exception):
    """A subscription call that failed: ``status`` (None: no answer) and a reason safe to log."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.reason, self.status = reason, status
        super().__init__(f"{reason} ({'HTTP ' + str(status) if status is not None else 'no answer'})")


@dataclass(frozen=True)
class Wanted:
    """One subscription the app wants: a data type and an event (the vendor's words)."""

    data_type: str
    event_type: str

    def __str__(self) -> str:
        return f"{self.data_type}.{self.event_type}"


@dataclass(frozen=True)
class Subscription:
    """One subscription as the vendor reports it."""

    id: str
    data_type: str
    event_type: str
    callback_url: str
    expires_at: datetime | None  # aware; None: the vendor gave no expiry

    @property
    def wanted(self) -> Wanted:
        return Wanted(self.data_type, self.event_type)


@dataclass(frozen=True)
class AppCredentials:
    """The app's own credentials at the vendor, its settings (``VendorSettings.extra``) and the callback URL."""

    client_id: str
    client_secret: str = field(repr=False)
    settings: Mapping[str, str] = field(default_factory=dict, repr=False)
    callback_url: str = ""


class AppHttp(Protocol):
    """A call to the vendor's API (``path`` under ``API_BASE_URL``): (status, parsed JSON body or None). Raises
    ``SubscriptionError`` when no answer came."""

    def __call__(
        self, method: str, path: str, *, headers: Mapping[str, str], body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]: ...


@dataclass(frozen=True)
class Subscriptions:
    """One vendor's webhook subscriptions.

    - ``wanted``: the subscriptions the app needs (one per data type and event).
    - ``list`` / ``create`` / ``renew`` / ``delete``: the vendor's subscription API.
    - ``renew_within``: a subscription expiring sooner than this is renewed (the timer runs every 12 hours by
      default, so this must be well above that).
    """

    wanted: tuple[Wanted, ...]
    list: Callable[[AppHttp, AppCredentials], list[Subscription]]
    create: Callable[[AppHttp, AppCredentials, Wanted], Subscription]
    renew: Callable[[AppHttp, AppCredentials, Subscription], Subscription]
    delete: Callable[[AppHttp, AppCredentials, Subscription], None]
    renew_within: timedelta = timedelta(days=3)
