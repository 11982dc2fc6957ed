"""Withings notifications, as the twin sends them (``reference/vendors.md`` §3.2, the developer guide's
"notification content"): a form POST of ``userid``, ``appli``, ``startdate`` and ``enddate`` (epoch seconds around
the data that changed). Withings signs nothing, so a forged notification is the same request (for a user nobody
connected). ``notification`` is the acceptance kit's hook.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sandbox.data import at_local
from sandbox.notify import FORM, NotificationRequest
from sandbox.vendors.withings.data import WITHINGS_DATA

if TYPE_CHECKING:
    from sandbox.core import Sandbox

SIGNED = False
APPLI: dict[str, int] = {"measure": 1, "sleep": 44, "heart": 54}
"""The appli of each data type's notification (1: weight; 4 would be blood pressure; 44: sleep; 54: ECG)."""


def withings_form(userid: str, appli: int, startdate: int, enddate: int) -> tuple[dict[str, str], bytes]:
    fields = {"userid": userid, "appli": str(appli), "startdate": str(startdate), "enddate": str(enddate)}
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
    """The callback Withings sends when `user`'s `data_type` changed on local `day` (`record_id` is not sent: the
    span is the day's). Unsigned: `client_secret` is not used and a forged one is the same request."""
    appli = APPLI.get(data_type)
    if appli is None:
        raise ValueError(f"withings sends no notification for {data_type!r}; known: {sorted(APPLI)}")
    offset = WITHINGS_DATA.offset(user)
    start, end = at_local(day, offset, 0), at_local(day, offset, 24 * 60) - timedelta(seconds=1)
    userid = box.vendor_user_id("withings", user)
    headers, body = withings_form(userid, appli, int(start.timestamp()), int(end.timestamp()))
    return NotificationRequest("POST", headers, {}, body)
