"""The Key Vault backend, through the real SecretClient and DefaultAzureCredential (managed identity on
loopback) against a Key Vault-compatible HTTPS server: the same code path as in Azure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from shared.app_context import AppContext
from shared.naming import secret_name
from shared.registry import Status
from shared.token_service import Outcome
from shared.tokens import TokenPair
from shared.vault import TokenVault, TransientStoreError, VaultWriteFailed
from shared.vault.keyvault_store import KeyVaultStore

ROOT = Path(__file__).resolve().parents[1]


def test_pairs_are_one_json_secret_per_connection_with_versions_and_harmless_tags(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any
) -> None:
    seed("fitbit", "kv-alice", expired=True)
    kv_ctx.tokens.access_token_for("fitbit", "kv-alice")
    name = secret_name("fitbit", "kv-alice")
    versions = keyvault.versions(name)
    assert len(versions) == 2, "the rotation is a new version of the same secret"
    latest = versions[-1]
    assert latest.content_type == "application/json"
    assert set(json.loads(latest.value)) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "scope",
        "token_type",
        "vendor_user_id",
        "obtained_at",
    }
    tag_text = json.dumps(latest.tags)
    assert latest.tags["vendor"] == "fitbit" and not [s for s in sandbox.issued_secrets() if s in tag_text]
    assert "kv-alice" not in name and "kv-alice" not in tag_text


@pytest.mark.parametrize("fault", ["throttle", "unavailable"])
def test_a_vault_429_or_503_during_the_write_is_retried_and_the_new_pair_lands(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any, fault: str
) -> None:
    seed("whoop", "kv-bob", expired=True)
    keyvault.inject(fault, times=2, op="set")
    seen = len(keyvault.requests)
    token = kv_ctx.tokens.access_token_for("whoop", "kv-bob")
    assert sandbox.refresh_count("whoop", "kv-bob") == 1
    current = keyvault.current(secret_name("whoop", "kv-bob"))
    assert current is not None and json.loads(current)["access_token"] == token
    statuses = [r.status for r in keyvault.requests[seen:] if r.method == "PUT"]
    assert statuses.count(429 if fault == "throttle" else 503) == 2


def test_a_soft_deleted_secret_name_is_recovered_then_written(kv_ctx: AppContext, keyvault: Any) -> None:
    store = KeyVaultStore(keyvault.url)
    store.set("tok-whoop-softdeleted", "{}", {})
    store.client.begin_delete_secret("tok-whoop-softdeleted").wait()
    assert keyvault.is_deleted("tok-whoop-softdeleted")
    keyvault.conflicts_after_recover = 1  # right after a recover the service can still say "being recovered"
    version = store.set("tok-whoop-softdeleted", '{"v": 2}', {"vendor": "whoop"})
    assert version and keyvault.current("tok-whoop-softdeleted") == '{"v": 2}'
    assert not keyvault.is_deleted("tok-whoop-softdeleted")


def test_listing_follows_every_page_including_empty_ones(kv_ctx: AppContext, keyvault: Any) -> None:
    store = KeyVaultStore(keyvault.url)
    for i in range(30):
        store.set(f"tok-codoon-page{i:02d}", "{}", {})
    keyvault.empty_pages = True
    assert len([n for n in store.names("tok-codoon-page")]) == 30


def test_a_disabled_secret_reads_as_absent(kv_ctx: AppContext, keyvault: Any) -> None:
    store = KeyVaultStore(keyvault.url)
    store.set("tok-fitbit-disabled", "{}", {})
    store.disable("tok-fitbit-disabled")
    assert store.get("tok-fitbit-disabled") is None
    assert store.get("tok-fitbit-never-written") is None


class _FlakyStore:
    """A SecretStore whose writes fail transiently a given number of times (no SDK involved)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.values: dict[str, str] = {}

    def get(self, name: str) -> None:
        return None

    def set(self, name: str, value: str, tags: Any) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise TransientStoreError("HTTP 503")
        self.values[name] = value
        return "v1"

    def disable(self, name: str) -> None:
        pass

    def names(self, prefix: str) -> Any:
        return iter(())


def test_the_vault_write_is_retried_past_sdk_retries_until_its_deadline() -> None:
    pair = TokenPair("a-token-value-1", "r-token-value-1", expires_at=time.time() + 3600)
    slept: list[float] = []
    store = _FlakyStore(failures=5)
    assert TokenVault(store, write_retry_seconds=60, sleep=slept.append).write("whoop", "u", pair) == "v1"
    assert len(slept) == 5 and store.values
    with pytest.raises(VaultWriteFailed):
        TokenVault(_FlakyStore(failures=10**6), write_retry_seconds=0.2, sleep=time.sleep).write("whoop", "u", pair)


def _kill_during_vault_write(vendor: str, user: str, keyvault: Any) -> None:
    keyvault.inject("hang", times=1, op="set", name=secret_name(vendor, user))  # the pair's write, not a probe
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.child_worker", vendor, user],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert keyvault.hung.wait(60), "the child never reached the vault write"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_a_process_killed_between_fitbits_answer_and_the_vault_write_loses_nothing(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any
) -> None:
    old = seed("fitbit", "kv-crash", expired=True)
    _kill_during_vault_write("fitbit", "kv-crash", keyvault)
    assert sandbox.refresh_count("fitbit", "kv-crash") == 1, "the vendor rotated the pair"
    stored = kv_ctx.vault.read("fitbit", "kv-crash")
    assert stored is not None and stored.pair.refresh_token == old.refresh_token, "the new pair never landed"
    # after the restart (here: this process), the next request recovers the pair Fitbit already issued
    token = kv_ctx.tokens.access_token_for("fitbit", "kv-crash")
    assert sandbox.check_bearer("fitbit", f"Bearer {token}") == "kv-crash"
    assert sandbox.refresh_count("fitbit", "kv-crash") == 1 and sandbox.replay_count("fitbit", "kv-crash") == 1
    connection = kv_ctx.registry.get("fitbit", "kv-crash")
    assert connection is not None and connection.status is Status.ACTIVE and not connection.refresh_started_at
    assert kv_ctx.tokens.rotate("fitbit", "kv-crash", force=True).outcome is Outcome.ROTATED


def test_a_process_killed_between_whoops_answer_and_the_vault_write_is_reported_by_name(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared import cli

    seed("whoop", "kv-crash", expired=True)
    _kill_during_vault_write("whoop", "kv-crash", keyvault)
    result = kv_ctx.tokens.rotate("whoop", "kv-crash")
    assert result.outcome is Outcome.REAUTH_REQUIRED
    assert "whoop/kv-crash" in result.detail and "never reached the vault" in result.detail
    assert cli.main(["status", "--vendor", "whoop"]) == 0
    out = capsys.readouterr().out
    assert "kv-crash" in out and "reauth_required" in out and "never reached the vault" in out
    assert not [s for s in sandbox.issued_secrets() if s in out]


# -- a vault that refuses writes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["forbidden", "unauthorized"])
def test_a_write_refused_403_or_401_for_a_while_is_retried_and_the_new_pair_lands(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any, fault: str
) -> None:
    """RBAC not propagated yet (403 ForbiddenByRbac) or a credential being fixed (401): after a successful
    refresh the write is retried like a 429/5xx, and the pair lands once the vault accepts it."""
    seed("fitbit", "kv-rbac", expired=True)  # a write that just landed: the vault is known to take writes
    name = secret_name("fitbit", "kv-rbac")
    keyvault.inject(fault, times=2, op="set", name=name)
    seen = len(keyvault.requests)
    token = kv_ctx.tokens.access_token_for("fitbit", "kv-rbac")
    assert sandbox.refresh_count("fitbit", "kv-rbac") == 1
    current = keyvault.current(name)
    assert current is not None and json.loads(current)["access_token"] == token
    refused = [r for r in keyvault.requests[seen:] if r.method == "PUT" and r.status in (401, 403)]
    assert len(refused) >= 2  # (the SDK answers a 401 with a fresh challenge round of its own)
    connection = kv_ctx.registry.get("fitbit", "kv-rbac")
    assert connection is not None and connection.status is Status.ACTIVE


def test_a_vault_that_refuses_writes_causes_no_refresh_at_all(
    kv_env: dict[str, str], kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any
) -> None:
    """A single-use refresh token is never spent while its successor cannot be stored: a worker that has not
    seen a write land lately probes the vault first, and sends no refresh while writes are refused."""
    from shared.settings import load_settings

    old = {user: seed("whoop", user, expired=True) for user in ("kv-nowrite", "kv-nowrite-2")}
    keyvault.inject("forbidden", times=10**6, op="set")
    seen = len(keyvault.requests)
    worker = AppContext(load_settings(kv_env))  # a fresh worker process: no write of its own yet
    for user in old:
        result = worker.tokens.rotate("whoop", user)
        assert result.outcome is Outcome.FAILED and "vault_refuses_writes" in result.detail
    assert sandbox.refresh_count("whoop") == 0, "no refresh token was spent"
    for user, pair in old.items():
        stored = kv_ctx.vault.read("whoop", user)
        assert stored is not None and stored.pair.refresh_token == pair.refresh_token
        connection = kv_ctx.registry.get("whoop", user)
        assert connection is not None and connection.next_attempt_at and not connection.refresh_started_at
        assert connection.last_error == "transient: vault_refuses_writes"
    probes = [r.status for r in keyvault.requests[seen:] if r.method == "PUT" and "write-probe" in r.path]
    assert probes and set(probes) == {403}
    # the role assignment propagates: the next attempt probes, succeeds, and rotates
    keyvault.clear_faults()
    assert worker.tokens.rotate("whoop", "kv-nowrite").outcome is Outcome.ROTATED
    assert sandbox.refresh_count("whoop", "kv-nowrite") == 1


def test_after_a_failed_write_refreshes_wait_for_a_probe_write_to_land(
    kv_ctx: AppContext, keyvault: Any, sandbox: Sandbox, seed: Any
) -> None:
    """A write failure stops further refreshes in this process until a probe write succeeds."""
    seed("fitbit", "kv-first", expired=True)  # Fitbit: the identical retry recovers the first pair later
    seed("whoop", "kv-second", expired=True)
    keyvault.inject("forbidden", times=10**6, op="set")
    kv_ctx.vault.write_retry_seconds = 1.0
    with pytest.raises(VaultWriteFailed):
        kv_ctx.tokens.access_token_for("fitbit", "kv-first")
    assert sandbox.refresh_count("fitbit", "kv-first") == 1
    result = kv_ctx.tokens.rotate("whoop", "kv-second")
    assert result.outcome is Outcome.FAILED and "vault_refuses_writes" in result.detail
    assert sandbox.refresh_count("whoop", "kv-second") == 0
    keyvault.clear_faults()
    assert kv_ctx.tokens.rotate("whoop", "kv-second").outcome is Outcome.ROTATED
    token = kv_ctx.tokens.access_token_for("fitbit", "kv-first")  # Fitbit replays the pair it already issued
    assert sandbox.check_bearer("fitbit", f"Bearer {token}") == "kv-first"
