"""Connecting a vendor account through the function handlers, called as the host calls them, against the
sandbox vendors: link, consent, callback, status, rotation, reconnect, disconnect and purge."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from azure.data.tables import UpdateMode

from sandbox import Sandbox
from shared.app_context import AppContext
from shared.oauth_state import pkce_challenge
from shared.registry import Status
from shared.token_service import Outcome
from tests.host import Browser, call, callback, confirm, confirm_code, connect, connect_link, consent

VENDORS = ("whoop", "fitbit", "codoon")


def connected(vendor: str, user: str, sandbox_user: str | None = None) -> Any:
    return connect(vendor, user, sandbox_user)


def confirmed(vendor: str, params: dict[str, str], user: str) -> Any:
    """The callback, then the product's confirmation for ``user``: the confirmation's answer."""
    response = callback(vendor, params)
    code = confirm_code(response)
    assert code is not None, (response.status_code, response.get_body())
    return confirm(code, user)


def status_of(vendor: str, user: str) -> tuple[int, dict[str, Any]]:
    response = call("connection", "GET", f"connections/{vendor}/{user}", route={"vendor": vendor, "user_id": user})
    return response.status_code, json.loads(response.get_body())


def no_secret_in(sandbox: Sandbox, *bodies: bytes) -> bool:
    text = b"".join(bodies).decode(errors="replace")
    return not [s for s in sandbox.issued_secrets() if s in text]


@pytest.mark.parametrize("vendor", VENDORS)
def test_connect_consent_callback_stores_the_pair_and_the_connection_rotates(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, vendor: str
) -> None:
    link = connect_link(vendor, "user-1")
    assert link.startswith(f"http://localhost:7071/api/connect/{vendor}/start?state=")
    browser = Browser()
    opened = browser.open(link)
    assert opened.status_code == 302
    query = parse_qs(urlparse(opened.headers["Location"]).query)
    assert query["redirect_uri"] == [f"http://localhost:7071/api/callback/{vendor}"]
    assert len(query["state"][0]) >= 32
    if vendor == "fitbit":  # PKCE where the vendor supports it
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    else:
        assert "code_challenge" not in query
    response = callback(vendor, consent(link, "user-1", browser))
    assert response.status_code == 200 and b"enter this code" in response.get_body()
    assert no_secret_in(sandbox, response.get_body())
    assert ctx.registry.get(vendor, "user-1") is None, "nothing is final before the product confirms"
    confirmation = confirm(confirm_code(response) or "", "user-1")
    assert confirmation.status_code == 200 and no_secret_in(sandbox, confirmation.get_body())
    assert json.loads(confirmation.get_body())["status"] == "active"

    stored = ctx.vault.read(vendor, "user-1")
    assert stored is not None and sandbox.check_bearer(vendor, f"Bearer {stored.pair.access_token}") == "user-1"
    code, health = status_of(vendor, "user-1")
    assert code == 200 and health["status"] == "active"
    assert health["vendor_user_id"] == sandbox.vendor_user_id(vendor, "user-1")
    assert health["scopes"] and no_secret_in(sandbox, json.dumps(health).encode())
    assert ctx.registry.user_for_vendor_user(vendor, health["vendor_user_id"]) == "user-1"
    assert ctx.tokens.rotate(vendor, "user-1", force=True).outcome is Outcome.ROTATED


def test_the_fitbit_code_exchange_carries_the_pkce_verifier(app_env: dict[str, str], sandbox: Sandbox) -> None:
    link = connect_link("fitbit", "pkce-user")
    browser = Browser()
    challenge = parse_qs(urlparse(browser.open(link).headers["Location"]).query)["code_challenge"][0]
    assert confirmed("fitbit", consent(link, "pkce-user", browser), "pkce-user").status_code == 200
    exchange = [r for r in sandbox.token_requests("fitbit") if r.form.get("grant_type") == "authorization_code"]
    assert len(exchange) == 1
    assert pkce_challenge(exchange[0].form["code_verifier"]) == challenge


def test_a_replayed_state_is_refused_and_stores_nothing_more(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    params = consent(connect_link("whoop", "replay"), "replay")
    assert callback("whoop", params).status_code == 200
    exchanges = len(sandbox.token_requests("whoop"))
    again = callback("whoop", params)
    assert again.status_code == 400 and b"already been used" in again.get_body()
    assert len(sandbox.token_requests("whoop")) == exchanges, "a replayed state never reaches the vendor"


def test_an_expired_state_is_refused_and_the_user_can_start_again(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    params = consent(connect_link("fitbit", "slow-user"), "slow-user")
    ctx.states.table.update_entity(
        {"PartitionKey": "state", "RowKey": params["state"], "expires_at": 1.0}, mode=UpdateMode.MERGE
    )
    response = callback("fitbit", params)
    assert response.status_code == 400 and b"expired" in response.get_body()
    assert ctx.registry.get("fitbit", "slow-user") is None and ctx.vault.read("fitbit", "slow-user") is None
    assert connected("fitbit", "slow-user").status_code == 200


def test_a_state_issued_for_another_vendor_is_refused(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    params = consent(connect_link("fitbit", "mixed"), "mixed")
    response = callback("codoon", params)
    assert response.status_code == 400 and b"another vendor" in response.get_body()
    assert ctx.registry.get("codoon", "mixed") is None and ctx.registry.get("fitbit", "mixed") is None


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, b"missing"),
        ({"code": "abc"}, b"missing"),
        ({"state": "s" * 43}, b"missing"),
        ({"code": "abc", "state": "short"}, b"malformed"),
        ({"code": "abc", "state": "<script>alert(1)</script>" * 3}, b"malformed"),
        ({"code": "x" * 5000, "state": "s" * 43}, b"malformed"),
        ({"code": "abc\x00", "state": "s" * 43}, b"malformed"),
        ({"code": "abc", "state": "s" * 43}, b"not valid"),
        ({"error": "server_error", "state": "s" * 43}, b"error"),
    ],
)
def test_missing_and_garbled_callback_parameters_get_a_clear_400(
    app_env: dict[str, str], ctx: AppContext, params: dict[str, str], fragment: bytes
) -> None:
    response = callback("whoop", params)
    assert response.status_code == 400
    assert fragment in response.get_body().lower() and b"<script>" not in response.get_body()
    assert list(ctx.registry.list()) == []


def test_denied_consent_stores_nothing_and_says_so(app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox) -> None:
    sandbox.authorize_mode["fitbit"] = "deny"
    params = consent(connect_link("fitbit", "shy"), "shy")
    assert params["error"] == "access_denied"
    response = callback("fitbit", params)
    assert response.status_code == 403 and b"declined" in response.get_body()
    assert ctx.registry.get("fitbit", "shy") is None
    sandbox.authorize_mode["fitbit"] = "consent"
    assert connected("fitbit", "shy").status_code == 200


@pytest.mark.parametrize("vendor", VENDORS)
def test_token_endpoint_down_stores_nothing_shows_a_clear_page_and_a_retry_works(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, vendor: str
) -> None:
    params = consent(connect_link(vendor, "unlucky"), "unlucky")
    sandbox.inject(vendor, "error_503", times=1)
    response = callback(vendor, params)
    assert response.status_code == 502 and b"try again" in response.get_body()
    assert ctx.registry.get(vendor, "unlucky") is None and ctx.vault.read(vendor, "unlucky") is None
    assert connected(vendor, "unlucky").status_code == 200
    assert ctx.registry.get(vendor, "unlucky") is not None


def test_a_whoop_profile_failure_stores_nothing(app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox) -> None:
    params = consent(connect_link("whoop", "no-profile"), "no-profile")
    sandbox.inject("whoop", "error_500", endpoint="profile")
    assert callback("whoop", params).status_code == 502
    assert ctx.registry.get("whoop", "no-profile") is None and ctx.vault.read("whoop", "no-profile") is None


def test_unknown_vendor_and_bad_user_ids_are_refused(app_env: dict[str, str]) -> None:
    response = call("connect", "POST", "connect/polar", route={"vendor": "polar"}, body={"user_id": "u"})
    assert response.status_code == 404
    for bad in ({"user_id": ""}, {"user_id": "../etc"}, {"user_id": "x" * 200}, {"user_id": 7}, {}):
        response = call("connect", "POST", "connect/whoop", route={"vendor": "whoop"}, body=bad)
        assert response.status_code == 400, bad
    response = call("connect", "POST", "connect/whoop", route={"vendor": "whoop"}, raw=b"{not json")
    assert response.status_code == 400
    response = call("connect", "POST", "connect/whoop", route={"vendor": "whoop"}, raw=b"[" * 20000)
    assert response.status_code == 413
    assert status_of("whoop", "nobody")[0] == 404


def test_scopes_the_user_did_not_grant_are_recorded(app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox) -> None:
    link = connect_link("fitbit", "partial")
    answer = consent(link, "partial", extra={"sandbox_grant_scope": "sleep heartrate"})
    assert confirmed("fitbit", answer, "partial").status_code == 200
    assert sorted(status_of("fitbit", "partial")[1]["scopes"]) == ["heartrate", "sleep"]


def test_a_reconnect_keeps_identity_and_history_and_restores_health(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    assert connected("whoop", "returning").status_code == 200
    first = ctx.registry.get("whoop", "returning")
    assert first is not None
    ctx.registry.update(
        "whoop", "returning", watermarks={"sleep": "2026-11-01T00:00:00Z"}, last_pull_at="2026-11-20T10:00:00Z"
    )
    sandbox.revoke_grant("whoop", "returning")
    assert ctx.tokens.rotate("whoop", "returning", force=True).outcome is Outcome.REAUTH_REQUIRED
    assert status_of("whoop", "returning")[1]["last_error"]
    assert connected("whoop", "returning").status_code == 200
    after = ctx.registry.get("whoop", "returning")
    assert after is not None and after.status is Status.ACTIVE
    assert status_of("whoop", "returning")[1]["last_error"] is None, "the old error no longer describes it"
    assert (after.created_at, after.vendor_user_id) == (first.created_at, first.vendor_user_id)
    assert after.watermarks == {"sleep": "2026-11-01T00:00:00Z"} and after.last_pull_at == "2026-11-20T10:00:00Z"
    assert ctx.tokens.rotate("whoop", "returning", force=True).outcome is Outcome.ROTATED


@pytest.mark.parametrize("vendor", VENDORS)
def test_disconnect_revokes_at_the_vendor_and_no_refresh_happens_afterwards(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, vendor: str
) -> None:
    assert connected(vendor, "leaving").status_code == 200
    response = call(
        "connection", "DELETE", f"connections/{vendor}/leaving", route={"vendor": vendor, "user_id": "leaving"}
    )
    assert response.status_code == 200
    result = json.loads(response.get_body())
    assert result["status"] == "disconnected"
    assert result["revoked_at_vendor"] is (vendor != "codoon")  # Codoon has no revoke endpoint
    assert sandbox.revoked(vendor, "leaving") is (vendor != "codoon")
    assert ctx.vault.read(vendor, "leaving") is None, "the secret is disabled"
    refreshes = sandbox.refresh_count(vendor)
    assert ctx.tokens.rotate(vendor, "leaving", force=True).outcome is Outcome.SKIPPED
    assert sandbox.refresh_count(vendor) == refreshes
    again = call(
        "connection", "DELETE", f"connections/{vendor}/leaving", route={"vendor": vendor, "user_id": "leaving"}
    )
    assert again.status_code == 200 and json.loads(again.get_body())["status"] == "disconnected"
    assert status_of(vendor, "leaving")[1]["status"] == "disconnected"


def test_purge_removes_the_users_blobs_and_only_theirs(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    from shared.layout import record_blob_name

    for user in ("purged", "kept"):
        assert connected("fitbit", user).status_code == 200
    for container in ("raw", "curated"):
        client = ctx.storage.blobs.get_container_client(container)
        if not client.exists():
            client.create_container()
        for user in ("purged", "kept"):
            for day in ("2026-11-01", "2026-11-02"):
                client.upload_blob(record_blob_name("fitbit", "sleep", user, day, "rec-1"), b"{}")
    response = call(
        "connection",
        "DELETE",
        "connections/fitbit/purged",
        route={"vendor": "fitbit", "user_id": "purged"},
        params={"purge": "true"},
    )
    assert response.status_code == 200 and json.loads(response.get_body())["purged_blobs"] == 4
    for container in ("raw", "curated"):
        names = [b.name for b in ctx.storage.blobs.get_container_client(container).list_blobs()]
        assert names and all("user=kept/" in n for n in names)
    bad = call(
        "connection",
        "DELETE",
        "connections/fitbit/kept",
        route={"vendor": "fitbit", "user_id": "kept"},
        params={"purge": "yes"},
    )
    assert bad.status_code == 400


def test_cli_connect_prints_a_link_and_disconnect_ends_the_connection(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared import cli

    assert cli.main(["connect", "--vendor", "codoon", "--user", "cli-user"]) == 0
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("http://localhost:7071/api/connect/codoon/start?state=")
    assert confirmed("codoon", consent(link, "cli-user"), "cli-user").status_code == 200
    assert cli.main(["disconnect", "--vendor", "codoon", "--user", "cli-user", "--purge"]) == 0
    assert "disconnected" in capsys.readouterr().out
    assert cli.main(["disconnect", "--vendor", "codoon", "--user", "nobody"]) == 1


def test_the_callback_sends_the_user_to_the_product_with_a_one_time_code_the_product_confirms(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    from shared import app_context

    monkeypatch.setenv("POST_CONNECT_REDIRECT_URL", "https://product.example/connected?from=wearsync")
    app_context.reset_context()
    response = callback("whoop", consent(connect_link("whoop", "redirected"), "redirected"))
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "product.example", "/connected")
    query = parse_qs(location.query)
    assert query["from"] == ["wearsync"] and query["vendor"] == ["whoop"] and len(query["connect_code"][0]) >= 32
    assert confirm(query["connect_code"][0], "redirected").status_code == 200
    again = confirm(query["connect_code"][0], "redirected")
    assert again.status_code == 404, "the code is single use"


def test_with_confirmation_off_the_callback_connects_at_once_and_redirects_to_the_fixed_page(
    app_env: dict[str, str], ctx: AppContext, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    from shared import app_context

    monkeypatch.setenv("CONNECT_CONFIRMATION", "false")
    app_context.reset_context()
    response = callback("fitbit", consent(connect_link("fitbit", "direct"), "direct"))
    assert response.status_code == 200 and b"is connected" in response.get_body()
    connection = ctx.registry.get("fitbit", "direct")
    assert connection is not None and connection.status is Status.ACTIVE
    monkeypatch.setenv("POST_CONNECT_REDIRECT_URL", "https://product.example/connected")
    app_context.reset_context()
    response = callback("whoop", consent(connect_link("whoop", "direct"), "direct"))
    assert response.status_code == 302 and response.headers["Location"] == "https://product.example/connected"


def test_a_vault_outage_during_the_callback_shows_a_clear_page_and_stores_no_connection(
    kv_env: dict[str, str], keyvault: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import app_context
    from shared.app_context import get_context

    monkeypatch.setenv("VAULT_WRITE_RETRY_SECONDS", "1")
    app_context.reset_context()
    params = consent(connect_link("whoop", "vault-down"), "vault-down")
    keyvault.inject("unavailable", times=1000, op="set")
    response = callback("whoop", params)
    assert response.status_code == 503 and b"start again with a new link" in response.get_body()
    assert no_secret_in(sandbox, response.get_body())
    assert get_context().registry.get("whoop", "vault-down") is None
    assert list(get_context().pending.table.list_entities()) == []
    assert sandbox.revoked("whoop", "vault-down"), "a pair that could not be kept is withdrawn at the vendor"
    keyvault.clear_faults()
    assert connected("whoop", "vault-down").status_code == 200


@pytest.mark.parametrize("user_id", ["alice\n", "alice\r\n", "\nalice", "alice\x00"])
def test_a_user_id_with_a_trailing_newline_is_refused_before_anything_is_stored(
    app_env: dict[str, str], ctx: AppContext, user_id: str
) -> None:
    response = call("connect", "POST", "connect/whoop", route={"vendor": "whoop"}, body={"user_id": user_id})
    assert response.status_code == 400 and b"user_id must be" in response.get_body()
    assert list(ctx.states.table.list_entities()) == []


def test_a_state_with_a_trailing_newline_is_malformed(app_env: dict[str, str], ctx: AppContext) -> None:
    response = callback("whoop", {"code": "abc", "state": "s" * 43 + "\n"})
    assert response.status_code == 400 and b"malformed" in response.get_body()
