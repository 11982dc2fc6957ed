"""Whether the app's dependencies answer: storage and the token vault. Reveals nothing secret."""

from __future__ import annotations

import logging
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.app_context import AppContext

log = logging.getLogger(__name__)
PROBE_NAME = "health-probe"


def check(ctx: AppContext) -> tuple[bool, dict[str, Any]]:
    results: dict[str, str] = {}
    try:
        ctx.registry.get("health", "probe")
        results["storage"] = "ok"
    except ResourceNotFoundError:
        results["storage"] = "ok"
    except Exception as error:
        log.warning("health: storage unavailable error=%s", type(error).__name__)
        results["storage"] = "unavailable"
    try:
        ctx.vault.store.get(PROBE_NAME)
        results["vault"] = "ok"
    except Exception as error:
        log.warning("health: vault unavailable error=%s", type(error).__name__)
        results["vault"] = "unavailable"
    healthy = all(v == "ok" for v in results.values())
    return healthy, {"status": "healthy" if healthy else "unhealthy", **results}
