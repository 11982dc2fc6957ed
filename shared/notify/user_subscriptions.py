"""Per-user notification subscriptions: a vendor whose notifications are subscribed one user at a time, with that
user's own token (``Notifications.subscribe_user``), is subscribed once a connection is final (the connect flow
calls ``subscribe``).

A failure never undoes the connection: the grant stands and the hourly pull reconciles the data meanwhile. It is
logged and noted on the connection's row (``notify_subscription``: "failed <when>: <reason>", shown by its
health), and the next rotation of the connection tries again (``retry``), until one succeeds ("subscribed
<when>"). Ending the subscriptions on disconnect is the vendor's revocation's business (a vendor whose revocation
does not end them unsubscribes in its ``revoke_signed``). Nothing here names a vendor; no token is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from azure.core.exceptions import AzureError

from shared.naming import log_id
from shared.pull.model import VendorApi
from shared.registry import USABLE, ConnectionRegistry
from shared.settings import Settings
from shared.vendors.registry import vendor_for

log = logging.getLogger(__name__)

SUBSCRIBED, FAILED = "subscribed", "failed"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class UserSubscriptions:
    """Subscribes a connection's user to the vendor's notifications (see the module docstring)."""

    def __init__(
        self, settings: Settings, registry: ConnectionRegistry, api_for: Callable[[str, str], VendorApi]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.api_for = api_for  # (vendor, user id) -> the connection's VendorApi

    def callback_url(self, vendor: str) -> str:
        return f"{self.settings.public_base_url}/api/notify/{vendor}"

    def wanted(self, vendor: str) -> bool:
        notifications = vendor_for(vendor).notifications
        return notifications is not None and notifications.subscribe_user is not None

    def subscribe(self, vendor: str, user_id: str) -> bool | None:
        """Subscribe the user; True done, False failed (noted, retried later), None nothing to subscribe."""
        notifications = vendor_for(vendor).notifications
        if notifications is None or notifications.subscribe_user is None:
            return None
        try:
            notifications.subscribe_user(self.api_for(vendor, user_id), self.callback_url(vendor))
        except Exception as error:  # any failure: the connection stands, the note says why
            reason = str(error) if not isinstance(error, AzureError) else type(error).__name__
            log.warning(
                "notification subscription failed vendor=%s connection=%s error=%s",
                vendor,
                log_id(vendor, user_id),
                type(error).__name__,
            )
            self._note(vendor, user_id, f"{FAILED} {_now()}: {reason[:200]}; retried at the next rotation")
            return False
        log.info("notifications subscribed vendor=%s connection=%s", vendor, log_id(vendor, user_id))
        self._note(vendor, user_id, f"{SUBSCRIBED} {_now()}")
        return True

    def retry(self, vendor: str, user_id: str) -> bool | None:
        """Subscribe again a usable connection whose subscription failed; None when there is nothing to retry."""
        if not self.wanted(vendor):
            return None
        connection = self.registry.get(vendor, user_id)
        if connection is None or connection.status not in USABLE:
            return None
        if not connection.notify_subscription.startswith(FAILED):
            return None
        return self.subscribe(vendor, user_id)

    def _note(self, vendor: str, user_id: str, note: str) -> None:
        try:
            self.registry.update(vendor, user_id, notify_subscription=note)
        except AzureError as error:
            log.warning("could not note the subscription vendor=%s error=%s", vendor, type(error).__name__)
