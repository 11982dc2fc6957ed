"""GET /api/health: whether storage and the vault answer, revealing nothing secret, and at most one vault
request per cache window however often the anonymous route is called."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared import health
from tests.conftest import FakeClock
from tests.host import call, trigger


@pytest.fixture
def health_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(health.CACHE, "clock", clock)
    return clock


def vault_probes(keyvault: Any) -> int:
    """Requests the vault answered for the health probe (the SDK's unauthenticated challenge not counted)."""
    return sum(1 for request in keyvault.requests if health.PROBE_NAME in request.path and request.status != 401)


def test_health_is_anonymous_and_healthy_with_storage_and_key_vault(
    kv_env: dict[str, str], keyvault: Any, health_clock: FakeClock
) -> None:
    assert trigger("health")["authLevel"] == "ANONYMOUS"
    response = call("health", "GET", "health")
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body == {"status": "healthy", "storage": "ok", "vault": "ok"}


def test_health_reports_an_unreachable_vault_as_503_without_details(
    kv_env: dict[str, str], keyvault: Any, health_clock: FakeClock
) -> None:
    keyvault.inject("unavailable", times=50, op="any")
    response = call("health", "GET", "health")
    assert response.status_code == 503
    text = response.get_body().decode()
    assert json.loads(text) == {"status": "unhealthy", "storage": "ok", "vault": "unavailable"}
    assert keyvault.url not in text

    keyvault.clear_faults()
    health_clock.advance(health.CACHE_SECONDS + 0.1)  # the vault is back: the next window says so
    assert call("health", "GET", "health").status_code == 200


def test_fifty_health_calls_within_the_window_cost_one_vault_request(
    kv_env: dict[str, str], keyvault: Any, health_clock: FakeClock
) -> None:
    before = vault_probes(keyvault)
    trigger("health")  # the app is indexed once, before the threads (as the host does at start)
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: call("health", "GET", "health").status_code, range(50)))
    assert statuses == [200] * 50
    assert vault_probes(keyvault) == before + 1

    health_clock.advance(health.CACHE_SECONDS - 1)
    assert call("health", "GET", "health").status_code == 200
    assert vault_probes(keyvault) == before + 1
    health_clock.advance(1.1)  # the window is over: one more request
    assert call("health", "GET", "health").status_code == 200
    assert vault_probes(keyvault) == before + 2
