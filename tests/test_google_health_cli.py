"""``python -m shared google-health subscriber ...``: the subscriber is created through Google's
``projects.subscribers.create`` (imitated with ``responses``) with a payload the discovery document accepts, and
Google's two verification POSTs, sent to the app's own ``notify`` function with what the payload carries, are
answered 201 and 401, so the creation succeeds; no token or secret is ever printed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
import responses

from sandbox import Sandbox
from sandbox.notify import NotificationRequest
from shared.cli import main
from shared.vendors.google_health.data import DATA_TYPES
from tests.conftest import KNOWN_SECRETS
from tests.test_sandbox_google_health_spec import SPEC, problems
from tests.vendors.test_notifications import deliver

TOKEN = "ya29.admin-token-for-the-cli-test-3f9a"
KNOWN_SECRETS.add(TOKEN)
BODY = b'{"type":"verification"}'


def google_creates(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
    """Google's CreateSubscriber: verifies the endpoint with and without the Authorization value, then answers."""
    payload: dict[str, Any] = json.loads(request.body or b"{}")
    secret = payload["endpointAuthorization"]["secret"]
    headers = {"Content-Type": "application/json"}
    with_auth = deliver("google_health", NotificationRequest("POST", {**headers, "Authorization": secret}, {}, BODY))
    without = deliver("google_health", NotificationRequest("POST", headers, {}, BODY))
    if (with_auth.status_code, without.status_code in (401, 403)) != (201, True):
        error = {"code": 400, "message": "endpoint verification failed", "status": "FAILED_PRECONDITION"}
        return 400, {}, json.dumps({"error": error})
    subscriber = {"name": "projects/p-1/subscribers/wearsync", "endpointUri": payload["endpointUri"], "state": "ACTIVE"}
    return 200, {}, json.dumps({"name": "operations/op-1", "done": True, "response": subscriber})


@responses.activate
def test_create_sends_an_automatic_subscriber_that_google_verifies(
    app_env: dict[str, str], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    responses.add_passthru(re.compile(r"http://127\.0\.0\.1"))  # Azurite and the twin
    url = "https://health.googleapis.com/v4/projects/p-1/subscribers"
    monkeypatch.setenv("GOOGLE_HEALTH_API_BASE_URL", "https://health.googleapis.com")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://wearsync.example.org")
    monkeypatch.setenv("GOOGLE_HEALTH_ADMIN_TOKEN", TOKEN)
    responses.add_callback(responses.POST, url, callback=google_creates)
    assert main(["google-health", "subscriber", "create", "--project", "p-1"]) == 0
    (call,) = responses.calls
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.url == f"{url}?subscriberId=wearsync"
    payload = json.loads(call.request.body or b"{}")
    if SPEC.is_file():  # the discovery document next to the repository
        assert problems(payload, "CreateSubscriberPayload") == []
    assert payload["endpointUri"] == "https://wearsync.example.org/api/notify/google_health"
    assert payload["endpointAuthorization"]["secret"] == app_env["GOOGLE_HEALTH_SUBSCRIBER_SECRET"]
    (config,) = payload["subscriberConfigs"]
    assert config == {"dataTypes": sorted(DATA_TYPES), "subscriptionCreatePolicy": "AUTOMATIC"}
    out, err = capsys.readouterr()
    assert "operations/op-1 done=True" in out
    for secret in (TOKEN, app_env["GOOGLE_HEALTH_SUBSCRIBER_SECRET"], app_env["GOOGLE_HEALTH_CLIENT_SECRET"]):
        assert secret not in out + err


@responses.activate
def test_create_refuses_without_a_token_or_a_secret_and_reports_googles_refusal(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GOOGLE_HEALTH_ADMIN_TOKEN", raising=False)
    assert main(["google-health", "subscriber", "create", "--project", "p-1"]) == 2
    assert "GOOGLE_HEALTH_ADMIN_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("GOOGLE_HEALTH_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("GOOGLE_HEALTH_SUBSCRIBER_SECRET", "")
    assert main(["google-health", "subscriber", "create", "--project", "p-1"]) == 2
    assert "GOOGLE_HEALTH_SUBSCRIBER_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("GOOGLE_HEALTH_SUBSCRIBER_SECRET", "Bearer cli-test-subscriber-secret-77")
    KNOWN_SECRETS.add("Bearer cli-test-subscriber-secret-77")
    monkeypatch.setenv("GOOGLE_HEALTH_API_BASE_URL", "https://health.googleapis.com")
    denied = {"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}}
    responses.post("https://health.googleapis.com/v4/projects/p-1/subscribers", json=denied, status=403)
    assert main(["google-health", "subscriber", "create", "--project", "p-1"]) == 1
    assert "HTTP 403 (PERMISSION_DENIED)" in capsys.readouterr().err
