"""Loopback imitation of the wearable vendors (one twin each) for tests, benchmarks and the demo.

    from sandbox import Sandbox
    with Sandbox() as sb:
        env = sb.settings_env()        # {NAME}_TOKEN_URL=http://127.0.0.1:PORT/<name>/..., ... per twin
        tokens = sb.grant(sb.twin_names()[0], "alice")

The generic core names no vendor: `core` (the `Sandbox` facade), `server` (HTTP plumbing), `context` (state
the endpoints share), `oauth` (grant/token state), `endpoints` (authorize and token), `faults` (injectable
faults), `data` (deterministic per-day generation, revisions), `data_guard` (token, rate-limit and scope
checks), `ratelimit`, `data_endpoints` (wiring), `notify` (`NotificationRequest`, delivery). Each vendor is a
twin package `sandbox/vendors/<name>/` (`oauth`, `data`, `api`, `notify`) found by `sandbox.vendors.twins()`.
Beside them: `keyvault` and `identity` (Key Vault and managed identity on loopback), `tls`, `azurite` (the
emulator runner), `function_host` (calling the app's functions).
"""

from sandbox.core import RecordedRequest, Sandbox
from sandbox.notify import NotificationRequest

__all__ = ["NotificationRequest", "RecordedRequest", "Sandbox"]
