"""Loopback imitation of the wearable vendors (Fitbit, WHOOP v2, Codoon) for tests, benchmarks and the demo.

    from sandbox import Sandbox
    with Sandbox() as sb:
        env = sb.settings_env()        # WHOOP_TOKEN_URL=http://127.0.0.1:PORT/whoop/oauth/oauth2/token, ...
        tokens = sb.grant("whoop", "alice")

Modules: `vendors` (per-vendor quirks), `oauth` (grant/token state), `endpoints` (route tables),
`faults` (injectable faults), `server` (HTTP plumbing), `core` (the `Sandbox` facade).
"""

from sandbox.core import RecordedRequest, Sandbox
from sandbox.vendors import VENDORS

__all__ = ["VENDORS", "RecordedRequest", "Sandbox"]
