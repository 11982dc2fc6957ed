"""Token custody: on-demand refresh under one lock per connection, and the failure rules.

Storage is Azurite; vendors are the sandbox; the vault is the local file store (the Key Vault backend has
its own tests against a Key Vault-compatible server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from shared.app_context import AppContext
from shared.registry import Status
from shared.token_service import Outcome, TokenUnavailable
from tests.child_worker import digest

ROOT = Path(__file__).resolve().parents[1]
VENDORS = ("whoop", "fitbit", "codoon")


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_expired_access_token_is_refreshed_on_demand_and_the_new_pair_stored(
    ctx: AppContext, sandbox: Sandbox, seed: Any, vendor: str
) -> None:
    old = seed(vendor, "alice", expired=True)
    token = ctx.tokens.access_token_for(vendor, "alice")
    stored = ctx.vault.read(vendor, "alice")
    assert stored is not None
    assert token == stored.pair.access_token != old.access_token
    assert stored.pair.refresh_token != old.refresh_token
    assert sandbox.refresh_count(vendor, "alice") == 1
    assert sandbox.check_bearer(vendor, f"Bearer {token}") == "alice"
    connection = ctx.registry.get(vendor, "alice")
    assert connection and connection.status is Status.ACTIVE and connection.last_refresh_at
    # a valid token is served without another refresh
    assert ctx.tokens.access_token_for(vendor, "alice") == token
    assert sandbox.refresh_count(vendor, "alice") == 1


def test_a_token_inside_the_margin_is_refreshed_before_it_expires(ctx: AppContext, sandbox: Sandbox, seed: Any) -> None:
    from dataclasses import replace

    pair = seed("whoop", "bob")
    ctx.vault.write("whoop", "bob", replace(pair, expires_at=time.time() + 60))  # margin is 300 s
    assert ctx.tokens.access_token_for("whoop", "bob") != pair.access_token
    assert sandbox.refresh_count("whoop", "bob") == 1


def _spawn(vendor: str, user: str, threads: int, start_at: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.child_worker",
            vendor,
            user,
            "--threads",
            str(threads),
            "--start-at",
            str(start_at),
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("vendor", ["fitbit", "whoop"])
def test_fifty_threads_and_three_processes_cause_exactly_one_refresh(
    ctx: AppContext, sandbox: Sandbox, seed: Any, vendor: str
) -> None:
    seed(vendor, "carol", expired=True)
    sandbox.set_latency(vendor, 0.3)  # a slow vendor widens the race window
    start_at = time.time() + 4.0
    children = [_spawn(vendor, "carol", 50, start_at) for _ in range(3)]
    in_process: list[str] = []
    barrier = threading.Barrier(50)

    def ask() -> None:
        barrier.wait()
        in_process.append(digest(ctx.tokens.access_token_for(vendor, "carol")))

    time.sleep(max(0.0, start_at - time.time()))
    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        assert not [s for s in sandbox.issued_secrets() if s in out + err], "a child printed a token"
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    stored = ctx.vault.read(vendor, "carol")
    assert stored is not None
    expected = digest(stored.pair.access_token)
    assert sandbox.refresh_count(vendor, "carol") == 1
    assert in_process == [expected] * 50
    for result in outputs:
        assert result["errors"] == []
        assert result["tokens"] == [expected] * 50


@pytest.mark.parametrize("fault", ["error_500", "error_503", "timeout", "rate_limited"])
def test_a_transient_vendor_failure_keeps_the_pair_and_never_asks_for_reauth(
    ctx: AppContext, sandbox: Sandbox, seed: Any, fault: str
) -> None:
    old = seed("fitbit", "dave", expired=True)
    sandbox.inject("fitbit", fault, times=3, seconds=6, retry_after=1)  # more than the quick retries
    result = ctx.tokens.rotate("fitbit", "dave")
    assert result.outcome is Outcome.FAILED
    stored = ctx.vault.read("fitbit", "dave")
    assert stored is not None and stored.pair.refresh_token == old.refresh_token
    connection = ctx.registry.get("fitbit", "dave")
    assert connection is not None
    assert connection.status is Status.ACTIVE and connection.consecutive_failures == 1
    assert connection.last_error.startswith("transient")
    assert connection.next_attempt_at, "a failed connection backs off"
    # the vendor is back: the very same pair refreshes fine (nothing was spent)
    assert ctx.tokens.rotate("fitbit", "dave").outcome is Outcome.ROTATED


def test_repeated_transient_failures_degrade_the_connection_but_keep_it(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    seed("whoop", "erin", expired=True)
    sandbox.inject("whoop", "error_503", times=100)
    outcomes = [ctx.tokens.rotate("whoop", "erin").outcome for _ in range(3)]
    assert outcomes == [Outcome.FAILED, Outcome.FAILED, Outcome.DEGRADED]
    connection = ctx.registry.get("whoop", "erin")
    assert connection is not None and connection.status is Status.DEGRADED
    with pytest.raises(TokenUnavailable, match="degraded"):
        ctx.tokens.access_token_for("whoop", "erin")
    assert sandbox.refresh_count("whoop", "erin") == 0
    sandbox.clear_faults()
    assert ctx.tokens.rotate("whoop", "erin").outcome is Outcome.ROTATED
    connection = ctx.registry.get("whoop", "erin")
    assert connection is not None and connection.status is Status.ACTIVE and connection.consecutive_failures == 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_real_revocation_leads_to_reauth_required(ctx: AppContext, sandbox: Sandbox, seed: Any, vendor: str) -> None:
    seed(vendor, "frank", expired=True)
    sandbox.revoke_grant(vendor, "frank")
    result = ctx.tokens.rotate(vendor, "frank")
    assert result.outcome is Outcome.REAUTH_REQUIRED
    connection = ctx.registry.get(vendor, "frank")
    assert connection is not None and connection.status is Status.REAUTH_REQUIRED
    assert ctx.vault.read(vendor, "frank") is not None, "the secret is kept for audit"
    with pytest.raises(TokenUnavailable):
        ctx.tokens.access_token_for(vendor, "frank")
    refreshes = sandbox.refresh_count(vendor)
    assert ctx.tokens.rotate(vendor, "frank").outcome is Outcome.SKIPPED  # no more refresh attempts
    assert sandbox.refresh_count(vendor) == refreshes


def test_a_rejection_of_a_token_that_was_replaced_meanwhile_is_not_a_revocation(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    """The re-read rule: the vendor rejects our refresh token, but by then the vault holds a newer pair
    (a reconnect happened while we were refreshing): the connection stays active."""
    from shared.vendors import spec_for

    seed("whoop", "gina", expired=True)
    newer = spec_for("whoop").parse_token_response(sandbox.grant("whoop", "gina-second-login"))
    original_refresh = ctx.tokens.endpoint

    class Racing:
        def __init__(self, vendor: str) -> None:
            self.inner = original_refresh(vendor)

        def refresh(self, pair: Any, *args: Any) -> Any:
            ctx.vault.write("whoop", "gina", newer)  # the reconnect lands first
            sandbox.revoke_grant("whoop", "gina")
            return self.inner.refresh(pair, *args)

    ctx.tokens.endpoint = Racing  # type: ignore[method-assign,assignment]
    result = ctx.tokens.rotate("whoop", "gina")
    assert result.outcome is Outcome.SKIPPED
    connection = ctx.registry.get("whoop", "gina")
    assert connection is not None and connection.status is Status.ACTIVE


def test_a_lost_refresh_response_from_fitbit_is_recovered_by_the_identical_request(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    seed("fitbit", "hank", expired=True)
    sandbox.inject("fitbit", "lost_response")
    token = ctx.tokens.access_token_for("fitbit", "hank")
    stored = ctx.vault.read("fitbit", "hank")
    assert stored is not None and token == stored.pair.access_token
    assert sandbox.refresh_count("fitbit", "hank") == 1 and sandbox.replay_count("fitbit", "hank") == 1
    connection = ctx.registry.get("fitbit", "hank")
    assert connection is not None and connection.status is Status.ACTIVE and not connection.refresh_started_at


def test_a_lost_refresh_response_from_whoop_is_reported_naming_the_connection(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    seed("whoop", "ivy", expired=True)
    sandbox.inject("whoop", "lost_response")
    result = ctx.tokens.rotate("whoop", "ivy")
    assert result.outcome is Outcome.REAUTH_REQUIRED
    connection = ctx.registry.get("whoop", "ivy")
    assert connection is not None and connection.status is Status.REAUTH_REQUIRED
    assert "whoop/ivy" in connection.last_error and "never reached the vault" in connection.last_error


@pytest.mark.parametrize("vendor", ["fitbit", "codoon"])
def test_a_client_secret_with_reserved_characters_works_for_refresh_and_revoke(
    ctx: AppContext, app_env: dict[str, str], sandbox: Sandbox, seed: Any, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    """HTTP Basic client authentication (Fitbit, Codoon) form-urlencodes id and secret (RFC 6749 §2.3.1); the
    sandbox decodes them the same way, so a secret with + / = % : reaches the vendor intact."""
    from shared.settings import load_settings
    from shared.vendor_account import revoke
    from tests.conftest import KNOWN_SECRETS

    client_id, _ = sandbox.clients[vendor]
    secret = "s3cr3t+with/slash=eq%pct:colon"
    KNOWN_SECRETS.add(secret)
    monkeypatch.setitem(sandbox.clients, vendor, (client_id, secret))
    special = AppContext(load_settings({**app_env, f"{vendor.upper()}_CLIENT_SECRET": secret}))
    seed(vendor, "reserved", expired=True, context=special)
    result = special.tokens.rotate(vendor, "reserved")
    assert result.outcome is Outcome.ROTATED, result.detail
    assert sandbox.refresh_count(vendor, "reserved") == 1
    if vendor == "fitbit":  # Fitbit's RFC 7009 revoke authenticates the same way
        from shared.vendors import spec_for

        assert result.pair is not None
        settings = special.settings
        assert revoke(spec_for(vendor), settings.vendor(vendor), result.pair, special.http, 5)
        assert sandbox.revoked(vendor, "reserved")


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_rejected_client_shows_client_misconfigured_and_fixing_the_setting_heals_it(
    ctx: AppContext, app_env: dict[str, str], sandbox: Sandbox, seed: Any, vendor: str
) -> None:
    """invalid_client is the operator's to fix: the connection says so (not ``active``), the sweep keeps retrying
    it with backoff, and the first refresh after the fix makes it active again with ``last_error`` cleared."""
    from datetime import UTC, datetime, timedelta

    from shared.rotation import is_due
    from shared.settings import load_settings

    seed(vendor, "misconf", expired=True)
    wrong = AppContext(load_settings({**app_env, f"{vendor.upper()}_CLIENT_SECRET": "not-the-secret-0000"}))
    result = wrong.tokens.rotate(vendor, "misconf")
    assert result.outcome is Outcome.FAILED and "client misconfigured" in result.detail
    connection = ctx.registry.get(vendor, "misconf")
    assert connection is not None and connection.status is Status.CLIENT_MISCONFIGURED
    assert connection.last_error.startswith("client_misconfigured") and connection.next_attempt_at
    assert ctx.connect.describe(vendor, "misconf")["status"] == "client_misconfigured"
    assert not is_due(connection, 300), "backs off first"
    assert is_due(connection, 300, now=datetime.now(UTC) + timedelta(hours=1)), "then the sweep retries it"
    # the operator fixes the secret: the next rotation heals the connection
    assert ctx.tokens.rotate(vendor, "misconf").outcome is Outcome.ROTATED
    connection = ctx.registry.get(vendor, "misconf")
    assert connection is not None and connection.status is Status.ACTIVE
    assert connection.last_error == "" and connection.consecutive_failures == 0


@pytest.mark.parametrize("vendor", ["whoop", "fitbit"])
def test_a_rotation_that_lost_its_lease_never_overwrites_a_newer_pair(
    ctx: AppContext, sandbox: Sandbox, seed: Any, vendor: str
) -> None:
    """While the vendor answers, our lease is broken and another writer (a reconnect) stores a newer pair under
    the lock: the rotation sees the stored version moved and keeps the newer pair (no overwrite)."""
    from azure.storage.blob import BlobLeaseClient

    from shared.naming import connection_digest
    from shared.vendors import spec_for

    seed(vendor, "jack", expired=True)
    original_endpoint = ctx.tokens.endpoint
    newer: list[Any] = []

    class LosingTheLease:
        def __init__(self, name: str) -> None:
            self.inner = original_endpoint(name)

        def refresh(self, pair: Any, *args: Any, **kwargs: Any) -> Any:
            answer = self.inner.refresh(pair, *args, **kwargs)
            blob = ctx.locks.container.get_blob_client(f"{vendor}/{connection_digest(vendor, 'jack')}")
            BlobLeaseClient(blob).break_lease(lease_break_period=0)  # our lease is gone
            other = BlobLeaseClient(blob)
            other.acquire(lease_duration=15)  # the other writer (a reconnect) takes the lock and stores its pair
            newer.append(spec_for(vendor).parse_token_response(sandbox.grant(vendor, "jack")))
            ctx.vault.write(vendor, "jack", newer[0])
            other.release()
            return answer

    ctx.tokens.endpoint = LosingTheLease  # type: ignore[method-assign,assignment]
    result = ctx.tokens.rotate(vendor, "jack")
    assert (result.outcome, result.detail) == (Outcome.SKIPPED, "pair replaced while refreshing")
    stored = ctx.vault.read(vendor, "jack")
    assert stored is not None and stored.pair.refresh_token == newer[0].refresh_token, "the newer pair survives"
    connection = ctx.registry.get(vendor, "jack")
    assert connection is not None and connection.status is Status.ACTIVE and not connection.refresh_started_at
    ctx.tokens.endpoint = original_endpoint  # type: ignore[method-assign]
    token = ctx.tokens.access_token_for(vendor, "jack")
    assert token == newer[0].access_token and sandbox.check_bearer(vendor, f"Bearer {token}") == "jack"


def test_a_whoop_refresh_keeps_every_granted_scope_so_the_pull_goes_on(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    """The sandbox follows RFC 6749 §6 (a refresh naming scopes gets exactly those): the refresh sends the whole
    scope string granted at consent, so the new token still reads sleep and the pull lands records."""
    from datetime import date, timedelta

    from shared.pull.jobs import PullJob

    pair = seed("whoop", "lena", expired=True)
    day = date.today() - timedelta(days=3)
    outcome = ctx.puller.run(PullJob("whoop", "lena", "sleep", day - timedelta(days=2), day))
    assert sandbox.refresh_count("whoop", "lena") == 1
    assert sandbox.token_requests("whoop")[-1].form["scope"] == " ".join(pair.scope)
    assert outcome.status.value == "done" and outcome.created > 0, outcome.detail
    connection = ctx.registry.get("whoop", "lena")
    assert connection is not None and connection.scopes.split() == list(pair.scope)
    assert ctx.connect.describe("whoop", "lena")["types_not_granted"] == []


def test_a_narrowed_token_or_a_refused_type_shows_in_health_and_heals_with_the_next_refresh(
    ctx: AppContext, sandbox: Sandbox, seed: Any
) -> None:
    """A connection left with a narrowed token (as `scope=offline` refreshes used to leave it): health names the
    data types no longer granted, a 403 on one type's data call is recorded for that type, the pull keeps asking
    for what was granted at consent, and the next refresh (the whole grant) plus a good pull clear it all."""
    from datetime import date, timedelta

    import requests as http

    from shared.pull.jobs import PullJob
    from shared.pull.puller import PullStatus
    from shared.vendors import spec_for

    pair = seed("whoop", "kate")
    client_id, secret = sandbox.clients["whoop"]
    form = {"grant_type": "refresh_token", "refresh_token": pair.refresh_token, "scope": "offline"}
    answer = http.post(
        ctx.settings.vendor("whoop").url("TOKEN_URL"),
        data={**form, "client_id": client_id, "client_secret": secret},
        timeout=5,
    ).json()
    narrowed = spec_for("whoop").parse_token_response(answer, pair)
    ctx.vault.write("whoop", "kate", narrowed)
    ctx.registry.update("whoop", "kate", scopes="offline")
    health = ctx.connect.describe("whoop", "kate")
    assert health["granted_scopes"] == list(pair.scope) and health["scopes"] == ["offline"]
    assert health["types_not_granted"] == ["body", "cycle", "profile", "recovery", "sleep", "workout"]

    day = date.today() - timedelta(days=3)
    job = PullJob("whoop", "kate", "sleep", day - timedelta(days=2), day)
    refused = ctx.puller.run(job)
    assert refused.status is PullStatus.FAILED and "403" in refused.detail
    connection = ctx.registry.get("whoop", "kate")
    assert connection is not None and "sleep" in connection.refused_types

    assert ctx.tokens.rotate("whoop", "kate", force=True).outcome is Outcome.ROTATED
    assert sandbox.token_requests("whoop")[-1].form["scope"] == " ".join(pair.scope)
    assert ctx.connect.describe("whoop", "kate")["types_not_granted"] == ["sleep"], "until sleep pulls again"
    pulled = ctx.puller.run(job)
    assert pulled.status is PullStatus.DONE and pulled.created > 0
    assert ctx.connect.describe("whoop", "kate")["types_not_granted"] == []
