"""WHOOP API v2: OAuth (``oauth``), data types (``data``), curated mapping (``curated``), notifications
(``notify``). Facts and sources: ``reference/vendors.md`` §2.1; shapes: ``reference/specs/whoop-openapi-v2.json``."""

from shared.vendors.contract import Vendor
from shared.vendors.whoop.curated import MAPPERS
from shared.vendors.whoop.data import WHOOP
from shared.vendors.whoop.notify import NOTIFICATIONS, NOTIFIED_TYPES
from shared.vendors.whoop.oauth import SPEC

VENDOR = Vendor(
    name="whoop",
    title="WHOOP",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://api.prod.whoop.com/oauth/oauth2/auth",
        "TOKEN_URL": "https://api.prod.whoop.com/oauth/oauth2/token",
        "API_BASE_URL": "https://api.prod.whoop.com/developer",
    },
    rate_limits="100/60,10000/86400",  # per app: all users together
    data=WHOOP,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
)
