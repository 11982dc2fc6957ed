"""Fitbit Web API (turned off by Google on 2026-11-02: HTTP 410): OAuth (``oauth``), data types (``data``),
curated mapping (``curated``), notifications (``notify``). Facts and sources: ``reference/vendors.md`` §1.1;
shapes: ``reference/specs/fitbit-web-api-swagger.json``."""

from shared.vendors.contract import Vendor, VendorSetting
from shared.vendors.fitbit.curated import MAPPERS
from shared.vendors.fitbit.data import FITBIT
from shared.vendors.fitbit.notify import NOTIFICATIONS, NOTIFIED_TYPES
from shared.vendors.fitbit.oauth import SPEC

VENDOR = Vendor(
    name="fitbit",
    title="Fitbit",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://www.fitbit.com/oauth2/authorize",
        "TOKEN_URL": "https://api.fitbit.com/oauth2/token",
        "REVOKE_URL": "https://api.fitbit.com/oauth2/revoke",
        "API_BASE_URL": "https://api.fitbit.com",
    },
    rate_limits="150/3600",  # per user
    data=FITBIT,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
    settings=(
        VendorSetting(
            "SUBSCRIBER_VERIFY_CODE",
            "",
            "The verification code of the Fitbit subscriber (Fitbit's GET ?verify= handshake).",
            secret=True,
        ),
    ),
)
