"""The Codoon OpenAPI twin (closed 2018): OAuth (`oauth`), synthetic data (`data`) served as Codoon's document
gives its methods (`api`), and unsigned notifications (`notify`). Shapes:
/work/shared/reference/specs/codoon-openapi.md."""

from sandbox.vendors import Twin
from sandbox.vendors.codoon.api import data_routes
from sandbox.vendors.codoon.data import CODOON_DATA
from sandbox.vendors.codoon.notify import SIGNED, notification
from sandbox.vendors.codoon.oauth import CODOON, oauth_routes

TWIN = Twin(vendor=CODOON, data=CODOON_DATA, oauth_routes=oauth_routes, data_routes=data_routes)

__all__ = ["SIGNED", "TWIN", "notification"]
