"""The Withings twin: OAuth with envelopes and signed revocation (`oauth`), synthetic data (`data`) served as the
spec says (`api`), and unsigned notifications (`notify`). Shapes: /work/shared/reference/specs/withings-openapi.yml."""

from sandbox.vendors import Twin
from sandbox.vendors.withings.api import QUIRKS, RATE, data_routes
from sandbox.vendors.withings.data import WITHINGS_DATA
from sandbox.vendors.withings.notify import SIGNED, notification
from sandbox.vendors.withings.oauth import WITHINGS, oauth_routes

TWIN = Twin(
    vendor=WITHINGS,
    data=WITHINGS_DATA,
    oauth_routes=oauth_routes,
    data_routes=data_routes,
    rate=RATE,
    quirks=QUIRKS,
)

__all__ = ["SIGNED", "TWIN", "notification"]
