"""GET /api/health: whether storage and the vault answer, revealing nothing secret."""

from __future__ import annotations

import json
from typing import Any

from tests.host import call, trigger


def test_health_is_anonymous_and_healthy_with_storage_and_key_vault(kv_env: dict[str, str], keyvault: Any) -> None:
    assert trigger("health")["authLevel"] == "ANONYMOUS"
    response = call("health", "GET", "health")
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body == {"status": "healthy", "storage": "ok", "vault": "ok"}


def test_health_reports_an_unreachable_vault_as_503_without_details(kv_env: dict[str, str], keyvault: Any) -> None:
    keyvault.inject("unavailable", times=50, op="any")
    response = call("health", "GET", "health")
    assert response.status_code == 503
    text = response.get_body().decode()
    assert json.loads(text) == {"status": "unhealthy", "storage": "ok", "vault": "unavailable"}
    assert keyvault.url not in text
