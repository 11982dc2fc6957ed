"""Oura's package on its own (no storage): the webhook signature and the verification challenge against the twin's
independently built deliveries, what an event asks for, the curated lines, a 429's pause, and the subscription
keeper's failures (``responses`` plays Oura's subscription API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from sandbox.vendors.oura.notify import OURA_WRONG, OuraWrong, oura_event, signed_oura
from shared.notify.model import (
    DELETED,
    UPDATED,
    ChallengeRequest,
    Delete,
    Fetch,
    Ignore,
    MalformedNotification,
    SignatureRejected,
    SignedRequest,
)
from shared.settings import Settings, load_settings
from shared.subscriptions import SubscriptionKeeper
from shared.vendors.oura.curated import MAPPERS
from shared.vendors.oura.notify import NOTIFICATIONS, challenge, parse, verify, work
from shared.vendors.oura.subscriptions import WANTED

SECRET = "oura-secret+/=with:odd%chars"
TOKEN = "vt-5f1c9a"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def signed(wrong: OuraWrong | None = None) -> SignedRequest:
    headers, body = signed_oura(SECRET, oura_event("user-1", "sleep", "doc-1"), wrong=wrong)
    return SignedRequest(SECRET, {k.lower(): v for k, v in headers.items()}, body, NOW.timestamp())


def test_a_delivery_signed_as_oura_documents_is_accepted() -> None:
    verify(signed())


@pytest.mark.parametrize("wrong", OURA_WRONG)
def test_every_wrong_signature_is_refused(wrong: OuraWrong) -> None:
    with pytest.raises(SignatureRejected) as refused:
        verify(signed(wrong))
    assert SECRET not in refused.value.reason


def test_a_signature_over_a_changed_body_is_refused() -> None:
    request = signed()
    tampered = request.body.replace(b"doc-1", b"doc-2")
    with pytest.raises(SignatureRejected):
        verify(SignedRequest(SECRET, request.headers, tampered, request.now))
    assert NOTIFICATIONS.refused == 401


def ask(method: str = "GET", token: str | None = TOKEN, echo: str | None = "abc", configured: str = TOKEN) -> Any:
    query = {k: v for k, v in (("verification_token", token), ("challenge", echo)) if v is not None}
    return challenge(ChallengeRequest(method, {}, query, b"", SECRET, {"VERIFICATION_TOKEN": configured}))


def test_the_challenge_is_echoed_only_for_the_configured_token() -> None:
    answer = ask()
    assert (answer.status, answer.body) == (200, {"challenge": "abc"})
    assert ask(token="nope").status == 401 and ask(token="nope").body is None
    assert ask(token=None).status == 401
    assert ask(configured="").status == 401  # nothing configured: nothing matches
    assert ask(echo=None).status == 400
    assert ask(method="POST") is None  # a delivery, not a challenge
    assert TOKEN not in ask(token="nope").reason


def test_an_event_names_the_document_and_what_to_do_with_it() -> None:
    body = json.dumps(oura_event("user-1", "daily_sleep", "doc-9", "create")).encode()
    (n,) = parse(body, "now")
    assert (n.vendor_user_id, n.collection, n.action, n.record_id) == ("user-1", "daily_sleep", UPDATED, "doc-9")
    assert isinstance(work(n, None), Fetch)  # type: ignore[arg-type]
    (gone,) = parse(json.dumps(oura_event("user-1", "vo2_max", "doc-3", "delete")).encode())
    step = work(gone, None)  # type: ignore[arg-type]
    assert gone.action == DELETED and isinstance(step, Delete) and step.data_type == "vo2_max"
    (tag,) = parse(json.dumps(oura_event("user-1", "tag", "doc-4")).encode())
    assert isinstance(work(tag, None), Ignore)  # type: ignore[arg-type]
    assert NOTIFICATIONS.dedup_key is not None and NOTIFICATIONS.dedup_key(n) != NOTIFICATIONS.dedup_key(gone)


@pytest.mark.parametrize(
    "body",
    [b"[]", b"{}", b'{"event_type": "upsert", "data_type": "sleep", "object_id": "x", "user_id": "u"}', b"\xff"],
)
def test_a_malformed_event_is_refused_as_such(body: bytes) -> None:
    with pytest.raises(MalformedNotification):
        parse(body)


def test_curated_lines_use_the_shared_indicator_names() -> None:
    sleep = {
        "bedtime_start": "2026-11-19T23:00:00+01:00",
        "bedtime_end": "2026-11-20T07:00:00+01:00",
        "type": "long_sleep",
        "deep_sleep_duration": 5400,
        "average_hrv": 44,
        "lowest_heart_rate": 51,
        "efficiency": 91,
    }
    lines = {m.indicator: (m.value, m.unit) for m in MAPPERS["sleep"](sleep)}
    assert lines == {
        "sleep_kind": ("main", ""),
        "sleep_deep": (5400, "s"),
        "hrv_rmssd": (44, "ms"),
        "resting_heart_rate": (51, "bpm"),
        "sleep_efficiency": (91, "%"),
    }
    activity = {m.indicator: m.value for m in MAPPERS["daily_activity"]({"day": "2026-11-20", "steps": 9000})}
    assert activity == {"steps": 9000}
    spo2 = MAPPERS["daily_spo2"]({"day": "2026-11-20", "spo2_percentage": {"average": 97.1}})
    assert [(m.indicator, m.value, m.unit, m.start) for m in spo2] == [("spo2", 97.1, "%", "2026-11-20")]


# -- subscriptions --------------------------------------------------------------------------------------------

BASE = "https://oura.test"
LIST = f"{BASE}/v2/webhook/subscription"
CALLBACK = "https://app.test/api/notify/oura"


def settings(token: str = TOKEN) -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "LOCAL_SECRETS_DIR": "/tmp/unused",
            "PUBLIC_BASE_URL": "https://app.test",
            "OURA_CLIENT_ID": "oura-id",
            "OURA_CLIENT_SECRET": SECRET,
            "OURA_API_BASE_URL": BASE,
            "OURA_VERIFICATION_TOKEN": token,
        }
    )


def subscription(sub_id: str, data_type: str, event: str, left: timedelta, callback: str = CALLBACK) -> dict[str, Any]:
    return {
        "id": sub_id,
        "callback_url": callback,
        "event_type": event,
        "data_type": data_type,
        "expiration_time": (NOW + left).isoformat(),
    }


def keeper(token: str = TOKEN) -> SubscriptionKeeper:
    return SubscriptionKeeper(settings(token), requests.Session(), clock=lambda: NOW)


@responses.activate
def test_a_vendor_that_cannot_list_is_reported_and_nothing_is_created() -> None:
    responses.get(LIST, status=503, body="<html>busy</html>")
    (outcome,) = keeper().ensure()
    assert outcome.failed and "HTTP 503" in outcome.failed[0] and not outcome.created
    assert len(responses.calls) == 1 and responses.calls[0].request.headers["x-client-secret"] == SECRET


@responses.activate
def test_a_renewal_refused_as_unknown_is_created_anew_and_the_others_are_kept() -> None:
    far, near = timedelta(days=20), timedelta(hours=30)
    first = WANTED[0]
    listed = [subscription(f"s{i}", w.data_type, w.event_type, far) for i, w in enumerate(WANTED)]
    listed[0] = subscription("s0", first.data_type, first.event_type, near)
    responses.get(LIST, json=listed)
    responses.put(f"{LIST}/renew/s0", status=403, json={"detail": "Webhook with specified id does not exist."})
    responses.post(LIST, status=201, json=subscription("s-new", first.data_type, first.event_type, timedelta(days=30)))
    (outcome,) = keeper().ensure()
    assert len(outcome.kept) == len(WANTED) - 1 and len(outcome.created) == 1 and not outcome.failed
    created = json.loads(responses.calls[-1].request.body or b"{}")
    assert created == {
        "callback_url": CALLBACK,
        "verification_token": TOKEN,
        "event_type": first.event_type,
        "data_type": first.data_type,
    }


@responses.activate
def test_without_a_verification_token_nothing_is_created_and_the_setting_is_named() -> None:
    responses.get(LIST, json=[])
    (outcome,) = keeper(token="").ensure()
    assert len(outcome.failed) == len(WANTED) and "OURA_VERIFICATION_TOKEN" in outcome.failed[0]
    assert len(responses.calls) == 1  # no create was sent


@responses.activate
def test_a_renewal_that_fails_otherwise_is_reported_and_nothing_is_made_beside_it() -> None:
    first = WANTED[0]
    listed = [subscription(f"s{i}", w.data_type, w.event_type, timedelta(days=20)) for i, w in enumerate(WANTED)]
    listed[0] = subscription("s0", first.data_type, first.event_type, timedelta(hours=30))
    responses.get(LIST, json=listed)
    responses.put(f"{LIST}/renew/s0", status=503)
    (outcome,) = keeper().ensure()
    assert outcome.failed == [f"{first}: Oura renew subscription: refused (HTTP 503)"]
    assert not outcome.created and [c.request.method for c in responses.calls] == ["GET", "PUT"]
