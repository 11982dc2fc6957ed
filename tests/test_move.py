"""Moving Fitbit users onto Google Health (issue 13): the Fitbit twin's retirement (every route answers 410, as
Google's turn-off of 2026-11-02 does), a connection whose token or data call answers 410 becoming vendor_retired
with the reason, and the move itself (shared.moves) end to end on Azurite with the twins."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import requests

from sandbox import Sandbox
from sandbox.vendors.fitbit import retire
from shared.app_context import AppContext
from shared.pull.jobs import PullJob
from shared.pull.puller import PullStatus
from shared.registry import Status
from shared.token_service import Outcome


def test_the_retired_fitbit_twin_answers_410_on_every_oauth_and_data_route(
    app_env: dict[str, str], sandbox: Sandbox
) -> None:
    grant = sandbox.grant("fitbit", "gone-user")
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    base = sandbox.base_url + "/fitbit"
    data = f"{base}/1/user/-/activities/steps/date/2026-10-01/2026-10-07.json"
    assert requests.get(data, headers=bearer, timeout=5).status_code == 200, "live until the switch"

    retire(sandbox)
    answers = {
        "authorize": requests.get(f"{base}/oauth2/authorize", params={"client_id": "x"}, timeout=5),
        "token": requests.post(f"{base}/oauth2/token", data={"grant_type": "refresh_token"}, timeout=5),
        "revoke": requests.post(f"{base}/oauth2/revoke", data={"token": "t"}, timeout=5),
        "steps": requests.get(data, headers=bearer, timeout=5),
        "sleep": requests.get(f"{base}/1.2/user/-/sleep/date/2026-10-01/2026-10-07.json", headers=bearer, timeout=5),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 410)

    sandbox.reset()  # a reset sandbox serves the live API again
    fresh = {"Authorization": f"Bearer {sandbox.grant('fitbit', 'gone-user')['access_token']}"}
    assert requests.get(data, headers=fresh, timeout=5).status_code == 200


def test_a_fitbit_connection_whose_token_endpoint_answers_410_becomes_vendor_retired_saying_why(
    ctx: AppContext, sandbox: Sandbox, seed: object
) -> None:
    seed("fitbit", "rotated-out")  # type: ignore[operator]
    retire(sandbox)
    result = ctx.tokens.rotate("fitbit", "rotated-out", force=True)
    assert result.outcome is Outcome.FAILED
    row = ctx.registry.get("fitbit", "rotated-out")
    assert row is not None and row.status is Status.VENDOR_RETIRED
    assert "HTTP 410 Gone on its token endpoint" in row.last_error and "landed history stays" in row.last_error
    assert ctx.vault.read("fitbit", "rotated-out") is not None, "the pair is kept: nothing is lost by a retirement"


def test_a_fitbit_connection_whose_data_call_answers_410_becomes_vendor_retired_saying_why(
    ctx: AppContext, sandbox: Sandbox, seed: object
) -> None:
    seed("fitbit", "pulled-out")  # type: ignore[operator]  # a valid access token: the data call goes first
    retire(sandbox)
    today = datetime.now(UTC).date()
    outcome = ctx.puller.run(PullJob("fitbit", "pulled-out", "steps", today - timedelta(days=3), today))
    assert outcome.status is PullStatus.FAILED and "410" in outcome.detail
    row = ctx.registry.get("fitbit", "pulled-out")
    assert row is not None and row.status is Status.VENDOR_RETIRED
    assert "HTTP 410 Gone on its data API" in row.last_error
    later = ctx.puller.run(PullJob("fitbit", "pulled-out", "sleep", today - timedelta(days=3), today))
    assert later.status is PullStatus.SKIPPED and not later.requests, "a retired connection is not called again"


def days(value: str) -> date:
    return date.fromisoformat(value)
