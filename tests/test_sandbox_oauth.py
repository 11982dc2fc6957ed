"""The vendor sandbox's OAuth side: client auth, code exchange (with Fitbit PKCE), single-use refresh with
grant kill on reuse, Fitbit's identical-request replay, faults, authorize redirects, WHOOP profile, revoke."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox import Sandbox
from tests.conftest import FakeClock

VENDORS = ["fitbit", "whoop", "codoon"]
ROOT = Path(__file__).resolve().parents[1]
REDIRECT = "https://app.example/api/callback"


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        yield box


def env(sb: Sandbox, vendor: str, key: str) -> str:
    return sb.settings_env()[f"{vendor.upper()}_{key}"]


def basic(sb: Sandbox, vendor: str) -> dict[str, str]:
    client_id, secret = sb.clients[vendor]
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_call(sb: Sandbox, vendor: str, form: dict[str, str], timeout: float = 5.0) -> requests.Response:
    """POST to the token endpoint, authenticated the way the vendor documents."""
    client_id, secret = sb.clients[vendor]
    headers: dict[str, str] = {}
    if vendor == "whoop":
        form = {**form, "client_id": client_id, "client_secret": secret}
    else:
        headers = basic(sb, vendor)
        if vendor == "codoon":
            form = {"client_id": client_id, **form}
    return requests.post(env(sb, vendor, "TOKEN_URL"), data=form, headers=headers, timeout=timeout)


def refresh(sb: Sandbox, vendor: str, refresh_token: str, timeout: float = 5.0) -> requests.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if vendor == "whoop":
        form["scope"] = "offline"
    if vendor == "codoon":
        form["scope"] = "user sports"
    return token_call(sb, vendor, form, timeout)


def exchange(sb: Sandbox, vendor: str, code: str, redirect_uri: str = REDIRECT, **extra: str) -> requests.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
    return token_call(sb, vendor, form)


def error_of(vendor: str, response: requests.Response) -> str | int | None:
    """The error identifier in the vendor's own body shape (Codoon: its numeric code, None where its document
    names none)."""
    body = response.json()
    if vendor == "fitbit":
        assert body["success"] is False
        return str(body["errors"][0]["errorType"])
    if vendor == "codoon":
        return int(body["error_code"]) if "error_code" in body else None
    return str(body["error"])


INVALID_GRANT = {"fitbit": "invalid_grant", "whoop": "invalid_grant", "codoon": 1002}
INVALID_CLIENT = {"fitbit": "invalid_client", "whoop": "invalid_client", "codoon": 2003}  # Codoon: unauthorized_client


# -- settings -----------------------------------------------------------------------------------------------
def test_settings_point_the_app_at_the_sandbox(sb: Sandbox) -> None:
    base = sb.base_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    settings = {k: v for k, v in sb.settings_env().items() if k.startswith(("WHOOP_", "FITBIT_", "CODOON_"))}
    assert settings == {
        "WHOOP_CLIENT_ID": "whoop-client",
        "WHOOP_CLIENT_SECRET": sb.clients["whoop"][1],
        "WHOOP_AUTH_URL": f"{base}/whoop/oauth/oauth2/auth",
        "WHOOP_TOKEN_URL": f"{base}/whoop/oauth/oauth2/token",
        "WHOOP_API_BASE_URL": f"{base}/whoop/developer",
        "FITBIT_CLIENT_ID": "fitbit-client",
        "FITBIT_CLIENT_SECRET": sb.clients["fitbit"][1],
        "FITBIT_AUTH_URL": f"{base}/fitbit/oauth2/authorize",
        "FITBIT_TOKEN_URL": f"{base}/fitbit/oauth2/token",
        "FITBIT_REVOKE_URL": f"{base}/fitbit/oauth2/revoke",
        "FITBIT_API_BASE_URL": f"{base}/fitbit",
        "CODOON_CLIENT_ID": "codoon-client",
        "CODOON_CLIENT_SECRET": sb.clients["codoon"][1],
        "CODOON_AUTH_URL": f"{base}/codoon/authorize",
        "CODOON_TOKEN_URL": f"{base}/codoon/token",
        "CODOON_API_BASE_URL": f"{base}/codoon/api",
    }
    secrets = [secret for _, secret in sb.clients.values()]
    assert len(set(secrets)) == len(secrets) and all(len(s) > 40 for s in secrets)
    assert secrets[0] not in {secret for _, secret in Sandbox().clients.values()}


def test_vendor_user_ids_look_like_the_vendors_and_are_deterministic(sb: Sandbox) -> None:
    assert re.fullmatch(r"[0-9A-Z]{6}", sb.vendor_user_id("fitbit", "alice"))
    assert sb.vendor_user_id("whoop", "alice").isdigit()
    assert str(uuid.UUID(sb.vendor_user_id("codoon", "alice"))) == sb.vendor_user_id("codoon", "alice")
    for vendor in VENDORS:
        assert sb.vendor_user_id(vendor, "alice") == Sandbox().vendor_user_id(vendor, "alice")
        assert sb.vendor_user_id(vendor, "alice") != sb.vendor_user_id(vendor, "bob")


# -- client authentication ----------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_token_endpoint_rejects_missing_or_wrong_client_credentials(sb: Sandbox, vendor: str) -> None:
    refresh_token = str(sb.grant(vendor, "alice")["refresh_token"])
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": "offline",
        "client_id": sb.clients[vendor][0],
    }
    url = env(sb, vendor, "TOKEN_URL")
    missing = requests.post(url, data=form, timeout=5)
    wrong = requests.post(url, data={**form, "client_secret": "nope"}, timeout=5, auth=(sb.clients[vendor][0], "nope"))
    for response in (missing, wrong):
        assert response.status_code == 401
        assert error_of(vendor, response) == INVALID_CLIENT[vendor]
    assert sb.refresh_count() == 0
    assert refresh(sb, vendor, refresh_token).status_code == 200, "nothing was spent"


def test_whoop_refuses_basic_client_authentication(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("whoop", "alice")["refresh_token"])
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": "offline"}
    response = requests.post(env(sb, "whoop", "TOKEN_URL"), headers=basic(sb, "whoop"), data=form, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"].startswith("Client authentication failed")


def test_codoon_requires_client_id_in_the_body(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("codoon", "alice")["refresh_token"])
    response = requests.post(
        env(sb, "codoon", "TOKEN_URL"),
        headers=basic(sb, "codoon"),
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    assert response.status_code == 400 and response.json()["error_code"] == 2001


# -- authorization code -------------------------------------------------------------------------------------
def test_code_exchange_returns_each_vendors_token_body(sb: Sandbox) -> None:
    fitbit = exchange(sb, "fitbit", sb.issue_code("fitbit", "alice", redirect_uri=REDIRECT)).json()
    assert set(fitbit) == {"access_token", "expires_in", "refresh_token", "scope", "token_type", "user_id"}
    assert fitbit["expires_in"] == 28800 and fitbit["token_type"] == "Bearer"
    assert fitbit["user_id"] == sb.vendor_user_id("fitbit", "alice")
    assert fitbit["scope"] == "activity heartrate sleep profile weight oxygen_saturation respiratory_rate"

    whoop = exchange(
        sb, "whoop", sb.issue_code("whoop", "alice", scope="offline read:sleep", redirect_uri=REDIRECT)
    ).json()
    assert set(whoop) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert (whoop["expires_in"], whoop["scope"]) == (3600, "offline read:sleep")
    assert whoop["token_type"] == "bearer"

    codoon = exchange(sb, "codoon", sb.issue_code("codoon", "alice", redirect_uri=REDIRECT)).json()
    assert codoon == {
        **codoon,
        "user_id": sb.vendor_user_id("codoon", "alice"),
        "token_type": "bearer",
        "scope": "user sports",
        "expire_in": 93312000,
    }
    tokens = [body[key] for body in (fitbit, whoop, codoon) for key in ("access_token", "refresh_token")]
    assert len(set(tokens)) == 6 and set(tokens) <= sb.issued_secrets()
    assert sb.check_bearer("whoop", f"Bearer {whoop['access_token']}") == "alice"
    assert sb.check_bearer("fitbit", f"Bearer {whoop['access_token']}") is None


@pytest.mark.parametrize("vendor", VENDORS)
def test_codes_are_single_use_bound_to_the_redirect_uri_and_expire(sb: Sandbox, clock: FakeClock, vendor: str) -> None:
    code = sb.issue_code(vendor, "alice", redirect_uri=REDIRECT)
    assert exchange(sb, vendor, code, redirect_uri=REDIRECT + "/other").status_code == 400
    assert exchange(sb, vendor, code).status_code == 200
    again = exchange(sb, vendor, code)
    assert again.status_code == 400 and error_of(vendor, again) == INVALID_GRANT[vendor]
    late = sb.issue_code(vendor, "bob", redirect_uri=REDIRECT)
    clock.advance(601)
    assert error_of(vendor, exchange(sb, vendor, late)) == INVALID_GRANT[vendor]
    assert code in sb.issued_secrets()


def test_fitbit_pkce_verifier_must_match_the_challenge(sb: Sandbox) -> None:
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = sb.issue_code(
        "fitbit", "alice", redirect_uri=REDIRECT, code_challenge=challenge, code_challenge_method="S256"
    )
    missing = exchange(sb, "fitbit", code)
    assert missing.status_code == 400 and error_of("fitbit", missing) == "invalid_request"
    assert error_of("fitbit", exchange(sb, "fitbit", code, code_verifier="w" * 64)) == "invalid_grant"
    assert exchange(sb, "fitbit", code, code_verifier=verifier).status_code == 200


# -- refresh ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_refresh_rotates_and_reusing_a_spent_token_kills_the_grant(sb: Sandbox, vendor: str) -> None:
    first = sb.grant(vendor, "alice")
    second = refresh(sb, vendor, str(first["refresh_token"])).json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert sb.refresh_count(vendor, "alice") == 1 and sb.refresh_count() == 1
    assert sb.check_bearer(vendor, f"Bearer {second['access_token']}") == "alice"  # ends Fitbit's replay
    reuse = refresh(sb, vendor, str(first["refresh_token"]))
    assert reuse.status_code == 400 and error_of(vendor, reuse) == INVALID_GRANT[vendor]
    assert sb.grant_status(vendor, "alice") == "killed"
    assert error_of(vendor, refresh(sb, vendor, str(second["refresh_token"]))) == INVALID_GRANT[vendor]
    assert sb.check_bearer(vendor, f"Bearer {second['access_token']}") is None
    assert sb.refresh_count() == 1 and sb.replay_count() == 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_unknown_refresh_token_is_invalid_grant_and_kills_nothing(sb: Sandbox, vendor: str) -> None:
    pair = sb.grant(vendor, "alice")
    response = refresh(sb, vendor, "garbage-token-123")
    assert response.status_code == 400 and error_of(vendor, response) == INVALID_GRANT[vendor]
    assert sb.grant_status(vendor, "alice") == "active"
    assert refresh(sb, vendor, str(pair["refresh_token"])).status_code == 200


def test_fitbit_error_message_echoes_the_token_like_the_real_fitbit(sb: Sandbox) -> None:
    body = refresh(sb, "fitbit", "garbage-token-123").json()
    assert body == {
        "errors": [
            {
                "errorType": "invalid_grant",
                "message": (
                    "Refresh token invalid: garbage-token-123. Visit https://dev.fitbit.com/docs/oauth2 for more "
                    "information on the Fitbit Web API authorization process."
                ),
            }
        ],
        "success": False,
    }


def test_whoop_refresh_requires_scope_offline(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("whoop", "alice")["refresh_token"])
    response = token_call(sb, "whoop", {"grant_type": "refresh_token", "refresh_token": refresh_token})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert refresh(sb, "whoop", refresh_token).status_code == 200, "the token was not spent"
    no_offline = sb.grant("whoop", "bob", scope="read:sleep")
    assert "refresh_token" not in no_offline, "WHOOP gives a refresh token only with the offline scope"


def test_a_refresh_naming_scopes_gets_exactly_those_within_the_grant_per_rfc6749_section_6(sb: Sandbox) -> None:
    """`scope=offline` alone narrows the new access token to `offline` (its data calls answer 403); the whole
    grant keeps every scope; a scope outside the grant is `invalid_scope`; the refresh token keeps the grant."""
    sleep_url = env(sb, "whoop", "API_BASE_URL") + "/v2/activity/sleep"
    first = sb.grant("whoop", "alice")
    granted = str(first["scope"])
    narrowed = refresh(sb, "whoop", str(first["refresh_token"])).json()  # the helper sends scope=offline
    assert narrowed["scope"] == "offline"
    bearer = {"Authorization": f"Bearer {narrowed['access_token']}"}
    assert requests.get(sleep_url, headers=bearer, timeout=5).status_code == 403
    form = {"grant_type": "refresh_token", "refresh_token": str(narrowed["refresh_token"]), "scope": granted}
    whole = token_call(sb, "whoop", form).json()
    assert whole["scope"] == granted, "the narrowed refresh token still carries the whole grant"
    bearer = {"Authorization": f"Bearer {whole['access_token']}"}
    assert requests.get(sleep_url, headers=bearer, timeout=5).status_code == 200
    form = {"grant_type": "refresh_token", "refresh_token": str(whole["refresh_token"]), "scope": granted + " read:x"}
    outside = token_call(sb, "whoop", form)
    assert (outside.status_code, error_of("whoop", outside)) == (400, "invalid_scope")
    form["scope"] = granted
    assert token_call(sb, "whoop", form).status_code == 200, "a refused scope spends nothing"


def test_fitbit_identical_refresh_within_the_window_returns_the_same_pair(sb: Sandbox) -> None:
    old = str(sb.grant("fitbit", "alice")["refresh_token"])
    first = refresh(sb, "fitbit", old)
    replay = refresh(sb, "fitbit", old)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert sb.refresh_count("fitbit") == 1 and sb.replay_count("fitbit", "alice") == 1
    assert sb.check_bearer("fitbit", f"Bearer {first.json()['access_token']}") == "alice"
    used = refresh(sb, "fitbit", old)
    assert error_of("fitbit", used) == "invalid_grant" and sb.grant_status("fitbit", "alice") == "killed"


def test_fitbit_replay_ends_after_two_minutes_or_once_the_new_refresh_token_is_used(
    sb: Sandbox, clock: FakeClock
) -> None:
    old = str(sb.grant("fitbit", "alice")["refresh_token"])
    refresh(sb, "fitbit", old)
    clock.advance(121)
    assert error_of("fitbit", refresh(sb, "fitbit", old)) == "invalid_grant"
    assert sb.grant_status("fitbit", "alice") == "killed"

    old = str(sb.grant("fitbit", "bob")["refresh_token"])
    new = str(refresh(sb, "fitbit", old).json()["refresh_token"])
    assert refresh(sb, "fitbit", new).status_code == 200
    assert error_of("fitbit", refresh(sb, "fitbit", old)) == "invalid_grant"
    assert sb.grant_status("fitbit", "bob") == "killed" and sb.replay_count() == 0


# -- faults -------------------------------------------------------------------------------------------------
SERVER_ERRORS: dict[tuple[str, str], str | None] = {
    ("fitbit", "error_500"): "system",
    ("fitbit", "error_503"): "system",
    ("whoop", "error_500"): "server_error",
    ("whoop", "error_503"): "temporarily_unavailable",
    ("codoon", "error_500"): None,  # Codoon's document has no code for a server error: the status says it
    ("codoon", "error_503"): None,
}


@pytest.mark.parametrize(("vendor", "kind"), list(SERVER_ERRORS))
def test_server_error_faults_use_the_vendor_body_and_are_consumed_in_order(sb: Sandbox, vendor: str, kind: str) -> None:
    refresh_token = str(sb.grant(vendor, "alice")["refresh_token"])
    sb.inject(vendor, kind, times=2)
    for _ in range(2):
        response = refresh(sb, vendor, refresh_token)
        assert response.status_code == int(kind[-3:])
        assert error_of(vendor, response) == SERVER_ERRORS[(vendor, kind)]
    assert refresh(sb, vendor, refresh_token).status_code == 200, "faulted requests had no effect"


def test_rate_limited_faults_carry_the_vendor_headers(sb: Sandbox) -> None:
    sb.inject("whoop", "rate_limited", retry_after=7)
    sb.inject("fitbit", "rate_limited")
    sb.inject("codoon", "rate_limited")
    whoop = refresh(sb, "whoop", "x")
    assert whoop.status_code == 429 and whoop.headers["Retry-After"] == "7"
    assert whoop.headers["X-RateLimit-Limit"] == "100, 100;window=60, 10000;window=86400"
    assert whoop.headers["X-RateLimit-Remaining"] == "0" and whoop.headers["X-RateLimit-Reset"] == "7"
    fitbit = refresh(sb, "fitbit", "x")
    assert fitbit.status_code == 429 and fitbit.headers["Retry-After"] == "1"
    names = {"Fitbit-Rate-Limit-Limit", "Fitbit-Rate-Limit-Remaining", "Fitbit-Rate-Limit-Reset"}
    assert names <= set(fitbit.headers) and fitbit.headers["Fitbit-Rate-Limit-Remaining"] == "0"
    codoon = refresh(sb, "codoon", "x")
    assert codoon.status_code == 429 and "error_code" not in codoon.json()


def test_timeout_fault_stalls_one_request_without_blocking_others_or_spending_the_token(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("whoop", "alice")["refresh_token"])
    sb.inject("whoop", "timeout", seconds=0.4)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        refresh(sb, "whoop", refresh_token, timeout=0.1)
    assert refresh(sb, "whoop", refresh_token).status_code == 200, "served while the first one stalls"
    assert time.monotonic() - started < 0.35
    assert sb.refresh_count() == 1


def test_timeout_fault_can_take_effect_after_the_client_gave_up(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("whoop", "alice")["refresh_token"])
    sb.inject("whoop", "timeout", seconds=0.2, takes_effect=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        refresh(sb, "whoop", refresh_token, timeout=0.05)
    deadline = time.monotonic() + 2
    while sb.refresh_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sb.refresh_count("whoop", "alice") == 1


@pytest.mark.parametrize("vendor", ["fitbit", "whoop"])
def test_lost_response_spends_the_token_and_only_fitbit_forgives_the_retry(sb: Sandbox, vendor: str) -> None:
    refresh_token = str(sb.grant(vendor, "alice")["refresh_token"])
    sb.inject(vendor, "lost_response")
    with pytest.raises(requests.exceptions.ConnectionError):
        refresh(sb, vendor, refresh_token)
    assert sb.refresh_count(vendor, "alice") == 1
    assert sb.token_requests(vendor)[-1].status is None
    retry = refresh(sb, vendor, refresh_token)
    if vendor == "fitbit":
        assert retry.status_code == 200 and sb.replay_count("fitbit", "alice") == 1
    else:
        assert retry.status_code == 400 and sb.grant_status(vendor, "alice") == "killed"


def test_inject_validates_its_arguments(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="fault kind"):
        sb.inject("whoop", "explode")
    with pytest.raises(ValueError, match="endpoint"):
        sb.inject("codoon", "error_500", endpoint="revoke")
    with pytest.raises(ValueError, match="vendor"):
        sb.inject("no-such-vendor", "error_500")


def test_latency_is_per_vendor(sb: Sandbox) -> None:
    sb.set_latency("whoop", 0.15)
    started = time.monotonic()
    refresh(sb, "fitbit", "x")
    assert time.monotonic() - started < 0.15
    refresh(sb, "whoop", "x")
    assert time.monotonic() - started >= 0.15


# -- recording, keep-alive ----------------------------------------------------------------------------------
def test_token_requests_are_recorded_and_keep_alive_survives_errors(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("fitbit", "alice")["refresh_token"])
    with requests.Session() as session:
        url = env(sb, "fitbit", "TOKEN_URL")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        assert session.post(url, data=form, timeout=5).status_code == 401
        assert session.post(url, data=form, headers=basic(sb, "fitbit"), timeout=5).status_code == 200
    first, second = sb.token_requests("fitbit")
    assert (first.method, first.path) == ("POST", "/fitbit/oauth2/token")
    assert (first.status, second.status) == (401, 200)
    assert second.form == form
    assert second.body == f"grant_type=refresh_token&refresh_token={refresh_token}".encode()
    assert second.headers["Authorization"].startswith("Basic ")
    assert sb.token_requests("whoop") == []


def test_reset_forgets_state_but_keeps_credentials_and_known_secrets(sb: Sandbox) -> None:
    pair = sb.grant("whoop", "alice")
    sb.inject("whoop", "error_500")
    sb.set_latency(None, 0.5)
    settings = sb.settings_env()
    sb.reset()
    assert refresh(sb, "whoop", str(pair["refresh_token"])).status_code == 400  # no fault, no latency
    assert sb.settings_env() == settings and pair["access_token"] in sb.issued_secrets()
    assert sb.grant_status("whoop", "alice") is None and len(sb.token_requests()) == 1


# -- authorize ----------------------------------------------------------------------------------------------
def authorize(sb: Sandbox, vendor: str, **params: str) -> requests.Response:
    query = {
        "client_id": sb.clients[vendor][0],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "state-123456",
        **params,
    }
    return requests.get(env(sb, vendor, "AUTH_URL"), params=query, allow_redirects=False, timeout=5)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


@pytest.mark.parametrize(
    ("vendor", "scope", "granted"),
    [
        ("whoop", "offline read:recovery", "offline read:recovery"),
        ("codoon", "user,sports", "user sports"),
        ("fitbit", "sleep heartrate", "sleep heartrate"),
    ],
)
def test_authorize_consents_with_a_code_for_the_user(sb: Sandbox, vendor: str, scope: str, granted: str) -> None:
    params = redirect_params(authorize(sb, vendor, scope=scope, sandbox_user="zoe"))
    assert params["state"] == "state-123456"
    body = exchange(sb, vendor, params["code"]).json()
    assert body["scope"] == granted
    assert sb.check_bearer(vendor, f"Bearer {body['access_token']}") == "zoe"


def test_authorize_with_fitbit_pkce_and_a_partial_grant(sb: Sandbox) -> None:
    verifier = "x" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = redirect_params(
        authorize(
            sb,
            "fitbit",
            scope="sleep heartrate",
            code_challenge=challenge,
            code_challenge_method="S256",
            sandbox_grant_scope="sleep",
        )
    )
    assert exchange(sb, "fitbit", params["code"]).status_code == 400
    body = exchange(sb, "fitbit", params["code"], code_verifier=verifier).json()
    assert body["scope"] == "sleep" and body["user_id"] == sb.vendor_user_id("fitbit", "sandbox-user")


def test_authorize_deny_unknown_client_and_short_whoop_state(sb: Sandbox) -> None:
    sb.authorize_mode["codoon"] = "deny"
    assert redirect_params(authorize(sb, "codoon")) == {"error": "access_denied", "state": "state-123456"}
    assert authorize(sb, "fitbit", client_id="someone-else").status_code == 400
    assert redirect_params(authorize(sb, "whoop", state="short"))["error"] == "invalid_state"


# -- WHOOP profile, revoke ----------------------------------------------------------------------------------
def test_whoop_profile_needs_a_valid_unexpired_token(sb: Sandbox) -> None:
    url = env(sb, "whoop", "API_BASE_URL") + "/v2/user/profile/basic"
    token = sb.grant("whoop", "alice")["access_token"]
    profile = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    assert profile["user_id"] == int(sb.vendor_user_id("whoop", "alice"))
    assert {"email", "first_name", "last_name"} <= set(profile)
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    sb.expire_access_tokens("whoop", "alice")
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 401


def test_access_token_ttl_is_configurable_and_expiry_is_enforced(sb: Sandbox, clock: FakeClock) -> None:
    sb.access_token_ttl["fitbit"] = 60
    pair = sb.grant("fitbit", "alice")
    assert pair["expires_in"] == 60
    clock.advance(60)
    assert sb.check_bearer("fitbit", f"Bearer {pair['access_token']}") is None


def test_fitbit_revoke_endpoint_kills_the_grant(sb: Sandbox) -> None:
    pair = sb.grant("fitbit", "alice")
    url = env(sb, "fitbit", "REVOKE_URL")
    assert requests.post(url, data={"token": pair["refresh_token"]}, timeout=5).status_code == 401
    response = requests.post(url, data={"token": pair["refresh_token"]}, headers=basic(sb, "fitbit"), timeout=5)
    assert (response.status_code, response.json()) == (200, {})
    assert sb.revoked("fitbit", "alice")
    assert sb.check_bearer("fitbit", f"Bearer {pair['access_token']}") is None
    assert error_of("fitbit", refresh(sb, "fitbit", str(pair["refresh_token"]))) == "invalid_grant"


def test_whoop_delete_user_access_revokes(sb: Sandbox) -> None:
    pair = sb.grant("whoop", "alice")
    url = env(sb, "whoop", "API_BASE_URL") + "/v2/user/access"
    response = requests.delete(url, headers={"Authorization": f"Bearer {pair['access_token']}"}, timeout=5)
    assert response.status_code == 204 and sb.revoked("whoop", "alice")
    assert error_of("whoop", refresh(sb, "whoop", str(pair["refresh_token"]))) == "invalid_grant"


@pytest.mark.parametrize("vendor", VENDORS)
def test_revoke_grant_by_the_user(sb: Sandbox, vendor: str) -> None:
    pair = sb.grant(vendor, "alice")
    sb.revoke_grant(vendor, "alice")
    assert sb.revoked(vendor, "alice")
    assert error_of(vendor, refresh(sb, vendor, str(pair["refresh_token"]))) == INVALID_GRANT[vendor]
    sb.grant(vendor, "alice")
    assert not sb.revoked(vendor, "alice")


# -- concurrency, standalone --------------------------------------------------------------------------------
def test_concurrent_refreshes_of_one_token_rotate_exactly_once(sb: Sandbox) -> None:
    refresh_token = str(sb.grant("whoop", "alice")["refresh_token"])
    results: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        status = refresh(sb, "whoop", refresh_token).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [400] * 7 and sb.refresh_count() == 1


def test_python_dash_m_sandbox_prints_the_settings() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0"],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        stdout = process.stdout
        assert stdout is not None
        base = stdout.readline().strip()
        lines = list(iter(lambda: stdout.readline().strip(), "Serving; press Ctrl-C to stop."))[:200]
        settings = dict(line.split("=", 1) for line in lines if "=" in line)
        assert settings["WHOOP_TOKEN_URL"] == f"{base}/whoop/oauth/oauth2/token"
        assert requests.post(settings["CODOON_TOKEN_URL"], timeout=5).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0
