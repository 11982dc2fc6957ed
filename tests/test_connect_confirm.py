"""Login CSRF and the connect flow's failure paths (issue 10 items 7 and 8), through the function handlers as the
host calls them, against the sandbox vendors and Azurite: the browser that opened the link is the only one that
can finish it, a new connection is final only once the product confirms it for the user of its own session,
and a storage failure after the code exchange answers a truthful 503 page and leaves no pair nobody holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from sandbox import Sandbox
from sandbox.function_host import callback_request
from shared import app_context
from shared.app_context import AppContext, get_context
from shared.oauth_state import BINDING_COOKIE_PREFIX, binding_cookie_name
from shared.pending import PendingStore
from shared.registry import ConnectionRegistry, Status
from tests.host import Browser, callback, confirm, confirm_code, connect, connect_link, consent

REVOCABLE = ("whoop", "fitbit")  # Codoon has no revoke endpoint


def no_secret_in(sandbox: Sandbox, *bodies: bytes) -> bool:
    text = b"".join(bodies).decode(errors="replace")
    return not [s for s in sandbox.issued_secrets() if s in text]


def pending_rows(ctx: AppContext) -> list[Any]:
    return list(ctx.pending.table.list_entities())


# -- item 7: the attack as it happens --------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", ["whoop", "fitbit", "codoon"])
def test_a_link_sent_to_someone_else_and_consented_in_their_browser_never_binds_their_account_to_the_sender(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, vendor: str
) -> None:
    link = connect_link(vendor, "mallory")  # the sender asks for a link for himself and mails it
    victims_browser = Browser()
    params = consent(link, "victim", victims_browser)  # the victim opens it and consents to her own account
    landing = callback(vendor, params)
    code = confirm_code(landing)
    assert landing.status_code == 200 and code is not None
    assert ctx.registry.get(vendor, "mallory") is None, "nothing is bound before the product confirms"

    # the product, from the victim's session, confirms with the user id it sees there
    answer = confirm(code, "victim")
    assert answer.status_code == 403 and "another user" in json.loads(answer.get_body())["error"]
    assert ctx.registry.get(vendor, "mallory") is None and ctx.registry.get(vendor, "victim") is None
    assert ctx.registry.user_for_vendor_user(vendor, sandbox.vendor_user_id(vendor, "victim")) is None
    assert pending_rows(ctx) == [], "the pending connection is discarded"
    assert sandbox.revoked(vendor, "victim") is (vendor in REVOCABLE), "and its grant revoked"
    assert confirm(code, "mallory").status_code == 404, "a discarded code cannot be confirmed by the sender"


def test_a_callback_url_replayed_in_another_browser_is_refused_and_the_state_is_not_spent(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    attackers_browser = Browser()
    params = consent(connect_link("whoop", "victim"), "mallory", attackers_browser)
    exchanges = len(sandbox.token_requests("whoop"))
    # a browser with no cookie of ours, and a request with no cookie at all
    for response in (callback("whoop", params, Browser()), callback_request("whoop", dict(params))):
        assert response.status_code == 400 and b"not opened in the browser" in response.get_body()
        assert b"<script" not in response.get_body()
    forged = Browser()
    forged.cookies[binding_cookie_name(params["state"])] = "x" * 43  # a cookie of the right name, wrong value
    assert callback("whoop", params, forged).status_code == 400
    assert len(sandbox.token_requests("whoop")) == exchanges, "no refused callback reaches the vendor"
    assert ctx.registry.get("whoop", "victim") is None and pending_rows(ctx) == []
    assert callback("whoop", params, attackers_browser).status_code == 200, "the state was not spent"


def test_the_start_route_sets_a_host_only_secure_httponly_lax_cookie_and_the_callback_clears_it(
    app_env: dict[str, str], sandbox: Sandbox
) -> None:
    browser = Browser()
    link = connect_link("fitbit", "cookie-user")
    opened = browser.open(link)
    assert opened.status_code == 302 and opened.headers["Location"].startswith(sandbox.base_url)
    name, _, rest = opened.headers["Set-Cookie"].partition("=")
    attributes = [a.strip() for a in rest.split(";")[1:]]
    assert name.startswith(BINDING_COOKIE_PREFIX) and "Path=/" in attributes
    assert {"Secure", "HttpOnly", "SameSite=Lax"} <= set(attributes)
    max_age = int(next(a for a in attributes if a.startswith("Max-Age="))[8:])
    assert 800 < max_age <= 900, "as long as the state lives"
    assert not [a for a in attributes if a.lower().startswith("domain")]
    response = callback("fitbit", consent(link, "cookie-user", browser))
    assert response.status_code == 200 and browser.cookies == {}, "the callback clears the cookie"


def test_a_start_link_that_is_unknown_used_or_malformed_gets_a_clear_page(app_env: dict[str, str]) -> None:
    browser = Browser()
    unknown = browser.open("http://localhost:7071/api/connect/whoop/start?state=" + "s" * 43)
    assert unknown.status_code == 400 and b"not valid" in unknown.get_body()
    malformed = browser.open("http://localhost:7071/api/connect/whoop/start?state=%3Cscript%3E")
    assert malformed.status_code == 400 and b"<script" not in malformed.get_body()
    link = connect_link("whoop", "twice")
    assert callback("whoop", consent(link, "twice", browser)).status_code == 200
    assert browser.open(link).status_code == 400, "a used link does not start again"
    assert browser.cookies == {}


def test_the_state_stays_single_use_under_8_concurrent_callbacks(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    params = consent(connect_link("whoop", "racer"), "racer")
    get_context()  # built once, before the threads
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def attempt() -> None:
        browser = Browser()
        assert params.browser is not None
        browser.cookies = dict(params.browser.cookies)
        barrier.wait()
        statuses.append(callback("whoop", params, browser).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 7
    exchanges = [r for r in sandbox.token_requests("whoop") if r.form.get("grant_type") == "authorization_code"]
    assert len(exchanges) == 1 and len(pending_rows(ctx)) == 1


def test_a_code_confirmed_too_late_is_discarded_and_revoked(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    code = confirm_code(callback("fitbit", consent(connect_link("fitbit", "slow"), "slow")))
    assert code is not None
    (row,) = pending_rows(ctx)
    ctx.pending.table.update_entity({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "expires_at": 1.0})
    answer = confirm(code, "slow")
    assert answer.status_code == 410 and "expired" in json.loads(answer.get_body())["error"]
    assert ctx.registry.get("fitbit", "slow") is None and pending_rows(ctx) == []
    assert sandbox.revoked("fitbit", "slow")


def test_the_sweep_discards_and_revokes_every_pending_connection_not_confirmed_in_time(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    for user in ("late-1", "late-2", "on-time"):
        assert confirm_code(callback("whoop", consent(connect_link("whoop", user), user))) is not None
    for row in pending_rows(ctx):
        if row["user_id"] != "on-time":
            ctx.pending.table.update_entity(
                {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "expires_at": 1.0}
            )
    assert get_context().connect.expire_pending() == 2
    assert [row["user_id"] for row in pending_rows(ctx)] == ["on-time"]
    assert sandbox.revoked("whoop", "late-1") and sandbox.revoked("whoop", "late-2")
    assert not sandbox.revoked("whoop", "on-time")
    assert get_context().connect.expire_pending() == 0


def test_confirm_refuses_malformed_and_unknown_codes_and_bad_user_ids(app_env: dict[str, str]) -> None:
    from tests.host import call

    for body, status in (
        ({"code": "short", "user_id": "u"}, 400),
        ({"code": "c" * 43 + "\n", "user_id": "u"}, 400),
        ({"user_id": "u"}, 400),
        ({"code": "c" * 43, "user_id": "u\n"}, 400),
        ({"code": "c" * 43, "user_id": "u"}, 404),
    ):
        response = call("connect_confirm", "POST", "connections/confirm", body=body)
        assert response.status_code == status, body


# -- a vendor account already connected to another user --------------------------------------------------------
def test_an_account_connected_to_another_user_is_not_moved_and_the_page_says_so(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox
) -> None:
    assert connect("whoop", "owner", sandbox_user="shared-account").status_code == 200
    response = callback("whoop", consent(connect_link("whoop", "newcomer"), "shared-account"))
    assert response.status_code == 409 and b"already connected to another user" in response.get_body()
    assert ctx.registry.get("whoop", "newcomer") is None and pending_rows(ctx) == []
    owner = ctx.registry.get("whoop", "owner")
    assert owner is not None and owner.status is Status.ACTIVE
    assert ctx.registry.user_for_vendor_user("whoop", owner.vendor_user_id) == "owner"
    assert not sandbox.revoked("whoop", "shared-account"), "revoking would end the owner's connection too"


def test_with_account_moves_allowed_the_account_moves_and_the_first_connection_ends(
    app_env: dict[str, str], ctx: AppContext, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_ACCOUNT_MOVE", "true")
    app_context.reset_context()
    assert connect("fitbit", "first", sandbox_user="moving-account").status_code == 200
    assert connect("fitbit", "second", sandbox_user="moving-account").status_code == 200
    first, second = ctx.registry.get("fitbit", "first"), ctx.registry.get("fitbit", "second")
    assert first is not None and first.status is Status.DISCONNECTED and "another user" in first.last_error
    assert second is not None and second.status is Status.ACTIVE
    assert ctx.registry.user_for_vendor_user("fitbit", second.vendor_user_id) == "second"
    assert ctx.vault.read("fitbit", "first") is None


# -- item 8: storage failures after the code exchange ---------------------------------------------------------
def dead_tables(connection_string: str) -> TableServiceClient:
    """Table storage that does not answer (a closed port), without the SDK's retries."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if p)
    parts["TableEndpoint"] = "http://127.0.0.1:1/devstoreaccount1"
    dead = ";".join(f"{k}={v}" for k, v in parts.items())
    return TableServiceClient.from_connection_string(dead, retry_total=0, connection_timeout=2)


@pytest.fixture
def live(app_env: dict[str, str]) -> Iterator[AppContext]:
    """The process-wide context the handlers use; the test may swap one of its stores for a dead one."""
    yield get_context()
    app_context.reset_context()


def test_table_storage_failing_after_the_exchange_answers_503_start_again_and_withdraws_the_grant(
    app_env: dict[str, str], live: AppContext, sandbox: Sandbox
) -> None:
    params = consent(connect_link("fitbit", "table-down"), "table-down")
    live.__dict__["pending"] = PendingStore(dead_tables(app_env["AzureWebJobsStorage"]), live.vault)
    live.__dict__.pop("connect", None)
    response = callback("fitbit", params)
    assert response.status_code == 503
    assert b"start again with a new link" in response.get_body() and no_secret_in(sandbox, response.get_body())
    assert sandbox.revoked("fitbit", "table-down"), "no live grant is left that nobody holds"
    assert live.registry.get("fitbit", "table-down") is None


@pytest.mark.parametrize("vendor", REVOCABLE)
def test_with_confirmation_off_a_registry_failure_after_the_vault_write_leaves_no_orphaned_pair(
    app_env: dict[str, str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, vendor: str
) -> None:
    monkeypatch.setenv("CONNECT_CONFIRMATION", "false")
    app_context.reset_context()
    live = get_context()
    params = consent(connect_link(vendor, "half-stored"), "half-stored")
    live.__dict__["registry"] = ConnectionRegistry(dead_tables(app_env["AzureWebJobsStorage"]))
    live.__dict__.pop("connect", None)
    response = callback(vendor, params)
    assert response.status_code == 503 and b"start again with a new link" in response.get_body()
    assert live.vault.read(vendor, "half-stored") is None, "the pair without its registry row is disabled"
    assert sandbox.revoked(vendor, "half-stored")
    app_context.reset_context()
    assert connect(vendor, "half-stored").status_code == 200, "a new link works"


def test_a_confirmation_that_meets_a_storage_failure_keeps_the_pending_connection_for_a_retry(
    app_env: dict[str, str], live: AppContext, sandbox: Sandbox
) -> None:
    code = confirm_code(callback("whoop", consent(connect_link("whoop", "retry"), "retry")))
    assert code is not None
    registry = live.registry
    live.__dict__["registry"] = ConnectionRegistry(dead_tables(app_env["AzureWebJobsStorage"]))
    live.__dict__.pop("connect", None)
    answer = confirm(code, "retry")
    assert answer.status_code == 503 and "confirm again" in json.loads(answer.get_body())["error"]
    assert len(pending_rows(live)) == 1 and not sandbox.revoked("whoop", "retry")
    live.__dict__["registry"] = registry
    live.__dict__.pop("connect", None)
    again = confirm(code, "retry")
    assert again.status_code == 200 and json.loads(again.get_body())["status"] == "active"
    stored = live.vault.read("whoop", "retry")
    assert stored is not None and sandbox.check_bearer("whoop", f"Bearer {stored.pair.access_token}") == "retry"
    assert pending_rows(live) == []
