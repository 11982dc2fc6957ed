"""The Fitbit Web API twin: OAuth with PKCE and revoke (`oauth`), synthetic data (`data`) served by date range
and activity log list (`api`), signed notifications (`notify`), and
Google's turn-off of 2026-11-02 on a switch (`retired`: every route answers 410). Facts: reference/vendors.md §1."""

from sandbox.vendors import Twin
from sandbox.vendors.fitbit.api import RATE, data_routes
from sandbox.vendors.fitbit.data import FITBIT_DATA
from sandbox.vendors.fitbit.notify import SIGNED, notification
from sandbox.vendors.fitbit.oauth import FITBIT, oauth_routes
from sandbox.vendors.fitbit.retired import QUIRKS, retire

TWIN = Twin(
    vendor=FITBIT, data=FITBIT_DATA, oauth_routes=oauth_routes, data_routes=data_routes, rate=RATE, quirks=QUIRKS
)

__all__ = ["SIGNED", "TWIN", "notification", "retire"]
