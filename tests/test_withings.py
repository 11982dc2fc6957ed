"""Withings' quirks through the engines: the envelope's status drives the data engine as HTTP's would (an access
token refused with ``{"status": 401}`` at HTTP 200 is renewed once and the call goes on), measure values are real
numbers (``value * 10^unit``), a sleep's efficiency ratio is a percentage, and each envelope status family maps
onto the status the engine acts on; a refresh whose answer was lost is survived (the grace period)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox import Sandbox
from shared.app_context import AppContext
from shared.pull.jobs import PullJob
from shared.pull.puller import PullStatus
from shared.registry import Status
from shared.token_service import Outcome
from shared.vendors.withings.curated import measure, sleep
from shared.vendors.withings.oauth import SPEC
from tests.vendors.kit import connect_user


def test_an_access_token_refused_in_the_envelope_is_renewed_once_and_the_pull_goes_on(
    ctx: AppContext, sandbox: Sandbox
) -> None:
    user = "withings-expired"
    connect_user("withings", user)
    sandbox.expire_access_tokens("withings", user)  # the twin now answers {"status": 401} at HTTP 200
    before = sandbox.refresh_count("withings", user)
    last = datetime.now(UTC).date() - timedelta(days=2)
    outcome = ctx.puller.run(PullJob("withings", user, "measure", last - timedelta(days=30), last))
    assert outcome.status is PullStatus.DONE, outcome.line()
    assert sandbox.refresh_count("withings", user) == before + 1
    assert {r.status for r in sandbox.requests("withings", "measure")} == {200}  # the refusal came at HTTP 200


def test_the_envelope_status_families_map_onto_the_status_the_engine_acts_on() -> None:
    body: dict[str, list[object]] = {"measuregrps": []}
    assert SPEC.data_answer({"status": 0, "body": body}) == (200, body)
    cases = {401: 401, 100: 401, 601: 429, 214: 403, 2554: 404, 503: 400, 522: 503, 2556: 503}
    for status, expected in cases.items():
        assert SPEC.data_answer({"status": status, "error": "x"})[0] == expected, status
    assert SPEC.data_answer("<html>proxy</html>")[0] == 502  # not Withings' answer: transient


def test_measures_are_real_values_in_their_units_and_sleep_efficiency_a_percentage() -> None:
    group = {
        "grpid": 1,
        "date": 1594245600,
        "measures": [
            {"value": 65750, "type": 1, "unit": -3},
            {"value": 2150, "type": 6, "unit": -2},
            {"value": 128, "type": 10, "unit": 0},
            {"value": 7, "type": 999, "unit": 0},  # a type we do not map: no line
        ],
    }
    lines = {(m.indicator, m.value, m.unit, m.start) for m in measure(group)}
    when = "2020-07-08T22:00:00Z"
    assert lines == {
        ("weight", 65.75, "kg", when),
        ("body_fat", 21.5, "%", when),
        ("blood_pressure_systolic", 128, "mmHg", when),
    }
    night = {
        "startdate": 1594159200,
        "enddate": 1594188000,
        "data": {"sleep_efficiency": 0.87, "deepsleepduration": 5400},
    }
    found = {m.indicator: (m.value, m.unit) for m in sleep(night)}
    assert found == {"sleep_efficiency": (87.0, "%"), "sleep_deep": (5400, "s")}


def test_a_lost_refresh_answer_is_survived_thanks_to_withings_grace_period(ctx: AppContext, sandbox: Sandbox) -> None:
    """Withings' old refresh token stays valid until the new access token is first used (or 8 hours): a refresh
    whose answer never reached the vault is sent again with the stored token and the connection lives on, where
    WHOOP's would need the user to consent again (tests/test_token_custody.py)."""
    user = "withings-lost-answer"
    connect_user("withings", user)
    sandbox.inject("withings", "lost_response")  # the refresh takes effect at Withings, its answer is lost
    result = ctx.tokens.rotate("withings", user, force=True)
    assert result.outcome is Outcome.ROTATED, result.detail
    assert sandbox.replay_count("withings", user) == 1  # the stored (old) token was honoured again
    connection = ctx.registry.get("withings", user)
    assert connection is not None and connection.status is Status.ACTIVE and not connection.refresh_started_at
    stored = ctx.vault.read("withings", user)
    assert stored is not None and sandbox.check_bearer("withings", f"Bearer {stored.pair.access_token}") == user
