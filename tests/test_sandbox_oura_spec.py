"""The Oura twin answers as Oura's OpenAPI says (``../shared/reference/specs/oura-openapi-v2.yml``, OpenAPI 3.0.3):
every endpoint the app calls is walked against the twin, and each JSON answer is validated against the response
schema of its operation: ``$ref``s resolved, ``nullable`` honoured, the typed alternative of an ``anyOf`` chosen (the
spec's second alternative, ``MultiDocumentResponseDict``, is an open dict that would accept anything), dates and
date-times checked, and no field the schema does not name. The table of endpoints is checked against the paths
written in the app's Oura code, so an endpoint the app starts to call is walked too."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml  # type: ignore[import-untyped]  # PyYAML, a dependency of responses (requirements-dev)

from sandbox import Sandbox
from sandbox.vendors.oura.webhooks import store_of
from tests.conftest import FakeClock

REFERENCE = Path(os.environ.get("WEARSYNC_REFERENCE") or Path(__file__).resolve().parents[2] / "shared" / "reference")
SPEC = REFERENCE / "specs" / "oura-openapi-v2.yml"
REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
API = "/oura"
U = "/v2/usercollection"
DOCUMENTS = (
    "daily_activity",
    "daily_sleep",
    "sleep",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "workout",
    "session",
    "vO2_max",
)
APP_ENDPOINTS: tuple[tuple[str, str], ...] = (
    # the pull (shared/vendors/oura/data.py) and the connect flow's user id (personal_info)
    *(("get", f"{U}/{name}") for name in DOCUMENTS),
    ("get", f"{U}/heartrate"),
    ("get", f"{U}/personal_info"),
    # notifications: the document an event names
    *(("get", f"{U}/{name}/{{document_id}}") for name in DOCUMENTS),
    # webhook subscriptions (shared/vendors/oura/subscriptions.py)
    ("get", "/v2/webhook/subscription"),
    ("post", "/v2/webhook/subscription"),
    ("put", "/v2/webhook/subscription/renew/{id}"),
    ("delete", "/v2/webhook/subscription/{id}"),
)
TWIN_ONLY: tuple[tuple[str, str], ...] = (
    ("get", "/v2/webhook/subscription/{id}"),
    ("put", "/v2/webhook/subscription/{id}"),
)

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Oura's OpenAPI is not at {SPEC}")


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return loaded


OPEN_DICTS = frozenset({"MultiDocumentResponseDict", "TimeSeriesResponseDict"})


def resolved(node: Any) -> Any:
    """`node` as a Draft 4 schema: `$ref`s replaced by their targets, `nullable` as a union with null, an `anyOf`
    that offers an open dict reduced to its typed alternatives, and named properties closed."""
    if isinstance(node, list):
        return [resolved(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = resolved(spec()["components"]["schemas"][node["$ref"].removeprefix("#/components/schemas/")])
        return {"anyOf": [target, {"type": "null"}]} if node.get("nullable") else target
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("$ref", "").rsplit("/", 1)[-1] not in OPEN_DICTS]
        node = {**node, "anyOf": options}
    out = {key: resolved(value) for key, value in node.items() if key not in ("example", "nullable", "title")}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    response = spec()["paths"][template][method]["responses"][str(status)]
    content = response.get("content")
    if content is None:
        return None
    schema: dict[str, Any] = resolved(content["application/json"]["schema"])
    return schema


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    return True


@FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    return not isinstance(value, str) or date.fromisoformat(value).isoformat() == value


def problems(answer: object, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(answer)]


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        store_of(box).clear()
        yield box


class Walk:
    def __init__(self, sb: Sandbox, user: str) -> None:
        self.sb = sb
        self.bearer = {"Authorization": f"Bearer {sb.grant('oura', user)['access_token']}"}
        client_id, secret = sb.clients["oura"]
        self.app = {"x-client-id": client_id, "x-client-secret": secret}
        self.seen: set[tuple[str, str]] = set()
        self.answers = 0

    def call(
        self,
        method: str,
        template: str,
        params: dict[str, str] | None = None,
        status: int = 200,
        body: dict[str, str] | None = None,
    ) -> Any:
        params = dict(params or {})
        path = re.sub(r"\{(\w+)\}", lambda m: params.pop(m[1]), template)
        headers = self.app if template.startswith("/v2/webhook") else self.bearer
        url = f"{self.sb.base_url}{API}{path}"
        answer = requests.request(method.upper(), url, headers=headers, params=params, json=body, timeout=10)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text[:200])
        self.seen.add((method, template))
        schema = response_schema(method, template, status)
        if schema is None:
            assert answer.content == b"", (method, template)
            return None
        found = problems(answer.json(), schema)
        assert not found, (method, path, found[:5])
        self.answers += 1
        return answer.json()

    def pages(self, template: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            page = self.call("get", template, params)
            rows += page["data"]
            if not page.get("next_token"):
                return rows
            params = {**params, "next_token": page["next_token"]}


def app_oura_paths() -> set[str]:
    """The Oura paths the app's Oura code names: every f-string or literal starting with /v2/, placeholders as {}."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "shared" / "vendors" / "oura").glob("*.py")))
    found = {
        re.sub(r"\{[^{}]*\}", "{}", raw).replace("{}/", "/v2/usercollection/", 1) if raw.startswith("{BASE}") else raw
        for raw in re.findall(r"\"((?:/v2/|\{BASE\}/)[^\"]*)\"", text)
    }
    return {re.sub(r"\{[^{}]*\}", "{}", path) for path in found}


def test_the_table_holds_every_oura_endpoint_the_app_names_and_the_spec_has_them() -> None:
    table = {re.sub(r"\{\w+\}", "{}", template) for _, template in APP_ENDPOINTS}
    named = app_oura_paths()
    assert {"/v2/usercollection/heartrate", "/v2/webhook/subscription"} <= named, named
    missing = {path for path in named if not any(t == path or t.startswith(path + "/") for t in table)}
    assert not missing, f"walk these too: {sorted(missing)}"
    for method, template in (*APP_ENDPOINTS, *TWIN_ONLY):
        assert method in spec()["paths"][template], (method, template)


def test_every_oura_answer_the_app_reads_validates_against_the_openapi(sb: Sandbox) -> None:
    walk = Walk(sb, "alice")
    start, end = (NOW - timedelta(days=40)).date().isoformat(), NOW.date().isoformat()
    for name in DOCUMENTS:
        documents = walk.pages(f"{U}/{name}", {"start_date": start, "end_date": end})
        assert documents, name
        for document in documents[:3]:
            walk.call("get", f"{U}/{name}/{{document_id}}", {"document_id": document["id"]})
    rows = walk.pages(
        f"{U}/heartrate", {"start_datetime": (NOW - timedelta(days=15)).isoformat(), "end_datetime": NOW.isoformat()}
    )
    assert len(rows) > 1000  # more than one page
    assert walk.call("get", f"{U}/personal_info")["id"] == sb.vendor_user_id("oura", "alice")

    created = walk.call(
        "post",
        "/v2/webhook/subscription",
        status=201,
        body={
            "callback_url": "https://app.example/api/notify/oura",
            "verification_token": "t",
            "event_type": "update",
            "data_type": "sleep",
        },
    )
    assert [s["id"] for s in walk.call("get", "/v2/webhook/subscription")] == [created["id"]]
    walk.call("get", "/v2/webhook/subscription/{id}", {"id": created["id"]})
    walk.call("put", "/v2/webhook/subscription/{id}", {"id": created["id"]}, body={"verification_token": "u"})
    renewed = walk.call("put", "/v2/webhook/subscription/renew/{id}", {"id": created["id"]})
    assert renewed["expiration_time"] >= created["expiration_time"]
    walk.call("delete", "/v2/webhook/subscription/{id}", {"id": created["id"]}, status=204)
    walk.call("post", "/v2/webhook/subscription", status=422, body={"callback_url": "x", "event_type": "nope"})

    assert walk.seen == set(APP_ENDPOINTS) | set(TWIN_ONLY)


def test_the_validation_would_catch_a_twin_that_strays_from_the_spec(sb: Sandbox) -> None:
    walk = Walk(sb, "carol")
    page = walk.call("get", f"{U}/sleep", {"start_date": "2025-03-01", "end_date": "2025-03-10"})
    good = page["data"][0]
    schema = response_schema("get", f"{U}/sleep/{{document_id}}", 200)
    assert schema is not None and problems(good, schema) == []
    strays = [
        {**good, "score": 80},  # a field the schema does not name
        {key: value for key, value in good.items() if key != "bedtime_end"},  # a required one missing
        {**good, "type": "siesta"},  # outside the enum
        {**good, "time_in_bed": "8h"},  # a string for an integer
        {**good, "low_battery_alert": "no"},  # a string for a boolean
        {**good, "readiness": {"score": 80}},  # a nested object without its required contributors
    ]
    for stray in strays:
        assert problems(stray, schema), stray
    listing = response_schema("get", f"{U}/sleep", 200)
    assert listing is not None and problems({"data": [good]}, listing), "next_token is required"
