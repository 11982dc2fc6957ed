"""The WHOOP twin answers as WHOOP's OpenAPI says (``../shared/reference/specs/whoop-openapi-v2.json``): every
endpoint the app calls is walked against the twin, and each JSON answer is validated against the response
schema of its operation, ``$ref``s resolved to the components, formats checked (int32, int64, date-time, uuid)
and no field the schema does not name (the spec publishes no extra fields, and the app must not come to
rely on one only the twin sends). The table of endpoints is checked against the paths written in the app's
WHOOP code, so an endpoint the app starts to call is walked too."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from sandbox import Sandbox
from tests.conftest import FakeClock

REFERENCE = Path(os.environ.get("WEARSYNC_REFERENCE") or Path(__file__).resolve().parents[2] / "shared" / "reference")
"""The reference next to the repository (``../shared/reference``), or where ``WEARSYNC_REFERENCE`` says."""
SPEC = REFERENCE / "specs" / "whoop-openapi-v2.json"
REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
API = "/whoop/developer"

APP_ENDPOINTS: tuple[tuple[str, str], ...] = (
    # the pull (shared/vendors/whoop/data.py): collections, snapshots, a cycle by id for a recovery's date
    ("get", "/v2/cycle"),
    ("get", "/v2/recovery"),
    ("get", "/v2/activity/sleep"),
    ("get", "/v2/activity/workout"),
    ("get", "/v2/user/profile/basic"),
    ("get", "/v2/user/measurement/body"),
    ("get", "/v2/cycle/{cycleId}"),
    # notifications: the record an event names, a recovery through its sleep's cycle
    ("get", "/v2/activity/sleep/{sleepId}"),
    ("get", "/v2/activity/workout/{workoutId}"),
    ("get", "/v2/cycle/{cycleId}/recovery"),
    # the connect flow (the profile above) and disconnecting
    ("delete", "/v2/user/access"),
)
TWIN_ONLY: tuple[tuple[str, str], ...] = (("get", "/v2/cycle/{cycleId}/sleep"),)
"""Served by the twin though the app does not call it: validated all the same."""

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"WHOOP's OpenAPI is not at {SPEC}")


# -- the spec ----------------------------------------------------------------------------------------------------


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


def resolved(node: Any) -> Any:
    """`node` with every `$ref` to `#/components/schemas/...` replaced by its target; objects that name their
    properties admit no others."""
    if isinstance(node, list):
        return [resolved(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        prefix = "#/components/schemas/"
        ref = node["$ref"]
        assert ref.startswith(prefix), ref
        return resolved(spec()["components"]["schemas"][ref.removeprefix(prefix)])
    out = {key: resolved(value) for key, value in node.items() if key != "example"}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of the operation's answer with `status` (None: the spec gives that answer no body)."""
    response = spec()["paths"][template][method]["responses"][str(status)]
    content = response.get("content")
    if content is None:
        return None
    schema: dict[str, Any] = resolved(content["application/json"]["schema"])
    return schema


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    return datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


def problems(answer: object, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(schema, format_checker=FORMATS)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(answer)]


# -- the twin ----------------------------------------------------------------------------------------------------


@pytest.fixture
def sb(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock) as box:
        box.set_data_now(NOW)
        yield box


class Walk:
    """Calls the twin, validates every answer against its operation, and remembers which operations it saw."""

    def __init__(self, sb: Sandbox, user: str) -> None:
        self.sb = sb
        self.headers = {"Authorization": f"Bearer {sb.grant('whoop', user)['access_token']}"}
        self.seen: set[tuple[str, str]] = set()
        self.answers = 0

    def call(self, method: str, template: str, params: dict[str, str] | None = None, status: int = 200) -> Any:
        params = dict(params or {})
        path = re.sub(r"\{(\w+)\}", lambda m: params.pop(m[1]), template)
        url = f"{self.sb.base_url}{API}{path}"
        answer = requests.request(method.upper(), url, headers=self.headers, params=params, timeout=10)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text[:200])
        schema = response_schema(method, template, status)
        self.seen.add((method, template))
        if schema is None:
            assert answer.content == b"", (method, template)
            return None
        body = answer.json()
        found = problems(body, schema)
        assert not found, (method, path, found[:5])
        self.answers += 1
        return body

    def collection(self, template: str, start: datetime, end: datetime | None = None) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        params = {"start": start.isoformat(), "limit": "25", **({"end": end.isoformat()} if end else {})}
        while True:
            page = self.call("get", template, params)
            records += page["records"]
            if "next_token" not in page:
                return records
            params["nextToken"] = page["next_token"]


# -- tests -------------------------------------------------------------------------------------------------------


def app_whoop_paths() -> set[str]:
    """The WHOOP API paths written in the app's code, with every placeholder written `{}`."""
    sources = [*sorted((REPO / "shared" / "vendors" / "whoop").glob("*.py")), *sorted((REPO / "shared").glob("*/*.py"))]
    text = "".join(path.read_text(encoding="utf-8") for path in sources if path.is_file())
    return {re.sub(r"\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", "{}", found) for found in re.findall(r"\"(/v2/[^\"]*)\"", text)}


def test_the_table_holds_every_whoop_endpoint_the_app_names_and_the_spec_has_them() -> None:
    table = {re.sub(r"\{\w+\}", "{}", template) for _, template in APP_ENDPOINTS}
    named = app_whoop_paths()
    assert named, "no WHOOP path found in the app's code: has it moved?"
    assert named <= table, f"walk these too: {sorted(named - table)}"
    for method, template in (*APP_ENDPOINTS, *TWIN_ONLY):
        assert method in spec()["paths"][template], (method, template)


def test_every_whoop_answer_the_app_reads_validates_against_the_openapi(sb: Sandbox) -> None:
    walk = Walk(sb, "alice")
    # two weeks up to now: scored records, the latest day pending, the ongoing cycle without `end`, naps
    start = NOW - timedelta(days=14)
    cycles = walk.collection("/v2/cycle", start)
    sleeps = walk.collection("/v2/activity/sleep", start)
    recoveries = walk.collection("/v2/recovery", start)
    workouts = walk.collection("/v2/activity/workout", start, NOW)
    assert any("end" not in c for c in cycles) and any(c["score_state"] == "PENDING_SCORE" for c in cycles)
    assert any(s["nap"] for s in sleeps) and {r["score_state"] for r in recoveries} == {"SCORED", "PENDING_SCORE"}
    assert any("distance_meter" in w.get("score", {}) for w in workouts)
    for cycle in cycles:
        cycle_id = str(cycle["id"])
        walk.call("get", "/v2/cycle/{cycleId}", {"cycleId": cycle_id})
        walk.call("get", "/v2/cycle/{cycleId}/sleep", {"cycleId": cycle_id})
    for recovery in recoveries:
        walk.call("get", "/v2/cycle/{cycleId}/recovery", {"cycleId": str(recovery["cycle_id"])})
    for sleep in sleeps:
        walk.call("get", "/v2/activity/sleep/{sleepId}", {"sleepId": sleep["id"]})
    for workout in workouts:
        walk.call("get", "/v2/activity/workout/{workoutId}", {"workoutId": workout["id"]})
    walk.call("get", "/v2/user/profile/basic")
    walk.call("get", "/v2/user/measurement/body")
    walk.call("delete", "/v2/user/access", status=204)

    assert walk.seen == set(APP_ENDPOINTS) | set(TWIN_ONLY)
    assert walk.answers > 4 * 14


def test_a_years_pages_validate_for_another_user(sb: Sandbox) -> None:
    """Older history (every record scored), another time zone and user id, full pages of 25."""
    walk = Walk(sb, "bob")
    start = datetime.combine(date(2023, 1, 1), datetime.min.time(), tzinfo=UTC)
    for template in ("/v2/cycle", "/v2/recovery", "/v2/activity/sleep", "/v2/activity/workout"):
        records = walk.collection(template, start, start + timedelta(days=365))
        assert len(records) > 200 and {r["score_state"] for r in records} == {"SCORED"}


def test_the_validation_would_catch_a_twin_that_strays_from_the_spec(sb: Sandbox) -> None:
    walk = Walk(sb, "carol")
    records = walk.call("get", "/v2/cycle", {"start": (NOW - timedelta(days=3)).isoformat()})["records"]
    good = next(record for record in records if "score" in record)
    schema = response_schema("get", "/v2/cycle/{cycleId}", 200)
    assert schema is not None and problems(good, schema) == []
    strays = [
        {**good, "sport_id": 1},  # a field the schema does not name
        {key: value for key, value in good.items() if key != "timezone_offset"},  # a required one missing
        {**good, "start": good["start"].replace("T", " ")},  # not a date-time
        {**good, "id": str(good["id"])},  # a string for an int64
        {**good, "score_state": "DONE"},  # outside the enum
        {**good, "score": {**good["score"], "average_heart_rate": 2**31}},  # beyond int32
    ]
    for stray in strays:
        assert problems(stray, schema), stray
