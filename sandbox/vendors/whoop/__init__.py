"""The WHOOP v2 twin: OAuth (`oauth`), synthetic data (`data`) served as WHOOP's OpenAPI says (`api`), and
signed notifications (`notify`). Shapes: /work/shared/reference/specs/whoop-openapi-v2.json."""

from sandbox.vendors import Twin
from sandbox.vendors.whoop.api import QUIRKS, RATE, data_routes
from sandbox.vendors.whoop.data import WHOOP_DATA
from sandbox.vendors.whoop.notify import SIGNED, notification
from sandbox.vendors.whoop.oauth import WHOOP, oauth_routes

TWIN = Twin(
    vendor=WHOOP,
    data=WHOOP_DATA,
    oauth_routes=oauth_routes,
    data_routes=data_routes,
    rate=RATE,
    quirks=QUIRKS,
)

__all__ = ["SIGNED", "TWIN", "notification"]
