"""Loopback imitation of the wearable vendors (Fitbit, WHOOP v2, Codoon) for tests, benchmarks and the demo.

    from sandbox import Sandbox
    with Sandbox() as sb:
        env = sb.settings_env()        # WHOOP_TOKEN_URL=http://127.0.0.1:PORT/whoop/oauth/oauth2/token, ...
        tokens = sb.grant("whoop", "alice")

Modules: `vendors` (per-vendor quirks), `oauth` (grant/token state), `endpoints` (OAuth route tables),
`faults` (injectable faults), `server` (HTTP plumbing), `core` (the `Sandbox` facade); data endpoints:
`data` (deterministic per-day generation, revisions), `data_whoop`/`data_fitbit`/`data_codoon` (generators),
`api_whoop`/`api_fitbit`/`api_codoon` (routes), `data_guard` (token, rate-limit and scope checks),
`ratelimit`, `data_endpoints` (wiring). Beside them: `keyvault` and `identity` (Key Vault and managed
identity on loopback), `tls`, `azurite` (the emulator runner), `function_host` (calling the app's functions).
"""

from sandbox.core import RecordedRequest, Sandbox
from sandbox.vendors import VENDORS

__all__ = ["VENDORS", "RecordedRequest", "Sandbox"]
