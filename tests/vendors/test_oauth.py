"""Every registered vendor's OAuth side against its twin and its facts: the exact token requests (client
authentication, the fields of a code exchange and of a refresh, PKCE), the error classification table, and
revocation on disconnect. Nothing here names a vendor: the facts table (``tests/vendors/facts/<name>.py``) says
what each one documents."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest
import requests
import responses

from sandbox import Sandbox
from sandbox.core import RecordedRequest
from shared import app_context
from shared.app_context import get_context
from shared.oauth_client import TokenEndpoint
from shared.settings import load_settings
from shared.token_service import Outcome
from shared.tokens import TokenPair
from shared.vendors import FailureKind, VendorError, spec_for
from shared.vendors.registry import vendor_for
from tests.conftest import KNOWN_SECRETS
from tests.host import call
from tests.vendors.facts import ErrorRow
from tests.vendors.kit import VENDORS, connect_user, facts, facts_or_none, grants, header, vendor_params

CLIENT_ID = "kit:client+id/1"  # RFC 6749 §2.3.1: an id and a secret are form-urlencoded before Basic encoding
CLIENT_SECRET = f"kit s3cret+/=%:{secrets.token_urlsafe(12)}"
KNOWN_SECRETS.add(CLIENT_SECRET)
REDIRECT_URI = "http://localhost:7071/api/callback/{vendor}"  # PUBLIC_BASE_URL's default


@pytest.mark.parametrize("vendor", vendor_params())
def test_every_registered_vendor_has_facts(vendor: str) -> None:
    found = facts(vendor)
    assert found.errors, f"{vendor}'s facts list no token-endpoint errors"
    assert found.source, f"{vendor}'s facts do not say where they come from"


# -- the exact token requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """A connect flow and a forced refresh of one vendor, with credentials that need RFC 6749 encoding."""

    vendor: str
    code: str
    authorize: RecordedRequest
    exchange: RecordedRequest
    refresh: RecordedRequest
    refreshed_token: str  # the refresh token the stored pair held before the refresh


@pytest.fixture
def flow(vendor: str, app_env: dict[str, str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    monkeypatch.setitem(sandbox.clients, vendor, (CLIENT_ID, CLIENT_SECRET))
    prefix = vendor_for(vendor).prefix
    monkeypatch.setenv(f"{prefix}_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv(f"{prefix}_CLIENT_SECRET", CLIENT_SECRET)
    app_context.reset_context()
    user = "kit-oauth"
    connected = connect_user(vendor, user)
    context = get_context()
    stored = context.vault.read(vendor, user)
    assert stored is not None
    result = context.tokens.rotate(vendor, user, force=True)
    assert result.outcome is Outcome.ROTATED, result.detail
    token_requests = sandbox.token_requests(vendor)
    assert [r.status for r in token_requests] == [200, 200], "the twin refused a token request"
    (authorize,) = sandbox.requests(vendor, "authorize")
    yield Flow(
        vendor,
        connected.callback["code"],
        authorize,
        next(grants(token_requests, "authorization_code")),
        next(grants(token_requests, "refresh_token")),
        stored.pair.refresh_token,
    )
    app_context.reset_context()


def granted_scope(flow: Flow) -> list[str]:
    return flow.authorize.query["scope"].split(facts(flow.vendor).scope_separator)


def check_fields(flow: Flow, request: RecordedRequest, documented: frozenset[str], known: dict[str, str]) -> None:
    expected = {**known, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **facts(flow.vendor).fixed_values}
    assert set(request.form) == documented, f"{request.form.get('grant_type')} sends other fields than documented"
    for name in documented:
        assert name in expected, f"facts name field {name!r}: give its value in fixed_values"
        assert request.form[name] == expected[name], f"field {name!r}"


@pytest.mark.parametrize("vendor", vendor_params())
def test_a_code_exchange_sends_exactly_the_documented_fields(flow: Flow) -> None:
    known = {
        "grant_type": "authorization_code",
        "code": flow.code,
        "redirect_uri": REDIRECT_URI.format(vendor=flow.vendor),
        "code_verifier": flow.exchange.form.get("code_verifier", ""),  # checked against the challenge below
    }
    check_fields(flow, flow.exchange, facts(flow.vendor).exchange_fields, known)


@pytest.mark.parametrize("vendor", vendor_params())
def test_a_refresh_sends_exactly_the_documented_fields_and_the_whole_granted_scope(flow: Flow) -> None:
    documented = facts(flow.vendor).refresh_fields
    sent_scope = flow.refresh.form.get("scope", "")
    known = {"grant_type": "refresh_token", "refresh_token": flow.refreshed_token, "scope": sent_scope}
    check_fields(flow, flow.refresh, documented, known)
    if "scope" in documented:  # never a part of the grant: RFC 6749 §6 narrows the new token to what is named
        separator = facts(flow.vendor).scope_separator
        assert sorted(sent_scope.split(separator)) == sorted(granted_scope(flow))


@pytest.mark.parametrize("vendor", vendor_params())
def test_the_client_authenticates_as_documented(flow: Flow) -> None:
    for request in (flow.exchange, flow.refresh):
        authorization = header(request, "Authorization")
        if facts(flow.vendor).client_auth == "body":
            assert authorization is None
            assert (request.form.get("client_id"), request.form.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)
            continue
        assert authorization is not None and authorization.startswith("Basic ")
        decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        assert decoded == f"{quote_plus(CLIENT_ID, safe='')}:{quote_plus(CLIENT_SECRET, safe='')}"
        assert "client_secret" not in request.form


@pytest.mark.parametrize("vendor", vendor_params())
def test_pkce_s256_exactly_where_the_vendor_documents_it(flow: Flow) -> None:
    query, form = flow.authorize.query, flow.exchange.form
    if not facts(flow.vendor).pkce:
        assert "code_challenge" not in query and "code_verifier" not in form
        return
    assert query.get("code_challenge_method") == "S256"
    verifier = form["code_verifier"]
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == digest


# -- the error classification table ---------------------------------------------------------------------------------

SECRET = "kit-client-secret-4b7e1a"
OLD_REFRESH = "kit-old-refresh-token-9e2c"
KNOWN_SECRETS.update({SECRET, OLD_REFRESH})
OLD = TokenPair("kit-old-access-0d1f", OLD_REFRESH, expires_at=0, scope=("a", "b"), vendor_user_id="someone")
SETTINGS = load_settings(
    {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "LOCAL_SECRETS_DIR": "/tmp/wearsync-kit",
        **{f"{vendor_for(v).prefix}_CLIENT_ID": f"{v}-client" for v in VENDORS},
        **{f"{vendor_for(v).prefix}_CLIENT_SECRET": SECRET for v in VENDORS},
    }
)


def error_rows() -> list[object]:
    rows: list[object] = []
    for vendor in VENDORS:
        found = facts_or_none(vendor)
        if found is None:  # fails below, with the reason
            rows.append(pytest.param(vendor, None, id=f"{vendor}-no-facts"))
            continue
        rows += [pytest.param(vendor, row, id=f"{vendor}-{row.id}") for row in found.errors]
    return rows


@pytest.mark.parametrize(("vendor", "row"), error_rows())
@responses.activate
def test_a_token_endpoint_answer_is_classified_as_the_facts_say(vendor: str, row: ErrorRow | None) -> None:
    if row is None:
        facts(vendor)
        return
    url = SETTINGS.vendor(vendor).url("TOKEN_URL")
    if isinstance(row.body, str):
        responses.post(url, body=row.body, status=row.status, headers=dict(row.headers))
    else:
        responses.post(url, json=row.body, status=row.status, headers=dict(row.headers))
    endpoint = TokenEndpoint(spec_for(vendor), SETTINGS.vendor(vendor), requests.Session(), timeout=5)
    with pytest.raises(VendorError) as caught:
        endpoint.refresh(OLD, ("a", "b"))
    error = caught.value
    assert (error.kind, error.code, error.status) == (row.kind, row.code, row.status)
    if row.retry_after is not None:
        assert error.retry_after == row.retry_after
    body_text = row.body if isinstance(row.body, str) else json.dumps(row.body)
    assert OLD_REFRESH not in str(error) and body_text not in str(error)  # the vendor's message is never kept


TWIN_REFUSALS = [
    ("error_500", FailureKind.TRANSIENT),
    ("error_503", FailureKind.TRANSIENT),
    ("rate_limited", FailureKind.TRANSIENT),
    ("timeout", FailureKind.TRANSIENT),
    ("revoked_grant", FailureKind.GRANT_REJECTED),
    ("wrong_client_secret", FailureKind.CLIENT_MISCONFIGURED),
]


@pytest.mark.parametrize(("refusal", "kind"), TWIN_REFUSALS, ids=[r for r, _ in TWIN_REFUSALS])
@pytest.mark.parametrize("vendor", vendor_params())
def test_the_twins_refusals_are_classified(
    vendor: str,
    refusal: str,
    kind: FailureKind,
    ctx: app_context.AppContext,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The twin's own error answers (its body shapes, its statuses) through the real token endpoint."""
    pair = spec_for(vendor).parse_token_response(sandbox.grant(vendor, "kit-refusal"))
    endpoint = ctx.tokens.endpoint(vendor)
    if refusal == "revoked_grant":
        sandbox.revoke_grant(vendor, "kit-refusal")
    elif refusal == "wrong_client_secret":
        client_id, _ = sandbox.clients[vendor]
        monkeypatch.setitem(sandbox.clients, vendor, (client_id, f"another-{secrets.token_urlsafe(16)}"))
    elif refusal == "timeout":
        endpoint.timeout = 0.5
        sandbox.inject(vendor, "timeout", seconds=2)
    else:
        sandbox.inject(vendor, refusal)
    with pytest.raises(VendorError) as caught:
        endpoint.refresh(pair, pair.scope)
    assert caught.value.kind is kind, caught.value.code
    if refusal == "timeout":
        assert caught.value.outcome_unknown
    if refusal == "rate_limited":
        assert caught.value.retry_after is not None


# -- revoke -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", vendor_params())
def test_a_disconnect_revokes_the_grant_at_the_vendor_where_the_vendor_can(
    vendor: str, app_env: dict[str, str], sandbox: Sandbox
) -> None:
    user = "kit-revoke"
    connect_user(vendor, user)
    calls = len(sandbox.requests(vendor))
    answer = call("connection", "DELETE", f"connections/{vendor}/{user}", route={"vendor": vendor, "user_id": user})
    assert answer.status_code == 200, answer.get_body()
    connection = get_context().registry.get(vendor, user)
    assert connection is not None and connection.status.value == "disconnected"
    if facts(vendor).revokes:
        assert sandbox.revoked(vendor, user)
    else:  # nothing to call: the grant stays until it lapses at the vendor
        assert sandbox.grant_status(vendor, user) == "active"
        assert len(sandbox.requests(vendor)) == calls
