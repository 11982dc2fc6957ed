"""Codoon OpenAPI (closed in 2018; exercised against the sandbox): OAuth (``oauth``), data types (``data``),
curated mapping (``curated``), notifications (``notify``). Its document: ``reference/specs/codoon-openapi.md``."""

from shared.vendors.codoon.curated import MAPPERS, POSITIONAL
from shared.vendors.codoon.data import CODOON
from shared.vendors.codoon.notify import NOTIFICATIONS, NOTIFIED_TYPES
from shared.vendors.codoon.oauth import SPEC
from shared.vendors.contract import Vendor

VENDOR = Vendor(
    name="codoon",
    title="Codoon",
    oauth=SPEC,
    urls={
        "AUTH_URL": "https://openapi.codoon.com/authorize",
        "TOKEN_URL": "https://openapi.codoon.com/token",
        "API_BASE_URL": "https://openapi.codoon.com/api",
    },
    rate_limits="",  # Codoon published none
    data=CODOON,
    curated=MAPPERS,
    notifications=NOTIFICATIONS,
    notified_types=NOTIFIED_TYPES,
    positional=POSITIONAL,
)
