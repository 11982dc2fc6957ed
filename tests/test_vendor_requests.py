"""Each vendor's token requests are exactly what that vendor documents, responses parse with their quirks,
and failures are classified without ever carrying the vendor's message (Fitbit echoes the token)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest
import requests
import responses

from shared.oauth_client import TokenEndpoint
from shared.settings import load_settings
from shared.tokens import TokenPair
from shared.vendors import FailureKind, VendorError, spec_for
from tests.conftest import KNOWN_SECRETS

SECRET = "client-secret-9c1f0e7d2b"
OLD_REFRESH = "old-refresh-token-5d8e2a"
NEW_ACCESS = "new-access-token-77ab01"
NEW_REFRESH = "new-refresh-token-c3d4e5"
KNOWN_SECRETS.update({SECRET, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH})

ENV = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "LOCAL_SECRETS_DIR": "/tmp/x",
    **{f"{v}_CLIENT_ID": f"{v.lower()}-client" for v in ("WHOOP", "FITBIT", "CODOON")},
    **{f"{v}_CLIENT_SECRET": SECRET for v in ("WHOOP", "FITBIT", "CODOON")},
}
SETTINGS = load_settings(ENV)
OLD = TokenPair("old-access", OLD_REFRESH, expires_at=0, scope=("user", "sports"), vendor_user_id="previous-id")


def endpoint(vendor: str) -> TokenEndpoint:
    return TokenEndpoint(spec_for(vendor), SETTINGS.vendor(vendor), requests.Session(), timeout=5)


def sent(call: responses.Call) -> tuple[dict[str, str], str | None]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    form = {k: v[0] for k, v in parse_qs(text).items()}
    return form, call.request.headers.get("Authorization")


def basic(client_id: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()


def test_http_basic_client_authentication_form_urlencodes_id_and_secret_before_base64() -> None:
    """RFC 6749 §2.3.1: a secret with '+', '/', '=', '%' or ':' is sent encoded, not raw."""
    from shared.vendors.base import basic_authorization

    header = basic_authorization("app:1", "a+b/c=d%e:f g")
    assert header == "Basic " + base64.b64encode(b"app%3A1:a%2Bb%2Fc%3Dd%25e%3Af+g").decode()
    assert basic_authorization("fitbit-client", SECRET) == basic("fitbit-client")  # plain ones are unchanged


@responses.activate
def test_fitbit_refresh_uses_http_basic_and_only_the_documented_fields() -> None:
    responses.post(
        SETTINGS.vendor("fitbit").url("TOKEN_URL"),
        json={
            "access_token": NEW_ACCESS,
            "expires_in": 28800,
            "refresh_token": NEW_REFRESH,
            "scope": "sleep activity",
            "token_type": "Bearer",
            "user_id": "26FWFL",
        },
    )
    pair = endpoint("fitbit").refresh(OLD)
    form, auth = sent(responses.calls[0])
    assert form == {"grant_type": "refresh_token", "refresh_token": OLD_REFRESH}
    assert auth == basic("fitbit-client")
    assert (pair.access_token, pair.refresh_token, pair.vendor_user_id) == (NEW_ACCESS, NEW_REFRESH, "26FWFL")
    assert pair.scope == ("sleep", "activity")
    assert 28790 < pair.expires_at - pair.obtained_at <= 28800


@responses.activate
def test_whoop_refresh_sends_client_credentials_in_the_body_and_the_whole_granted_scope() -> None:
    """Never `scope=offline` alone: a server following RFC 6749 §6 would narrow the token to `offline`."""
    responses.post(
        SETTINGS.vendor("whoop").url("TOKEN_URL"),
        json={
            "access_token": NEW_ACCESS,
            "expires_in": 3600,
            "refresh_token": NEW_REFRESH,
            "scope": "offline read:sleep",
            "token_type": "bearer",
        },
    )
    pair = endpoint("whoop").refresh(OLD, ("offline", "read:sleep", "read:cycles"))
    form, auth = sent(responses.calls[0])
    assert auth is None
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "scope": "offline read:sleep read:cycles",
        "client_id": "whoop-client",
        "client_secret": SECRET,
    }
    assert pair.vendor_user_id == "previous-id"  # WHOOP's token response has no user id: keep ours
    assert pair.expires_at - pair.obtained_at == pytest.approx(3600, abs=1)


@responses.activate
def test_codoon_refresh_uses_basic_auth_client_id_scope_and_reads_expire_in() -> None:
    responses.post(
        SETTINGS.vendor("codoon").url("TOKEN_URL"),
        json={
            "user_id": "0b0e4c9e-1b2a-4c1d-9f00-2a6f1e0c9d11",
            "access_token": NEW_ACCESS,
            "token_type": "bearer",
            "scope": "user sports",
            "expire_in": 93312000,
            "refresh_token": NEW_REFRESH,
        },
    )
    pair = endpoint("codoon").refresh(OLD)
    form, auth = sent(responses.calls[0])
    assert auth == basic("codoon-client")
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": OLD_REFRESH,
        "scope": "user,sports",
        "client_id": "codoon-client",
    }
    assert pair.vendor_user_id == "0b0e4c9e-1b2a-4c1d-9f00-2a6f1e0c9d11"
    assert pair.expires_at - pair.obtained_at == pytest.approx(93312000, abs=1)


@responses.activate
def test_code_exchange_sends_redirect_uri_and_pkce_verifier() -> None:
    responses.post(
        SETTINGS.vendor("fitbit").url("TOKEN_URL"),
        json={
            "access_token": NEW_ACCESS,
            "expires_in": 28800,
            "refresh_token": NEW_REFRESH,
            "scope": "sleep",
            "token_type": "Bearer",
            "user_id": "26FWFL",
        },
    )
    endpoint("fitbit").exchange_code("the-code", "https://app.example/api/callback/fitbit", "v" * 64)
    form, auth = sent(responses.calls[0])
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://app.example/api/callback/fitbit",
        "code_verifier": "v" * 64,
    }
    assert auth == basic("fitbit-client")


FITBIT_INVALID_GRANT = {
    "errors": [
        {
            "errorType": "invalid_grant",
            "message": f"Refresh token invalid: {OLD_REFRESH}. Visit "
            "https://dev.fitbit.com/docs/oauth2 for more information.",
        }
    ],
    "success": False,
}


@pytest.mark.parametrize(
    ("vendor", "status", "body", "headers", "kind", "code"),
    [
        ("fitbit", 400, FITBIT_INVALID_GRANT, {}, FailureKind.GRANT_REJECTED, "invalid_grant"),
        (
            "fitbit",
            401,
            {"errors": [{"errorType": "invalid_client", "message": "x"}], "success": False},
            {},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_client",
        ),
        (
            "fitbit",
            429,
            {"errors": [{"errorType": "system", "message": "Too Many Requests"}]},
            {"Fitbit-Rate-Limit-Reset": "120"},
            FailureKind.TRANSIENT,
            "http_429",
        ),
        ("fitbit", 410, {"errors": [{"errorType": "gone"}]}, {}, FailureKind.VENDOR_RETIRED, "gone"),
        (
            "whoop",
            400,
            {"error": "invalid_grant", "error_description": f"token {OLD_REFRESH} revoked"},
            {},
            FailureKind.GRANT_REJECTED,
            "invalid_grant",
        ),
        (
            "whoop",
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            {},
            FailureKind.CLIENT_MISCONFIGURED,
            "invalid_client",
        ),
        ("whoop", 503, "<html>upstream</html>", {"Retry-After": "7"}, FailureKind.TRANSIENT, "http_503"),
        ("whoop", 400, "<html>proxy</html>", {}, FailureKind.TRANSIENT, "unrecognised_400"),
        ("codoon", 400, {"error_code": 1002, "error": "invalid refresh_token"}, {}, FailureKind.GRANT_REJECTED, "1002"),
        ("codoon", 401, {"error_code": 1001, "error": "invalid client"}, {}, FailureKind.CLIENT_MISCONFIGURED, "1001"),
        ("codoon", 400, {"error_code": 2003, "error": "bad client_id"}, {}, FailureKind.CLIENT_MISCONFIGURED, "2003"),
        ("codoon", 400, {"error_code": 2001, "error": "bad parameter"}, {}, FailureKind.CLIENT_MISCONFIGURED, "2001"),
        ("codoon", 400, {"error_code": 2004, "error": "access denied"}, {}, FailureKind.GRANT_REJECTED, "2004"),
        ("codoon", 500, {"error": "internal"}, {}, FailureKind.TRANSIENT, "http_500"),
        ("codoon", 429, {"error": "rate limit"}, {}, FailureKind.TRANSIENT, "http_429"),
    ],
)
@responses.activate
def test_failures_are_classified_per_vendor_without_the_vendor_message(
    vendor: str, status: int, body: object, headers: dict[str, str], kind: FailureKind, code: str
) -> None:
    url = SETTINGS.vendor(vendor).url("TOKEN_URL")
    if isinstance(body, str):
        responses.post(url, body=body, status=status, headers=headers)
    else:
        responses.post(url, json=body, status=status, headers=headers)
    with pytest.raises(VendorError) as caught:
        endpoint(vendor).refresh(OLD)
    assert (caught.value.kind, caught.value.code, caught.value.status) == (kind, code, status)
    assert OLD_REFRESH not in str(caught.value) and "revoked" not in str(caught.value)
    if "Retry-After" in headers:
        assert caught.value.retry_after == 7


@responses.activate
def test_network_failures_are_transient_and_their_outcome_unknown() -> None:
    responses.post(SETTINGS.vendor("whoop").url("TOKEN_URL"), body=requests.ConnectionError("reset"))
    with pytest.raises(VendorError) as caught:
        endpoint("whoop").refresh(OLD)
    assert caught.value.kind is FailureKind.TRANSIENT and caught.value.outcome_unknown


def test_token_pair_repr_and_json_round_trip_hide_nothing_they_should_not() -> None:
    pair = TokenPair(NEW_ACCESS, NEW_REFRESH, expires_at=1.0, scope=("a", "b"), vendor_user_id="u")
    assert NEW_ACCESS not in repr(pair) and NEW_REFRESH not in repr(pair)
    assert TokenPair.from_json(pair.to_json()) == pair
