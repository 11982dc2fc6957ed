"""The Google Health package's own rules, without storage: the notification proof (the subscriber's Authorization
secret and the ECDSA P-256 signature, in the encodings and header names Google's client docs use), the verification
challenge, the payload's parsing, what each notification asks for, and the OAuth hooks (scopes from the setting,
the 'Testing' reason)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from shared.notify.model import (
    ChallengeRequest,
    Delete,
    Ignore,
    MalformedNotification,
    Pull,
    SignatureRejected,
    SignedRequest,
)
from shared.vendors.google_health.notify import challenge, parse, verify, work
from shared.vendors.google_health.oauth import SCOPE_PREFIX, SLEEP, SPEC

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)
SECRET = "Bearer unit-test-subscriber-secret-5c1e"
SETTINGS = {"SUBSCRIBER_SECRET": SECRET, "NOTIFY_PUBLIC_KEY": PEM}


def body(operation: str = "UPSERT", data_type: str = "steps", start: str = "2026-11-20T05:00:00Z") -> bytes:
    interval = {"physicalTimeInterval": {"startTime": start, "endTime": "2026-11-21T05:00:00Z"}}
    item = {"healthUserId": "4711", "operation": operation, "dataType": data_type, "intervals": [interval]}
    return json.dumps([{"data": {**item, "clientProvidedSubscriptionName": "wearsync", "version": "1"}}]).encode()


def der(payload: bytes, key: ec.EllipticCurvePrivateKey = KEY) -> bytes:
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))


def request(payload: bytes, headers: dict[str, str], settings: dict[str, str] | None = None) -> SignedRequest:
    return SignedRequest("client-secret", headers, payload, 0.0, SETTINGS if settings is None else settings)


def test_a_notification_is_verified_by_the_secret_and_the_signature_in_every_encoding() -> None:
    payload = body()
    signature = der(payload)
    r, s = decode_dss_signature(signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    for name, value in (
        ("google-health-api-signature", base64.b64encode(signature).decode()),
        ("google-health-api-signature", base64.urlsafe_b64encode(raw).decode().rstrip("=")),  # r || s, URL-safe
        ("x-healthapi-signature", base64.b64encode(signature).decode()),  # the .NET client's name
    ):
        verify(request(payload, {"authorization": SECRET, name: value}))


@pytest.mark.parametrize(
    "case",
    [
        "no signature",
        "other key",
        "other body",
        "no authorization",
        "wrong authorization",
        "no secret set",
        "no key set",
        "not a P-256 key",
        "not base64",
    ],
)
def test_a_notification_without_both_proofs_is_refused(case: str) -> None:
    payload = body()
    headers = {"authorization": SECRET, "google-health-api-signature": base64.b64encode(der(payload)).decode()}
    settings = dict(SETTINGS)
    if case == "no signature":
        del headers["google-health-api-signature"]
    elif case == "other key":
        headers["google-health-api-signature"] = base64.b64encode(
            der(payload, ec.generate_private_key(ec.SECP256R1()))
        ).decode()
    elif case == "other body":
        payload = body(operation="DELETE")
    elif case == "no authorization":
        del headers["authorization"]
    elif case == "wrong authorization":
        headers["authorization"] = SECRET + "x"
    elif case == "no secret set":
        settings["SUBSCRIBER_SECRET"] = ""
    elif case == "no key set":
        settings["NOTIFY_PUBLIC_KEY"] = ""
    elif case == "not a P-256 key":
        other = ec.generate_private_key(ec.SECP384R1()).public_key()
        settings["NOTIFY_PUBLIC_KEY"] = other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    else:
        headers["google-health-api-signature"] = "!!not base64!!"
    with pytest.raises(SignatureRejected) as refused:
        verify(request(payload, headers, settings))
    assert SECRET not in refused.value.reason and PEM not in refused.value.reason


def test_a_key_set_on_one_line_with_escaped_newlines_is_read() -> None:
    payload = body()
    headers = {"authorization": SECRET, "google-health-api-signature": base64.b64encode(der(payload)).decode()}
    verify(request(payload, headers, {**SETTINGS, "NOTIFY_PUBLIC_KEY": PEM.strip().replace("\n", "\\n")}))


def test_the_verification_challenge_answers_201_only_with_the_configured_authorization() -> None:
    def ask(headers: dict[str, str], payload: bytes = b'{"type":"verification"}', method: str = "POST") -> Any:
        return challenge(ChallengeRequest(method, headers, {}, payload, "client-secret", SETTINGS))

    assert ask({"authorization": SECRET}).status == 201
    assert ask({}).status == 401 and ask({"authorization": "Bearer other"}).status == 401
    no_secret = challenge(
        ChallengeRequest("POST", {"authorization": ""}, {}, b'{"type":"verification"}', "s", {"SUBSCRIBER_SECRET": ""})
    )
    assert no_secret is not None and no_secret.status == 401  # nothing configured: nothing matches
    assert ask({"authorization": SECRET}, body()) is None  # a notification goes on to verify
    assert ask({"authorization": SECRET}, b'{"type":"other"}') is None and ask({}, method="GET") is None


def test_parse_gives_one_notification_per_interval_and_refuses_other_shapes() -> None:
    (one,) = parse(body(), "2026-11-21T06:00:00Z")
    assert (one.vendor_user_id, one.collection, one.action, one.start_time) == (
        "4711",
        "steps",
        "updated",
        "2026-11-20T05:00:00Z",
    )
    for bad in (
        b"not json",
        b'[{"data": {"operation": "UPSERT", "dataType": "steps"}}]',  # no healthUserId
        body(operation="MERGE"),
        body(data_type="Heart Rate"),
        body(start="2026-11-20T05:00:00"),  # no offset
        b'[{"data": {"healthUserId": "1", "operation": "UPSERT", "dataType": "steps", "intervals": [{}]}}]',
    ):
        with pytest.raises(MalformedNotification):
            parse(bad)


class Landed:
    def __init__(self, records: Iterable[tuple[str, Any]]) -> None:
        self.records = list(records)

    def copies(self, data_type: str, record_id: str) -> Iterator[Any]:
        return iter(())

    def newest(self, data_type: str, limit: int) -> Iterator[tuple[str, Any]]:
        return iter(self.records[:limit])


class Context:
    def __init__(self, records: Iterable[tuple[str, Any]] = ()) -> None:
        self.landed = Landed(records)
        self.now = 0.0

    def claim(self, keys: Iterable[str]) -> tuple[list[str], str]:
        return list(keys), ""


def test_work_pulls_the_days_of_the_interval_and_deletes_what_a_delete_names() -> None:
    (upsert,) = parse(body())
    assert work(upsert, Context()) == Pull(("steps",), date(2026, 11, 19), date(2026, 11, 22))
    (long,) = parse(body(start="2026-08-01T00:00:00Z"))
    step = work(long, Context())
    assert isinstance(step, Pull) and (step.last - step.first).days == 30 and "cut" in step.note
    (unknown,) = parse(body(data_type="floors"))
    assert isinstance(work(unknown, Context()), Ignore)
    (daily,) = parse(body(operation="DELETE", data_type="daily-resting-heart-rate"))
    assert isinstance(work(daily, Context()), Pull)  # a day's value: pulled again
    at = "2026-11-20T07:01:02Z"
    weight = {"weight": {"sampleTime": {"physicalTime": at}, "weightGrams": 70000.0}}
    (delete,) = parse(body(operation="DELETE", data_type="weight", start=at))
    assert work(
        delete,
        Context(
            [
                ("older", {"weight": {"sampleTime": {"physicalTime": "2026-11-01T07:00:00Z"}}}),
                ("20261120T070102Z", weight),
            ]
        ),
    ) == Delete("weight", "20261120T070102Z")
    missing = work(delete, Context())
    assert isinstance(missing, Delete) and missing.record_id is None


def test_scopes_come_from_the_setting_and_a_testing_app_is_named() -> None:
    assert SPEC.authorize_scopes({}) == SPEC.default_scopes
    assert SPEC.authorize_scopes({"SCOPES": f"sleep.readonly, {SCOPE_PREFIX}activity_and_fitness.readonly"}) == (
        SLEEP,
        SCOPE_PREFIX + "activity_and_fitness.readonly",
    )
    now = datetime(2026, 11, 29, tzinfo=UTC)
    reason = SPEC.grant_rejected_reason(now - timedelta(days=7, hours=2), now)
    assert reason is not None and "'Testing' status" in reason
    assert SPEC.grant_rejected_reason(now - timedelta(days=40), now) is None
    assert SPEC.grant_rejected_reason(None, now) is None
