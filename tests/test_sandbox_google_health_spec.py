"""The Google Health twin answers as Google's discovery document says (``../shared/reference/specs/
google-health-v4-discovery.json``): every endpoint the app calls is walked *as the app calls it* (the package's own
fetcher, through a client that validates on the way), each JSON answer is validated against its method's
``response`` schema and each request body against its ``request`` schema. Discovery schemas are converted to JSON
Schema: ``$ref`` by schema id, formats checked (int32, int64 as decimal strings, double, google-datetime,
google-duration), enums, and no property the document does not name."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from sandbox import Sandbox
from shared.pull.model import Window
from shared.vendors.google_health.data import DATA_TYPES, GOOGLE_HEALTH, KINDS
from tests.conftest import FakeClock

REFERENCE = Path(os.environ.get("WEARSYNC_REFERENCE") or Path(__file__).resolve().parents[2] / "shared" / "reference")
SPEC = REFERENCE / "specs" / "google-health-v4-discovery.json"
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
ROOT = "/google_health/"

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Google Health's discovery document is not at {SPEC}")


# -- the document ------------------------------------------------------------------------------------------------


@cache
def discovery() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


def converted(node: Mapping[str, Any]) -> dict[str, Any]:
    """A discovery schema as JSON Schema (draft 4)."""
    if "$ref" in node:
        return {"$ref": f"#/definitions/{node['$ref']}"}
    if node.get("type") == "any":
        return {}
    out: dict[str, Any] = {}
    for key in ("type", "enum", "format"):
        if key in node:
            out[key] = node[key]
    if "properties" in node:
        out["properties"] = {name: converted(value) for name, value in node["properties"].items()}
        out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), Mapping):
        out["additionalProperties"] = converted(node["additionalProperties"])
    if "items" in node:
        out["items"] = converted(node["items"])
    return out


@cache
def definitions() -> dict[str, Any]:
    return {name: converted(schema) for name, schema in discovery()["schemas"].items()}


def schema_of(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}", "definitions": definitions()}


def methods() -> dict[str, dict[str, Any]]:
    """Every method of the document by id ("health.users.dataTypes.dataPoints.list", ...)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(resources: Mapping[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                found[method["id"]] = method
            walk(resource.get("resources", {}))

    walk(discovery()["resources"])
    return found


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, str) or (re.fullmatch(r"-?\d{1,19}", value) is not None and abs(int(value)) < 2**63)


@FORMATS.checks("double")
def _double(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@FORMATS.checks("google-datetime", raises=ValueError)
def _datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", value):
        raise ValueError(f"{value!r} is not an RFC 3339 time")
    return datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("google-duration")
def _duration(value: object) -> bool:
    return not isinstance(value, str) or re.fullmatch(r"-?\d+(\.\d{1,9})?s", value) is not None


def problems(value: object, name: str) -> list[str]:
    validator = jsonschema.Draft4Validator(schema_of(name), format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(value)]


# -- the walk ----------------------------------------------------------------------------------------------------

PATHS = {
    "health.users.dataTypes.dataPoints.list": re.compile(r"/v4/users/[^/]+/dataTypes/[^/:]+/dataPoints"),
    "health.users.dataTypes.dataPoints.reconcile": re.compile(r"/v4/users/[^/]+/dataTypes/[^/:]+/dataPoints:reconcile"),
    "health.users.dataTypes.dataPoints.dailyRollUp": re.compile(
        r"/v4/users/[^/]+/dataTypes/[^/:]+/dataPoints:dailyRollUp"
    ),
    "health.users.getIdentity": re.compile(r"/v4/users/[^/]+/identity"),
}


def method_of(http: str, path: str) -> dict[str, Any]:
    for method_id, pattern in PATHS.items():
        method = methods()[method_id]
        if pattern.fullmatch(path) and method["httpMethod"] == http:
            return method
    raise AssertionError(f"no discovery method for {http} {path}")


class ValidatingApi:
    """The ``VendorApi`` the fetcher is given, calling the twin: every request body and answer is validated against
    the document; the methods seen are remembered."""

    def __init__(self, sb: Sandbox, user: str) -> None:
        self.base = f"{sb.base_url}{ROOT.rstrip('/')}"
        self.headers = {"Authorization": f"Bearer {sb.grant('google_health', user)['access_token']}"}
        self.seen: set[str] = set()
        self.answers = 0

    def _answer(self, http: str, path: str, response: requests.Response) -> Any:
        assert response.status_code == 200, (http, path, response.status_code, response.text[:300])
        method = method_of(http, path)
        body = response.json()
        found = problems(body, method["response"]["$ref"])
        assert not found, (http, path, found[:5])
        self.seen.add(method["id"])
        self.answers += 1
        return body

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = requests.get(self.base + path, params=dict(params or {}), headers=self.headers, timeout=10)
        return self._answer("GET", path, response)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        method = method_of("POST", path)
        found = problems(dict(body), method["request"]["$ref"])
        assert not found, ("request", path, found[:5])
        response = requests.post(self.base + path, json=dict(body), headers=self.headers, timeout=10)
        return self._answer("POST", path, response)


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        yield box


def test_every_answer_the_app_reads_validates_against_the_discovery_document(sb: Sandbox) -> None:
    api = ValidatingApi(sb, "alice")
    window = Window(NOW.date() - timedelta(days=120), NOW.date() + timedelta(days=1))
    landed: dict[str, int] = {}
    for data_type in DATA_TYPES:
        landed[data_type] = sum(1 for _ in GOOGLE_HEALTH.fetch(api, data_type, window, window.last))
    api.get("/v4/users/me/identity")
    assert all(count > 10 for count in landed.values()), landed
    used = {"list" if k.method == "list" else k.method for k in KINDS.values()}
    wanted = {f"health.users.dataTypes.dataPoints.{'dailyRollUp' if m == 'rollup' else m}" for m in used}
    assert api.seen == wanted | {"health.users.getIdentity"}
    assert landed["sleep"] > 25 and landed["exercise"] > 25  # more than a page of 25: nextPageToken walked
    assert api.answers > 25  # roll-ups of at most 90 days (14 for heart-rate) and the pages of each list


def test_the_identity_carries_the_legacy_fitbit_id_once_set(sb: Sandbox) -> None:
    from sandbox.vendors.google_health import set_legacy_user_id

    api = ValidatingApi(sb, "dora")
    assert "legacyUserId" not in api.get("/v4/users/me/identity")
    set_legacy_user_id("dora", sb.vendor_user_id("fitbit", "dora"))
    try:
        identity = api.get("/v4/users/me/identity")
    finally:
        set_legacy_user_id("dora", None)
    assert identity["legacyUserId"] == sb.vendor_user_id("fitbit", "dora")
    assert identity["healthUserId"] == sb.vendor_user_id("google_health", "dora")
    assert re.fullmatch(r"[A-Za-z0-9-]{1,63}", identity["healthUserId"])  # Identity.healthUserId's rule


def test_the_twin_refuses_what_the_document_does_not_allow(sb: Sandbox) -> None:
    api = ValidatingApi(sb, "erin")
    base = api.base + "/v4/users/me/dataTypes"
    day = date(2026, 11, 1)
    wrong_field = {"filter": f'steps.date >= "{day}"'}
    answer = requests.get(f"{base}/weight/dataPoints", params=wrong_field, headers=api.headers, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    too_long = {
        "range": {
            "start": {"date": {"year": 2026, "month": 1, "day": 1}},
            "end": {"date": {"year": 2026, "month": 1, "day": 16}},
        }
    }
    answer = requests.post(f"{base}/heart-rate/dataPoints:dailyRollUp", json=too_long, headers=api.headers, timeout=10)
    assert answer.status_code == 400  # heart-rate: at most 14 days a roll-up
    answer = requests.get(f"{base}/weight/dataPoints", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_validation_would_catch_a_twin_that_strays_from_the_document(sb: Sandbox) -> None:
    api = ValidatingApi(sb, "frank")
    day = NOW.date() - timedelta(days=3)
    page = api.get(
        "/v4/users/me/dataTypes/sleep/dataPoints:reconcile",
        {"filter": f'sleep.interval.civil_end_time >= "{day}"'},
    )
    good = page["dataPoints"][0]
    assert problems(good, "ReconciledDataPoint") == []
    sleep = good["sleep"]
    strays = [
        {**good, "name": good["dataPointName"]},  # DataPoint's field, not ReconciledDataPoint's
        {**good, "sleep": {**sleep, "type": "DEEP"}},  # outside the enum
        {**good, "sleep": {**sleep, "summary": {**sleep["summary"], "minutesAsleep": 400}}},  # int64 not a string
        {**good, "sleep": {**sleep, "interval": {**sleep["interval"], "startTime": "2026-11-20 07:00:00"}}},
        {**good, "sleep": {**sleep, "interval": {**sleep["interval"], "startUtcOffset": "-05:00"}}},  # a duration
    ]
    for stray in strays:
        assert problems(stray, "ReconciledDataPoint"), stray
