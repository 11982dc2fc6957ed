"""Withings Public API: OAuth (``oauth``), data types (``data``), curated mapping (``curated``), notifications
(``notify``). Facts and sources: ``reference/vendors.md`` §3.2, ``reference/vendors-next.md`` §2; shapes:
``reference/specs/withings-openapi.yml``."""

from shared.vendors.contract import Vendor
from shared.vendors.withings.curated import MAPPERS
from shared.vendors.withings.data import WITHINGS
from shared.vendors.withings.notify import NOTIFICATIONS, NOTIFIED_TYPES
from shared.vendors.withings.oauth import SPEC

VENDOR = Vendor(
    name="withings",
    title="Withings",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://account.withings.com/oauth2_user/authorize2",
        "TOKEN_URL": "https://wbsapi.withings.net/v2/oauth2",
        "API_BASE_URL": "https://wbsapi.withings.net",
    },
    rate_limits="120/60",  # per app: all users together (Public API plan)
    data=WITHINGS,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
)
