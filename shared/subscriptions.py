"""Webhook subscriptions the app keeps itself: for every enabled vendor whose package has ``subscriptions``
(``shared.notify.subscriptions_model.Subscriptions``), the ones the app wants exist at the vendor, pointing at
``{PUBLIC_BASE_URL}/api/notify/{vendor}``, and none lapses: one expiring within the package's ``renew_within``
is renewed (``maintain_subscriptions`` runs it on ``SUBSCRIPTIONS_SCHEDULE``; ``python -m shared subscriptions``
by hand).

A subscription is the app's when its callback URL is the app's own, so two deployments sharing a vendor client
(staging and production) leave each other's alone. One that cannot be renewed because the vendor no longer knows
it (``GONE``), or that has lapsed already, is created again; any other failed renewal is reported and nothing is
created beside it. Failures are reported per subscription and never stop the others; nothing secret is
logged (the vendor's messages are not kept, only the status).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from shared.notify.subscriptions_model import (
    AppCredentials,
    Subscription,
    SubscriptionError,
    Subscriptions,
    Wanted,
)
from shared.settings import Settings
from shared.vendors.registry import vendor_for

log = logging.getLogger(__name__)

GONE = frozenset({403, 404, 410})
"""Answers to a renewal that mean the vendor no longer knows the subscription (some answer 403 for an unknown id)."""


class VendorHttp:
    """``AppHttp`` over a session: JSON in and out, the vendor's base URL, the app's timeout."""

    def __init__(self, session: requests.Session, base_url: str, timeout: float) -> None:
        self.session, self.base, self.timeout = session, base_url.rstrip("/"), timeout

    def __call__(
        self, method: str, path: str, *, headers: Mapping[str, str], body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        try:
            answer = self.session.request(
                method,
                self.base + path,
                headers={"Accept": "application/json", **headers},
                json=body,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise SubscriptionError(f"no answer ({type(error).__name__})") from None
        try:
            parsed = answer.json() if answer.content else None
        except ValueError:
            parsed = None
        return answer.status_code, parsed


@dataclass
class Outcome:
    """What ``ensure`` did for one vendor."""

    vendor: str
    created: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def line(self) -> str:
        counts = f"created {len(self.created)}, renewed {len(self.renewed)}, kept {len(self.kept)}"
        return f"{self.vendor}: {counts}, failed {len(self.failed)}"


@dataclass(frozen=True)
class Listed:
    """One subscription at the vendor, as ``list`` reports it."""

    vendor: str
    subscription: Subscription
    ours: bool
    due: bool


class SubscriptionKeeper:
    """Lists and ensures the webhook subscriptions of the enabled vendors that have them."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings, self.session, self.clock = settings, session, clock

    def vendors(self, only: str | None = None) -> list[str]:
        """Enabled vendors whose package keeps subscriptions (``only``: that one, if it does)."""
        return [
            name
            for name in self.settings.vendors
            if (only is None or name == only) and vendor_for(name).subscriptions is not None
        ]

    def _parts(self, vendor: str) -> tuple[Subscriptions, VendorHttp, AppCredentials]:
        subscriptions = vendor_for(vendor).subscriptions
        assert subscriptions is not None
        settings = self.settings.vendor(vendor)
        http = VendorHttp(self.session, settings.url("API_BASE_URL"), self.settings.http_timeout_seconds)
        app = AppCredentials(
            settings.client_id,
            settings.client_secret,
            dict(settings.extra),
            f"{self.settings.public_base_url}/api/notify/{vendor}",
        )
        return subscriptions, http, app

    def _due(self, subscriptions: Subscriptions, subscription: Subscription) -> bool:
        expires = subscription.expires_at
        return expires is None or expires - self.clock() <= subscriptions.renew_within

    def listing(self, only: str | None = None) -> list[Listed]:
        found = []
        for vendor in self.vendors(only):
            subscriptions, http, app = self._parts(vendor)
            for item in subscriptions.list(http, app):
                ours = item.callback_url == app.callback_url
                found.append(Listed(vendor, item, ours, ours and self._due(subscriptions, item)))
        return found

    def ensure(self, only: str | None = None) -> list[Outcome]:
        return [self._ensure(vendor) for vendor in self.vendors(only)]

    def _ensure(self, vendor: str) -> Outcome:
        outcome = Outcome(vendor)
        subscriptions, http, app = self._parts(vendor)
        try:
            existing = subscriptions.list(http, app)
        except SubscriptionError as error:
            outcome.failed.append(f"list: {error}")
            log.error("subscriptions vendor=%s: %s", vendor, error)
            return outcome
        mine: dict[Wanted, Subscription] = {}
        for item in existing:
            if item.callback_url == app.callback_url:
                mine.setdefault(item.wanted, item)
        for wanted in subscriptions.wanted:
            self._one(subscriptions, http, app, wanted, mine.get(wanted), outcome)
        log.info("subscriptions %s", outcome.line())
        for problem in outcome.failed:
            log.error("subscriptions vendor=%s failed: %s", vendor, problem)
        return outcome

    def _one(
        self,
        subscriptions: Subscriptions,
        http: VendorHttp,
        app: AppCredentials,
        wanted: Wanted,
        current: Subscription | None,
        outcome: Outcome,
    ) -> None:
        try:
            if current is not None and not self._due(subscriptions, current):
                outcome.kept.append(str(wanted))
                return
            if current is not None:
                try:
                    renewed = subscriptions.renew(http, app, current)
                    outcome.renewed.append(f"{wanted} until {_when(renewed.expires_at)}")
                    return
                except SubscriptionError as error:
                    expired = current.expires_at is not None and current.expires_at <= self.clock()
                    if error.status not in GONE and not expired:
                        raise  # it may still be there: a second one is not made beside it
                    # gone at the vendor, or lapsed already: made anew below
            created = subscriptions.create(http, app, wanted)
            outcome.created.append(f"{wanted} until {_when(created.expires_at)}")
        except SubscriptionError as error:
            outcome.failed.append(f"{wanted}: {error}")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="minutes") if moment else "no expiry"


def problems(outcomes: Iterable[Outcome]) -> list[str]:
    return [f"{o.vendor} {problem}" for o in outcomes for problem in o.failed]
