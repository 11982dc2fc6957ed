"""The Oura API v2 twin: OAuth (`oauth`), synthetic data (`data`) served as Oura's OpenAPI says (`api`), webhook
subscriptions (`webhooks`) and signed notifications (`notify`).
Shapes: /work/shared/reference/specs/oura-openapi-v2.yml."""

from sandbox.vendors import Twin
from sandbox.vendors.oura.api import QUIRKS, RATE, data_routes
from sandbox.vendors.oura.data import OURA_DATA
from sandbox.vendors.oura.notify import SIGNED, notification
from sandbox.vendors.oura.oauth import OURA, oauth_routes

TWIN = Twin(
    vendor=OURA,
    data=OURA_DATA,
    oauth_routes=oauth_routes,
    data_routes=data_routes,
    rate=RATE,
    quirks=QUIRKS,
)

__all__ = ["SIGNED", "TWIN", "notification"]
