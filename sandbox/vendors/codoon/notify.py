"""Codoon notifications (its document, "通知接口"), as the twin sends them: a form POST with ``user_id``,
``catalog`` (``activities`` from a tracker, ``gps_sports`` from the GPS app, whose ``resource_id`` is the
route id and whose times are empty), ``resource_id``, ``start_time``, ``end_time``. The document names no
signature: Codoon's notifications are unsigned. ``notification`` is the acceptance kit's hook.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sandbox.notify import FORM, NotificationRequest

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = False
CATALOGS: dict[str, str] = {"tracker": "activities", "sleep": "sleep", "body": "body", "route": "gps_sports"}
"""The catalog whose notification makes the app fetch each data type."""
TRACKER_ID = "codoon-band-0001"
"""The ``resource_id`` of a tracker's notifications: the device id."""


def codoon_form(
    user_id: str, catalog: str, resource_id: str, start_time: str, end_time: str
) -> tuple[dict[str, str], bytes]:
    """Codoon's callback: a form POST (no signature documented)."""
    fields = {
        "user_id": user_id,
        "catalog": catalog,
        "resource_id": resource_id,
        "start_time": start_time,
        "end_time": end_time,
    }
    return {"Content-Type": FORM}, urlencode(fields).encode("ascii")


def notification(
    box: Sandbox,
    user: str,
    data_type: str,
    record_id: str | None,
    day: date,
    *,
    client_secret: str,
    forged: bool = False,
) -> NotificationRequest:
    """The callback Codoon sends when `user`'s `data_type` changed on local (+08:00) `day`: a route names its
    id (`record_id`, None: the day's first route), the others the day's times. Unsigned, so `client_secret`
    is not used and a forged notification is the same request."""
    catalog = CATALOGS.get(data_type)
    if catalog is None:
        raise ValueError(f"codoon sends no notification for {data_type!r}; known: {sorted(CATALOGS)}")
    vendor_user = box.vendor_user_id("codoon", user)
    if data_type == "route":
        if record_id is None:
            routes = box.expected_records("codoon", "route", user, day, day)
            if not routes:
                raise ValueError(f"codoon has no route of {user} on {day}")
            record_id = str(routes[0][0])
        headers, body = codoon_form(vendor_user, catalog, record_id, "", "")
    else:
        first, last = f"{day.isoformat()} 00:00:00", f"{day.isoformat()} 23:59:59"
        headers, body = codoon_form(vendor_user, catalog, TRACKER_ID, first, last)
    return NotificationRequest("POST", headers, {}, body)
