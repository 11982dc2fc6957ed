"""The Withings twin answers as Withings' OpenAPI says (``../shared/reference/specs/withings-openapi.yml``): every call
the app makes (token requests, ``getmeas``, ``v2/sleep getsummary``, ``v2/heart list``, ``notify`` subscriptions, the
nonce and the signed revocation) is made against the twin over HTTP, and each answer is validated against the response
schema of its operation (found by ``operationId``: the document keys its paths by full URL, with trailing spaces
telling operations of one URL apart): ``$ref``s resolved, objects closed to the fields the schema names. Refusals are
HTTP 200 envelopes with a non-zero status. The app's Withings paths are checked against the spec's."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of responses (requirements-dev)

from sandbox import Sandbox
from shared.vendors.withings.data import MEASURE_TYPES, SLEEP_FIELDS
from tests.conftest import FakeClock

REFERENCE = Path(os.environ.get("WEARSYNC_REFERENCE") or Path(__file__).resolve().parents[2] / "shared" / "reference")
SPEC = REFERENCE / "specs" / "withings-openapi.yml"
REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
HOST = "https://wbsapi.withings.net"
USER = "alice"

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Withings' OpenAPI is not at {SPEC}")


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


@cache
def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (path without the host, method, operation)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for url, methods in spec()["paths"].items():
        for method, operation in (methods or {}).items() if isinstance(methods, dict) else ():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = (url.strip().removeprefix(HOST), method, operation)
    return found


def resolved(node: Any) -> Any:
    """``node`` as a Draft 4 schema: ``$ref``s replaced by their targets, ``properties: []`` (the spec's "no field")
    as an empty object, named properties closed, examples and Withings' own formats dropped."""
    if isinstance(node, list):
        return [resolved(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return resolved(spec()["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")])
    out = {key: resolved(value) for key, value in node.items() if key not in ("example", "format", "description")}
    if out.get("properties") == []:
        out["properties"] = {}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def response_schema(operation_id: str) -> dict[str, Any]:
    _, _, operation = operations()[operation_id]
    schema: dict[str, Any] = resolved(operation["responses"][200]["content"]["application/json"]["schema"])
    return schema


def problems(answer: object, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(answer)]


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        box.set_member_since("withings", USER, (NOW - timedelta(days=400)).date())
        yield box


class Walk:
    """Calls to the twin, each answer validated against its operation's schema."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.client_id, self.secret = sb.clients["withings"]
        self.grant: dict[str, Any] = sb.grant("withings", USER)
        self.seen: set[str] = set()

    def call(self, operation_id: str, params: dict[str, str], *, bearer: bool = True) -> Any:
        path, method, _ = operations()[operation_id]
        headers = {"Authorization": f"Bearer {self.grant['body']['access_token']}"} if bearer else {}
        url = f"{self.sb.base_url}/withings{path}"
        answer = requests.request(method.upper(), url, headers=headers, data=params, timeout=10)
        assert answer.status_code == 200, (operation_id, answer.status_code, answer.text[:200])
        body = answer.json()
        assert body.get("status") == 0, (operation_id, body)
        found = problems(body, response_schema(operation_id))
        assert not found, (operation_id, found[:5])
        self.seen.add(operation_id)
        return body["body"]

    def pages(self, operation_id: str, params: dict[str, str], key: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        pages = 0
        while True:
            body = self.call(operation_id, params)
            rows += body[key]
            pages += 1
            if not body["more"]:
                assert pages > 1 or len(rows) < 50, f"{operation_id}: never paged"
                return rows
            params = {**params, "offset": str(body["offset"])}


def signature(secret: str, *values: str) -> str:
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


def test_every_withings_answer_the_app_reads_validates_against_the_openapi(sb: Sandbox) -> None:
    walk = Walk(sb)
    assert not problems(walk.grant, response_schema("oauth2-getaccesstoken"))
    refreshed = walk.call(
        "oauth2-getaccesstoken",
        {
            "action": "requesttoken",
            "grant_type": "refresh_token",
            "client_id": walk.client_id,
            "client_secret": walk.secret,
            "refresh_token": str(walk.grant["body"]["refresh_token"]),
        },
        bearer=False,
    )
    walk.grant = {"body": refreshed}
    start, end = int((NOW - timedelta(days=120)).timestamp()), int(NOW.timestamp())
    groups = walk.pages(
        "measure-getmeas",
        {
            "action": "getmeas",
            "meastypes": ",".join(map(str, MEASURE_TYPES)),
            "category": "1",
            "startdate": str(start),
            "enddate": str(end),
        },
        "measuregrps",
    )
    assert len(groups) > 50 and {m["type"] for g in groups for m in g["measures"]} >= {1, 6, 9, 10, 11}
    probe = walk.call("measure-getmeas", {"action": "getmeas", "lastupdate": str(end + 60)})
    assert probe["measuregrps"] == [] and probe["timezone"]
    sleeps = walk.pages(
        "sleepv2-getsummary",
        {
            "action": "getsummary",
            "startdateymd": (NOW - timedelta(days=120)).date().isoformat(),
            "enddateymd": NOW.date().isoformat(),
            "data_fields": ",".join(SLEEP_FIELDS),
        },
        "series",
    )
    assert len(sleeps) > 50 and all(set(s["data"]) <= set(SLEEP_FIELDS) for s in sleeps)
    hearts = walk.pages("heartv2-list", {"action": "list", "startdate": str(start), "enddate": str(end)}, "series")
    assert hearts and any("bloodpressure" in h for h in hearts)
    callback = "https://app.example.com/api/notify/withings"
    for appli in ("1", "44"):
        walk.call("notify-subscribe", {"action": "subscribe", "callbackurl": callback, "appli": appli})
    listed = walk.call("notify-list", {"action": "list"})
    assert {(p["callbackurl"], p["appli"]) for p in listed["profiles"]} == {(callback, 1), (callback, 44)}
    walk.call("notify-get", {"action": "get", "callbackurl": callback, "appli": "1"})
    walk.call("notify-revoke", {"action": "revoke", "callbackurl": callback, "appli": "44"})
    timestamp = str(int(time.time()))
    nonce = walk.call(
        "signaturev2-getnonce",
        {
            "action": "getnonce",
            "client_id": walk.client_id,
            "timestamp": timestamp,
            "signature": signature(walk.secret, "getnonce", walk.client_id, timestamp),
        },
        bearer=False,
    )["nonce"]
    walk.call(
        "oauth2-revoke",
        {
            "action": "revoke",
            "client_id": walk.client_id,
            "nonce": nonce,
            "signature": signature(walk.secret, "revoke", walk.client_id, nonce),
            "userid": str(refreshed["userid"]),
        },
        bearer=False,
    )
    assert sb.grant_status("withings", USER) == "revoked"
    assert walk.seen == {op for op in operations() if op in TWIN_OPERATIONS}


TWIN_OPERATIONS = frozenset(
    {
        "oauth2-getaccesstoken",
        "oauth2-revoke",
        "signaturev2-getnonce",
        "measure-getmeas",
        "sleepv2-getsummary",
        "heartv2-list",
        "notify-subscribe",
        "notify-list",
        "notify-get",
        "notify-revoke",
    }
)


def test_a_refusal_is_an_http_200_envelope_with_a_status_of_the_spec(sb: Sandbox) -> None:
    base = f"{sb.base_url}/withings"
    families = {401, 503, 601, 214, 2554}  # the spec's Response Status table
    answers = [
        requests.post(f"{base}/measure", data={"action": "getmeas"}, timeout=10),  # no token
        requests.post(f"{base}/v2/oauth2", data={"action": "requesttoken", "grant_type": "refresh_token"}, timeout=10),
        requests.post(
            f"{base}/v2/oauth2",
            data={
                "action": "requesttoken",
                "grant_type": "refresh_token",
                "refresh_token": "unknown",
                "client_id": sb.clients["withings"][0],
                "client_secret": sb.clients["withings"][1],
            },
            timeout=10,
        ),
    ]
    for answer in answers:
        body = answer.json()
        assert answer.status_code == 200 and body["status"] in families and isinstance(body["error"], str), body
    assert "invalid refresh_token" in answers[2].json()["error"]


def test_the_paths_the_app_calls_are_the_specs() -> None:
    text = "".join(
        p.read_text(encoding="utf-8") for p in sorted((REPO / "shared" / "vendors" / "withings").glob("*.py"))
    )
    named = set(re.findall(r"\"(/(?:v2/)?[a-z0-9]+)\"", text))
    assert {"/measure", "/v2/sleep", "/v2/heart", "/notify", "/v2/signature", "/v2/oauth2"} <= named, named
    spec_paths = {path for path, _, _ in operations().values()}
    assert named <= spec_paths, sorted(named - spec_paths)
