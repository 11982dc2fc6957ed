"""Withings notifications (``reference/vendors.md`` §3.2; the spec's ``notify-subscribe``; the developer guide's
"Notifications" pages): subscribed per user and per ``appli`` once a connection is final, unsigned, and verified by
fetching what they name with the user's own token.

- Subscribe (``subscribe_user``): ``GET /notify?action=subscribe&callbackurl=<our /api/notify/withings>&appli=n``
  with the user's access token, one call per ``appli`` in ``APPLIS``. Withings first checks the callback URL with
  a ``HEAD`` (answered 204 for every vendor by the intake) or a ``GET`` (``challenge``: answered 200, nothing
  queued); it must answer 2xx. The subscriptions end with the grant: revoking it "automatically unsubscribes" the
  user's notifications (the spec's ``oauth2-revoke``), which a disconnect does.
- A notification is a form POST: ``userid``, ``appli``, and ``startdate``/``enddate`` (epoch seconds) or ``date``
  (``YYYY-MM-DD``). Withings signs nothing (OW's handler says "unsigned"; no signature in the spec), so every
  notification is bounded before any vendor call: per source at the intake (``SOURCE_LIMITS``) and per connected
  user in the worker (``WORK_LIMITS``: a (type, day) handled in the last 10 minutes is a duplicate; at most 10
  fetches in 10 minutes). Withings retries a notification not answered 2xx five times over about 5 hours.
- What each asks for: the ``Pull`` of the appli's data type for the days it spans (UTC days, widened by one on each
  side for the user's offset; at most ``MAX_DAYS``, none after tomorrow or older than ``MAX_AGE_DAYS``).

``APPLIS``: 1 weight and body composition, 2 temperature, 4 blood pressure, heart rate and SpO2 (all ``measure``),
44 sleep, 54 ECG (``heart``) (the developer guide's "notification categories" table).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

from shared.notify.model import (
    UPDATED,
    ChallengeAnswer,
    ChallengeRequest,
    Ignore,
    MalformedNotification,
    Notification,
    Notifications,
    Pull,
    SourceLimits,
    Step,
    WorkContext,
    WorkLimits,
)
from shared.notify.parse import DAY, ID, text
from shared.pull.model import VendorApi

APPLIS: Mapping[int, str] = {1: "measure", 2: "measure", 4: "measure", 44: "sleep", 54: "heart"}
NOTIFIED_TYPES = frozenset(APPLIS.values())
NOTIFY_PATH = "/notify"
MAX_DAYS = 7
MAX_AGE_DAYS = 60
SOURCE_LIMITS = SourceLimits(per_source=60, per_process=6000, seconds=600.0, sources=10_000)
WORK_LIMITS = WorkLimits(fetches=10, seconds=600.0)
_EPOCH = r"[0-9]{1,12}"


def parse(body: bytes, received_at: str = "") -> list[Notification]:
    try:
        form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise MalformedNotification("body is not an ASCII form") from None

    def one(name: str, required: bool = True) -> str | None:
        found = form.get(name, [])
        if len(found) > 1 or (required and not found):
            raise MalformedNotification(f"{name} must appear exactly once")
        return found[0] if found else None

    appli = text(one("appli"), "appli", ID)
    if not appli.isdigit():
        raise MalformedNotification("appli must be a number")
    start, end, day = one("startdate", False), one("enddate", False), one("date", False)
    for name, value in (("startdate", start), ("enddate", end)):
        if value is not None and not (value.isdigit() and len(value) <= 12):
            raise MalformedNotification(f"{name} must be epoch seconds")
    if day is not None:
        text(day, "date", DAY)
    return [
        Notification(
            vendor="withings",
            vendor_user_id=text(one("userid"), "userid", ID),
            kind=f"appli_{appli}",
            collection=APPLIS.get(int(appli), f"appli_{appli}"),
            action=UPDATED,
            date=day,
            start_time=start,
            end_time=end,
            received_at=received_at,
        )
    ]


def notified_days(n: Notification, now: float) -> list[date]:
    """The days a notification spans (see the module docstring); ``now``: epoch seconds."""
    today = datetime.fromtimestamp(now, UTC).date()
    if n.date:
        first = last = date.fromisoformat(n.date)
    else:
        stamps = [int(v) for v in (n.start_time, n.end_time) if v]
        if not stamps:
            return []
        try:
            first = datetime.fromtimestamp(min(stamps), UTC).date()
            last = datetime.fromtimestamp(max(stamps), UTC).date()
        except (OverflowError, OSError, ValueError):
            return []
    first, last = first - timedelta(days=1), min(last + timedelta(days=1), today + timedelta(days=1))
    first = max(first, last - timedelta(days=MAX_DAYS - 1), today - timedelta(days=MAX_AGE_DAYS))
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def work(n: Notification, context: WorkContext) -> Step:
    if n.collection not in NOTIFIED_TYPES:
        return Ignore(f"{n.kind}: no data type of ours")
    days = notified_days(n, context.now)
    if not days:
        return Ignore(f"no day in the last {MAX_AGE_DAYS} days (left to the pull)")
    keys = [f"{n.collection}:{day}" for day in days]
    claimed, why = context.claim(keys)
    if not claimed:
        return Ignore(why, bounded=True)
    fresh = sorted(date.fromisoformat(key.split(":", 1)[1]) for key in claimed)
    note = "" if len(claimed) == len(keys) else "some days were handled in the last 10 minutes"
    return Pull((n.collection,), fresh[0], fresh[-1], note=note)


def challenge(request: ChallengeRequest) -> ChallengeAnswer | None:
    """Withings' reachability check of the callback URL: a ``GET`` is answered 200 (nothing is queued)."""
    if request.method == "GET":
        return ChallengeAnswer(200, None, "callback reachability check")
    return None


def subscribe_user(api: VendorApi, callback_url: str) -> None:
    """Subscribe the connection's user to every appli in ``APPLIS`` (a failure raises: the caller notes it and
    tries again later)."""
    for appli in APPLIS:
        api.get(NOTIFY_PATH, {"action": "subscribe", "callbackurl": callback_url, "appli": str(appli)})


NOTIFICATIONS = Notifications(
    parse=parse,
    work=work,
    unsigned=SOURCE_LIMITS,
    work_limits=WORK_LIMITS,
    challenge=challenge,
    challenge_methods=frozenset({"GET"}),
    subscribe_user=subscribe_user,
)
